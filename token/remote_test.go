package token

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a key set that tests can rotate or take down.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []*Key
	body     []byte // when set, served instead of keys
	down     bool
	requests atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...*Key) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if s.body != nil {
			w.Write(s.body)
			return
		}
		doc, err := marshalJWKS(s.keys)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func testRemoteOptions(c *clock) remoteOptions {
	o := defaultRemoteOptions()
	o.backoffMin = 5 * time.Millisecond
	o.backoffMax = 20 * time.Millisecond
	o.now = c.Now
	return o
}

func newTestRemote(t *testing.T, url string, opts remoteOptions) *RemoteJWKS {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := newRemoteJWKS(ctx, url, nil, nil, opts)
	t.Cleanup(r.Close)
	return r
}

func TestRemoteJWKSRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	k1, k2, k3 := testKey(t, RS256), testKey(t, ES256), testKey(t, EdDSA)
	srv := newJWKSServer(t, k1)
	r := newTestRemote(t, srv.URL, testRemoteOptions(c))
	v := newTestVerifier(t, r, c, nil)

	if _, err := v.Verify(ctx, mustSign(t, k1, validClaims(c.Now()), "at+jwt")); err != nil {
		t.Fatalf("key fetched at construction: %v", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d requests after construction", n)
	}

	// The issuer rotates: a token with the new kid triggers one refetch.
	c.Add(time.Minute)
	srv.set(func(s *jwksServer) { s.keys = []*Key{k2} })
	got, err := r.VerificationKey(ctx, k2.ID)
	if err != nil || got.Algorithm != ES256 {
		t.Fatalf("new kid: %v %v", got, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests after an unknown kid, want 2", n)
	}
	// k1 was removed from the set, so it is gone here too.
	if _, err := r.VerificationKey(ctx, k1.ID); err == nil {
		t.Error("removed key still trusted")
	}

	// Rate limit: unknown kids within 30 s cause no request.
	srv.set(func(s *jwksServer) { s.keys = []*Key{k2, k3} })
	for _, kid := range []string{"random-1", "random-2", k3.ID} {
		if _, err := r.VerificationKey(ctx, kid); err == nil {
			t.Errorf("kid %s resolved without a fetch", kid)
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests within the rate limit, want 2", n)
	}
	c.Add(31 * time.Second)
	if _, err := r.VerificationKey(ctx, k3.ID); err != nil {
		t.Errorf("after the rate limit: %v", err)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestRemoteJWKSConcurrentUnknownKidFetchesOnce(t *testing.T) {
	c := newClock()
	k1, k2 := testKey(t, ES256), testKey(t, EdDSA)
	srv := newJWKSServer(t, k1)
	r := newTestRemote(t, srv.URL, testRemoteOptions(c))
	c.Add(time.Minute)
	srv.set(func(s *jwksServer) { s.keys = []*Key{k1, k2} })
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { r.VerificationKey(context.Background(), "unknown") })
	}
	wg.Wait()
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("%d requests for 20 concurrent unknown kids, want 2", n)
	}
}

func TestRemoteJWKSDownAtStart(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	srv := newJWKSServer(t, k)
	srv.set(func(s *jwksServer) { s.down = true })
	r := newTestRemote(t, srv.URL, testRemoteOptions(c))
	if _, err := r.VerificationKey(context.Background(), k.ID); err == nil {
		t.Fatal("key resolved while the server is down")
	}
	srv.set(func(s *jwksServer) { s.down = false })
	// The background retry (5–20 ms backoff) picks the keys up; the deadline
	// only bounds a broken implementation.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, _ := r.lookup(k.ID); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys never fetched (%d requests)", srv.requests.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRemoteJWKSBadResponsesKeepKeys(t *testing.T) {
	c := newClock()
	k := testKey(t, RS256)
	tests := []struct {
		name string
		set  func(s *jwksServer)
	}{
		{"server error", func(s *jwksServer) { s.down = true }},
		{"too large", func(s *jwksServer) {
			s.body = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSSize) + `"}`)
		}},
		{"not JSON", func(s *jwksServer) { s.body = []byte("<html>") }},
		{"only an oct key", func(s *jwksServer) { s.body = []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, k)
			r := newTestRemote(t, srv.URL, testRemoteOptions(c))
			srv.set(tt.set)
			if err := r.fetch(context.Background()); err == nil {
				t.Fatal("bad response accepted")
			}
			if _, err := r.VerificationKey(context.Background(), k.ID); err != nil {
				t.Errorf("known key lost: %v", err)
			}
			if _, err := r.VerificationKey(context.Background(), "h"); err == nil {
				t.Error("oct key usable")
			}
		})
	}
}

