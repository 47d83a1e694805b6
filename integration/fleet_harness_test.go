package integration

// The fleet harness runs the real claimgate binary as subprocesses — several
// instances sharing one database and one Caddy storage, as behind a load
// balancer (README, "Running several instances"). It uses no caddytest: each
// instance runs with `admin off`, so these tests coexist with the
// caddytest-based ones in this package (which share localhost:2999).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// Fixtures of the fleet configuration (see fleetTemplate).
const (
	fleetIssuer   = "https://auth.fleet.test/" // one issuer for the whole fleet, as behind a load balancer
	fleetAudience = "https://api.example.test"
	fleetClient   = "web-backend"
	fleetSecret   = "fleet-web-secret"
	fleetRoles    = "https://example.test/roles"
	// fleetForwardedFor carries the end user's IP from the (confidential)
	// client, so that tests can fail logins from several IPs.
	fleetForwardedFor = "Auth0-Forwarded-For"

	// fleetStartTimeout bounds an instance's start (a generated RSA key on a
	// loaded 2-core machine, possibly with the race detector).
	fleetStartTimeout = 90 * time.Second
)

// fleetUser is a demo user the fleet tests log in as.
type fleetUser struct {
	id       int64
	email    string
	password string
}

// fleetDemoUser returns the demo user with that email.
func fleetDemoUser(t testing.TB, email string) fleetUser {
	t.Helper()
	u := testkit.DemoUser(t, email)
	return fleetUser{id: u.ID, email: u.Email, password: u.Password}
}

// fleetOptions vary the fleet configuration.
type fleetOptions struct {
	// MaxFailures is protection's max_failures (default: high enough that
	// no test trips it by accident).
	MaxFailures int
	// IPFailuresPerDay is protection's ip_failures_per_day (default: high).
	IPFailuresPerDay int
	// AccountLockout turns protection's account_lockout on.
	AccountLockout bool
	// Timeout is the database block's timeout ("" for the default).
	Timeout string
	// Extra lines for the claimgate block (key_rotation …).
	Extra string
}

// fleetTemplate is one instance's Caddyfile. It has no skip_install_trust:
// that option configures Caddy's pki app, whose local CA is created in
// storage without a lock, so two instances booting at once on an empty
// shared storage can fail ("loading intermediate key: no such file") — a
// Caddy matter, not claimgate's; plain-HTTP sites need no CA.
var fleetTemplate = template.Must(template.New("Caddyfile").Parse(`{
	admin off
	http_port {{.HTTPPort}}
	https_port {{.HTTPSPort}}
	grace_period 1ns
	storage file_system {
		root "{{.Storage}}"
	}
	log {
		level DEBUG
	}
	claimgate {
		issuer {{.Issuer}}
		database {
			dsn "{{.DSN}}"
			user_query "{{.UserQuery}}"
			roles_query "{{.RolesQuery}}"
			{{- if .Timeout}}
			timeout {{.Timeout}}
			{{- end}}
		}
		client {{.Client}} {
			secret {{.Secret}}
			audience {{.Audience}}
			grant password refresh_token
			trust_forwarded_for {{.ForwardedFor}}
		}
		protection {
			max_failures {{.MaxFailures}}
			ip_failures_per_day {{.IPFailuresPerDay}}
			{{- if .AccountLockout}}
			account_lockout on
			{{- end}}
		}
		claim {{.RolesClaim}} roles
		{{.Extra}}
	}
}

http://127.0.0.1:{{.HTTPPort}} {
	claimgate_login

	handle /api/* {
		claimgate_verify {
			audience {{.Audience}}
			header X-User-Id sub
		}
		respond "id={http.auth.user.id}" 200
	}

	handle {
		respond "next handler" 200
	}
}
`))

var fleetBuild struct {
	once sync.Once
	path string
	err  error
}

// fleetBinary builds ./cmd/claimgate once per test binary run. The binary
// goes to a fixed per-user path (built aside, then renamed over it), so that
// repeated runs reuse one file instead of leaking a temp dir each, and
// concurrent runs never execute a half-written binary.
func fleetBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("fleet tests build the claimgate binary and run instances as subprocesses; skipped with -short")
	}
	fleetBuild.once.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("claimgate-fleet-test-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fleetBuild.err = err
			return
		}
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			fleetBuild.err = err
			return
		}
		defer os.RemoveAll(tmp)
		goTool, err := exec.LookPath("go")
		if err != nil {
			fleetBuild.err = fmt.Errorf("no go tool to build the claimgate binary: %w", err)
			return
		}
		built := filepath.Join(tmp, "claimgate")
		cmd := exec.Command(goTool, "build", "-o", built, "github.com/claimgate/claimgate/cmd/claimgate")
		cmd.Dir = ".." // the module root (tests run in integration/)
		if out, err := cmd.CombinedOutput(); err != nil {
			fleetBuild.err = fmt.Errorf("go build ./cmd/claimgate: %v\n%s", err, out)
			return
		}
		final := filepath.Join(dir, "claimgate")
		if err := os.Rename(built, final); err != nil {
			fleetBuild.err = err
			return
		}
		fleetBuild.path = final
	})
	if fleetBuild.err != nil {
		t.Fatalf("building claimgate: %v", fleetBuild.err)
	}
	return fleetBuild.path
}

