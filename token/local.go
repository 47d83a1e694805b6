package token

import (
	"context"
	"errors"
	"fmt"
)

// LocalKeys adapts a Manager to KeySource: keys are looked up in its current
// snapshot, so rotations (its own and, via Run, other instances') apply at
// once.
func LocalKeys(m *Manager) KeySource { return localKeys{m} }

type localKeys struct{ m *Manager }

// VerificationKey implements KeySource.
func (l localKeys) VerificationKey(_ context.Context, kid string) (*Key, error) {
	if l.m == nil {
		return nil, errors.New("no signing keys configured")
	}
	ks := l.m.KeySet()
	if ks == nil {
		return nil, errors.New("signing keys not loaded")
	}
	if kid == "" {
		return soleKey(ks.Keys())
	}
	if k, ok := ks.Lookup(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %.64q", kid)
}

// soleKey is the answer to a token without a kid: the key when there is
// exactly one, otherwise an error (guessing among several would let a token
// pick its key).
func soleKey(keys []*Key) (*Key, error) {
	if len(keys) != 1 {
		return nil, fmt.Errorf("token has no kid and there are %d keys", len(keys))
	}
	return keys[0], nil
}
