package token

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// RotateOptions say how RotateNow replaces the signing key.
type RotateOptions struct {
	// ActivateIn is how long the new key is published before it signs.
	// Zero makes it sign at once: each instance switches at its next
	// reload, and until every instance has reloaded, one that has not yet
	// may refuse tokens signed by one that has. PrepublishWindow is what a
	// scheduled rotation waits; at least ReloadInterval avoids that gap.
	ActivateIn time.Duration
	// RetireOld makes every older key stop verifying when the new key
	// activates, instead of staying published until the tokens it signed
	// have expired: for a key that leaked. With ActivateIn zero they are
	// removed from storage at once.
	RetireOld bool
}

// Rotation reports what RotateNow did.
type Rotation struct {
	// KeyID and Algorithm are the new key's.
	KeyID     string
	Algorithm string
	// ActivateAt is when instances start signing with the new key.
	ActivateAt time.Time
	// Retiring are the older keys still published, each until its
	// RetireAfter.
	Retiring []RetiringKey
	// Removed are the keys taken out of the key set and deleted from
	// storage now: keys that were still waiting to activate (the new key
	// replaces them), keys past their retirement, and with RetireOld and
	// no pre-publication every older key.
	Removed []string
	// ReloadInterval is how often running instances with the same
	// key_rotation setting reread storage: the longest they take to see
	// this rotation.
	ReloadInterval time.Duration
}

// clockSkew is how far ahead another host's clock may be: a key whose
// activation is at most this far in the future may be signing there already.
const clockSkew = MaxLeeway

// RetiringKey is an older key that stays published for a while.
type RetiringKey struct {
	KeyID       string
	RetireAfter time.Time
}

// PrepublishWindow is how long a scheduled rotation publishes a new key
// before it signs, for this Manager's rotation setting.
func (m *Manager) PrepublishWindow() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return prepublishWindow(m.cfg.Rotation)
}

// ReloadInterval is how often Run rereads storage, for this Manager's
// rotation setting.
func (m *Manager) ReloadInterval() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return reloadInterval(m.cfg.Rotation)
}

// RotateNow creates a new signing key now, whatever the rotation schedule
// says, for every instance sharing the storage: an operator's rotation.
//
// It works like a scheduled rotation (see rotation.go), under the same
// storage lock: the key is written and listed in the index, published at
// once, and signs from opts.ActivateIn later; the key it replaces keeps
// signing until then and stays published for MaxTokenLifetime after (or,
// with opts.RetireOld, only until then). Keys still waiting to activate
// are dropped: nothing was ever signed with them, and the new key
// supersedes them. Running instances see the change at their next reload
// (ReloadInterval); the next scheduled rotation counts from the new key's
// activation.
//
// RotateNow does not need Load: it reads the storage itself, and then
// updates the Manager's snapshot too.
func (m *Manager) RotateNow(ctx context.Context, opts RotateOptions) (Rotation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkConfig(); err != nil {
		return Rotation{}, err
	}
	if m.cfg.File != "" {
		return Rotation{}, errors.New("the signing key is a key file, not a generated key: " +
			"rotate it by replacing the file and reloading every instance")
	}
	if m.storage == nil {
		return Rotation{}, errors.New("no storage for generated signing keys")
	}
	if opts.ActivateIn < 0 {
		return Rotation{}, fmt.Errorf("activation delay %s: must not be negative", opts.ActivateIn)
	}
	var r Rotation
	err := m.withLock(ctx, func() error {
		if err := m.sync(ctx); err != nil {
			return err
		}
		now := m.now()
		activateAt := now.Add(opts.ActivateIn)
		if len(m.index.Keys) == 0 {
			// The very first key: no instance has one to sign with yet.
			activateAt = now
		}
		k, err := generateKey(m.cfg.Algorithm)
		if err != nil {
			return err
		}
		if err := m.storeKey(ctx, k); err != nil {
			return err
		}
		// Which older keys go now: keys still waiting to activate (the
		// new key supersedes them; nothing was signed with them), keys due
		// for removal anyway, and with RetireOld and no pre-publication
		// every key. A key that activates within clockSkew from now may
		// already sign on a host whose clock runs ahead: it is kept.
		retireAtOnce := opts.RetireOld && !activateAt.After(now)
		var kept []keyMeta
		var removed []string
		for _, meta := range m.index.Keys {
			if retireAtOnce || meta.ActivateAt.After(now.Add(clockSkew)) ||
				(!meta.RetireAfter.IsZero() && !now.Before(meta.RetireAfter)) {
				removed = append(removed, meta.ID)
				continue
			}
			kept = append(kept, meta)
		}
		// The most recently activated key signs (selectKeys): the new key
		// must come after every kept one, or the rotation would do nothing.
		for _, meta := range kept {
			if !activateAt.After(meta.ActivateAt) {
				activateAt = meta.ActivateAt.Add(time.Millisecond)
			}
		}
		retireAfter := activateAt.Add(m.cfg.MaxTokenLifetime + retireMargin(m.cfg.Rotation))
		if opts.RetireOld {
			retireAfter = activateAt
		}
		idx := keyIndex{Keys: make([]keyMeta, 0, len(kept)+1)}
		var retiring []RetiringKey
		for _, meta := range kept {
			// A key that already has a successor keeps its date unless the
			// operator retires it sooner: the tokens it signed expire by
			// then.
			if meta.RetireAfter.IsZero() || retireAfter.Before(meta.RetireAfter) {
				meta.RetireAfter = retireAfter
			}
			idx.Keys = append(idx.Keys, meta)
			retiring = append(retiring, RetiringKey{KeyID: meta.ID, RetireAfter: meta.RetireAfter})
		}
		idx.Keys = append(idx.Keys, keyMeta{ID: k.ID, Algorithm: k.Algorithm, Created: now, ActivateAt: activateAt})
		// The PEM is written before the index lists it, and removed keys'
		// PEMs are deleted only after the index dropped them (storage.go).
		if err := m.storeIndex(ctx, idx); err != nil {
			return err
		}
		m.index = idx
		m.keys[k.ID] = k
		m.logger.Info("signing key rotated by an operator",
			zap.String("kid", k.ID), zap.String("alg", k.Algorithm),
			zap.Time("activate_at", activateAt), zap.Bool("retire_old", opts.RetireOld))
		for _, kid := range removed {
			delete(m.keys, kid)
			if err := m.storage.Delete(ctx, pemKey(kid)); err != nil {
				m.logger.Warn("deleting removed signing key", zap.String("kid", kid), zap.Error(err))
			}
			m.logger.Info("signing key removed", zap.String("kid", kid))
		}
		slices.SortFunc(retiring, func(a, b RetiringKey) int { return a.RetireAfter.Compare(b.RetireAfter) })
		r = Rotation{
			KeyID:          k.ID,
			Algorithm:      k.Algorithm,
			ActivateAt:     activateAt,
			Retiring:       retiring,
			Removed:        removed,
			ReloadInterval: reloadInterval(m.cfg.Rotation),
		}
		return nil
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotating the signing key: %w", err)
	}
	// The rotation is in storage; the Manager's own snapshot follows when
	// some key signs by this host's clock (it may not yet, when the only
	// other key came from a host whose clock runs ahead).
	if err := m.publish(); err != nil {
		m.logger.Warn("signing keys rotated, but none signs yet by this host's clock", zap.Error(err))
	}
	return r, nil
}
