package token

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxJWKSSize bounds a fetched key set (real ones are a few KiB).
const maxJWKSSize = 1 << 20

// RemoteJWKS is a KeySource backed by another issuer's jwks_url.
//
// Keys are pinned to the JWK's alg, or to the one algorithm claimgate uses
// for the key type (RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA);
// oct keys and other algorithms are skipped. A failed refetch keeps the keys
// already known.
type RemoteJWKS struct {
	url    string
	client *http.Client
	logger *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	opts   remoteOptions
	// wg counts the goroutines (background loop, on-demand refetch), for
	// Close to wait for; Add happens under mu while !closed.
	wg sync.WaitGroup

	fetchMu sync.Mutex // one fetch at a time

	mu       sync.RWMutex
	keys     map[string]*Key
	list     []*Key        // the same keys, for a token without kid
	lastTry  time.Time     // start of the last fetch, for the refetch rate limit
	inflight chan struct{} // closed when the running on-demand refetch ends
	closed   bool          // Close was called: no new goroutine
}

// remoteOptions are RemoteJWKS's timings; tests shorten them.
type remoteOptions struct {
	minRefetch   time.Duration // at most one refetch per this, whatever the kids asked for
	backoffMin   time.Duration // first retry delay after a failed fetch
	backoffMax   time.Duration // longest retry delay
	refreshEvery time.Duration // routine refetch, so removed (revoked) keys go away
	timeout      time.Duration // per fetch, when the client has none
	now          func() time.Time
	onFetch      func(outcome string)
}

// Outcomes of a key-set fetch, as RemoteJWKS reports them to the func of
// WithFetchObserver.
const (
	// JWKSFetchOK: keys fetched and installed.
	JWKSFetchOK = "ok"
	// JWKSFetchFailed: no document (connection, timeout, a status other
	// than 200, a read error, over 1 MiB).
	JWKSFetchFailed = "failed"
	// JWKSFetchInvalid: a document without a usable key (malformed, or
	// every key unusable).
	JWKSFetchInvalid = "invalid"
)

// RemoteOption configures NewRemoteJWKS.
type RemoteOption func(*remoteOptions)

// WithFetchObserver makes every fetch report its outcome (JWKSFetchOK,
// JWKSFetchFailed, JWKSFetchInvalid) to observe, for the metrics; fetches
// cut short by the end of the key set's context are not reported. observe
// must be safe for concurrent use.
func WithFetchObserver(observe func(outcome string)) RemoteOption {
	return func(o *remoteOptions) { o.onFetch = observe }
}

func defaultRemoteOptions() remoteOptions {
	return remoteOptions{
		minRefetch:   30 * time.Second,
		backoffMin:   time.Second,
		backoffMax:   5 * time.Minute,
		refreshEvery: time.Hour,
		timeout:      10 * time.Second,
		now:          time.Now,
	}
}

// NewRemoteJWKS fetches url now (a failure is logged, not returned) and
// refetches on an unknown kid at most once per 30 s; its goroutines stop when
// ctx is done or Close is called, and Close waits for them. After a failed first fetch it retries with exponential backoff
// (1 s up to 5 min); once it has keys it also refetches every hour. A nil
// client means one with a 10 s timeout.
func NewRemoteJWKS(ctx context.Context, url string, client *http.Client, logger *zap.Logger, options ...RemoteOption) *RemoteJWKS {
	opts := defaultRemoteOptions()
	for _, o := range options {
		o(&opts)
	}
	return newRemoteJWKS(ctx, url, client, logger, opts)
}

