package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/claimgate/claimgate" // the claimgate modules and directives
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
)

// Fixtures of the test configuration (see configTemplate).
const (
	adminAddr = "localhost:2999" // caddytest's default admin endpoint

	apiAudience     = testkit.APIAudience
	reportsAudience = testkit.ReportsAudience

	webClient = testkit.WebClient
	webSecret = testkit.WebSecret
	// oddClient's secret needs form-urlencoding inside Basic credentials
	// (RFC 6749 §2.3.1).
	oddClient = "odd-backend"
	oddSecret = testkit.OddSecret
	spaClient = testkit.SPAClient // public client
	m2mClient = testkit.M2MClient // may not use the password grant
	m2mSecret = testkit.M2MSecret

	rolesClaim  = testkit.RolesClaim
	orgClaim    = "https://example.test/org_id"
	cityClaim   = testkit.CityClaim
	adminClaim  = "https://example.test/is_admin"
	nickClaim   = testkit.NickClaim // an id_claim
	denyMessage = testkit.DenyMessage
	realm       = testkit.Realm

	wrongCredentials = testkit.WrongCredentials

	upstreamBody = "upstream ok"
	nextBody     = "next handler"
)

// Demo users by role in the tests.
const (
	alice = testkit.Alice // bcrypt $2a$, admin+editor, org_acme
	bob   = testkit.Bob   // argon2id, editor, org_globex
	carol = testkit.Carol // bcrypt $2y$
	dave  = testkit.Dave  // pbkdf2_sha256, no roles
	eve   = testkit.Eve   // blocked column
	frank = testkit.Frank // denied by the deny rule
)

// options vary the test configuration.
type options struct {
	// SigningKey is the signing_key line ("" for the RS256 default).
	SigningKey string
	// MaxFailures is protection's max_failures (default: high enough that
	// the error tests never trip it).
	MaxFailures int
	// IPFailuresPerDay is protection's ip_failures_per_day (default: high).
	IPFailuresPerDay int
	// Extra lines for the claimgate block (errors auth0 …).
	Extra string
}

// env is one running test configuration.
type env struct {
	t        *testing.T
	tester   *caddytest.Tester
	base     string // site with claimgate_login and the verify routes
	errBase  string // site whose handle_errors renders verify's errors
	issuer   string
	dsn      string
	logFile  string // Caddy's log, DEBUG level
	upstream *recorder
	external *externalIssuer
}