// fleet is a set of instances sharing one database and one storage.
type fleet struct {
	t       *testing.T
	bin     string
	dsn     string // the database as the test reaches it
	storage string // the shared Caddy storage
	client  *http.Client

	mu      sync.Mutex
	secrets []string // passwords and tokens that must never be logged
}

// newFleet prepares a fleet on a fresh demo database; instances are added
// with add.
func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{
		t:       t,
		bin:     fleetBinary(t),
		dsn:     storetest.NewDemoDatabase(t),
		storage: t.TempDir(),
		client: &http.Client{
			Timeout: time.Minute,
			// A fresh connection each time: instances are stopped and
			// restarted on the same ports.
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	for _, s := range testkit.Secrets(fleetSecret) {
		f.secret(s)
	}
	return f
}

// secret records s as something no instance may log.
func (f *fleet) secret(s string) {
	if s == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets = append(f.secrets, s)
}

// instance is one claimgate process.
type instance struct {
	f       *fleet
	name    string
	base    string // http://127.0.0.1:port
	config  string // the Caddyfile
	logPath string
	env     []string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process exits
	err  error         // its exit status, once done
}

// add writes a Caddyfile for an instance on dsn (the fleet's database when
// empty) and returns it, not started.
func (f *fleet) add(name, dsn string, opts fleetOptions) *instance {
	t := f.t
	t.Helper()
	if dsn == "" {
		dsn = f.dsn
	}
	if opts.MaxFailures == 0 {
		opts.MaxFailures = 100000
	}
	if opts.IPFailuresPerDay == 0 {
		opts.IPFailuresPerDay = 100000
	}
	ports := freePorts(t, 2)
	dir := t.TempDir()
	data := map[string]any{
		"HTTPPort":         ports[0],
		"HTTPSPort":        ports[1],
		"Storage":          f.storage,
		"Issuer":           fleetIssuer,
		"DSN":              dsn,
		"UserQuery":        demo.DemoUserQuery,
		"RolesQuery":       demo.DemoRolesQuery,
		"Timeout":          opts.Timeout,
		"Client":           fleetClient,
		"Secret":           fleetSecret,
		"Audience":         fleetAudience,
		"MaxFailures":      opts.MaxFailures,
		"IPFailuresPerDay": opts.IPFailuresPerDay,
		"AccountLockout":   opts.AccountLockout,
		"ForwardedFor":     fleetForwardedFor,
		"RolesClaim":       fleetRoles,
		"Extra":            opts.Extra,
	}
	var cfg bytes.Buffer
	if err := fleetTemplate.Execute(&cfg, data); err != nil {
		t.Fatal(err)
	}
	in := &instance{
		f:       f,
		name:    name,
		base:    fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		config:  filepath.Join(dir, "Caddyfile"),
		logPath: filepath.Join(dir, "claimgate.log"),
		// Caddy's data and config dirs: the data dir is shared (as the
		// storage is), the config dir (autosave.json) is the instance's own.
		env: append(os.Environ(),
			"HOME="+dir,
			"XDG_DATA_HOME="+filepath.Join(f.storage, "xdg-data"),
			"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"),
		),
	}
	if err := os.WriteFile(in.config, cfg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.stop()
		in.checkLog(t)
	})
	return in
}

// launch starts the process without waiting for it to answer.
func (in *instance) launch() {
	t := in.f.t
	t.Helper()
	if in.running() {
		t.Fatalf("%s: already running", in.name)
	}
	logFile, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== %s: claimgate run at %s\n", in.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(in.f.bin, "run", "--config", in.config, "--adapter", "caddyfile")
	cmd.Env = in.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("%s: starting claimgate: %v", in.name, err)
	}
	in.cmd, in.done, in.err = cmd, make(chan struct{}), nil
	done := in.done
	go func() {
		err := cmd.Wait()
		logFile.Close()
		in.err = err
		close(done)
	}()
}

