package token

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// mutableKeys is a KeySource whose keys a test can remove.
type mutableKeys struct {
	mu   sync.Mutex
	keys map[string]*Key
}

func (m *mutableKeys) VerificationKey(_ context.Context, kid string) (*Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

func mapID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

func TestCacheHit(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.CacheSize = 100 })
	raw := mustSign(t, k, validClaims(c.Now()), "at+jwt")
	first, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if mapID(first) != mapID(second) {
		t.Error("second verification did not come from the cache")
	}
	if v.cache.len() != 1 {
		t.Errorf("cache holds %d entries", v.cache.len())
	}
	// A forged token is never cached, and a cached token does not make a
	// tampered copy pass.
	if _, err := v.Verify(context.Background(), raw[:len(raw)-2]+"AA"); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered signature: %v", err)
	}
	if v.cache.len() != 1 {
		t.Errorf("cache holds %d entries after a failure", v.cache.len())
	}
}

func TestCacheNeverPastExp(t *testing.T) {
	c := newClock()
	k := testKey(t, EdDSA)
	v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) {
		cfg.CacheSize = 100
		cfg.Leeway = 30 * time.Second
	})
	claims := validClaims(c.Now())
	claims["exp"] = c.Now().Add(time.Minute).Unix()
	raw := mustSign(t, k, claims, "at+jwt")
	cached, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	// Past exp but within the leeway: still valid, but not from the cache.
	c.Add(time.Minute + 10*time.Second)
	again, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if mapID(again) == mapID(cached) {
		t.Error("cache entry used past exp")
	}
	// Past exp and leeway: refused.
	c.Add(30 * time.Second)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired token accepted: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newClock()
	k := testKey(t, EdDSA)
	for _, size := range []int{1, 3, 10, 33} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.CacheSize = size })
			for range 3 * size {
				if _, err := v.Verify(context.Background(), mustSign(t, k, validClaims(c.Now()), "at+jwt")); err != nil {
					t.Fatal(err)
				}
				if n := v.cache.len(); n > size {
					t.Fatalf("cache holds %d entries, limit %d", n, size)
				}
			}
			if n := v.cache.len(); n == 0 {
				t.Error("nothing cached")
			}
		})
	}
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	c := newClock()
	now := c.Now()
	sums := make([][32]byte, 5)
	for i := range sums {
		sums[i] = hashToken(fmt.Sprint(i))
	}
	// One shard, so the test does not depend on hash bits.
	cc := &cache{shards: make([]cacheShard, 1), perShard: 4}
	cc.shards[0].entries = map[[32]byte]*entry{}
	for i := range 4 {
		exp := now.Add(time.Hour).Unix()
		if i == 2 {
			exp = now.Add(-time.Second).Unix()
		}
		cc.put(&sums[i], &entry{exp: exp}, now)
	}
	cc.put(&sums[4], &entry{exp: now.Add(time.Hour).Unix()}, now)
	if cc.len() != 4 {
		t.Fatalf("len = %d", cc.len())
	}
	for _, i := range []int{0, 1, 3, 4} {
		if cc.get(&sums[i], now) == nil {
			t.Errorf("live entry %d evicted while an expired one was there", i)
		}
	}
}

func TestCacheDropsTokensOfRemovedKey(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	keys := &mutableKeys{keys: map[string]*Key{k.ID: k}}
	v := newTestVerifier(t, keys, c, func(cfg *VerifierConfig) { cfg.CacheSize = 10 })
	raw := mustSign(t, k, validClaims(c.Now()), "at+jwt")
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	keys.mu.Lock()
	delete(keys.keys, k.ID)
	keys.mu.Unlock()
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalid) {
		t.Errorf("cached token of a removed key accepted: %v", err)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newClock()
	k := testKey(t, EdDSA)
	v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.CacheSize = 8 })
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = mustSign(t, k, validClaims(c.Now()), "at+jwt")
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := v.Verify(context.Background(), tokens[(g+i)%len(tokens)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := v.cache.len(); n > 8 {
		t.Errorf("cache holds %d entries", n)
	}
}
