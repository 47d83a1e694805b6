package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/claimgate/claimgate/token"
)

// TestVerifyManagedAcrossHandlers: a handler deletes the headers every
// other loaded handler sets, plus its own strip names, in every
// spelling, and stops deleting another handler's names once that handler is
// cleaned up.
func TestVerifyManagedAcrossHandlers(t *testing.T) {
	m := newTestKeys(t, token.RS256, "rsa")
	reg := newNameRegistry()
	idOnly := newTestVerify(t, &Verify{registry: reg, Optional: true,
		Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}},
		Strip:   []string{"X-Debug-User"},
	}, m)
	full := newTestVerify(t, &Verify{registry: reg, Headers: []HeaderClaim{
		{Name: "X-User-Id", Claim: "sub"},
		{Name: "X-User-Roles", Claim: "https://example.test/roles"},
		{Name: "X-Org-Id", Claim: "org_id"},
	}}, m)
	forged := []string{"X-User-Roles", "x_user_roles", "X.User.Roles", "x-org-id", "X-Debug-User", "x.debug_user"}

	send := func(v *Verify, auth string) (*recorder, error) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, k := range forged {
			r.Header[k] = []string{"forged"}
		}
		r.Header["Connection"] = []string{"X-User-Roles, x-debug-user, keep-alive"}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		rec := new(recorder)
		err := v.ServeHTTP(httptest.NewRecorder(), r, rec)
		return rec, err
	}
	kept := func(h http.Header) []string {
		var names []string
		for _, k := range forged {
			if slices.Contains(h[k], "forged") {
				names = append(names, k)
			}
		}
		return names
	}

	tok := "Bearer " + mint(t, m, nil)
	for name, auth := range map[string]string{"authenticated": tok, "anonymous": ""} {
		rec, err := send(idOnly, auth)
		if err != nil || !rec.called {
			t.Fatalf("%s: ServeHTTP = %v, called %v", name, err, rec.called)
		}
		if k := kept(rec.header); k != nil {
			t.Errorf("%s: the X-User-Id route let %q through (set by another handler, or stripped)", name, k)
		}
		if got := rec.header.Get("Connection"); got != "keep-alive" {
			t.Errorf("%s: Connection = %q, want keep-alive", name, got)
		}
	}
	// Strip names are the handler's own: the other route's app may
	// expect them from clients.
	rec, err := send(full, tok)
	if err != nil || !rec.called {
		t.Fatalf("ServeHTTP = %v", err)
	}
	if got, want := kept(rec.header), []string{"X-Debug-User", "x.debug_user"}; !slices.Equal(got, want) {
		t.Errorf("full route kept %q, want %q", got, want)
	}

	if err := full.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := full.Cleanup(); err != nil { // twice is harmless
		t.Fatal(err)
	}
	rec, err = send(idOnly, tok)
	if err != nil || !rec.called {
		t.Fatalf("ServeHTTP after Cleanup = %v", err)
	}
	if got, want := kept(rec.header), []string{"X-User-Roles", "x_user_roles", "X.User.Roles", "x-org-id"}; !slices.Equal(got, want) {
		t.Errorf("after the other handler's Cleanup, kept %q, want %q", got, want)
	}
	assertNoForged(t, rec.header)
}

