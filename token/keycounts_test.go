package token

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestKeyCountsFollowRotation: pending while pre-published, then active
// and retired, then the retired key gone.
func TestKeyCountsFollowRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newTestManager(t, fileStorage(t), ManagerConfig{Algorithm: ES256, Rotation: 10 * time.Hour, MaxTokenLifetime: time.Hour}, c)
	if got := m.KeySet().Counts(); got != (KeyCounts{}) {
		t.Errorf("before Load: %+v, want zero", got)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    KeyCounts
	}{
		{0, KeyCounts{Active: 1}},
		{9*time.Hour + time.Minute, KeyCounts{Pending: 1, Active: 1}}, // in the pre-publication window
		{time.Hour, KeyCounts{Active: 1, Retired: 1}},                 // the new key signs
		{3 * time.Hour, KeyCounts{Active: 1}},                         // past MaxTokenLifetime and the margin
	}
	for i, s := range steps {
		c.Add(s.advance)
		m.refresh(ctx)
		if got := m.KeySet().Counts(); got != s.want {
			t.Errorf("step %d: %+v, want %+v", i, got, s.want)
		}
	}
}

// TestKeyCountsOfAFile: a key file is one active key.
func TestKeyCountsOfAFile(t *testing.T) {
	k := testKey(t, ES256)
	ks, err := newKeySet(k, []*Key{k})
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Counts(); got != (KeyCounts{Active: 1}) {
		t.Errorf("%+v, want one active key", got)
	}
}

// TestFetchObserver: every fetch reports its outcome.
func TestFetchObserver(t *testing.T) {
	var mu sync.Mutex
	var outcomes []string
	observe := func(o string) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, o)
	}
	srv := newJWKSServer(t, testKey(t, ES256))
	opts := testRemoteOptions(newClock())
	WithFetchObserver(observe)(&opts)
	r := newTestRemote(t, srv.URL, opts)

	srv.set(func(s *jwksServer) { s.body = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) })
	if err := r.fetch(r.ctx); err == nil {
		t.Error("a key set with no usable key was accepted")
	}
	srv.set(func(s *jwksServer) { s.down = true })
	if err := r.fetch(r.ctx); err == nil {
		t.Error("a fetch from a server that is down succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{JWKSFetchOK, JWKSFetchInvalid, JWKSFetchFailed}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
}
