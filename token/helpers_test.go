package token

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// testKeys are generated once per test binary: RSA generation is slow.
var (
	testKeysOnce  sync.Once
	testKeysByAlg map[string]*Key
)

func testKey(t testing.TB, alg string) *Key {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeysByAlg = map[string]*Key{}
		for _, a := range supportedAlgorithms {
			k, err := generateKey(a)
			if err != nil {
				panic(err)
			}
			testKeysByAlg[a] = k
		}
	})
	return testKeysByAlg[alg]
}

// staticKeys is a KeySource over fixed keys.
type staticKeys []*Key

func (s staticKeys) VerificationKey(_ context.Context, kid string) (*Key, error) {
	if kid == "" {
		return soleKey(s)
	}
	for _, k := range s {
		if k.ID == kid {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

const (
	testIssuer   = "https://auth.example.test/"
	testAudience = "https://api.example.test"
)

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// validClaims are the claims of a good access token at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "42",
		"aud":       []string{testAudience},
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       NewID(),
		"client_id": "web-backend",
		"scope":     "read:orders",
	}
}

func newTestVerifier(t testing.TB, keys KeySource, c *clock, mutate func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{
		Issuer:      testIssuer,
		Audience:    testAudience,
		RequireType: TypeAccessToken,
		Leeway:      DefaultLeeway,
		Keys:        keys,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		v.now = c.Now
	}
	return v
}

func fileStorage(t testing.TB) *certmagic.FileStorage {
	return &certmagic.FileStorage{Path: t.TempDir()}
}

func newTestManager(t testing.TB, s certmagic.Storage, cfg ManagerConfig, c *clock) *Manager {
	t.Helper()
	m := NewManager(s, cfg, nil)
	if c != nil {
		m.now = c.Now
	}
	return m
}