// TestVerifyProvisionRegisters: the real Provision adds the handler's header
// names to the process-wide set, and Cleanup (also after a failed
// Provision) takes them out again.
func TestVerifyProvisionRegisters(t *testing.T) {
	const probe = "X-Registry-Probe"
	if managedNames.snapshot().contains(probe) {
		t.Fatalf("%s managed before any handler sets it", probe)
	}
	srv := newJWKSServer(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	v := &Verify{Audience: testAudience, Issuer: externalIssuer, JWKSURL: srv.URL,
		Headers: []HeaderClaim{{Name: probe, Claim: "sub"}}, Strip: []string{"X-Strip-Probe"}}
	if err := v.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if !managedNames.snapshot().contains("x_registry.probe") {
		t.Errorf("%s not managed after Provision", probe)
	}
	if managedNames.snapshot().contains("X-Strip-Probe") {
		t.Error("a strip name reached the process-wide set")
	}
	if err := v.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if managedNames.snapshot().contains(probe) {
		t.Errorf("%s still managed after Cleanup", probe)
	}

	failed := &Verify{Audience: testAudience, Headers: []HeaderClaim{{Name: probe, Claim: "sub"}}}
	if err := failed.Provision(ctx); err == nil {
		t.Fatal("Provision without the claimgate app succeeded")
	}
	if err := failed.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if managedNames.snapshot().contains(probe) {
		t.Errorf("%s managed after a failed Provision and its Cleanup", probe)
	}
}

// TestVerifyTrailers: a request announcing a managed trailer, in any
// spelling, is refused with 400 through caddyhttp.Error, on every path
// (also optional, also without a token), after its headers were stripped.
func TestVerifyTrailers(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	reg := newNameRegistry()
	strict := newTestVerify(t, &Verify{registry: reg, Strip: []string{"X-Debug-User"},
		Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)
	optional := newTestVerify(t, &Verify{registry: reg, Optional: true,
		Headers: []HeaderClaim{{Name: "X-User-Roles", Claim: "https://example.test/roles"}}}, m)
	tok := "Bearer " + mint(t, m, nil)

	tests := []struct {
		name    string
		v       *Verify
		auth    string
		trailer http.Header // r.Trailer, as Go's servers fill it from Trailer
		header  []string    // Trailer header values left in r.Header
		status  int         // 0: passes
	}{
		{"announced X-User-Id", strict, tok, http.Header{"X-User-Id": nil}, nil, 400},
		{"underscore spelling", strict, tok, http.Header{"X_user_id": nil}, nil, 400},
		{"dot spelling", strict, tok, http.Header{"X.User.Id": nil}, nil, 400},
		{"among others", strict, tok, http.Header{"X-Checksum": nil, "X-USER-ID": nil}, nil, 400},
		{"another handler's header", strict, tok, http.Header{"X-User-Roles": nil}, nil, 400},
		{"own strip name", strict, tok, http.Header{"X-Debug-User": nil}, nil, 400},
		{"without a token", strict, "", http.Header{"X-User-Id": nil}, nil, 400},
		{"with a bad token", strict, "Bearer x.y.z", http.Header{"X-User-Id": nil}, nil, 400},
		{"optional, anonymous", optional, "", http.Header{"x-user-id": nil}, nil, 400},
		{"optional, with a token", optional, tok, http.Header{"X-User-Roles": nil}, nil, 400},
		{"Trailer header kept (no chunked body)", strict, tok, nil, []string{"X-Checksum, x_user_id"}, 400},
		{"optional, Trailer header kept", optional, "", nil, []string{"X.User.Roles"}, 400},
		{"other trailer", strict, tok, http.Header{"X-Checksum": nil}, nil, 0},
		{"other strip name is not this handler's", optional, "", http.Header{"X-Debug-User": nil}, nil, 0},
		{"other Trailer header", optional, "", nil, []string{"X-Checksum"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("body"))
			r.Trailer = tt.trailer
			if tt.header != nil {
				r.Header["Trailer"] = tt.header
			}
			r.Header["X_User_Id"] = []string{"forged"}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			w := httptest.NewRecorder()
			rec := new(recorder)
			err := tt.v.ServeHTTP(w, r, rec)
			if tt.status == 0 {
				if err != nil || !rec.called {
					t.Fatalf("ServeHTTP = %v, called %v; want it passed", err, rec.called)
				}
				return
			}
			if rec.called {
				t.Fatal("next handler called")
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != tt.status {
				t.Fatalf("error = %v, want a caddyhttp.HandlerError with %d", err, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate = %q on a 400", got)
			}
			assertNoForged(t, r.Header) // handle_errors sees a clean request
		})
	}
}

// TestVerifyTrailersHTTP1 sends chunked HTTP/1.1 requests with trailers to
// a real net/http server (the one Caddy runs) and checks what the next
// handler finds in r.Trailer once it has read the body, as reverse_proxy
// does before forwarding the trailers.
func TestVerifyTrailersHTTP1(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	v := newTestVerify(t, &Verify{Optional: true, Headers: []HeaderClaim{
		{Name: "X-User-Id", Claim: "sub"}, {Name: "X-User-Roles", Claim: "https://example.test/roles"},
	}}, m)

	var mu sync.Mutex
	var gotTrailer http.Header
	var gotBody string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		mu.Lock()
		gotBody, gotTrailer = string(b), r.Trailer.Clone()
		mu.Unlock()
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Caddy hands handlers a copy of the server's request, with
		// its replacer in the context.
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if err := v.ServeHTTP(w, r, next); err != nil {
			var he caddyhttp.HandlerError
			if errors.As(err, &he) {
				w.WriteHeader(he.StatusCode)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	tok := mint(t, m, nil)
	tests := []struct {
		name        string
		announce    string // Trailer header ("" for none)
		section     string // trailer fields after the last chunk
		status      int
		wantTrailer http.Header // what the next handler sees (nil: not called or nil)
	}{
		{"announced and sent", "X-User-Id", "X-User-Id: 999\r\n", 400, nil},
		{"announced in another spelling", "x_user_roles", "x_user_roles: admin\r\n", 400, nil},
		{"announced among others", "X-Checksum, X.User.Id", "X-Checksum: abc\r\n", 400, nil},
		{"undeclared behind a declared one", "X-Checksum",
			"X-Checksum: abc\r\nX-User-Id: 999\r\nx_user_roles: admin\r\nX.User.Id: 998\r\n", 200,
			http.Header{"X-Checksum": {"abc"}}},
		{"undeclared, none announced", "", "X-User-Id: 999\r\n", 200, nil},
		{"plain trailer", "X-Checksum", "X-Checksum: abc\r\n", 200, http.Header{"X-Checksum": {"abc"}}},
	}
	for _, tt := range tests {
		for _, auth := range []string{"", "Authorization: Bearer " + tok + "\r\n"} {
			t.Run(fmt.Sprintf("%s/token=%v", tt.name, auth != ""), func(t *testing.T) {
				mu.Lock()
				gotTrailer, gotBody = nil, ""
				mu.Unlock()
				req := "POST /orders HTTP/1.1\r\nHost: api.example.test\r\n" + auth +
					"Transfer-Encoding: chunked\r\nConnection: close\r\n"
				if tt.announce != "" {
					req += "Trailer: " + tt.announce + "\r\n"
				}
				req += "\r\n7\r\npayload\r\n0\r\n" + tt.section + "\r\n"
				status := rawRequest(t, srv.Listener.Addr().String(), req)
				if status != tt.status {
					t.Fatalf("status %d, want %d", status, tt.status)
				}
				mu.Lock()
				defer mu.Unlock()
				if tt.status != 200 {
					return
				}
				if gotBody != "payload" {
					t.Errorf("body %q", gotBody)
				}
				if fmt.Sprint(gotTrailer) != fmt.Sprint(tt.wantTrailer) {
					t.Errorf("trailers after the body = %v, want %v", gotTrailer, tt.wantTrailer)
				}
			})
		}
	}
}

// rawRequest writes req to addr and returns the answer's status code.
func rawRequest(t *testing.T, addr, req string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestStripManagedAllocs: stripping allocates nothing for a request without
// managed headers, nor for deleting forged ones.
func TestStripManagedAllocs(t *testing.T) {
	v := benchStripVerify()
	clean := benchStripHeader(false)
	if n := testing.AllocsPerRun(100, func() { stripManaged(clean, v.managed()) }); n != 0 {
		t.Errorf("clean request: %v allocations", n)
	}
	forged := benchStripHeader(true)
	value := []string{"forged"}
	if n := testing.AllocsPerRun(100, func() {
		forged["X_User_Id"] = value
		stripManaged(forged, v.managed())
	}); n != 0 {
		t.Errorf("forged header: %v allocations", n)
	}
	if _, ok := forged["X_User_Id"]; ok {
		t.Error("forged header kept")
	}
}