// configTemplate is the Caddyfile every env loads. The main site serves the
// login endpoints and one route per claimgate_verify setup; the second site
// renders errors with handle_errors.
var configTemplate = template.Must(template.New("Caddyfile").Parse(`{
	skip_install_trust
	admin {{.Admin}}
	http_port {{.HTTPPort}}
	https_port {{.HTTPSPort}}
	grace_period 1ns
	storage file_system {
		root "{{.Storage}}"
	}
	log {
		output file "{{.LogFile}}"
		level DEBUG
	}
	claimgate {
		issuer {{.Issuer}}
		database {
			dsn "{{.DSN}}"
			user_query "{{.UserQuery}}"
			roles_query "{{.RolesQuery}}"
			permissions_query "{{.PermissionsQuery}}"
			organization_query "{{.OrganizationQuery}}"
		}
		{{.SigningKey}}
		client web-backend {
			secret web-secret
			audience https://api.example.test https://reports.example.test
			grant password refresh_token
			scope read:orders write:orders
		}
		client odd-backend {
			secret "s3cr:et+/%&= é"
			audience https://api.example.test
			grant password
		}
		client spa {
			audience https://api.example.test
			grant password
		}
		client m2m {
			secret m2m-secret
			audience https://api.example.test
			grant refresh_token
		}
		protection {
			max_failures {{.MaxFailures}}
			ip_failures_per_day {{.IPFailuresPerDay}}
		}
		claim https://example.test/roles roles
		claim https://example.test/org_id app_metadata.org_id
		claim https://example.test/city user_metadata.city
		claim https://example.test/is_admin ` + "`" + `"admin" in roles` + "`" + `
		id_claim https://example.test/nick user.nickname
		deny ` + "`" + `has(app_metadata.blocked) && app_metadata.blocked` + "`" + ` "This account is blocked."
		deny ` + "`" + `user.email == "errdeny@example.test" && app_metadata.plan == "pro"` + "`" + ` "Never shown: the rule errors."
		{{.Extra}}
	}
}

http://localhost:{{.HTTPPort}} {
	claimgate_login

	handle /api/* {
		claimgate_verify {
			audience https://api.example.test
			header X-User-Id sub
			header X-User-Roles https://example.test/roles
			header X-Org-Id https://example.test/org_id
			header X-User-City https://example.test/city
			header X-Is-Admin https://example.test/is_admin
			header X-Permissions permissions
		}
		reverse_proxy {{.Upstream}} {
			header_up X-Placeholder-Id {http.auth.user.id}
		}
	}

	handle /admin/* {
		claimgate_verify {
			audience https://api.example.test
			header X-User-Id sub
			require https://example.test/roles admin
		}
		reverse_proxy {{.Upstream}}
	}

	handle /optional/* {
		claimgate_verify {
			audience https://api.example.test
			header X-User-Id sub
			header X-User-Roles https://example.test/roles
			optional
		}
		reverse_proxy {{.Upstream}}
	}

	handle /external/* {
		claimgate_verify {
			issuer {{.ExternalIssuer}}
			jwks_url {{.ExternalJWKS}}
			audience https://api.example.test
			header X-User-Id sub
			header X-User-Roles https://example.test/roles
		}
		reverse_proxy {{.Upstream}}
	}

	handle /placeholders/* {
		claimgate_verify {
			audience https://api.example.test
			header X-User-Id sub
		}
		respond "id={http.auth.user.id} org={http.auth.user.https://example.test/org_id}" 200
	}

	handle {
		respond "next handler" 200
	}
}

http://localhost:{{.ErrorsPort}} {
	claimgate_verify {
		audience https://api.example.test
		header X-User-Id sub
	}
	reverse_proxy {{.Upstream}}

	handle_errors {
		respond "rendered by handle_errors: {err.status_code}"
	}
}
`))

// start loads the test configuration on a fresh demo database (with the
// extra users of extraUsersDatabase) and returns
// the running env. The config is unloaded (and the database dropped) when the
// test ends.
func start(t *testing.T, opts options) *env {
	t.Helper()
	return startOn(t, extraUsersDatabase(t), opts)
}

// startOn is start on a database the test prepared.
func startOn(t *testing.T, dsn string, opts options) *env {
	t.Helper()
	if opts.MaxFailures == 0 {
		opts.MaxFailures = 100000
	}
	if opts.IPFailuresPerDay == 0 {
		opts.IPFailuresPerDay = 100000
	}
	ports := freePorts(t, 3)
	e := &env{
		t:        t,
		tester:   newTester(t),
		base:     fmt.Sprintf("http://localhost:%d", ports[0]),
		errBase:  fmt.Sprintf("http://localhost:%d", ports[2]),
		issuer:   fmt.Sprintf("http://localhost:%d/", ports[0]),
		dsn:      dsn,
		logFile:  filepath.Join(t.TempDir(), "caddy.log"),
		upstream: newRecorder(t),
		external: newExternalIssuer(t),
	}
	data := map[string]any{
		"Admin":             adminAddr,
		"HTTPPort":          ports[0],
		"HTTPSPort":         ports[1],
		"ErrorsPort":        ports[2],
		"Storage":           t.TempDir(),
		"LogFile":           e.logFile,
		"Issuer":            e.issuer,
		"DSN":               dsn,
		"UserQuery":         demo.DemoUserQuery,
		"RolesQuery":        demo.DemoRolesQuery,
		"PermissionsQuery":  demo.DemoPermissionsQuery,
		"OrganizationQuery": demo.DemoOrganizationQuery,
		"SigningKey":        opts.SigningKey,
		"MaxFailures":       opts.MaxFailures,
		"IPFailuresPerDay":  opts.IPFailuresPerDay,
		"Extra":             opts.Extra,
		"Upstream":          e.upstream.addr(),
		"ExternalIssuer":    e.external.issuer(),
		"ExternalJWKS":      e.external.jwksURL(),
	}
	var cfg bytes.Buffer
	if err := configTemplate.Execute(&cfg, data); err != nil {
		t.Fatal(err)
	}
	e.load(cfg.String())
	// Registered after load's unload, so it runs first, with the config up.
	t.Cleanup(func() { e.assertNoSecretsLogged(t) })
	return e
}

