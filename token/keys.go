// Package token holds claimgate's signing keys, mints JWTs, publishes JWKS and
// verifies tokens (its own and other issuers').
//
// Keys: each key is used with exactly one algorithm (RFC 8725 §3.1) and is
// named by its RFC 7638 JWK thumbprint. A Manager keeps generated keys in
// Caddy storage so that every instance sharing the storage signs with, and
// publishes, the same keys; see rotation.go for the rotation schedule.
//
// Verification: a Verifier looks the key up by kid first and only accepts the
// algorithm pinned to that key; see verify.go.
package token

import (
	"crypto"
	"fmt"
	"slices"
	"time"
)

// Supported signing algorithms. Each key is used with exactly one of them.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// supportedAlgorithms is the allow-list every Verifier starts from: no none,
// no HMAC, nothing we cannot pin to an asymmetric key.
var supportedAlgorithms = []string{RS256, ES256, EdDSA}

// Key is one signing key with its pinned algorithm.
type Key struct {
	ID        string // RFC 7638 JWK thumbprint
	Algorithm string // RS256, ES256 or EdDSA
	Private   crypto.Signer
	Public    crypto.PublicKey
}

// KeySet is an immutable snapshot: the active signing key and every public key
// that verifiers must still accept. Everything a request needs (the JWKS
// document included) is computed once when the snapshot is built.
type KeySet struct {
	active *Key
	byID   map[string]*Key
	keys   []*Key // published keys, active first
	jwks   []byte
	algs   []string
	counts KeyCounts // the active key and the rest, unless publish knows better
}

// newKeySet builds a snapshot; active may be nil for a verification-only set.
// published must contain active.
func newKeySet(active *Key, published []*Key) (*KeySet, error) {
	ks := &KeySet{active: active, byID: make(map[string]*Key, len(published))}
	if active != nil {
		ks.keys = append(ks.keys, active)
	}
	for _, k := range published {
		if k != active {
			ks.keys = append(ks.keys, k)
		}
	}
	for _, k := range ks.keys {
		ks.byID[k.ID] = k
		if !slices.Contains(ks.algs, k.Algorithm) {
			ks.algs = append(ks.algs, k.Algorithm)
		}
	}
	if active != nil {
		ks.counts.Active = 1
	}
	ks.counts.Retired = len(ks.keys) - ks.counts.Active
	doc, err := marshalJWKS(ks.keys)
	if err != nil {
		return nil, fmt.Errorf("building JWKS: %w", err)
	}
	ks.jwks = doc
	return ks, nil
}

// Active returns the key new tokens are signed with.
func (ks *KeySet) Active() *Key {
	if ks == nil {
		return nil
	}
	return ks.active
}

// Lookup returns the verification key for kid.
func (ks *KeySet) Lookup(kid string) (*Key, bool) {
	if ks == nil {
		return nil, false
	}
	k, ok := ks.byID[kid]
	return k, ok
}

// Keys returns the published keys, the active one first. The slice is shared:
// do not modify it.
func (ks *KeySet) Keys() []*Key {
	if ks == nil {
		return nil
	}
	return ks.keys
}

// JWKS returns the RFC 7517 document (public parts only, kid, alg, use=sig).
// The bytes are shared by every caller: do not modify them.
func (ks *KeySet) JWKS() []byte {
	if ks == nil {
		return []byte(`{"keys":[]}`)
	}
	return ks.jwks
}

// Algorithms lists the algorithms of the published keys (for discovery).
func (ks *KeySet) Algorithms() []string {
	if ks == nil {
		return nil
	}
	return slices.Clone(ks.algs)
}

// ManagerConfig says which key to use.
type ManagerConfig struct {
	// Algorithm is RS256 (default), ES256 or EdDSA. With File and no
	// Algorithm, the algorithm follows the key type.
	Algorithm string
	// File is a PEM private key; empty means generate and keep in storage.
	File string
	// Rotation, when > 0, makes a new generated key after this long
	// (at least one minute).
	Rotation time.Duration
	// MaxTokenLifetime is how long a retired public key stays published;
	// 0 means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
}

// DefaultMaxTokenLifetime is used when ManagerConfig.MaxTokenLifetime is 0.
const DefaultMaxTokenLifetime = 24 * time.Hour

// MinRotation is the shortest accepted ManagerConfig.Rotation.
const MinRotation = time.Minute
