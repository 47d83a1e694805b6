package token

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Rotation schedule.
//
// A new key is created prepublishWindow before it starts signing, and is in
// the JWKS (and in every instance's snapshot) from the moment it is created.
// Instances reload from storage every reloadInterval, which is at most a
// quarter of the window, so every instance and every verifier that refetches
// the JWKS knows the key before any token carries its kid.
//
//	rotation         pre-publication window      reload interval
//	720h (30 days)   1h                          1 min
//	1h               6 min                       1 min
//	1 min (minimum)  6 s                         1.5 s
//	off              5 min (algorithm change)    1 min
//
// The key it replaces keeps signing until the new key activates, then stays
// published for MaxTokenLifetime (the longest a token it signed can live)
// plus retireMargin, and is then removed from the index and deleted from
// storage.

// prepublishWindow is how long a new key is published before it signs.
func prepublishWindow(rotation time.Duration) time.Duration {
	if rotation <= 0 {
		return 5 * time.Minute
	}
	return min(rotation/10, time.Hour)
}

// reloadInterval is how often Run rereads storage (one small file when
// nothing changed).
func reloadInterval(rotation time.Duration) time.Duration {
	return min(prepublishWindow(rotation)/4, time.Minute)
}

// retireMargin is added to MaxTokenLifetime before an old key is removed: an
// instance may keep signing with it until its next reload after the new key
// activated, and verifiers accept a token up to MaxLeeway past its exp.
func retireMargin(rotation time.Duration) time.Duration {
	return reloadInterval(rotation) + MaxLeeway
}

// selectKeys returns, at now, the signing key (the most recently activated
// one) and every key still published: pending keys, the active key and
// retired keys whose RetireAfter has not passed. published is ordered by
// activation, newest first.
func selectKeys(idx keyIndex, now time.Time) (active *keyMeta, published []keyMeta) {
	for _, meta := range idx.Keys {
		if !meta.RetireAfter.IsZero() && !now.Before(meta.RetireAfter) {
			continue
		}
		published = append(published, meta)
	}
	slices.SortFunc(published, func(a, b keyMeta) int {
		return cmp.Or(b.ActivateAt.Compare(a.ActivateAt), b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID))
	})
	for i := range published {
		if !published[i].ActivateAt.After(now) {
			return &published[i], published
		}
	}
	return nil, published
}

// newest returns the key activated last (or to be activated last).
func newest(idx keyIndex) (keyMeta, bool) {
	if len(idx.Keys) == 0 {
		return keyMeta{}, false
	}
	return slices.MaxFunc(idx.Keys, func(a, b keyMeta) int {
		return cmp.Or(a.ActivateAt.Compare(b.ActivateAt), a.Created.Compare(b.Created))
	}), true
}

// plan says whether a new key is due and when it would activate. atLoad
// also honours a changed algorithm (only at Load: two running instances with
// different configurations would otherwise take turns replacing keys).
func (m *Manager) plan(now time.Time, atLoad bool) (due bool, activateAt time.Time) {
	last, ok := newest(m.index)
	if !ok {
		return true, now // the very first key: nobody can hold a token yet
	}
	window := prepublishWindow(m.cfg.Rotation)
	if atLoad && last.Algorithm != m.cfg.Algorithm {
		return true, now.Add(window)
	}
	if m.cfg.Rotation > 0 && !now.Before(last.ActivateAt.Add(m.cfg.Rotation-window)) {
		// Normally last+rotation; later when this is late (all instances
		// were down), so the key is still pre-published for a full window.
		return true, later(last.ActivateAt.Add(m.cfg.Rotation), now.Add(window))
	}
	return false, time.Time{}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// expired reports whether some key may be removed from storage.
func (m *Manager) expired(now time.Time) bool {
	return slices.ContainsFunc(m.index.Keys, func(k keyMeta) bool {
		return !k.RetireAfter.IsZero() && !now.Before(k.RetireAfter)
	})
}

// maintain creates a due key and removes retired ones. It checks without
// the lock first (the common case: nothing to do), then takes the storage
// lock and checks again against a fresh read, because another instance may
// have done the work while we waited.
func (m *Manager) maintain(ctx context.Context, atLoad bool) error {
	if due, _ := m.plan(m.now(), atLoad); !due && !m.expired(m.now()) {
		return nil
	}
	return m.withLock(ctx, func() error {
		if err := m.sync(ctx); err != nil {
			return err
		}
		now := m.now()
		due, activateAt := m.plan(now, atLoad)
		if !due && !m.expired(now) {
			return nil
		}
		idx := keyIndex{Keys: slices.Clone(m.index.Keys)}
		var removed []string
		idx.Keys = slices.DeleteFunc(idx.Keys, func(k keyMeta) bool {
			gone := !k.RetireAfter.IsZero() && !now.Before(k.RetireAfter)
			if gone {
				removed = append(removed, k.ID)
			}
			return gone
		})
		var added *Key
		if due {
			k, err := generateKey(m.cfg.Algorithm)
			if err != nil {
				return err
			}
			if err := m.storeKey(ctx, k); err != nil {
				return err
			}
			for i := range idx.Keys {
				if idx.Keys[i].RetireAfter.IsZero() {
					idx.Keys[i].RetireAfter = activateAt.Add(m.cfg.MaxTokenLifetime + retireMargin(m.cfg.Rotation))
				}
			}
			idx.Keys = append(idx.Keys, keyMeta{ID: k.ID, Algorithm: k.Algorithm, Created: now, ActivateAt: activateAt})
			added = k
		}
		if err := m.storeIndex(ctx, idx); err != nil {
			return err
		}
		m.index = idx
		if added != nil {
			m.keys[added.ID] = added
			m.logger.Info("new signing key created",
				zap.String("kid", added.ID), zap.String("alg", added.Algorithm),
				zap.Time("activate_at", activateAt))
		}
		for _, kid := range removed {
			delete(m.keys, kid)
			// The index no longer lists it; a failed delete only leaves an
			// orphan file behind.
			if err := m.storage.Delete(ctx, pemKey(kid)); err != nil {
				m.logger.Warn("deleting retired signing key", zap.String("kid", kid), zap.Error(err))
			}
			m.logger.Info("retired signing key removed", zap.String("kid", kid))
		}
		return nil
	})
}

// Run rotates and reloads keys until ctx is done (call in a goroutine; a no-op
// loop when rotation is off but other instances may rotate: it reloads from
// storage periodically). With a key file there is nothing to do and Run
// returns at once.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	file, rotation := m.cfg.File, m.cfg.Rotation
	m.mu.Unlock()
	if file != "" {
		return
	}
	t := time.NewTicker(reloadInterval(rotation))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.refresh(ctx)
		}
	}
}

// refresh is one Run step: reread storage (seeing other instances'
// rotations), rotate or clean up if due, and swap in a snapshot for the
// current time. Errors are logged; the previous keys stay in use.
func (m *Manager) refresh(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sync(ctx); err != nil {
		m.logger.Error("reloading signing keys", zap.Error(err))
	} else if err := m.maintain(ctx, false); err != nil && ctx.Err() == nil {
		m.logger.Error("rotating signing keys", zap.Error(err))
	}
	if err := m.publish(); err != nil {
		m.logger.Error("publishing signing keys", zap.Error(err))
	}
}
