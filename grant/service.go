// Package grant holds claimgate's sign-in flows — the password grant and the
// refresh grant — as plain Go over the user store, the state store, the
// password verifier, the claim rules and the signing keys. It knows nothing
// of HTTP or Caddy: every outcome that is not tokens is a domain error
// (errors.go), which the HTTP layer maps to an OAuth error once.
package grant

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/token"
)

// Config is what the flows run on. Every field is set by the claimgate app
// when it provisions; the zero value of an optional field turns it off.
type Config struct {
	// Issuer is the tokens' iss.
	Issuer string
	// Users is the customer's user store.
	Users *store.Store
	// State keeps failure counters and refresh tokens; nil disables refresh
	// tokens.
	State *store.State
	// StateReady makes sure the state tables exist before they are used.
	StateReady func(context.Context) error
	// Keys signs tokens.
	Keys *token.Manager
	// Rules are the compiled claim and deny rules.
	Rules *enrich.Program
	// Guard bounds concurrent password hashing.
	Guard *password.Guard
	// Passwords verifies stored hashes, and an unknown user's password
	// against the configured dummy hash.
	Passwords password.Verifier
	// Protection is the brute-force policy.
	Protection store.Protection
	// IPv6Prefix is the prefix length IPv6 clients are counted by.
	IPv6Prefix int
	// MinFailureTime, when set, is the least time a failed credential
	// check takes to answer.
	MinFailureTime time.Duration
	// SubjectPrefix is put before the user_id in every token's sub.
	SubjectPrefix string
	// AccessTokenTTL is the access and ID token lifetime.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the absolute lifetime of a refresh-token family.
	RefreshTokenTTL time.Duration
	// RefreshTokenIdleTTL is how long a refresh token may go unused.
	RefreshTokenIdleTTL time.Duration
	// Rehash stores an upgraded hash after a login (rehash_query is set).
	Rehash bool
	// RehashTimeout bounds one background rehash.
	RehashTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the flows' log lines.
	Logger *zap.Logger
	// Observer receives the flows' measurements (hash times, blocks,
	// refresh-token reuse); nil observes nothing.
	Observer Observer
}

// Service runs the flows. It is safe for concurrent use.
type Service struct {
	cfg Config
	// ctx bounds background work (password rehashing); background counts
	// it so that Close can wait.
	ctx        context.Context
	background sync.WaitGroup
	mu         sync.Mutex
	closed     bool
	// fingerprintKey keys the fingerprints of usernames in logs; it is
	// loaded from Caddy storage when the app starts.
	fingerprintKey atomic.Pointer[[]byte]
}

// SetLogKey sets the per-install secret that keys the username
// fingerprints in logs (HMAC-SHA256), so that a password typed into the
// username field cannot be recovered from the log by dictionary.
func (s *Service) SetLogKey(key []byte) { s.fingerprintKey.Store(&key) }

// logKey returns the fingerprint key; before the app has started there is
// none yet, and a random one stands in (fingerprints then do not correlate
// across restarts, which is harmless).
func (s *Service) logKey() []byte {
	if k := s.fingerprintKey.Load(); k != nil {
		return *k
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s.fingerprintKey.CompareAndSwap(nil, &key)
	return *s.fingerprintKey.Load()
}

// New returns a Service; background work stops when ctx ends.
func New(ctx context.Context, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Service{cfg: cfg, ctx: ctx}
}

// Close waits for background work (bounded by its timeouts); no new
// background work starts after it.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.background.Wait()
}

// goBackground runs fn in a goroutine Close waits for, unless the service
// is closing: a login that outlives Caddy's grace period must not add to a
// WaitGroup that Cleanup is already waiting on.
func (s *Service) goBackground(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		fn()
	}()
	return true
}

// RefreshTokensAvailable reports whether refresh tokens can be issued and
// redeemed: the state store exists (its tables may still be missing, which
// answers 503 until they are there).
func (s *Service) RefreshTokensAvailable() bool { return s.cfg.State != nil }

// AccountingIP is ip as this service's failure counters key it (see the
// package function).
func (s *Service) AccountingIP(ip string) string { return AccountingIP(ip, s.cfg.IPv6Prefix) }

// Subject is the sub of a user's tokens: the prefix and the user_id.
func (s *Service) Subject(userID string) string { return s.cfg.SubjectPrefix + userID }

// Now returns the flows' clock.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// SetClock replaces the clock (tests of lifetimes and blocks).
func (s *Service) SetClock(now func() time.Time) { s.cfg.Now = now }

// Guard returns the hashing guard (tests saturate it).
func (s *Service) Guard() *password.Guard { return s.cfg.Guard }

// WaitBackground waits for background work started so far.
func (s *Service) WaitBackground() { s.background.Wait() }
