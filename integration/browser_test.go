package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
)

// Browser sessions and the hosted login page in a real browser (issue 11):
// headless Chromium signs in at an app behind claimgate_verify { browser },
// reloads, outlives its access token, signs in at a second app without the
// form, and signs out. The provider is at localhost, the apps at
// app1.localhost and app2.localhost: Chromium resolves *.localhost to the
// loopback and treats plain-HTTP loopback origins as secure contexts, so
// the __Host- (Secure) cookies work without TLS, and each host keeps its
// own cookies.

// browserConfig is the Caddyfile of the browser tests.
var browserConfig = template.Must(template.New("Caddyfile").Parse(`{
	skip_install_trust
	admin {{.Admin}}
	http_port {{.Port}}
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
		issuer http://localhost:{{.Port}}/
		database {
			dsn "{{.DSN}}"
			user_query "{{.UserQuery}}"
			roles_query "{{.RolesQuery}}"
		}
		access_token_ttl {{.AccessTTL}}
		client app-one {
			secret app-one-secret
			audience http://app1.localhost:{{.Port}}
			grant authorization_code refresh_token
			redirect_uri http://app1.localhost:{{.Port}}/.claimgate/callback
			logout_redirect_uri http://app1.localhost:{{.Port}}/
		}
		client app-two {
			secret app-two-secret
			audience http://app2.localhost:{{.Port}}
			grant authorization_code refresh_token
			redirect_uri http://app2.localhost:{{.Port}}/.claimgate/callback
			logout_redirect_uri http://app2.localhost:{{.Port}}/
		}
		claim https://example.test/roles roles
	}
}

http://localhost:{{.Port}} {
	claimgate_login
}

http://app1.localhost:{{.Port}} {
	claimgate_verify {
		audience http://app1.localhost:{{.Port}}
		browser app-one
		header X-User-Id sub
		header X-User-Roles https://example.test/roles
	}
	reverse_proxy {{.Upstream}}
}

http://app2.localhost:{{.Port}} {
	claimgate_verify {
		audience http://app2.localhost:{{.Port}}
		browser app-two
		header X-User-Id sub
	}
	reverse_proxy {{.Upstream}}
}
`))

// chromiumPath finds the browser: $CLAIMGATE_CHROMIUM, else Debian's
// chromium (what .ci/run installs) or another Chromium/Chrome on PATH. The
// browser tests skip without one, except in CI (CI set), where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CLAIMGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome or $CLAIMGATE_CHROMIUM) and CI is set: " +
			"the browser tests must run in CI (.ci/run installs Debian's chromium)")
	}
	t.Skip("no Chromium found: install Debian's chromium (apt-get install chromium) or set CLAIMGATE_CHROMIUM to run the browser tests")
	return ""
}

