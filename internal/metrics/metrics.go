// Package metrics holds claimgate's Prometheus collectors, registered on
// the registry of the Caddy config that runs them (ctx.GetMetricsRegistry),
// so that they appear wherever Caddy serves its metrics: the admin
// endpoint's /metrics, or a `metrics` handler.
//
// Caddy gives every config load a registry of its own. A Set is therefore
// made per registry, the first time a module of that config asks for it
// (Acquire), and shared by every claimgate module of the config: two
// claimgate_verify handlers and the app register nothing twice, and a
// reload registers a fresh Set on the fresh registry instead of colliding
// with the old one. Counters start again from zero after a reload, as
// Caddy's own http metrics do; Prometheus' rate() treats that as a reset.
//
// No label carries a user, an IP address or a token: every label value is
// one of a fixed list, so the number of series is bounded. Every series a
// hot path uses is resolved once (WithLabelValues at Acquire), so that
// counting costs one atomic add, without a map lookup or an allocation.
package metrics

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, as the operations contract spells them.
const (
	nameLogins        = "claimgate_logins_total"
	nameVerify        = "claimgate_verify_total"
	namePasswordHash  = "claimgate_password_hash_seconds"
	nameHashQueueWait = "claimgate_hash_queue_wait_seconds"
	nameDBQuery       = "claimgate_database_query_seconds"
	nameDBUp          = "claimgate_database_up"
	nameBlocks        = "claimgate_blocks_total"
	nameRefreshReuse  = "claimgate_refresh_reuse_total"
	nameSigningKeys   = "claimgate_signing_keys"
	nameJWKSFetches   = "claimgate_remote_jwks_fetches_total"
)

// Grant is the `grant` label of claimgate_logins_total.
type Grant uint8

// Grants, in label order.
const (
	GrantPassword Grant = iota
	GrantRefreshToken
	GrantAuthorizationCode
	GrantClientCredentials
	GrantLoginPage
	numGrants
)

var grantLabels = [numGrants]string{"password", "refresh_token", "authorization_code", "client_credentials", "login_page"}

func (g Grant) String() string { return grantLabels[g] }

// Outcome is the `outcome` label of claimgate_logins_total.
type Outcome uint8

// Outcomes of a login, refresh or other grant.
const (
	OutcomeSuccess Outcome = iota
	OutcomeWrongCredentials
	OutcomeBlocked
	OutcomeDenied
	OutcomeInvalidRequest
	OutcomeInvalidClient
	OutcomeUnavailable
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{"success", "wrong_credentials", "blocked", "denied", "invalid_request", "invalid_client", "unavailable"}

func (o Outcome) String() string { return outcomeLabels[o] }

// VerifyOutcome is the `outcome` label of claimgate_verify_total.
type VerifyOutcome uint8

// Outcomes of a claimgate_verify request.
const (
	VerifyOK        VerifyOutcome = iota // a valid token, every requirement held
	VerifyAnonymous                      // no token, let through (optional)
	VerifyMissing                        // no token, refused
	VerifyInvalid                        // a malformed, forged, expired or foreign token
	VerifyForbidden                      // a valid token that lacks a required claim
	numVerifyOutcomes
)

var verifyLabels = [numVerifyOutcomes]string{"ok", "anonymous", "missing", "invalid", "forbidden"}

func (o VerifyOutcome) String() string { return verifyLabels[o] }

// VerifyCounters are the claimgate_verify_total series, resolved once, by
// VerifyOutcome. Counting is one atomic add: c[VerifyOK].Inc().
type VerifyCounters [numVerifyOutcomes]prometheus.Counter

// Block kinds, the `kind` label of claimgate_blocks_total: the limit that
// refused the attempt (store.Block's Reason).
const (
	BlockUserIP  = "user_ip" // max_failures of one user from one IP
	BlockIP      = "ip"      // the IP's daily failure budget
	BlockAccount = "account" // account_lockout: the user from every IP
)

var blockKinds = []string{BlockUserIP, BlockIP, BlockAccount}

// Password hash formats, the `format` label of
// claimgate_password_hash_seconds; FormatDummy is the hash an unknown
// user's password is checked against.
const (
	FormatBcrypt   = "bcrypt"
	FormatArgon2id = "argon2id"
	FormatPBKDF2   = "pbkdf2"
	FormatDummy    = "dummy"
)

var hashFormats = []string{FormatBcrypt, FormatArgon2id, FormatPBKDF2, FormatDummy}

// Database queries, the `query` label of claimgate_database_query_seconds
// (the store package's query names).
var queryNames = []string{"user", "user_id", "roles", "permissions", "organization", "state"}

// JWKS fetch outcomes, the `outcome` label of
// claimgate_remote_jwks_fetches_total (token.JWKSFetch* values).
var jwksOutcomes = []string{"ok", "failed", "invalid"}

// Signing key states, the `state` label of claimgate_signing_keys.
var keyStates = []string{"pending", "active", "retired"}

// Histogram buckets, in seconds.
var (
	// hashBuckets span a fast pbkdf2 to a slow argon2id on a loaded CPU.
	hashBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	// queueBuckets start near zero (a free slot) and end past the default
	// hash_queue_timeout (2 s), where waits end with a 503.
	queueBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5}
	// queryBuckets span a LAN round trip to the default timeout (3 s).
	queryBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
)

