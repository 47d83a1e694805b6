package token

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// operatorRotation sets up a running instance with its first key and a
// second Manager on the same storage, standing for the operator's command,
// both on clock c. It returns the instance, the command's Manager and the
// first key.
func operatorRotation(t *testing.T, cfg ManagerConfig, c *clock) (instance, cmd *Manager, first *Key) {
	t.Helper()
	s := fileStorage(t)
	instance = newTestManager(t, s, cfg, c)
	if err := instance.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second) // the operator acts a little after the key was made
	return instance, newTestManager(t, s, cfg, c), instance.KeySet().Active()
}

// signedBy returns a token signed with k at c's time.
func signedBy(t *testing.T, k *Key, c *clock) string {
	t.Helper()
	ks, err := newKeySet(k, []*Key{k})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ks.Sign(validClaims(c.Now()), "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRotateNowPrepublishes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: ES256, Rotation: 720 * time.Hour, MaxTokenLifetime: time.Hour}
	instance, cmd, k1 := operatorRotation(t, cfg, c)
	window := cmd.PrepublishWindow()
	if window != time.Hour {
		t.Fatalf("window %s for a 720h rotation, want the scheduled rotation's 1h", window)
	}

	r, err := cmd.RotateNow(ctx, RotateOptions{ActivateIn: window})
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyID == k1.ID || r.Algorithm != ES256 || !r.ActivateAt.Equal(c.Now().Add(window)) {
		t.Fatalf("rotation %+v", r)
	}
	if r.ReloadInterval != time.Minute {
		t.Errorf("reload interval %s, want 1m", r.ReloadInterval)
	}
	wantRetire := r.ActivateAt.Add(time.Hour + retireMargin(cfg.Rotation))
	if len(r.Retiring) != 1 || r.Retiring[0].KeyID != k1.ID || !r.Retiring[0].RetireAfter.Equal(wantRetire) {
		t.Errorf("retiring %+v, want %s until %s", r.Retiring, k1.ID, wantRetire)
	}
	if len(r.Removed) != 0 {
		t.Errorf("removed %v", r.Removed)
	}

	// At the instance's next reload the key is published, not signing.
	c.Add(r.ReloadInterval)
	instance.refresh(ctx)
	ks := instance.KeySet()
	if ks.Active().ID != k1.ID {
		t.Fatal("the new key signs before its window has passed")
	}
	if !jwksKids(t, ks)[r.KeyID] {
		t.Fatal("the new key is not in the instance's JWKS during the window")
	}
	// After the window it signs, and the old key's tokens still verify.
	c.Add(window)
	instance.refresh(ctx)
	if got := instance.KeySet().Active().ID; got != r.KeyID {
		t.Fatalf("instance signs with %s after the window, want %s", got, r.KeyID)
	}
	v := newTestVerifier(t, LocalKeys(instance), c, nil)
	if _, err := v.Verify(ctx, signedBy(t, k1, c)); err != nil {
		t.Errorf("a token of the replaced key: %v", err)
	}
	// The schedule counts from the operator's key: no second rotation yet.
	c.Add(24 * time.Hour)
	instance.refresh(ctx)
	if n := len(instance.KeySet().Keys()); n != 1 || instance.KeySet().Active().ID != r.KeyID {
		t.Errorf("a day later: %d keys, active %s; want only %s", n, instance.KeySet().Active().ID, r.KeyID)
	}
}

func TestRotateNowImmediately(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: EdDSA, MaxTokenLifetime: 2 * time.Hour}
	instance, cmd, k1 := operatorRotation(t, cfg, c)
	r, err := cmd.RotateNow(ctx, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.KeySet().Active().ID; got != r.KeyID {
		t.Errorf("the command's own snapshot signs with %s, want %s", got, r.KeyID)
	}
	// A restarted instance signs with the new key at once.
	restarted := newTestManager(t, cmd.storage, cfg, c)
	if err := restarted.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := restarted.KeySet().Active().ID; got != r.KeyID {
		t.Errorf("restarted instance signs with %s, want %s", got, r.KeyID)
	}
	// A running one at its next reload; the old key stays published until
	// the tokens it signed expire.
	instance.refresh(ctx)
	if got := instance.KeySet().Active().ID; got != r.KeyID {
		t.Errorf("running instance signs with %s after its reload, want %s", got, r.KeyID)
	}
	old := signedBy(t, k1, c)
	c.Add(2*time.Hour - time.Minute)
	instance.refresh(ctx)
	v := newTestVerifier(t, LocalKeys(instance), c, func(vc *VerifierConfig) { vc.Leeway = 0 })
	if _, ok := instance.KeySet().Lookup(k1.ID); !ok {
		t.Error("old key unpublished before the tokens it signed expired")
	}
	c.Add(time.Minute + retireMargin(0))
	instance.refresh(ctx)
	if _, ok := instance.KeySet().Lookup(k1.ID); ok {
		t.Error("old key still published after the longest token lifetime")
	}
	if instance.storage.Exists(ctx, pemKey(k1.ID)) {
		t.Error("old key still in storage after its retirement")
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, ErrInvalid) {
		t.Errorf("old token after retirement: %v", err)
	}
}

func TestRotateNowRetireOld(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: ES256, MaxTokenLifetime: time.Hour}
	instance, cmd, k1 := operatorRotation(t, cfg, c)
	leaked := signedBy(t, k1, c)
	v := newTestVerifier(t, LocalKeys(instance), c, nil)
	if _, err := v.Verify(ctx, leaked); err != nil {
		t.Fatalf("setup: %v", err)
	}

	r, err := cmd.RotateNow(ctx, RotateOptions{RetireOld: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Removed, []string{k1.ID}) || len(r.Retiring) != 0 {
		t.Fatalf("removed %v, retiring %+v; want %s removed at once", r.Removed, r.Retiring, k1.ID)
	}
	if cmd.storage.Exists(ctx, pemKey(k1.ID)) {
		t.Error("the retired key's PEM is still in storage")
	}
	instance.refresh(ctx)
	ks := instance.KeySet()
	if ks.Active().ID != r.KeyID || len(ks.Keys()) != 1 || jwksKids(t, ks)[k1.ID] {
		t.Fatalf("after its reload the instance has active %s and %d keys; want only %s", ks.Active().ID, len(ks.Keys()), r.KeyID)
	}
	if _, err := v.Verify(ctx, leaked); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token of the retired key: %v, want it refused", err)
	}
	if _, err := v.Verify(ctx, signedBy(t, ks.Active(), c)); err != nil {
		t.Errorf("a token of the new key: %v", err)
	}
}