func (in *instance) running() bool {
	if in.done == nil {
		return false
	}
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// waitReady waits until the instance serves its JWKS (which needs no
// database), failing the test with its log when it exits or takes too long.
func (in *instance) waitReady() {
	t := in.f.t
	t.Helper()
	deadline := time.Now().Add(fleetStartTimeout)
	for {
		select {
		case <-in.done:
			t.Fatalf("%s exited while starting (%v); log:\n%s", in.name, in.err, in.logTail(60))
		default:
		}
		resp, err := in.f.client.Get(in.base + "/.well-known/jwks.json")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %s (last: %v); log:\n%s", in.name, fleetStartTimeout, err, in.logTail(60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start launches the instance and waits until it answers.
func (in *instance) start() {
	in.f.t.Helper()
	in.launch()
	in.waitReady()
}

// startAll launches every instance at once (so they race for the shared
// storage, as a fleet does when it boots), then waits for each.
func startAll(ins ...*instance) {
	for _, in := range ins {
		in.launch()
	}
	for _, in := range ins {
		in.waitReady()
	}
}

// stop sends SIGTERM, then kills the process if it has not exited within
// 15 s. It is a no-op when the process is not running.
func (in *instance) stop() {
	if !in.running() {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
		return
	case <-time.After(15 * time.Second):
	}
	in.f.t.Errorf("%s did not exit within 15 s of SIGTERM; killing it", in.name)
	_ = in.cmd.Process.Kill()
	<-in.done
}

// logTail returns the last n lines of the instance's log.
func (in *instance) logTail(n int) string {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", in.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// checkLog fails the test when the instance logged a password, the client
// secret or a token it issued, and shows the log's tail when the
// test failed.
func (in *instance) checkLog(t *testing.T) {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: reading log: %v", in.name, err)
		}
		return
	}
	in.f.mu.Lock()
	secrets := append([]string(nil), in.f.secrets...)
	in.f.mu.Unlock()
	testkit.AssertNoSecretsLogged(t, in.name+"'s log", testkit.LogLines(b), secrets)
	if t.Failed() {
		t.Logf("%s's log (tail):\n%s", in.name, in.logTail(60))
	}
}

// fleetResponse is an answer with its body read, and how long it took.
type fleetResponse struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

func (r fleetResponse) String() string {
	return fmt.Sprintf("%d %s", r.status, testkit.Truncate(string(r.body), 300))
}

// oauth decodes an RFC 6749 §5.2 error body ("" fields when it is not one).
func (r fleetResponse) oauth() (code, desc string) {
	var e testkit.OAuthError
	_ = json.Unmarshal(r.body, &e)
	return e.Error, e.Description
}

// send performs req on the instance. A transport error is answered as status
// 0 with the error as body, for the caller's check to report.
func (in *instance) send(req *http.Request) fleetResponse {
	began := time.Now()
	resp, err := in.f.client.Do(req)
	if err != nil {
		return fleetResponse{body: []byte(fmt.Sprintf("%s: %s %s: %v", in.name, req.Method, req.URL.Path, err)),
			elapsed: time.Since(began)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fleetResponse{body: []byte(fmt.Sprintf("%s: reading body: %v", in.name, err)), elapsed: time.Since(began)}
	}
	return fleetResponse{status: resp.StatusCode, header: resp.Header, body: b, elapsed: time.Since(began)}
}

// post sends form key/value pairs to path.
func (in *instance) post(path string, kv ...string) fleetResponse {
	vals := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		vals.Add(kv[i], kv[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, in.base+path, strings.NewReader(vals.Encode()))
	if err != nil {
		panic(err) // a fixed URL
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return in.send(req)
}

// get sends GET path with a bearer token (when not empty).
func (in *instance) get(path, token string) fleetResponse {
	req, err := http.NewRequest(http.MethodGet, in.base+path, nil)
	if err != nil {
		panic(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return in.send(req)
}

// passwordLogin sends the password grant for the fleet's client.
func (in *instance) passwordLogin(username, password string, extra ...string) fleetResponse {
	return in.post("/oauth/token", append([]string{"grant_type", "password",
		"client_id", fleetClient, "client_secret", fleetSecret,
		"username", username, "password", password}, extra...)...)
}

// passwordLoginFrom is passwordLogin on behalf of an end user at ip.
func (in *instance) passwordLoginFrom(ip, username, password string) fleetResponse {
	vals := url.Values{"grant_type": {"password"}, "client_id": {fleetClient}, "client_secret": {fleetSecret},
		"username": {username}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, in.base+"/oauth/token", strings.NewReader(vals.Encode()))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(fleetForwardedFor, ip)
	return in.send(req)
}

// refresh redeems a refresh token.
func (in *instance) refresh(token string) fleetResponse {
	return in.post("/oauth/token", "grant_type", "refresh_token",
		"client_id", fleetClient, "client_secret", fleetSecret, "refresh_token", token)
}

// revoke revokes a refresh token (RFC 7009).
func (in *instance) revoke(token string) fleetResponse {
	return in.post("/oauth/revoke", "client_id", fleetClient, "client_secret", fleetSecret,
		"token", token, "token_type_hint", "refresh_token")
}

// fleetTokens is the token endpoint's success body.
type fleetTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

// tokens decodes a 200 token answer, failing the test for anything else;
// the tokens are recorded as secrets.
func (in *instance) tokens(t testing.TB, what string, resp fleetResponse) fleetTokens {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("%s on %s: got %s, want 200", what, in.name, resp)
	}
	var tr fleetTokens
	if err := json.Unmarshal(resp.body, &tr); err != nil {
		t.Fatalf("%s on %s: token response %q: %v", what, in.name, resp.body, err)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("%s on %s: %s lacks access_token, token_type Bearer or expires_in", what, in.name, resp.body)
	}
	in.f.secret(tr.AccessToken)
	in.f.secret(tr.RefreshToken)
	return tr
}

// login runs the password grant and fails the test unless it succeeds.
func (in *instance) login(t testing.TB, u fleetUser, extra ...string) fleetTokens {
	t.Helper()
	return in.tokens(t, "login "+u.email, in.passwordLogin(u.email, u.password, extra...))
}

// offlineLogin logs in with offline_access and requires a refresh token.
func (in *instance) offlineLogin(t testing.TB, u fleetUser) fleetTokens {
	t.Helper()
	tr := in.login(t, u, "scope", "offline_access")
	if tr.RefreshToken == "" {
		t.Fatalf("login with offline_access on %s: no refresh_token (scope %q)", in.name, tr.Scope)
	}
	return tr
}

// wantVerified checks that the instance's claimgate_verify route accepts the
// access token of user u.
func (in *instance) wantVerified(t testing.TB, accessToken string, u fleetUser) {
	t.Helper()
	resp := in.get("/api/orders", accessToken)
	if want := "id=" + strconv.FormatInt(u.id, 10); resp.status != http.StatusOK || string(resp.body) != want {
		t.Errorf("GET /api/orders on %s with the token: got %s, want 200 %q", in.name, resp, want)
	}
}

// wantOAuthError checks an error answer's status and code, and a positive
// Retry-After when retry is set.
func wantOAuthError(t testing.TB, what string, resp fleetResponse, status int, code string, retry bool) {
	t.Helper()
	if got, _ := resp.oauth(); resp.status != status || got != code {
		t.Errorf("%s: got %s, want %d %s", what, resp, status, code)
		return
	}
	if retry {
		if secs, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || secs <= 0 {
			t.Errorf("%s: Retry-After = %q, want a positive number of seconds", what, resp.header.Get("Retry-After"))
		}
	}
}

// jwks fetches the instance's JWKS as decoded JSON keys, keyed by kid.
func (in *instance) jwks(t testing.TB) map[string]map[string]any {
	t.Helper()
	resp := in.get("/.well-known/jwks.json", "")
	if resp.status != http.StatusOK {
		t.Fatalf("JWKS of %s: got %s", in.name, resp)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(resp.body, &set); err != nil {
		t.Fatalf("JWKS of %s: %v in %q", in.name, err, resp.body)
	}
	if len(set.Keys) == 0 {
		t.Fatalf("JWKS of %s has no keys: %s", in.name, resp.body)
	}
	keys := make(map[string]map[string]any)
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		if kid == "" {
			t.Fatalf("JWKS of %s: a key without kid: %v", in.name, k)
		}
		keys[kid] = k
	}
	return keys
}

// runClaimgate runs a claimgate subcommand and returns its combined output.
func (f *fleet) runClaimgate(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+f.t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// claimgateTables lists the claimgate_ tables in the test's database.
func (f *fleet) claimgateTables(t testing.TB) []string {
	t.Helper()
	return testkit.ClaimgateTables(t, storetest.Open(t, f.dsn))
}

// proxiedDSN is dsn with its address replaced by addr.
func proxiedDSN(t testing.TB, dsn, addr string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	cfg.Addr = addr
	return cfg.FormatDSN()
}

// dsnAddr is the host:port of a DSN.
func dsnAddr(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("DSN %q: want a tcp address", dsn)
	}
	return cfg.Addr
}