// Set is claimgate's collectors on one registry. Its methods are safe for
// concurrent use; a nil *Set counts nothing.
type Set struct {
	logins        [numGrants][numOutcomes]prometheus.Counter
	verify        VerifyCounters
	passwordHash  map[string]prometheus.Observer // by format; read-only after newSet
	hashQueueWait prometheus.Histogram
	dbQuery       map[string]prometheus.Observer // by query name; read-only after newSet
	dbUp          *funcCollector
	blocks        map[string]prometheus.Counter // by kind; read-only after newSet
	refreshReuse  prometheus.Counter
	jwksFetches   map[string]prometheus.Counter // by outcome; read-only after newSet
	signingKeys   *funcCollector

	collectors []prometheus.Collector
}

// newSet makes the collectors and resolves every series.
func newSet() *Set {
	s := &Set{
		passwordHash: make(map[string]prometheus.Observer, len(hashFormats)),
		dbQuery:      make(map[string]prometheus.Observer, len(queryNames)),
		blocks:       make(map[string]prometheus.Counter, len(blockKinds)),
		jwksFetches:  make(map[string]prometheus.Counter, len(jwksOutcomes)),
	}
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: nameLogins,
		Help: "Token requests by grant and outcome (logins, refreshes).",
	}, []string{"grant", "outcome"})
	for g := range numGrants {
		for o := range numOutcomes {
			s.logins[g][o] = logins.WithLabelValues(g.String(), o.String())
		}
	}
	verify := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: nameVerify,
		Help: "Requests claimgate_verify handled, by outcome.",
	}, []string{"outcome"})
	for o := range numVerifyOutcomes {
		s.verify[o] = verify.WithLabelValues(o.String())
	}
	hash := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    namePasswordHash,
		Help:    "Time spent checking a password against its stored hash, by hash format (dummy: an unknown user's).",
		Buckets: hashBuckets,
	}, []string{"format"})
	for _, f := range hashFormats {
		s.passwordHash[f] = hash.WithLabelValues(f)
	}
	s.hashQueueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    nameHashQueueWait,
		Help:    "Time a password check waited for a hashing slot (max_concurrent_hashes).",
		Buckets: queueBuckets,
	})
	query := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    nameDBQuery,
		Help:    "Duration of the database queries, by query (state: claimgate's own tables).",
		Buckets: queryBuckets,
	}, []string{"query"})
	for _, q := range queryNames {
		s.dbQuery[q] = query.WithLabelValues(q)
	}
	s.dbUp = newFuncCollector(prometheus.NewDesc(nameDBUp,
		"1 when the database answers (its schema may still be wrong), 0 while it cannot be reached or was not reached yet.",
		nil, nil))
	blocks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: nameBlocks,
		Help: "Login and client-authentication attempts refused by brute-force protection, by the limit that refused them.",
	}, []string{"kind"})
	for _, k := range blockKinds {
		s.blocks[k] = blocks.WithLabelValues(k)
	}
	s.refreshReuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: nameRefreshReuse,
		Help: "Rotated refresh tokens presented again (their family was revoked).",
	})
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: nameJWKSFetches,
		Help: "Fetches of another issuer's key set (claimgate_verify jwks_url), by outcome.",
	}, []string{"outcome"})
	for _, o := range jwksOutcomes {
		s.jwksFetches[o] = fetches.WithLabelValues(o)
	}
	s.signingKeys = newFuncCollector(prometheus.NewDesc(nameSigningKeys,
		"Signing keys by state: pending (published, not signing yet), active, retired (published until their tokens expire).",
		[]string{"state"}, nil))
	s.collectors = []prometheus.Collector{logins, verify, hash, s.hashQueueWait, query, s.dbUp,
		blocks, s.refreshReuse, fetches, s.signingKeys}
	return s
}

// register adds every collector to reg, undoing the ones it added when one
// fails.
func (s *Set) register(reg prometheus.Registerer) error {
	for i, c := range s.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range s.collectors[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("registering claimgate metrics: %w", err)
		}
	}
	return nil
}

// sets holds the Set of every registry in use, with how many modules hold
// it, so that the modules of one config share one Set and the entry goes
// away with the config's last module.
var sets = struct {
	sync.Mutex
	m map[*prometheus.Registry]*heldSet
}{m: make(map[*prometheus.Registry]*heldSet)}

type heldSet struct {
	set   *Set
	users int
}