// pageApp is the upstream app of the browser tests: an HTML page that
// shows the identity headers it received, and /whoami answering them as
// text for the page's fetch().
func pageApp(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, roles := r.Header.Get("X-User-Id"), r.Header.Get("X-User-Roles")
		cookies := strconv.Itoa(strings.Count(r.Header.Get("Cookie"), "__Host-claimgate_app"))
		if r.URL.Path == "/whoami" {
			fmt.Fprintf(w, "id=%s", id)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>app</title><p id="who">id=%s roles=%s sealed-cookies=%s path=%s</p>`,
			template.HTMLEscapeString(id), template.HTMLEscapeString(roles), cookies, template.HTMLEscapeString(r.URL.RequestURI()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// browserEnv is the running browser-test configuration.
type browserEnv struct {
	issuer, app1, app2 string
	logFile            string
}

func startBrowserEnv(t *testing.T, accessTTL time.Duration) *browserEnv {
	t.Helper()
	ports := freePorts(t, 2)
	upstream := pageApp(t)
	e := &browserEnv{
		issuer:  fmt.Sprintf("http://localhost:%d/", ports[0]),
		app1:    fmt.Sprintf("http://app1.localhost:%d", ports[0]),
		app2:    fmt.Sprintf("http://app2.localhost:%d", ports[0]),
		logFile: filepath.Join(t.TempDir(), "caddy.log"),
	}
	var cfg bytes.Buffer
	err := browserConfig.Execute(&cfg, map[string]any{
		"Admin": adminAddr, "Port": ports[0], "HTTPSPort": ports[1], "Storage": t.TempDir(), "LogFile": e.logFile,
		"DSN": extraUsersDatabase(t), "UserQuery": demo.DemoUserQuery, "RolesQuery": demo.DemoRolesQuery,
		"AccessTTL": accessTTL.String(), "Upstream": strings.TrimPrefix(upstream.URL, "http://"),
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &env{t: t, tester: newTester(t), logFile: e.logFile}
	env.load(cfg.String())
	t.Cleanup(func() {
		log, err := os.ReadFile(e.logFile)
		if err != nil {
			t.Errorf("reading Caddy's log: %v", err)
			return
		}
		testkit.AssertNoSecretsLogged(t, "Caddy's log", testkit.LogLines(log), testkit.Secrets(testkit.AlicePassword))
		if t.Failed() {
			lines := strings.Split(string(log), "\n")
			t.Logf("Caddy's log (last 60 lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return e
}

// awaitPromise makes chromedp.Evaluate wait for the expression's promise.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// newBrowser starts headless Chromium for the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in a container
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// run runs actions, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// location is the page's URL.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	var u string
	run(t, ctx, "reading the location", chromedp.Location(&u))
	return u
}

// text is the text of the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// signIn fills the login page's form.
func signIn(t *testing.T, ctx context.Context, username, password string) {
	t.Helper()
	run(t, ctx, "filling the login form",
		chromedp.WaitVisible(`input[name=password]`, chromedp.ByQuery),
		chromedp.SetValue(`input[name=username]`, username, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
		chromedp.Submit(`input[name=password]`, chromedp.ByQuery),
	)
}

// appCookie is the value of the app session cookie Chromium holds for url.
func appCookie(t *testing.T, ctx context.Context, url string) (value string, attrs *network.Cookie) {
	t.Helper()
	var cookies []*network.Cookie
	run(t, ctx, "reading cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{url}).Do(ctx)
		return err
	}))
	for _, c := range cookies {
		if c.Name == "__Host-claimgate_app" {
			return c.Value, c
		}
	}
	return "", nil
}

// TestBrowserSignIn drives headless Chromium through an app session:
// sign-in from an app URL with a forged identity header, reload, renewal
// after the access token expires, SSO at a second app, a wrong password, and
// logout.
func TestBrowserSignIn(t *testing.T) {
	ctx := newBrowser(t)
	const accessTTL = 2 * time.Second
	e := startBrowserEnv(t, accessTTL)
	aliceID := strconv.FormatInt(testkit.DemoUser(t, testkit.Alice).ID, 10)
	wantWho := "id=" + aliceID + " roles=admin,editor sealed-cookies=0"

	// Every request the browser sends forges the identity header.
	run(t, ctx, "forging X-User-Id", network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"X-User-Id": "forged-admin", "X-User-Roles": "forged"}))

	start := e.app1 + "/reports/q3?tab=summary"
	run(t, ctx, "opening the app", chromedp.Navigate(start))
	if u := location(t, ctx); !strings.HasPrefix(u, e.issuer+"authorize?") {
		t.Fatalf("the app sent the browser to %s, want the login page at %sauthorize", u, e.issuer)
	}

	// A wrong password: the page says so, and stays.
	signIn(t, ctx, testkit.Alice, "not the password")
	run(t, ctx, "waiting for the error", chromedp.WaitVisible(`[role=alert], .error, #error`, chromedp.ByQuery))
	var body string
	run(t, ctx, "reading the page", chromedp.Text(`body`, &body, chromedp.ByQuery))
	if !strings.Contains(body, "Wrong email or password.") {
		t.Fatalf("after a wrong password the page says %q", body)
	}

	// The right one: back at the URL first asked for, identified, with the
	// forged headers gone and no sealed cookie passed upstream.
	signIn(t, ctx, testkit.Alice, testkit.AlicePassword)
	run(t, ctx, "landing on the app", chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	if u := location(t, ctx); u != start {
		t.Fatalf("after sign-in the browser is at %s, want %s", u, start)
	}
	if got := text(t, ctx, "#who"); got != wantWho+" path=/reports/q3?tab=summary" {
		t.Fatalf("the upstream saw %q, want %q", got, wantWho)
	}
	first, c := appCookie(t, ctx, e.app1)
	if c == nil || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Domain != "app1.localhost" {
		t.Fatalf("app cookie %+v, want Secure, HttpOnly, SameSite=Lax, Path=/, host-only", c)
	}
	if strings.Contains(first, ".") {
		t.Errorf("the app cookie looks like a JWT, not a sealed value")
	}

	// A fetch() from the page (not a navigation) with a forged header.
	var fetched string
	run(t, ctx, "fetching /whoami", chromedp.Evaluate(
		`fetch('/whoami', {headers: {'X-User-Id': 'forged-by-script'}}).then(r => r.text())`, &fetched,
		awaitPromise))
	if fetched != "id="+aliceID {
		t.Errorf("the page's fetch reached the upstream as %q, want id=%s", fetched, aliceID)
	}
	// Without the cookie, a fetch gets the 401 of a request without a token.
	var status int
	run(t, ctx, "fetching without credentials", chromedp.Evaluate(
		`fetch('/whoami', {credentials: 'omit'}).then(r => r.status)`, &status,
		awaitPromise))
	if status != http.StatusUnauthorized {
		t.Errorf("a fetch without the session got %d, want 401", status)
	}

	// Reload: no sign-in.
	run(t, ctx, "reloading", chromedp.Reload(), chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	if u := location(t, ctx); u != start {
		t.Fatalf("after a reload the browser is at %s", u)
	}
	if again, _ := appCookie(t, ctx, e.app1); again != first {
		t.Errorf("a reload within the access token's lifetime changed the session cookie")
	}

	// The access token expires: the next request renews the session in
	// place (a new cookie), with no trip through the login page.
	time.Sleep(accessTTL + 1100*time.Millisecond)
	run(t, ctx, "reloading after expiry", chromedp.Reload(), chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	if u := location(t, ctx); u != start {
		t.Fatalf("after expiry the browser is at %s", u)
	}
	if got := text(t, ctx, "#who"); !strings.HasPrefix(got, wantWho) {
		t.Fatalf("after renewal the upstream saw %q", got)
	}
	renewed, _ := appCookie(t, ctx, e.app1)
	if renewed == "" || renewed == first {
		t.Fatalf("the session was not renewed (cookie unchanged)")
	}

	// SSO: the second app signs the browser in without the form.
	run(t, ctx, "opening the second app", chromedp.Navigate(e.app2+"/home"), chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	if u := location(t, ctx); u != e.app2+"/home" {
		t.Fatalf("the second app left the browser at %s", u)
	}
	if got := text(t, ctx, "#who"); !strings.HasPrefix(got, "id="+aliceID+" ") {
		t.Fatalf("the second app's upstream saw %q", got)
	}

	// Logout at the first app: back through the provider's logout to the
	// app, which asks for a sign-in again (the SSO session ended too).
	run(t, ctx, "signing out", chromedp.Navigate(e.app1+"/.claimgate/logout"),
		chromedp.WaitVisible(`input[name=password]`, chromedp.ByQuery))
	if u := location(t, ctx); !strings.HasPrefix(u, e.issuer+"authorize?") {
		t.Fatalf("after logout the browser is at %s, want the login page", u)
	}
	if v, _ := appCookie(t, ctx, e.app1); v != "" {
		t.Errorf("the app cookie survived logout")
	}
}

// TestBrowserLoginPageCrossSite: the provider's login form in Chromium. A
// page of another site that posts a login form to /login is refused (403)
// — the browser sends its Origin, and the SameSite=Lax pre-login cookie
// stays home — while the page's own form, with the CSRF token bound to
// that cookie, signs in (TestBrowserSignIn).
func TestBrowserLoginPageCrossSite(t *testing.T) {
	ctx := newBrowser(t)
	e := startBrowserEnv(t, time.Hour)
	q := "response_type=code&client_id=app-one&scope=openid&redirect_uri=" +
		strings.ReplaceAll(e.app1, ":", "%3A") + "%2F.claimgate%2Fcallback&code_challenge=" +
		strings.Repeat("a", 43) + "&code_challenge_method=S256"
	// The user has the real form open (so the pre-login cookie exists).
	run(t, ctx, "opening the login page", chromedp.Navigate(e.issuer+"authorize?"+q),
		chromedp.WaitVisible(`input[name=password]`, chromedp.ByQuery))
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%slogin?%s">
<input name="username" value="%s"><input name="password" value="%s"><input name="csrf_token" value="guess">
</form><script>document.forms[0].submit()</script>`, e.issuer, template.HTMLEscapeString(q), testkit.Alice, "guess")
	}))
	t.Cleanup(evil.Close)
	run(t, ctx, "visiting the other site", chromedp.Navigate(evil.URL), chromedp.WaitVisible(`body`, chromedp.ByQuery))
	var body string
	run(t, ctx, "waiting for the answer", chromedp.Poll(`location.pathname === "/login"`, nil),
		chromedp.Text(`body`, &body, chromedp.ByQuery))
	if !strings.Contains(body, "came from another site") {
		t.Fatalf("a cross-site post to /login got %q", body)
	}
}