func TestRotateNowRetireOldAfterWindow(t *testing.T) {
	// With a pre-publication window, the old key signs until the new one
	// activates and stops verifying at that moment.
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: ES256, MaxTokenLifetime: time.Hour}
	instance, cmd, k1 := operatorRotation(t, cfg, c)
	r, err := cmd.RotateNow(ctx, RotateOptions{ActivateIn: 5 * time.Minute, RetireOld: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Retiring) != 1 || !r.Retiring[0].RetireAfter.Equal(r.ActivateAt) {
		t.Fatalf("retiring %+v, want %s until the activation %s", r.Retiring, k1.ID, r.ActivateAt)
	}
	instance.refresh(ctx)
	if instance.KeySet().Active().ID != k1.ID || len(instance.KeySet().Keys()) != 2 {
		t.Fatal("during the window the old key must sign and the new one be published")
	}
	c.Add(5 * time.Minute)
	instance.refresh(ctx)
	ks := instance.KeySet()
	if ks.Active().ID != r.KeyID || len(ks.Keys()) != 1 {
		t.Fatalf("after the window: active %s with %d keys, want only %s", ks.Active().ID, len(ks.Keys()), r.KeyID)
	}
	if instance.storage.Exists(ctx, pemKey(k1.ID)) {
		t.Error("retired key not deleted by the instance's maintenance")
	}
}

