package token

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Manager loads or generates keys in Caddy storage and rotates them.
type Manager struct {
	storage certmagic.Storage
	cfg     ManagerConfig
	logger  *zap.Logger
	// now is the clock; tests replace it to simulate rotation without sleeping.
	now func() time.Time

	current atomic.Pointer[KeySet]

	mu    sync.Mutex // serialises Load and refresh; never held by Sign or Verify
	index keyIndex
	keys  map[string]*Key // parsed stored keys by kid, so a reload only parses new PEMs
}

// NewManager returns a Manager; call Load before use.
func NewManager(storage certmagic.Storage, cfg ManagerConfig, logger *zap.Logger) *Manager {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Manager{
		storage: storage,
		cfg:     cfg,
		logger:  logger,
		now:     time.Now,
		keys:    make(map[string]*Key),
	}
}

// KeySet returns the current snapshot (safe for concurrent use). It is nil
// until Load succeeded.
func (m *Manager) KeySet() *KeySet { return m.current.Load() }

// checkConfig validates the configuration and fills in defaults.
func (m *Manager) checkConfig() error {
	c := &m.cfg
	if c.File == "" && c.Algorithm == "" {
		c.Algorithm = RS256
	}
	if c.Algorithm != "" && !slices.Contains(supportedAlgorithms, c.Algorithm) {
		return fmt.Errorf("unsupported signing algorithm %q (use RS256, ES256 or EdDSA)", c.Algorithm)
	}
	if c.Rotation < 0 || (c.Rotation > 0 && c.Rotation < MinRotation) {
		return fmt.Errorf("key rotation %s: must be at least %s", c.Rotation, MinRotation)
	}
	if c.Rotation > 0 && c.File != "" {
		return errors.New("key rotation needs a generated key, not a key file")
	}
	if c.MaxTokenLifetime < 0 {
		return errors.New("max token lifetime must not be negative")
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	return nil
}

// Load reads the keys from storage, generating (under the storage lock) the
// first key when none exists, or reads the PEM file.
//
// When the newest stored key has another algorithm than the configured one
// (the operator changed signing_key), a key of the configured algorithm is
// generated and pre-published like a rotated key; the old one keeps signing
// until then and stays published for MaxTokenLifetime after.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkConfig(); err != nil {
		return err
	}
	if m.cfg.File != "" {
		return m.loadFile()
	}
	if m.storage == nil {
		return errors.New("no storage for generated signing keys")
	}
	if err := m.sync(ctx); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	if err := m.maintain(ctx, true); err != nil {
		return fmt.Errorf("creating signing key: %w", err)
	}
	if err := m.publish(); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	ks := m.KeySet()
	m.logger.Info("signing keys loaded",
		zap.String("active_kid", ks.Active().ID),
		zap.String("alg", ks.Active().Algorithm),
		zap.Int("published", len(ks.Keys())))
	return nil
}

// loadFile uses the operator's PEM key; nothing is stored or rotated.
func (m *Manager) loadFile() error {
	data, err := os.ReadFile(m.cfg.File)
	if err != nil {
		return fmt.Errorf("reading signing key: %w", err)
	}
	priv, err := parsePrivateKeyPEM(data)
	if err != nil {
		return fmt.Errorf("signing key %s: %w", m.cfg.File, err)
	}
	alg := m.cfg.Algorithm
	if alg == "" {
		if alg, err = algorithmFor(priv); err != nil {
			return fmt.Errorf("signing key %s: %w", m.cfg.File, err)
		}
	}
	k, err := newKey(priv, alg)
	if err != nil {
		return fmt.Errorf("signing key %s: %w", m.cfg.File, err)
	}
	ks, err := newKeySet(k, []*Key{k})
	if err != nil {
		return err
	}
	m.current.Store(ks)
	return nil
}

// sync reads the index and any key not parsed yet. Keys that cannot be read
// are logged and left out (a retiring key with a lost PEM must not stop the
// instance); publish fails if that leaves no usable signing key.
func (m *Manager) sync(ctx context.Context) error {
	idx, err := loadIndex(ctx, m.storage)
	if err != nil {
		return err
	}
	keys := make(map[string]*Key, len(idx.Keys))
	for _, meta := range idx.Keys {
		if k, ok := m.keys[meta.ID]; ok && k.Algorithm == meta.Algorithm {
			keys[meta.ID] = k
			continue
		}
		k, err := m.loadKey(ctx, meta)
		if err != nil {
			m.logger.Error("skipping unreadable signing key", zap.String("kid", meta.ID), zap.Error(err))
			continue
		}
		keys[meta.ID] = k
	}
	m.index, m.keys = idx, keys
	return nil
}

// publish builds the snapshot for the current time and swaps it in.
func (m *Manager) publish() error {
	now := m.now()
	active, published := selectKeys(m.index, now)
	var activeKey *Key
	var keys []*Key
	for _, meta := range published {
		k, ok := m.keys[meta.ID]
		if !ok {
			continue
		}
		keys = append(keys, k)
		if active != nil && meta.ID == active.ID {
			activeKey = k
		}
	}
	if activeKey == nil {
		return errors.New("no usable active signing key in storage")
	}
	ks, err := newKeySet(activeKey, keys)
	if err != nil {
		return err
	}
	ks.counts = countKeys(published, active, m.keys, now)
	if old := m.current.Swap(ks); old != nil && old.Active().ID != activeKey.ID {
		m.logger.Info("signing key rotated",
			zap.String("previous_kid", old.Active().ID),
			zap.String("active_kid", activeKey.ID))
	}
	return nil
}
