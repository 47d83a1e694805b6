// Package token holds claimgate's signing keys, mints JWTs, publishes JWKS and
// verifies tokens (its own and other issuers').
package token

import (
	"context"
	"crypto"
	"errors"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Supported signing algorithms. Each key is used with exactly one of them.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Key is one signing key with its pinned algorithm.
type Key struct {
	ID        string // RFC 7638 JWK thumbprint
	Algorithm string // RS256, ES256 or EdDSA
	Private   crypto.Signer
	Public    crypto.PublicKey
}

// KeySet is an immutable snapshot: the active signing key and every public key
// that verifiers must still accept.
type KeySet struct{}

// Active returns the key new tokens are signed with.
func (ks *KeySet) Active() *Key { return nil }

// Lookup returns the verification key for kid.
func (ks *KeySet) Lookup(kid string) (*Key, bool) { return nil, false }

// JWKS returns the RFC 7517 document (public parts only, kid, alg, use=sig).
func (ks *KeySet) JWKS() []byte { return nil }

// Algorithms lists the algorithms of the published keys (for discovery).
func (ks *KeySet) Algorithms() []string { return nil }

// ManagerConfig says which key to use.
type ManagerConfig struct {
	// Algorithm is RS256 (default), ES256 or EdDSA.
	Algorithm string
	// File is a PEM private key; empty means generate and keep in storage.
	File string
	// Rotation, when > 0, makes a new generated key after this long.
	Rotation time.Duration
	// MaxTokenLifetime is how long a retired public key stays published.
	MaxTokenLifetime time.Duration
}

// Manager loads or generates keys in Caddy storage and rotates them.
type Manager struct{}

// NewManager returns a Manager; call Load before use.
func NewManager(storage certmagic.Storage, cfg ManagerConfig, logger *zap.Logger) *Manager {
	return &Manager{}
}

// Load reads the keys from storage, generating (under the storage lock) the
// first key when none exists, or reads the PEM file.
func (m *Manager) Load(ctx context.Context) error { return errors.New("token.Manager.Load: pending") }

// Run rotates and reloads keys until ctx is done (call in a goroutine; a no-op
// loop when rotation is off but other instances may rotate: it reloads from
// storage periodically).
func (m *Manager) Run(ctx context.Context) {}

// KeySet returns the current snapshot (safe for concurrent use).
func (m *Manager) KeySet() *KeySet { return nil }

// Sign mints a compact JWS of claims with ks's active key; typ is the header's
// typ ("at+jwt" for access tokens, "JWT" for ID tokens).
func (ks *KeySet) Sign(claims map[string]any, typ string) (string, error) {
	return "", errors.New("token.Sign: pending")
}
