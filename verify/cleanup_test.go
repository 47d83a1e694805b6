package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestCleanupWaitsForKeySetFetch: Cleanup returns only once the remote key
// set's goroutines have ended, so a fetch in flight (here a background
// retry blocked on a slow issuer) cannot log or count after it.
func TestCleanupWaitsForKeySetFetch(t *testing.T) {
	var requests atomic.Int32
	blocked := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable) // the retry comes in 1 s
			return
		}
		blocked <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	v := &Verify{Audience: testAudience, Issuer: externalIssuer, JWKSURL: srv.URL}
	if err := v.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		_ = v.Cleanup()
		t.Fatal("the key set never retried")
	}
	if err := v.Cleanup(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "token.(*RemoteJWKS).") {
			t.Errorf("a goroutine of the key set outlived Cleanup:\n%s", g)
		}
	}
}

// TestClaimListsOmitEmpty: the header and require entries follow the Caddy
// JSON convention (snake_case, omitempty).
func TestClaimListsOmitEmpty(t *testing.T) {
	for _, x := range []any{HeaderClaim{}, Requirement{}} {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "{}" {
			t.Errorf("zero %T marshals to %s, want {}", x, b)
		}
	}
}
