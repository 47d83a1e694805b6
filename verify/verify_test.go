package verify

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/token"
)

const (
	testIssuer   = "https://auth.example.test/"
	testAudience = "https://api.example.test"
	testSubject  = "42"
)

// forgedSpellings are the client-sent copies of X-User-Id that must never
// reach the upstream (CVE-2025-64484 and plain case variants).
var forgedSpellings = []string{"X-User-Id", "x-user-id", "X_User_Id", "X-USER-ID", "X_user-Id", "x_user_id"}

// testKeys caches one key manager per name: generating RSA keys is slow,
// and the tests only need distinct keys, not fresh ones.
var testKeys sync.Map // name → *token.Manager

// newTestKeys returns the key manager called name, with a generated key of
// alg kept in a temporary Caddy file storage (the keys stay in memory).
func newTestKeys(t testing.TB, alg, name string) *token.Manager {
	t.Helper()
	if m, ok := testKeys.Load(name); ok {
		return m.(*token.Manager)
	}
	dir, err := os.MkdirTemp("", "claimgate-verify-keys-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m := token.NewManager(&certmagic.FileStorage{Path: dir}, token.ManagerConfig{Algorithm: alg}, zap.NewNop())
	if err := m.Load(context.Background()); err != nil {
		t.Fatalf("loading keys: %v", err)
	}
	actual, _ := testKeys.LoadOrStore(name, m)
	return actual.(*token.Manager)
}

// accessClaims returns the claims of a valid access token for testSubject.
func accessClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":                        testIssuer,
		"sub":                        testSubject,
		"aud":                        []any{testAudience, testIssuer + "userinfo"},
		"iat":                        now.Unix(),
		"exp":                        now.Add(time.Hour).Unix(),
		"jti":                        "jti-" + now.Format(time.RFC3339Nano),
		"client_id":                  "web-backend",
		"scope":                      "read:orders write:orders",
		"email":                      "ada@example.test",
		"https://example.test/roles": []any{"admin", "billing"},
	}
}

// mint signs claims (accessClaims with changes applied) as an access token.
func mint(t testing.TB, m *token.Manager, change func(map[string]any)) string {
	t.Helper()
	claims := accessClaims()
	if change != nil {
		change(claims)
	}
	raw, err := m.KeySet().Sign(claims, "at+jwt")
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return raw
}

