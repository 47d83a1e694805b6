package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Storage layout (in Caddy storage, shared by every instance):
//
//	claimgate/keys/index.json   the list of keys with their schedule (keyMeta)
//	claimgate/keys/<kid>.pem    each private key, PKCS#8 PEM
//
// The index is the source of truth. Writers hold the storage lock; they write
// a key's PEM before listing it in the index and delete the PEM only after
// dropping it from the index, so a reader without the lock never sees an
// indexed key whose PEM was not yet written.
const (
	keysPrefix   = "claimgate/keys"
	indexKey     = keysPrefix + "/index.json"
	keysLockName = "claimgate_keys"
)

func pemKey(kid string) string { return keysPrefix + "/" + kid + ".pem" }

// keyMeta is one key's entry in the index.
type keyMeta struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	Created   time.Time `json:"created"`
	// ActivateAt is when instances start signing with the key; until then it
	// is only published (so every verifier knows it before it is used).
	ActivateAt time.Time `json:"activate_at"`
	// RetireAfter, set when a successor is created, is when the public key
	// may be unpublished and deleted: the successor's activation plus the
	// longest token lifetime. Zero while the key has no successor.
	RetireAfter time.Time `json:"retire_after,omitzero"`
}

type keyIndex struct {
	Keys []keyMeta `json:"keys"`
}

// loadIndex reads the index; a missing index is an empty one.
func loadIndex(ctx context.Context, s certmagic.Storage) (keyIndex, error) {
	data, err := s.Load(ctx, indexKey)
	if errors.Is(err, fs.ErrNotExist) {
		return keyIndex{}, nil
	}
	if err != nil {
		return keyIndex{}, fmt.Errorf("reading %s: %w", indexKey, err)
	}
	var idx keyIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return keyIndex{}, fmt.Errorf("decoding %s: %w", indexKey, err)
	}
	return idx, nil
}

func (m *Manager) storeIndex(ctx context.Context, idx keyIndex) error {
	data, err := json.MarshalIndent(idx, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding key index: %w", err)
	}
	if err := m.storage.Store(ctx, indexKey, data); err != nil {
		return fmt.Errorf("writing %s: %w", indexKey, err)
	}
	return nil
}

// loadKey reads and checks one stored private key.
func (m *Manager) loadKey(ctx context.Context, meta keyMeta) (*Key, error) {
	data, err := m.storage.Load(ctx, pemKey(meta.ID))
	if err != nil {
		return nil, fmt.Errorf("reading key %s: %w", meta.ID, err)
	}
	priv, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", meta.ID, err)
	}
	k, err := newKey(priv, meta.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", meta.ID, err)
	}
	if k.ID != meta.ID {
		// The name is the thumbprint; anything else means a corrupted or
		// swapped file.
		return nil, fmt.Errorf("key %s: stored key has thumbprint %s", meta.ID, k.ID)
	}
	return k, nil
}

func (m *Manager) storeKey(ctx context.Context, k *Key) error {
	data, err := marshalPrivateKeyPEM(k.Private)
	if err != nil {
		return err
	}
	if err := m.storage.Store(ctx, pemKey(k.ID), data); err != nil {
		return fmt.Errorf("writing key %s: %w", k.ID, err)
	}
	return nil
}

// withLock runs fn holding the storage lock shared by every instance.
func (m *Manager) withLock(ctx context.Context, fn func() error) (err error) {
	if err := m.storage.Lock(ctx, keysLockName); err != nil {
		return fmt.Errorf("acquiring storage lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done, or the lock stays until it goes stale.
		if uerr := m.storage.Unlock(context.WithoutCancel(ctx), keysLockName); uerr != nil {
			m.logger.Error("releasing storage lock", zap.Error(uerr))
		}
	}()
	return fn()
}