func TestRotateNowSupersedesPendingKey(t *testing.T) {
	// A scheduled rotation has pre-published a key; the operator's key
	// replaces it, so it never signs.
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: ES256, Rotation: 10 * time.Hour, MaxTokenLifetime: time.Hour}
	instance, cmd, k1 := operatorRotation(t, cfg, c)
	c.Add(9*time.Hour + time.Minute)
	instance.refresh(ctx)
	if len(instance.KeySet().Keys()) != 2 {
		t.Fatal("setup: no pending scheduled key")
	}
	pending := instance.KeySet().Keys()[1].ID
	r, err := cmd.RotateNow(ctx, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Removed, []string{pending}) {
		t.Errorf("removed %v, want the pending %s", r.Removed, pending)
	}
	c.Add(time.Hour) // past the pending key's activation time
	instance.refresh(ctx)
	ks := instance.KeySet()
	if ks.Active().ID != r.KeyID {
		t.Errorf("active %s, want the operator's %s", ks.Active().ID, r.KeyID)
	}
	if _, ok := ks.Lookup(pending); ok {
		t.Error("the superseded key is still published")
	}
	if _, ok := ks.Lookup(k1.ID); !ok {
		t.Error("the replaced key was unpublished before its tokens expired")
	}
}

func TestRotateNowAfterAKeyFromAClockAhead(t *testing.T) {
	// The current key was made by a host whose clock is 10 s ahead, so it
	// activates in the future by this host's clock. It may already sign
	// there: it is kept, and the new key still comes after it.
	ctx := context.Background()
	c := newClock()
	cfg := ManagerConfig{Algorithm: ES256, MaxTokenLifetime: time.Hour}
	_, cmd, k1 := operatorRotation(t, cfg, c)
	idx, err := loadIndex(ctx, cmd.storage)
	if err != nil {
		t.Fatal(err)
	}
	ahead := c.Now().Add(10 * time.Second)
	idx.Keys[0].ActivateAt = ahead
	if err := cmd.storeIndex(ctx, idx); err != nil {
		t.Fatal(err)
	}
	r, err := cmd.RotateNow(ctx, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Removed) != 0 || len(r.Retiring) != 1 || r.Retiring[0].KeyID != k1.ID {
		t.Fatalf("removed %v, retiring %+v; want %s kept", r.Removed, r.Retiring, k1.ID)
	}
	if !r.ActivateAt.After(ahead) {
		t.Errorf("new key activates at %s, not after the kept key's %s", r.ActivateAt, ahead)
	}
	c.Add(11 * time.Second)
	restarted := newTestManager(t, cmd.storage, cfg, c)
	if err := restarted.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := restarted.KeySet().Active().ID; got != r.KeyID {
		t.Errorf("signs with %s, want the new %s", got, r.KeyID)
	}
}

func TestRotateNowWithoutKeys(t *testing.T) {
	c := newClock()
	m := newTestManager(t, fileStorage(t), ManagerConfig{}, c)
	r, err := m.RotateNow(context.Background(), RotateOptions{ActivateIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Algorithm != RS256 || !r.ActivateAt.Equal(c.Now()) {
		t.Errorf("first key %+v: want RS256 (the default) active at once", r)
	}
	if m.KeySet().Active().ID != r.KeyID {
		t.Error("the first key does not sign")
	}
}

func TestRotateNowRefuses(t *testing.T) {
	ctx := context.Background()
	der, err := x509.MarshalPKCS8PrivateKey(testKey(t, ES256).Private)
	if err != nil {
		t.Fatal(err)
	}
	file := writePEM(t, "PRIVATE KEY", der)
	tests := []struct {
		name string
		m    *Manager
		opts RotateOptions
		want string
	}{
		{"key file", NewManager(fileStorage(t), ManagerConfig{File: file}, nil), RotateOptions{}, "key file"},
		{"negative delay", NewManager(fileStorage(t), ManagerConfig{}, nil), RotateOptions{ActivateIn: -time.Second}, "negative"},
		{"bad algorithm", NewManager(fileStorage(t), ManagerConfig{Algorithm: "HS256"}, nil), RotateOptions{}, "unsupported"},
		{"no storage", NewManager(nil, ManagerConfig{}, nil), RotateOptions{}, "no storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.m.RotateNow(ctx, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}
