package token

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func jwksKids(t *testing.T, ks *KeySet) map[string]bool {
	t.Helper()
	var doc jwkSet
	if err := json.Unmarshal(ks.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		kids[k.Kid] = true
	}
	return kids
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := fileStorage(t)
	cfg := ManagerConfig{Algorithm: ES256, Rotation: 10 * time.Hour, MaxTokenLifetime: time.Hour}
	m := newTestManager(t, s, cfg, c)
	// A second instance on the same storage that does not rotate itself.
	other := newTestManager(t, s, ManagerConfig{Algorithm: ES256, MaxTokenLifetime: time.Hour}, c)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := m.KeySet().Active()
	if other.KeySet().Active().ID != k1.ID {
		t.Fatal("instances disagree on the first key")
	}
	verifyWith := func(m *Manager, signer *KeySet) error {
		raw, err := signer.Sign(validClaims(c.Now()), "at+jwt")
		if err != nil {
			t.Fatal(err)
		}
		_, err = newTestVerifier(t, LocalKeys(m), c, nil).Verify(ctx, raw)
		return err
	}

	// Before the pre-publication window (rotation - 1h): nothing happens.
	c.Add(9*time.Hour - time.Minute)
	m.refresh(ctx)
	if n := len(m.KeySet().Keys()); n != 1 {
		t.Fatalf("%d keys before the window, want 1", n)
	}

	// In the window: the new key is published everywhere but does not sign.
	c.Add(2 * time.Minute)
	m.refresh(ctx)
	other.refresh(ctx)
	ks := m.KeySet()
	if ks.Active().ID != k1.ID {
		t.Fatal("new key used before its activation")
	}
	if len(ks.Keys()) != 2 {
		t.Fatalf("%d keys published, want 2", len(ks.Keys()))
	}
	k2 := ks.Keys()[1]
	if !jwksKids(t, ks)[k2.ID] || !jwksKids(t, other.KeySet())[k2.ID] {
		t.Fatal("new key not in the JWKS of both instances")
	}
	if _, ok := other.KeySet().Lookup(k2.ID); !ok {
		t.Fatal("other instance does not know the new key")
	}

	// Activation (rotation after the first key): both instances sign with k2.
	c.Add(time.Hour)
	m.refresh(ctx)
	other.refresh(ctx)
	for i, mm := range []*Manager{m, other} {
		if got := mm.KeySet().Active().ID; got != k2.ID {
			t.Errorf("instance %d signs with %s, want %s", i, got, k2.ID)
		}
		if _, ok := mm.KeySet().Lookup(k1.ID); !ok {
			t.Errorf("instance %d dropped the old key too early", i)
		}
	}
	// A token signed with the old key just before rotation still verifies.
	oldSet, _ := newKeySet(k1, []*Key{k1})
	if err := verifyWith(other, oldSet); err != nil {
		t.Errorf("token of the retiring key: %v", err)
	}

	// Until MaxTokenLifetime (and the margin) after k2's activation, k1
	// stays published.
	c.Add(time.Hour - time.Minute)
	other.refresh(ctx)
	if _, ok := other.KeySet().Lookup(k1.ID); !ok {
		t.Error("old key dropped before MaxTokenLifetime")
	}
	// Then it is gone: unpublished and deleted from storage.
	c.Add(time.Minute + retireMargin(cfg.Rotation))
	m.refresh(ctx)
	other.refresh(ctx)
	for i, mm := range []*Manager{m, other} {
		if _, ok := mm.KeySet().Lookup(k1.ID); ok || jwksKids(t, mm.KeySet())[k1.ID] {
			t.Errorf("instance %d still publishes the retired key", i)
		}
	}
	if s.Exists(ctx, pemKey(k1.ID)) {
		t.Error("retired key still in storage")
	}
	if err := verifyWith(other, oldSet); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of the removed key: %v", err)
	}
	if err := verifyWith(other, m.KeySet()); err != nil {
		t.Errorf("token of the active key: %v", err)
	}
}

func TestRotationOverdue(t *testing.T) {
	// All instances were down past the rotation time: the old key keeps
	// signing while the new one is pre-published for a full window.
	ctx := context.Background()
	c := newClock()
	s := fileStorage(t)
	cfg := ManagerConfig{Algorithm: EdDSA, Rotation: 10 * time.Hour, MaxTokenLifetime: time.Hour}
	m := newTestManager(t, s, cfg, c)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := m.KeySet().Active().ID
	c.Add(30 * time.Hour)
	restarted := newTestManager(t, s, cfg, c)
	if err := restarted.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ks := restarted.KeySet()
	if ks.Active().ID != k1 || len(ks.Keys()) != 2 {
		t.Fatalf("active %s with %d keys; want the old key and a pending one", ks.Active().ID, len(ks.Keys()))
	}
	c.Add(prepublishWindow(cfg.Rotation))
	restarted.refresh(ctx)
	if restarted.KeySet().Active().ID == k1 {
		t.Error("new key not active after the window")
	}
}

func TestAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := fileStorage(t)
	m := newTestManager(t, s, ManagerConfig{Algorithm: ES256}, c)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	old := m.KeySet().Active()
	changed := newTestManager(t, s, ManagerConfig{Algorithm: EdDSA, MaxTokenLifetime: time.Hour}, c)
	if err := changed.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if changed.KeySet().Active().ID != old.ID || len(changed.KeySet().Keys()) != 2 {
		t.Fatal("the new algorithm's key must be pre-published, not used at once")
	}
	c.Add(prepublishWindow(0))
	changed.refresh(ctx)
	m.refresh(ctx) // an instance still on the old configuration follows storage
	for i, mm := range []*Manager{changed, m} {
		if got := mm.KeySet().Active(); got.Algorithm != EdDSA {
			t.Errorf("instance %d signs with %s", i, got.Algorithm)
		}
		if _, ok := mm.KeySet().Lookup(old.ID); !ok {
			t.Errorf("instance %d dropped the old key at once", i)
		}
	}
	if algs := changed.KeySet().Algorithms(); len(algs) != 2 {
		t.Errorf("Algorithms() = %v, want both while the old key is published", algs)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	m := newTestManager(t, fileStorage(t), ManagerConfig{Algorithm: ES256}, nil)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	cancel()
	<-done // the test would hang (and time out) if Run ignored ctx
}

func TestScheduleWindows(t *testing.T) {
	for _, r := range []time.Duration{0, MinRotation, time.Hour, 720 * time.Hour} {
		w, i := prepublishWindow(r), reloadInterval(r)
		if i > w/4 || i > time.Minute || w > time.Hour || i <= 0 {
			t.Errorf("rotation %s: window %s, reload %s", r, w, i)
		}
		if r > 0 && w >= r {
			t.Errorf("rotation %s: window %s not shorter than the rotation", r, w)
		}
	}
}