func TestRemoteJWKSKidlessToken(t *testing.T) {
	c := newClock()
	k := testKey(t, EdDSA)
	srv := newJWKSServer(t, k)
	r := newTestRemote(t, srv.URL, testRemoteOptions(c))
	if got, err := r.VerificationKey(context.Background(), ""); err != nil || got.ID != k.ID {
		t.Errorf("single key: %v %v", got, err)
	}
	srv.set(func(s *jwksServer) { s.keys = []*Key{k, testKey(t, ES256)} })
	if err := r.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.VerificationKey(context.Background(), ""); err == nil {
		t.Error("kidless token resolved among two keys")
	}
}

func TestRemoteJWKSCachedTokenSurvivesRefetch(t *testing.T) {
	// An unchanged key keeps its identity across refetches, so the verified
	// token cache stays warm.
	c := newClock()
	k := testKey(t, ES256)
	srv := newJWKSServer(t, k)
	r := newTestRemote(t, srv.URL, testRemoteOptions(c))
	before, _ := r.VerificationKey(context.Background(), k.ID)
	if err := r.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := r.VerificationKey(context.Background(), k.ID)
	if before != after {
		t.Error("unchanged key replaced by a new *Key")
	}
}

// remoteGoroutines returns the stacks of the goroutines running a
// RemoteJWKS method (the background loop, an on-demand refetch).
func remoteGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "token.(*RemoteJWKS).") {
			found = append(found, g)
		}
	}
	return found
}

// TestRemoteJWKSCloseWaits: Close cancels the fetches in flight (the
// background refresh and an on-demand refetch, both blocked on a slow
// server) and returns only once every goroutine of the key set has ended,
// so none can log or report a fetch afterwards.
func TestRemoteJWKSCloseWaits(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	doc, err := marshalJWKS([]*Key{k})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	blocked := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Write(doc)
			return
		}
		blocked <- struct{}{}
		<-r.Context().Done() // slow issuer: answers only when the client gives up
	}))
	t.Cleanup(srv.Close)

	var afterClose atomic.Bool
	var lateReports atomic.Int32
	opts := testRemoteOptions(c)
	opts.refreshEvery = time.Millisecond
	opts.onFetch = func(string) {
		if afterClose.Load() {
			lateReports.Add(1)
		}
	}
	r := newRemoteJWKS(context.Background(), srv.URL, nil, nil, opts)
	<-blocked // the background refresh is in flight
	c.Add(time.Minute)
	done, err := r.refetch() // an on-demand refetch waits behind it
	if err != nil {
		t.Fatal(err)
	}

	r.Close()
	afterClose.Store(true)
	select {
	case <-done:
	default:
		t.Error("on-demand refetch still running after Close")
	}
	if !r.fetchMu.TryLock() {
		t.Error("a fetch is still in flight after Close")
	} else {
		r.fetchMu.Unlock()
	}
	if g := remoteGoroutines(); len(g) > 0 {
		t.Errorf("%d goroutines of the key set after Close:\n%s", len(g), strings.Join(g, "\n\n"))
	}

	// Closed: the known key still answers, an unknown kid fetches nothing.
	if _, err := r.VerificationKey(context.Background(), k.ID); err != nil {
		t.Errorf("known key after Close: %v", err)
	}
	before := requests.Load()
	if _, err := r.VerificationKey(context.Background(), "unknown"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("unknown kid after Close: %v, want a closed error", err)
	}
	r.Close() // twice is harmless
	time.Sleep(20 * time.Millisecond)
	if n := requests.Load() - before; n != 0 {
		t.Errorf("%d fetches after Close", n)
	}
	if n := lateReports.Load(); n != 0 {
		t.Errorf("%d fetch outcomes reported after Close", n)
	}
}