// newTestVerify provisions v against m's keys, as the claimgate app would.
func newTestVerify(t testing.TB, v *Verify, m *token.Manager) *Verify {
	t.Helper()
	if v.Audience == "" {
		v.Audience = testAudience
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if v.registry == nil {
		// Isolated from the other tests' handlers; tests of the managed
		// set share one on purpose.
		v.registry = newNameRegistry()
	}
	if err := v.provision(testIssuer, token.LocalKeys(m), token.TypeAccessToken); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return v
}

// recorder is the next handler: it records what the upstream would see.
type recorder struct {
	called bool
	header http.Header
	userID string
	hasID  bool
	repl   *caddy.Replacer
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rec.called = true
	rec.header = r.Header.Clone()
	rec.repl = r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	rec.userID, rec.hasID = rec.repl.GetString("http.auth.user.id")
	w.WriteHeader(http.StatusOK)
	return nil
}

// serve runs one request through v with forged copies of X-User-Id in every
// spelling, a Connection header naming it, and auth as the Authorization
// header (none when empty).
func serve(t testing.TB, v *Verify, auth string) (*recorder, *http.Request, *httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://api.example.test/orders", nil)
	for _, k := range forgedSpellings {
		r.Header[k] = []string{"forged-" + k}
	}
	r.Header["Connection"] = []string{"keep-alive, X_User_Id", "x-user-id"}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	rec := new(recorder)
	err := v.ServeHTTP(w, r, rec)
	return rec, r, w, err
}

// assertNoForged fails when a client-sent X-User-Id, in any spelling, or a
// Connection token naming it survived in h.
func assertNoForged(t testing.TB, h http.Header) {
	t.Helper()
	for k, vals := range h {
		if sameHeader(k, "x-user-id") {
			for _, val := range vals {
				if strings.HasPrefix(val, "forged") {
					t.Errorf("forged header %s: %q survived", k, val)
				}
			}
		}
	}
	for _, line := range h.Values("Connection") {
		for tok := range strings.SplitSeq(line, ",") {
			if sameHeader(strings.TrimSpace(tok), "x-user-id") {
				t.Errorf("Connection still names %q", tok)
			}
		}
	}
}

// assertStatus checks err is a caddyhttp.HandlerError with status, and the
// challenge sent.
func assertStatus(t testing.TB, err error, w *httptest.ResponseRecorder, status int, challenge string) {
	t.Helper()
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) {
		t.Fatalf("error = %v, want a caddyhttp.HandlerError", err)
	}
	if he.StatusCode != status {
		t.Errorf("status = %d, want %d (%v)", he.StatusCode, status, err)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
}

const (
	challengeMissing = `Bearer realm="` + testAudience + `"`
	challengeInvalid = `Bearer realm="` + testAudience + `", error="invalid_token"`
	challengeScope   = `Bearer realm="` + testAudience + `", error="insufficient_scope"`
)

func TestVerifyAuthenticated(t *testing.T) {
	m := newTestKeys(t, token.RS256, "rsa")
	v := newTestVerify(t, &Verify{Headers: []HeaderClaim{
		{Name: "X-User-Id", Claim: "sub"},
		{Name: "X-User-Email", Claim: "email"},
		{Name: "X-User-Roles", Claim: "https://example.test/roles"},
	}}, m)
	rec, _, _, err := serve(t, v, "Bearer "+mint(t, m, nil))
	if err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	if !rec.called {
		t.Fatal("next handler not called")
	}
	assertNoForged(t, rec.header)
	for k, want := range map[string]string{
		"X-User-Id":    testSubject,
		"X-User-Email": "ada@example.test",
		"X-User-Roles": "admin,billing",
		"Connection":   "keep-alive",
	} {
		if got := rec.header[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", k, got, want)
		}
	}
	if rec.userID != testSubject || !rec.hasID {
		t.Errorf("{http.auth.user.id} = %q, %v", rec.userID, rec.hasID)
	}
	for key, want := range map[string]string{
		"http.auth.user.email":                      "ada@example.test",
		"http.auth.user.https://example.test/roles": "admin,billing",
		"http.auth.user.client_id":                  "web-backend",
	} {
		if got, _ := rec.repl.GetString(key); got != want {
			t.Errorf("{%s} = %q, want %q", key, got, want)
		}
	}
	if got := rec.repl.ReplaceAll("{http.auth.user.id}/{http.auth.user.email}", ""); got != testSubject+"/ada@example.test" {
		t.Errorf("ReplaceAll = %q", got)
	}
}

func TestVerifyRejected(t *testing.T) {
	m := newTestKeys(t, token.RS256, "rsa")
	other := newTestKeys(t, token.RS256, "rsa-other")
	active := m.KeySet().Active()
	v := newTestVerify(t, &Verify{Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)

	valid := mint(t, m, nil)
	parts := strings.Split(valid, ".")

	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{"no token", "", 401, challengeMissing},
		{"basic credentials", "Basic dXNlcjpwYXNz", 401, challengeMissing},
		{"bearer without token", "Bearer ", 401, challengeInvalid},
		{"alg none", "Bearer " + signNone(t, active.ID), 401, challengeInvalid},
		{"HS256 with the RSA public key", "Bearer " + signHS256WithPublicKey(t, active), 401, challengeInvalid},
		{"tampered payload", "Bearer " + tamper(t, parts), 401, challengeInvalid},
		{"signature dropped", "Bearer " + parts[0] + "." + parts[1] + ".", 401, challengeInvalid},
		{"expired", "Bearer " + mint(t, m, func(c map[string]any) {
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}), 401, challengeInvalid},
		{"no exp", "Bearer " + mint(t, m, func(c map[string]any) { delete(c, "exp") }), 401, challengeInvalid},
		{"nbf in the future", "Bearer " + mint(t, m, func(c map[string]any) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		}), 401, challengeInvalid},
		{"wrong iss", "Bearer " + mint(t, m, func(c map[string]any) { c["iss"] = "https://evil.test/" }), 401, challengeInvalid},
		{"iss without trailing slash", "Bearer " + mint(t, m, func(c map[string]any) {
			c["iss"] = strings.TrimSuffix(testIssuer, "/")
		}), 401, challengeInvalid},
		{"wrong aud", "Bearer " + mint(t, m, func(c map[string]any) { c["aud"] = "https://other.example.test" }), 401, challengeInvalid},
		{"unknown kid", "Bearer " + mint(t, other, nil), 401, challengeInvalid},
		{"ID token typ", "Bearer " + signTyp(t, m, "JWT"), 401, challengeInvalid},
		{"20 KB garbage", "Bearer " + strings.Repeat("A", 20<<10), 401, challengeInvalid},
		{"three garbage parts", "Bearer a.b.c", 401, challengeInvalid},
		{"two tokens", "Bearer " + valid + " " + valid, 401, challengeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, r, w, err := serve(t, v, tt.auth)
			if rec.called {
				t.Fatal("next handler called for a rejected request")
			}
			assertStatus(t, err, w, tt.status, tt.challenge)
			// handle_errors sees the same request: nothing forged left.
			assertNoForged(t, r.Header)
			if got := r.Header.Get("X-User-Id"); got != "" {
				t.Errorf("X-User-Id = %q on a rejected request", got)
			}
		})
	}

	// Two Authorization headers are refused, not resolved.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header["Authorization"] = []string{"Bearer " + valid, "Bearer " + valid}
	w := httptest.NewRecorder()
	rec := new(recorder)
	err := v.ServeHTTP(w, r, rec)
	if rec.called {
		t.Fatal("next handler called with two Authorization headers")
	}
	assertStatus(t, err, w, 401, challengeInvalid)
}