// assertNoSecretsLogged fails when a password, client secret or token
// appears anywhere in Caddy's log (a short hash at most).
func (e *env) assertNoSecretsLogged(t *testing.T) {
	log, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Errorf("reading Caddy's log: %v", err)
		return
	}
	if len(log) == 0 {
		t.Error("Caddy's log is empty: the check proves nothing")
	}
	if t.Failed() {
		lines := strings.Split(string(log), "\n")
		t.Logf("Caddy's log (last %d lines of %d):\n%s", min(len(lines), 80), len(lines),
			strings.Join(lines[max(0, len(lines)-80):], "\n"))
	}
	testkit.AssertNoSecretsLogged(t, "Caddy's log", testkit.LogLines(log),
		testkit.Secrets(longPassword[:40], plainPassword))
}

var (
	adminOnce sync.Once
	adminErr  error
)

// newTester is caddytest's tester with timeouts for a loaded 2-core machine
// and the race detector, where a config load that generates an RSA key (or a
// login that runs argon2id) can take longer than caddytest's 5 s defaults.
func newTester(t *testing.T) *caddytest.Tester {
	t.Helper()
	adminOnce.Do(func() {
		// caddytest starts Caddy in this process unless something already
		// answers on its admin address; that would be another test binary,
		// and the two would replace each other's configs mid-test.
		l, err := net.Listen("tcp", adminAddr)
		if err != nil {
			adminErr = fmt.Errorf("another process holds %s (%v): is another caddytest run (go test ./...) going on? "+
				"Concurrent runs load their configs into one Caddy and break each other", adminAddr, err)
			return
		}
		l.Close()
	})
	if adminErr != nil {
		t.Fatal(adminErr)
	}
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		LoadRequestTimeout: 2 * time.Minute,
		TestRequestTimeout: time.Minute,
	})
}

// load runs cfg in caddytest's Caddy and unloads it when the test ends,
// before the database is dropped (cleanups run last-in first-out).
func (e *env) load(cfg string) {
	e.t.Helper()
	e.tester.InitServer(cfg, "caddyfile")
	if e.t.Failed() {
		e.t.FailNow()
	}
	e.t.Cleanup(func() { unload(e.t) })
}

// unload replaces the running config with one that only keeps the admin
// endpoint, so that the apps' Cleanup runs while their database still exists.
func unload(t *testing.T) {
	cfg := fmt.Sprintf(`{"admin":{"listen":%q}}`, adminAddr)
	resp, err := http.Post("http://"+adminAddr+"/load", "application/json", strings.NewReader(cfg))
	if err != nil {
		t.Errorf("unloading the config: %v", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Errorf("unloading the config: %s: %s", resp.Status, body)
	}
}

// freePorts returns n distinct ports free on every interface (Caddy binds
// ":port"), taken below the kernel's ephemeral range: a port picked inside
// it can be handed to some outgoing connection (a database client of a test
// running in parallel) before Caddy binds it, and the config then fails
// with "address already in use".
//
// A port is never handed out twice in one run: a config that is being
// replaced may still be shutting its server down on its port (Caddy shares
// listeners across loads), and a request to the next config on that port
// could meet the old server's GOAWAY.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	usedPortsMu.Lock()
	defer usedPortsMu.Unlock()
	lo, hi := portRange()
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free port in %d..%d", lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if usedPorts[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		usedPorts[port] = true
		listeners = append(listeners, l)
		ports = append(ports, port)
	}
	return ports
}

// usedPorts are the ports freePorts handed out in this run.
var (
	usedPortsMu sync.Mutex
	usedPorts   = map[int]bool{}
)

// portRange is where freePorts picks: below the ephemeral range that
// /proc/sys/net/ipv4/ip_local_port_range names (32768 on Linux by default),
// above the well-known and commonly configured ports.
func portRange() (lo, hi int) {
	lo, hi = 20000, 32000
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(data), &first, &last); err == nil && first > lo+1000 {
		hi = min(hi, first-1)
	}
	return lo, hi
}