// Acquire returns the Set registered on reg, registering one the first
// time, and a release func to call once the module is done with it (its
// Cleanup); the last release forgets the Set. A nil reg (a caddy.Context
// made outside a config, in tests) gets a Set registered nowhere.
func Acquire(reg *prometheus.Registry) (*Set, func(), error) {
	if reg == nil {
		return newSet(), func() {}, nil
	}
	sets.Lock()
	defer sets.Unlock()
	h, ok := sets.m[reg]
	if !ok {
		s := newSet()
		if err := s.register(reg); err != nil {
			return nil, nil, err
		}
		h = &heldSet{set: s}
		sets.m[reg] = h
	}
	h.users++
	var once sync.Once
	release := func() {
		once.Do(func() {
			sets.Lock()
			defer sets.Unlock()
			if h.users--; h.users == 0 && sets.m[reg] == h {
				delete(sets.m, reg)
			}
		})
	}
	return h.set, release, nil
}

// Login counts one token request of grant with outcome.
func (s *Set) Login(g Grant, o Outcome) {
	if s == nil || g >= numGrants || o >= numOutcomes {
		return
	}
	s.logins[g][o].Inc()
}

// VerifyCounters returns the claimgate_verify_total series, for a handler
// to keep.
func (s *Set) VerifyCounters() VerifyCounters {
	if s == nil {
		return newSet().verify
	}
	return s.verify
}

// PasswordHash records one password check of a hash of kind (a
// password.Kind value, or FormatDummy); kinds that are no format (an
// unknown prefix, checked without hashing) are not recorded.
func (s *Set) PasswordHash(kind string, took time.Duration) {
	if s == nil {
		return
	}
	if kind == "pbkdf2_sha256" {
		kind = FormatPBKDF2
	}
	if h, ok := s.passwordHash[kind]; ok {
		h.Observe(took.Seconds())
	}
}

// HashQueueWait records how long a password check waited for a hashing
// slot.
func (s *Set) HashQueueWait(took time.Duration) {
	if s == nil {
		return
	}
	s.hashQueueWait.Observe(took.Seconds())
}

// Blocked counts an attempt refused by the limit kind (BlockUserIP,
// BlockIP, BlockAccount); another value is not counted.
func (s *Set) Blocked(kind string) {
	if s == nil {
		return
	}
	if c, ok := s.blocks[kind]; ok {
		c.Inc()
	}
}

// RefreshReused counts a rotated refresh token presented again.
func (s *Set) RefreshReused() {
	if s == nil {
		return
	}
	s.refreshReuse.Inc()
}

// DatabaseQuery records one query's duration under its name (the store's
// query names; others, such as rehash, are not recorded). It is a
// store.QueryObserver.
func (s *Set) DatabaseQuery(query string, took time.Duration) {
	if s == nil {
		return
	}
	if h, ok := s.dbQuery[query]; ok {
		h.Observe(took.Seconds())
	}
}

// WatchDatabase makes claimgate_database_up read up at each scrape (the
// user store's status, which its checks, pings and queries keep current).
// Until it is called the metric has no series.
func (s *Set) WatchDatabase(up func() bool) {
	if s == nil || up == nil {
		return
	}
	s.dbUp.watch(func(ch chan<- prometheus.Metric, desc *prometheus.Desc) {
		v := 0.0
		if up() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	})
}

// JWKSFetch counts one fetch of a remote key set by outcome (ok, failed,
// invalid).
func (s *Set) JWKSFetch(outcome string) {
	if s == nil {
		return
	}
	if c, ok := s.jwksFetches[outcome]; ok {
		c.Inc()
	}
}

// KeyCounts is how many signing keys are in each state.
type KeyCounts struct {
	// Pending keys are published but do not sign yet.
	Pending int
	// Active is the key that signs (1 once keys are loaded).
	Active int
	// Retired keys no longer sign but stay published until the tokens
	// they signed have expired.
	Retired int
}

// WatchSigningKeys makes claimgate_signing_keys read counts at each
// scrape, so that the gauge follows rotation without anyone setting it.
// Until it is called the metric has no series.
func (s *Set) WatchSigningKeys(counts func() KeyCounts) {
	if s == nil || counts == nil {
		return
	}
	s.signingKeys.watch(func(ch chan<- prometheus.Metric, desc *prometheus.Desc) {
		n := counts()
		for i, v := range []int{n.Pending, n.Active, n.Retired} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v), keyStates[i])
		}
	})
}

// funcCollector is a gauge read at scrape time from the state it reports
// (the store's status, the key set), so that it can never be stale. Its
// source is set once the app has what it reads; before that it collects
// nothing.
type funcCollector struct {
	desc   *prometheus.Desc
	source atomic.Pointer[func(chan<- prometheus.Metric, *prometheus.Desc)]
}

func newFuncCollector(desc *prometheus.Desc) *funcCollector {
	return &funcCollector{desc: desc}
}

func (c *funcCollector) watch(collect func(chan<- prometheus.Metric, *prometheus.Desc)) {
	c.source.Store(&collect)
}

// Describe implements prometheus.Collector.
func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	if src := c.source.Load(); src != nil {
		(*src)(ch, c.desc)
	}
}

// Interface guard
var _ prometheus.Collector = (*funcCollector)(nil)