// signNone returns an `alg: none` token naming a real kid.
func signNone(t testing.TB, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(accessClaims()))
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	raw, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signHS256WithPublicKey returns the RS256→HS256 key-confusion token: an
// HMAC keyed with the verifier's own public key, in PEM as attackers use it.
func signHS256WithPublicKey(t testing.TB, k *token.Key) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(accessClaims()))
	tok.Header["kid"] = k.ID
	tok.Header["typ"] = "at+jwt"
	raw, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tamper rewrites sub in the payload of a valid token, keeping its signature.
func tamper(t testing.TB, parts []string) string {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "1"
	payload, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

// signTyp signs valid access-token claims with another typ header.
func signTyp(t testing.TB, m *token.Manager, typ string) string {
	t.Helper()
	raw, err := m.KeySet().Sign(accessClaims(), typ)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyOptional(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	v := newTestVerify(t, &Verify{Optional: true, Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)

	t.Run("no token passes anonymously", func(t *testing.T) {
		rec, _, _, err := serve(t, v, "")
		if err != nil || !rec.called {
			t.Fatalf("ServeHTTP = %v, called = %v", err, rec.called)
		}
		assertNoForged(t, rec.header)
		if got := rec.header.Get("X-User-Id"); got != "" {
			t.Errorf("X-User-Id = %q for an anonymous request", got)
		}
		// Known and empty: header_up must not send the placeholder's text.
		if rec.userID != "" {
			t.Errorf("{http.auth.user.id} = %q for an anonymous request", rec.userID)
		}
		if got := rec.repl.ReplaceKnown("[{http.auth.user.id}|{http.auth.user.email}]", "-"); got != "[-|-]" {
			t.Errorf("anonymous placeholders = %q, want [-|-]", got)
		}
	})
	t.Run("bad token is still 401", func(t *testing.T) {
		rec, r, w, err := serve(t, v, "Bearer not.a.token")
		if rec.called {
			t.Fatal("next handler called")
		}
		assertStatus(t, err, w, 401, challengeInvalid)
		assertNoForged(t, r.Header)
	})
	t.Run("good token is verified", func(t *testing.T) {
		rec, _, _, err := serve(t, v, "Bearer "+mint(t, m, nil))
		if err != nil || !rec.called {
			t.Fatalf("ServeHTTP = %v, called = %v", err, rec.called)
		}
		if got := rec.header.Get("X-User-Id"); got != testSubject {
			t.Errorf("X-User-Id = %q", got)
		}
	})
}

func TestVerifyClaimValues(t *testing.T) {
	m := newTestKeys(t, token.RS256, "rsa")
	headers := []HeaderClaim{
		{Name: "X-Str", Claim: "str"},
		{Name: "X-Int", Claim: "int"},
		{Name: "X-Big", Claim: "big"},
		{Name: "X-Float", Claim: "float"},
		{Name: "X-Bool", Claim: "bool"},
		{Name: "X-List", Claim: "list"},
		{Name: "X-Empty-List", Claim: "empty_list"},
		{Name: "X-Obj", Claim: "obj"},
		{Name: "X-Obj-List", Claim: "obj_list"},
		{Name: "X-Crlf", Claim: "crlf"},
		{Name: "X-Lf", Claim: "lf"},
		{Name: "X-Nul", Claim: "nul"},
		{Name: "X-Tab", Claim: "tab"},
		{Name: "X-Del", Claim: "del"},
		{Name: "X-Crlf-List", Claim: "crlf_list"},
		{Name: "X-Comma-List", Claim: "comma_list"},
		{Name: "X-Null", Claim: "null"},
		{Name: "X-Absent", Claim: "absent"},
		{Name: "X_Under_Score", Claim: "str"},
		{Name: "X-Str-Json", Claim: "str", Format: formatJSON},
		{Name: "X-Big-Json", Claim: "big", Format: formatJSON},
		{Name: "X-Obj-Json", Claim: "obj", Format: formatJSON},
		{Name: "X-Comma-Json", Claim: "comma_list", Format: formatJSON},
		{Name: "X-Crlf-Json", Claim: "crlf", Format: formatJSON},
		{Name: "X-Absent-Json", Claim: "absent", Format: formatJSON},
	}
	core, logs := observer.New(zap.WarnLevel)
	v := newTestVerify(t, &Verify{Headers: headers, logger: zap.New(core)}, m)
	raw := mint(t, m, func(c map[string]any) {
		c["str"] = "São Paulo"
		c["int"] = 1700000000
		c["big"] = int64(9007199254740993) // 2^53+1: a float64 would read …992
		c["float"] = 2.5
		c["bool"] = true
		c["list"] = []any{"a", 1, false}
		c["empty_list"] = []any{}
		c["obj"] = map[string]any{"plan": "pro", "seats": 5, "tags": []any{"x"}}
		c["obj_list"] = []any{map[string]any{"id": 1}}
		c["crlf"] = "ada\r\nX-Admin: true"
		c["lf"] = "ada\nX-Admin: true"
		c["nul"] = "ada\x00"
		c["tab"] = "a\tb"
		c["del"] = "a\x7f"
		c["crlf_list"] = []any{"a", "b\r\nX-Admin: true"}
		c["comma_list"] = []any{"user", "user,admin"} // split on commas: an extra role
		c["null"] = nil
	})
	want := map[string]string{
		"X-Str":         "São Paulo",
		"X-Int":         "1700000000",
		"X-Big":         "9007199254740993",
		"X-Float":       "2.5",
		"X-Bool":        "true",
		"X-List":        "a,1,false",
		"X-Empty-List":  "",
		"X-Obj":         `{"plan":"pro","seats":5,"tags":["x"]}`,
		"X-Obj-List":    `[{"id":1}]`,
		"X_under_score": "São Paulo",
		"X-Str-Json":    `"São Paulo"`,
		"X-Big-Json":    "9007199254740993",
		"X-Obj-Json":    `{"plan":"pro","seats":5,"tags":["x"]}`,
		"X-Comma-Json":  `["user","user,admin"]`,
		"X-Crlf-Json":   `"ada\r\nX-Admin: true"`,
	}
	// Several requests: the refused values are logged once each, not per
	// request.
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, hc := range headers {
			r.Header[hc.Name] = []string{"forged"}
			r.Header[strings.ToLower(hc.Name)] = []string{"forged"}
		}
		r.Header.Set("Authorization", "Bearer "+raw)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		rec := new(recorder)
		if err := v.ServeHTTP(httptest.NewRecorder(), r, rec); err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		}
		left := maps.Clone(want)
		for k, vals := range rec.header {
			if k == "Authorization" {
				continue
			}
			w, ok := left[k]
			if !ok {
				t.Errorf("unexpected header %s: %q", k, vals)
				continue
			}
			if len(vals) != 1 || vals[0] != w {
				t.Errorf("%s = %q, want [%q]", k, vals, w)
			}
			delete(left, k)
		}
		for k := range left {
			t.Errorf("header %s missing", k)
		}
		for key, want := range map[string]string{
			"http.auth.user.big":    "9007199254740993",
			"http.auth.user.absent": "",
			"http.auth.user.null":   "",
		} {
			if got, known := rec.repl.GetString(key); got != want || !known {
				t.Errorf("{%s} = %q, %v; want %q, known", key, got, known, want)
			}
		}
		if got := rec.repl.ReplaceKnown("[{http.auth.user.absent}]", ""); got != "[]" {
			t.Errorf("ReplaceKnown of an absent claim = %q, want []", got)
		}
	}
	logged := make(map[string]int)
	for _, e := range logs.All() {
		logged[e.ContextMap()["header"].(string)]++
		if strings.Contains(e.Message, "X-Admin") || strings.Contains(fmt.Sprint(e.ContextMap()), "X-Admin") {
			t.Errorf("a claim value was logged: %s %v", e.Message, e.ContextMap())
		}
	}
	wantLogged := map[string]int{"X-Crlf": 1, "X-Lf": 1, "X-Nul": 1, "X-Tab": 1, "X-Del": 1, "X-Crlf-List": 1, "X-Comma-List": 1}
	if !maps.Equal(logged, wantLogged) {
		t.Errorf("warnings per header after 3 requests = %v, want %v", logged, wantLogged)
	}
}

func TestVerifyRequire(t *testing.T) {
	m := newTestKeys(t, token.RS256, "rsa")
	tests := []struct {
		name    string
		require []Requirement
		ok      bool
	}{
		{"list contains", []Requirement{{"https://example.test/roles", "admin"}}, true},
		{"list lacks", []Requirement{{"https://example.test/roles", "root"}}, false},
		{"scalar equals", []Requirement{{"client_id", "web-backend"}}, true},
		{"scalar differs", []Requirement{{"client_id", "web"}}, false},
		{"number", []Requirement{{"level", "3"}}, true},
		{"bool", []Requirement{{"verified", "true"}}, true},
		{"scope word", []Requirement{{"scope", "write:orders"}}, true},
		{"scope missing word", []Requirement{{"scope", "delete:orders"}}, false},
		{"absent claim", []Requirement{{"absent", "x"}}, false},
		{"all must hold", []Requirement{{"client_id", "web-backend"}, {"https://example.test/roles", "root"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerify(t, &Verify{Require: tt.require, Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)
			rec, r, w, err := serve(t, v, "Bearer "+mint(t, m, func(c map[string]any) {
				c["level"] = 3
				c["verified"] = true
			}))
			if tt.ok {
				if err != nil || !rec.called {
					t.Fatalf("ServeHTTP = %v, called = %v", err, rec.called)
				}
				assertNoForged(t, rec.header)
				return
			}
			if rec.called {
				t.Fatal("next handler called")
			}
			assertStatus(t, err, w, http.StatusForbidden, challengeScope)
			assertNoForged(t, r.Header)
		})
	}
}

// TestVerifyCache checks that a cached token is still refused after exp: the
// cache must never outlive the token.
func TestVerifyCachedTokenKeepsWorking(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	v := newTestVerify(t, &Verify{Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)
	raw := mint(t, m, nil)
	for i := range 3 {
		rec, _, _, err := serve(t, v, "Bearer "+raw)
		if err != nil || rec.header.Get("X-User-Id") != testSubject {
			t.Fatalf("request %d: err = %v, X-User-Id = %q", i, err, rec.header.Get("X-User-Id"))
		}
		assertNoForged(t, rec.header)
	}
	// A tampered copy of a cached token is not a cache hit.
	_, _, w, err := serve(t, v, "Bearer "+tamper(t, strings.Split(raw, ".")))
	assertStatus(t, err, w, 401, challengeInvalid)
}

// jwksServer serves a key set that the test can swap or take down,
// counting fetches.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte] // nil: answer 503
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := new(jwksServer)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		doc := s.doc.Load()
		if doc == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*doc)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish serves the public keys of ms.
func (s *jwksServer) publish(t *testing.T, ms ...*token.Manager) {
	t.Helper()
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, m := range ms {
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(m.KeySet().JWKS(), &one); err != nil {
			t.Fatal(err)
		}
		doc.Keys = append(doc.Keys, one.Keys...)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	s.doc.Store(&b)
}

const externalIssuer = "https://tenant.auth0.example/"

// externalToken signs access-token claims of externalIssuer with typ "JWT",
// as Auth0 does by default.
func externalToken(t testing.TB, m *token.Manager) string {
	t.Helper()
	c := accessClaims()
	c["iss"] = externalIssuer
	raw, err := m.KeySet().Sign(c, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// provisionExternal provisions a Verify for externalIssuer through the real
// Provision, with no claimgate app in the config.
func provisionExternal(t *testing.T, jwksURL string) *Verify {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	v := &Verify{
		Audience: testAudience,
		Issuer:   externalIssuer,
		JWKSURL:  jwksURL,
		Headers:  []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}},
	}
	if err := v.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = v.Cleanup() })
	return v
}

// TestVerifyExternalIssuer verifies another issuer's tokens from its JWKS
// URL: fail closed while the key set is unreachable, accept once the
// background retry has it, never accept our own issuer's tokens, and never
// let unknown kids (attacker-chosen) hammer the issuer's JWKS endpoint.
func TestVerifyExternalIssuer(t *testing.T) {
	current := newTestKeys(t, token.RS256, "rsa")
	next := newTestKeys(t, token.ES256, "ec")
	srv := newJWKSServer(t) // down at start
	v := provisionExternal(t, srv.URL+"/.well-known/jwks.json")
	srv.publish(t, current)

	good := externalToken(t, current)
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, r, w, err := serve(t, v, "Bearer "+good)
		if err == nil {
			if got := rec.header.Get("X-User-Id"); got != testSubject {
				t.Fatalf("X-User-Id = %q", got)
			}
			assertNoForged(t, rec.header)
			break
		}
		// Until the key set is fetched: refused, forged headers gone.
		assertStatus(t, err, w, 401, challengeInvalid)
		assertNoForged(t, r.Header)
		if time.Now().After(deadline) {
			t.Fatalf("token never accepted after the JWKS came up; %d fetches", srv.fetches.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A token of claimgate's own issuer is not the external issuer's.
	_, _, w, err := serve(t, v, "Bearer "+mint(t, current, nil))
	assertStatus(t, err, w, 401, challengeInvalid)

	// Tokens naming a kid the key set lacks are refused, and at most one
	// refetch per rate-limit window reaches the issuer however many come.
	before := srv.fetches.Load()
	unknown := externalToken(t, next)
	for range 50 {
		rec, r, w, err := serve(t, v, "Bearer "+unknown)
		if rec.called {
			t.Fatal("token with an unknown kid accepted")
		}
		assertStatus(t, err, w, 401, challengeInvalid)
		assertNoForged(t, r.Header)
	}
	if n := srv.fetches.Load() - before; n > 1 {
		t.Errorf("50 unknown-kid tokens caused %d JWKS fetches, want at most 1", n)
	}
}

// TestVerifyExternalKeyRotation: after the issuer rotates to a new key, the
// first token signed with it makes the key set refetch once the rate limit
// (30 s after the last fetch) allows. It waits for that window, so it runs
// only with CLAIMGATE_SLOW_TESTS=1; token.TestRemoteJWKSRotation covers the
// same logic with a fake clock.
func TestVerifyExternalKeyRotation(t *testing.T) {
	if os.Getenv("CLAIMGATE_SLOW_TESTS") == "" {
		t.Skip("waits for the 30 s JWKS refetch window; set CLAIMGATE_SLOW_TESTS=1")
	}
	current := newTestKeys(t, token.RS256, "rsa")
	next := newTestKeys(t, token.ES256, "ec")
	srv := newJWKSServer(t)
	srv.publish(t, current)
	v := provisionExternal(t, srv.URL+"/.well-known/jwks.json")

	srv.publish(t, current, next)
	rotated := externalToken(t, next)
	deadline := time.Now().Add(45 * time.Second)
	for {
		rec, _, _, err := serve(t, v, "Bearer "+rotated)
		if err == nil {
			if got := rec.header.Get("X-User-Id"); got != testSubject {
				t.Fatalf("X-User-Id = %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated key never accepted: %v", err)
		}
		time.Sleep(time.Second)
	}
	// Tokens of the previous key stay valid while it is published.
	if rec, _, _, err := serve(t, v, "Bearer "+externalToken(t, current)); err != nil || !rec.called {
		t.Fatalf("previous key: %v", err)
	}
}

func TestVerifyProvisionWithoutApp(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	v := &Verify{Audience: testAudience}
	err := v.Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "claimgate global option") {
		t.Fatalf("Provision = %v, want a missing-app error", err)
	}
	if err := v.Cleanup(); err != nil {
		t.Fatalf("Cleanup after failed Provision: %v", err)
	}
}

// FuzzVerifyAuthorization sends arbitrary Authorization values: no panic, no
// status but 401, and a request that passes must carry a token minted by the
// test (so X-User-Id is the true subject, never a forged one).
func FuzzVerifyAuthorization(f *testing.F) {
	m := newTestKeys(f, token.ES256, "ec")
	v := newTestVerify(f, &Verify{Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}}, m)
	valid := mint(f, m, nil)
	for _, seed := range []string{
		"Bearer " + valid, "bearer " + valid + "x", "Bearer " + valid[:len(valid)-2],
		"Bearer " + strings.Replace(valid, ".", "..", 1), "Basic Zm9vOmJhcg==", "Bearer", "", "Bearer eyJ.eyJ.",
		"Bearer " + signNone(f, m.KeySet().Active().ID),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		rec, r, w, err := serve(t, v, auth)
		if err != nil {
			assertStatus(t, err, w, 401, w.Header().Get("WWW-Authenticate"))
			assertNoForged(t, r.Header)
			return
		}
		if !rec.called {
			t.Fatal("no error and next handler not called")
		}
		assertNoForged(t, rec.header)
		if got := rec.header.Get("X-User-Id"); got != testSubject {
			t.Fatalf("X-User-Id = %q", got)
		}
	})
}