// recorder is the upstream app: it records the headers of every request it
// receives and answers upstreamBody.
type recorder struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls int
	last  http.Header
}

func newRecorder(t testing.TB) *recorder {
	r := new(recorder)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.calls++
		r.last = req.Header.Clone()
		r.mu.Unlock()
		fmt.Fprint(w, upstreamBody)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) addr() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// reset forgets the recorded requests.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.last = 0, nil
}

// received returns the number of requests since the last reset and the
// headers of the latest.
func (r *recorder) received() (int, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.last
}

// request is one HTTP request to the running Caddy.
type request struct {
	method string
	path   string // appended to the base URL
	body   string
	header http.Header
	// contentLength -1 sends the body chunked.
	contentLength int64
}

// response is a request's answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.status, testkit.Truncate(string(r.body), 300))
}

// oauthError decodes the body as an OAuth error.
func (r response) oauthError(t testing.TB) testkit.OAuthError {
	t.Helper()
	return testkit.DecodeError(t, r.body)
}

// do sends req to base and reads the whole answer. A transport error is
// answered as status 0 with the error as body, for the caller's checks to
// report in the (sub)test that sent it.
func (e *env) do(base string, req request) response {
	method := req.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if req.body != "" || method == http.MethodPost {
		body = strings.NewReader(req.body)
	}
	hr, err := http.NewRequest(method, base+req.path, body)
	if err != nil {
		return response{body: []byte("building the request: " + err.Error())}
	}
	if req.contentLength < 0 {
		hr.ContentLength = -1
		hr.Body = io.NopCloser(strings.NewReader(req.body)) // hides the length
	}
	for k, vs := range req.header {
		hr.Header[k] = vs // verbatim: tests send non-canonical spellings
	}
	resp, err := e.tester.Client.Do(hr)
	if err != nil {
		return response{body: []byte(fmt.Sprintf("%s %s: %v", method, req.path, err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{body: []byte(fmt.Sprintf("%s %s: reading body: %v", method, req.path, err))}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// form encodes key/value pairs in order, repeating keys as given.
func form(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	return strings.Join(parts, "&")
}

// postForm posts a form body to /oauth/token.
func (e *env) postForm(body string, header ...string) response {
	h := headers(header...)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(e.base, request{method: http.MethodPost, path: "/oauth/token", body: body, header: h})
}

// postJSON posts v (or a string taken verbatim) as JSON to /oauth/token.
func (e *env) postJSON(v any, header ...string) response {
	body, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // the tests marshal plain maps
		}
		body = string(b)
	}
	h := headers(header...)
	h.Set("Content-Type", "application/json")
	return e.do(e.base, request{method: http.MethodPost, path: "/oauth/token", body: body, header: h})
}

// headers builds a header from name/value pairs, names kept verbatim.
func headers(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

// b64std is standard Base64 (what Basic credentials use).
func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// tokenResponse is the token endpoint's success body.
type tokenResponse = testkit.TokenResponse

// login runs the password grant for the web-backend client (client_secret_post)
// with extra form parameters, and fails the test unless it succeeds.
func (e *env) login(t testing.TB, username, password string, extra ...string) tokenResponse {
	t.Helper()
	kv := append([]string{"grant_type", "password", "client_id", webClient, "client_secret", webSecret,
		"username", username, "password", password}, extra...)
	resp := e.postForm(form(kv...))
	if resp.status != http.StatusOK {
		t.Fatalf("login %s: %s", username, resp)
	}
	return decodeToken(t, resp)
}

func decodeToken(t testing.TB, resp response) tokenResponse {
	t.Helper()
	tr, _ := testkit.DecodeToken(t, resp.body)
	return tr
}

// get sends GET base+path with a bearer token (when not empty) and extra
// headers.
func (e *env) get(base, path, token string, header ...string) response {
	h := headers(header...)
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.do(base, request{path: path, header: h})
}

// wantNoStore checks the caching headers every token endpoint answer has.
func wantNoStore(t testing.TB, resp response) {
	t.Helper()
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := resp.header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
}

// unixNow is the current time for hand-made tokens.
func unixNow() int64 { return time.Now().Unix() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
