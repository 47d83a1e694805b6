package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/token"
)

// nopHandler is the cheapest next handler.
type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// BenchmarkVerifyHandler measures ServeHTTP for an authenticated request
// with four forwarded headers and forged copies to strip: "cached" is the
// hot path (token seen before), "uncached" checks the signature every time.
func BenchmarkVerifyHandler(b *testing.B) {
	zero := 0
	for _, mode := range []struct {
		name      string
		cacheSize *int
	}{{"cached", nil}, {"uncached", &zero}} {
		for _, alg := range []struct{ alg, keys string }{{token.RS256, "rsa"}, {token.ES256, "ec"}} {
			b.Run(mode.name+"/"+alg.alg, func(b *testing.B) {
				m := newTestKeys(b, alg.alg, alg.keys)
				v := newTestVerify(b, &Verify{CacheSize: mode.cacheSize, Headers: []HeaderClaim{
					{Name: "X-User-Id", Claim: "sub"},
					{Name: "X-User-Email", Claim: "email"},
					{Name: "X-User-Roles", Claim: "https://example.test/roles"},
					{Name: "X-Client-Id", Claim: "client_id"},
				}}, m)
				auth := "Bearer " + mint(b, m, nil)
				benchRequests(b, auth, func(w http.ResponseWriter, r *http.Request) error {
					return v.ServeHTTP(w, r, nopHandler{})
				})
			})
		}
	}
}

// BenchmarkVerifyBaseline is the per-request setup of BenchmarkVerifyHandler
// alone (header map, replacer, request copy): subtract it to get the
// handler's own cost.
func BenchmarkVerifyBaseline(b *testing.B) {
	benchRequests(b, "Bearer x.y.z", func(w http.ResponseWriter, r *http.Request) error {
		return nopHandler{}.ServeHTTP(w, r)
	})
}

// benchRequests serves requests as the server would hand them over: a fresh
// header map (the handler rewrites it) and a fresh replacer each time.
func benchRequests(b *testing.B, auth string, serve func(http.ResponseWriter, *http.Request) error) {
	base := httptest.NewRequest(http.MethodGet, "https://api.example.test/orders", nil)
	w := httptest.NewRecorder()
	header := http.Header{
		"Authorization":   {auth},
		"Accept":          {"application/json"},
		"User-Agent":      {"bench"},
		"Accept-Encoding": {"gzip"},
		"Connection":      {"keep-alive"},
		"X_User_Id":       {"forged"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h := make(http.Header, 12)
		for k, vals := range header {
			h[k] = vals
		}
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		r.Header = h
		if err := serve(w, r); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStripHeader is a typical request's header: the clean variant has no
// managed header, the forged one a forged X-User-Id spelled with '_'.
func benchStripHeader(forged bool) http.Header {
	h := http.Header{
		"Authorization":   {"Bearer x.y.z"},
		"Accept":          {"application/json"},
		"User-Agent":      {"bench"},
		"Accept-Encoding": {"gzip"},
		"Connection":      {"keep-alive"},
		"Content-Type":    {"application/json"},
	}
	if forged {
		h["X_User_Id"] = []string{"forged"}
	}
	return h
}

// benchStripVerify is a handler with the four headers of
// BenchmarkVerifyHandler, provisioned without keys.
func benchStripVerify() *Verify {
	v := &Verify{registry: newNameRegistry(), Headers: []HeaderClaim{
		{Name: "X-User-Id", Claim: "sub"},
		{Name: "X-User-Email", Claim: "email"},
		{Name: "X-User-Roles", Claim: "https://example.test/roles"},
		{Name: "X-Client-Id", Claim: "client_id"},
	}}
	v.register()
	return v
}

// BenchmarkStripManaged measures the stripping that runs first on every
// request, alone.
func BenchmarkStripManaged(b *testing.B) {
	v := benchStripVerify()
	for _, forged := range []bool{false, true} {
		name := "clean"
		if forged {
			name = "forged"
		}
		b.Run(name, func(b *testing.B) {
			h := benchStripHeader(forged)
			value := []string{"forged"}
			b.ReportAllocs()
			for b.Loop() {
				if forged {
					h["X_User_Id"] = value
				}
				stripManaged(h, v.managed())
			}
		})
	}
}
