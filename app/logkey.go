package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/certmagic"
)

// logKeyPath is where the per-install secret that keys fingerprints in
// logs is kept in Caddy storage, shared by a fleet on one storage.
const logKeyPath = "claimgate/log_fingerprint.key"

// loadLogKey returns the per-install log key, creating it under the
// storage lock on first start. Fingerprints keyed with it let an operator
// correlate log lines without the log revealing what was fingerprinted: a
// plain hash of a username field could be reversed by dictionary when a
// user typed a password there.
func loadLogKey(ctx context.Context, storage certmagic.Storage) ([]byte, error) {
	return loadSecret(ctx, storage, logKeyPath)
}

// loadSecret returns the 32-byte (or longer) secret kept at path in
// storage, creating it under the storage lock when missing, so that every
// instance on one storage uses the same one.
func loadSecret(ctx context.Context, storage certmagic.Storage, path string) ([]byte, error) {
	if key, err := storage.Load(ctx, path); err == nil && len(key) >= 32 {
		return key, nil
	}
	if err := storage.Lock(ctx, path); err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), path) }()
	key, err := storage.Load(ctx, path)
	if err == nil && len(key) >= 32 {
		return key, nil // another instance made it meanwhile
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := storage.Store(ctx, path, key); err != nil {
		return nil, fmt.Errorf("storing %s: %w", path, err)
	}
	return key, nil
}