func newRemoteJWKS(ctx context.Context, url string, client *http.Client, logger *zap.Logger, opts remoteOptions) *RemoteJWKS {
	if client == nil {
		client = &http.Client{Timeout: opts.timeout}
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &RemoteJWKS{
		url:    url,
		client: client,
		logger: logger.With(zap.String("jwks_url", url)),
		ctx:    ctx,
		cancel: cancel,
		opts:   opts,
		keys:   map[string]*Key{},
	}
	err := r.fetch(ctx)
	if err != nil {
		r.logger.Error("fetching JWKS failed; retrying in the background", zap.Error(err))
	}
	r.wg.Go(func() { r.background(err == nil) })
	return r
}

// Close stops the key set's goroutines and waits for them, so that no fetch
// logs or reports its outcome after Close returns. The keys already fetched
// stay usable; an unknown kid no longer causes a fetch. Close may be called
// more than once.
func (r *RemoteJWKS) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// VerificationKey implements KeySource.
func (r *RemoteJWKS) VerificationKey(ctx context.Context, kid string) (*Key, error) {
	if k, ok, err := r.lookup(kid); ok || err != nil {
		return k, err
	}
	done, err := r.refetch()
	if err != nil {
		return nil, fmt.Errorf("unknown kid %.64q (%w)", kid, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if k, ok, err := r.lookup(kid); ok || err != nil {
		return k, err
	}
	return nil, fmt.Errorf("unknown kid %.64q", kid)
}

// lookup answers from the keys in memory; ok false means "unknown kid, a
// refetch might help".
func (r *RemoteJWKS) lookup(kid string) (*Key, bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if kid == "" {
		// No refetch for a missing kid: it is not a new key.
		k, err := soleKey(r.list)
		return k, err == nil, err
	}
	k, ok := r.keys[kid]
	return k, ok, nil
}

// errRefetchRateLimited and errRemoteClosed say why refetch started no fetch.
var (
	errRefetchRateLimited = errors.New("JWKS refetch rate-limited")
	errRemoteClosed       = errors.New("JWKS key set closed")
)

// refetch starts (or joins) an on-demand fetch and returns a channel closed
// when it ends, or an error when the rate limit forbids one or the key set
// is closed. Unknown kids are attacker-controlled, so they can cause at most
// one fetch per minRefetch.
func (r *RemoteJWKS) refetch() (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRemoteClosed
	}
	if r.inflight != nil {
		return r.inflight, nil
	}
	if !r.lastTry.IsZero() && r.opts.now().Sub(r.lastTry) < r.opts.minRefetch {
		return nil, errRefetchRateLimited
	}
	done := make(chan struct{})
	r.inflight = done
	r.wg.Go(func() {
		if err := r.fetch(r.ctx); err != nil && r.ctx.Err() == nil {
			r.logger.Warn("refetching JWKS for an unknown kid", zap.Error(err))
		}
		r.mu.Lock()
		r.inflight = nil
		r.mu.Unlock()
		close(done)
	})
	return done, nil
}

// background retries a failed first fetch with backoff, then refetches
// routinely, until ctx is done.
func (r *RemoteJWKS) background(ok bool) {
	delay := r.opts.backoffMin
	for {
		wait := r.opts.refreshEvery
		if !ok {
			wait = delay
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := r.fetch(r.ctx); err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.logger.Warn("fetching JWKS failed", zap.Error(err), zap.Duration("retry_in", delay))
			ok = false
			delay = min(delay*2, r.opts.backoffMax)
			continue
		}
		ok, delay = true, r.opts.backoffMin
	}
}

// fetch downloads and installs the key set. On any error the keys already
// known stay in use.
func (r *RemoteJWKS) fetch(ctx context.Context) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	r.lastTry = r.opts.now()
	r.mu.Unlock()

	outcome := JWKSFetchFailed
	keySetCtx := ctx // not the fetch's own, which is cancelled before the report
	defer func() { r.reportFetch(keySetCtx, outcome) }()
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	doc, err := r.download(ctx)
	if err != nil {
		return err
	}
	outcome = JWKSFetchInvalid
	keys, skipped, err := parseJWKS(doc)
	if err != nil {
		return err
	}
	for _, err := range skipped {
		r.logger.Warn("ignoring unusable JWKS key", zap.Error(err))
	}
	if len(keys) == 0 {
		return errors.New("JWKS has no usable signing key")
	}
	r.install(keys)
	outcome = JWKSFetchOK
	return nil
}

// reportFetch tells the fetch observer the outcome of a fetch under ctx
// (the key set's own), unless ctx ended: a fetch cut short by a config
// unload says nothing about the issuer.
func (r *RemoteJWKS) reportFetch(ctx context.Context, outcome string) {
	if r.opts.onFetch == nil || (outcome != JWKSFetchOK && ctx.Err() != nil) {
		return
	}
	r.opts.onFetch(outcome)
}

func (r *RemoteJWKS) download(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS: %w", err)
	}
	if len(doc) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSSize)
	}
	return doc, nil
}

// install swaps in the fetched keys, keeping the *Key of an unchanged key so
// that tokens cached by a Verifier stay valid across refetches.
func (r *RemoteJWKS) install(keys map[string]*Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for kid, k := range keys {
		if old, ok := r.keys[kid]; ok && old.Algorithm == k.Algorithm && samePublic(old.Public, k.Public) {
			keys[kid] = old
		}
	}
	list := make([]*Key, 0, len(keys))
	for _, k := range keys {
		list = append(list, k)
	}
	slices.SortFunc(list, func(a, b *Key) int { return strings.Compare(a.ID, b.ID) })
	r.keys, r.list = keys, list
	r.logger.Debug("JWKS installed", zap.Int("keys", len(keys)))
}

func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
