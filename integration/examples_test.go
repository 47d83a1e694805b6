package integration

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// examplesDir holds the example Caddyfiles a fresh clone promises to work.
const examplesDir = "../examples"

// exampleCaddyfiles lists every Caddyfile under examples/.
func exampleCaddyfiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (d.Name() == "Caddyfile" || strings.HasSuffix(d.Name(), ".caddyfile")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v under %s", files, examplesDir)
	}
	return files
}

// unsetenv removes name for the rest of the test and restores it after.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // registers the restore
	os.Unsetenv(name)
}

// TestExamplesValidate adapts every example Caddyfile and validates it the
// way `claimgate validate` does (caddy.Validate provisions every module),
// with the environment variables the examples document set, and Caddy
// storage in a temporary directory.
func TestExamplesValidate(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	t.Setenv("CLAIMGATE_DSN", dsn)
	t.Setenv("WEB_BACKEND_SECRET", "a-long-random-web-backend-secret")
	t.Setenv("AUTH0_CLIENT_SECRET", "a-long-random-auth0-client-secret")
	t.Setenv("DEMO_CLIENT_SECRET", "a-long-random-demo-secret")

	for _, file := range exampleCaddyfiles(t) {
		t.Run(strings.TrimPrefix(file, examplesDir+"/"), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": file})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Logf("warning: %s:%d: %s", w.File, w.Line, w.Message)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if _, ok := cfg.AppsRaw["claimgate"]; !ok {
				t.Error("no claimgate app in the adapted config")
			}
			// Keys generated while provisioning go to a temporary storage,
			// never to the developer's own Caddy data directory.
			cfg.StorageRaw = caddyconfig.JSONModuleObject(
				map[string]string{"root": t.TempDir()}, "module", "file_system", nil)
			if err := caddy.Validate(&cfg); err != nil {
				t.Errorf("validating: %v", err)
			}
		})
	}
}

// quickstartGlobals are prepended to the quickstart's global options so that
// it runs inside caddytest's Caddy: the test admin endpoint, and a storage
// of its own.
const quickstartGlobals = `
	admin localhost:2999
	skip_install_trust
	grace_period 1ns
	storage file_system {
		root "%s"
	}
`

// TestQuickstart runs examples/quickstart/Caddyfile as a user would after
// cloning: the embedded demo database, alice logs in with the request the
// file's comment shows, and /api/whoami echoes X-User-Id 1.
func TestQuickstart(t *testing.T) {
	unsetenv(t, "DEMO_CLIENT_SECRET") // the file's default secret must work
	src, err := os.ReadFile(filepath.Join(examplesDir, "quickstart", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)

	// The global options block is the first line that is just "{".
	i := strings.Index(cfg, "\n{\n")
	if i < 0 {
		t.Fatal("the quickstart has no global options block")
	}
	cfg = cfg[:i+3] + fmt.Sprintf(quickstartGlobals, t.TempDir()) + cfg[i+3:]

	port := "8080"
	if l, err := net.Listen("tcp", ":"+port); err != nil {
		// Someone (another checkout's quickstart?) holds 8080: move the
		// whole example, issuer and audience included, to a free port.
		port = fmt.Sprint(freePorts(t, 1)[0])
		t.Logf("port 8080 is busy (%v); running the quickstart on %s", err, port)
		cfg = strings.ReplaceAll(cfg, "localhost:8080", "localhost:"+port)
	} else {
		l.Close()
	}
	base := "http://localhost:" + port

	tester := newTester(t)
	tester.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { unload(t) })
	e := &env{t: t, tester: tester, base: base}

	// curl -s http://localhost:8080/oauth/token -d grant_type=password
	//   -d client_id=demo-backend -d client_secret=demo-secret
	//   -d username=alice@example.test -d 'password=correct horse battery staple'
	resp := e.postForm(form("grant_type", "password", "client_id", "demo-backend", "client_secret", "demo-secret",
		"username", alice, "password", "correct horse battery staple"))
	if resp.status != http.StatusOK {
		t.Fatalf("login: %s", resp)
	}
	tr := decodeToken(t, resp)

	resp = e.get(base, "/api/whoami", tr.AccessToken, "X_User_Id", forged, "X-Org-Id", forged)
	if resp.status != http.StatusOK {
		t.Fatalf("/api/whoami: %s", resp)
	}
	for _, line := range []string{"X-User-Id: 1\n", "X-User-Roles: admin,editor\n", "X-Org-Id: org_acme\n", "X-User-City: Lisbon\n"} {
		if !strings.Contains(string(resp.body), line) {
			t.Errorf("/api/whoami body lacks %q:\n%s", line, resp.body)
		}
	}
	if strings.Contains(string(resp.body), forged) {
		t.Errorf("/api/whoami echoes a forged header:\n%s", resp.body)
	}

	resp = e.get(base, "/api/whoami", "", "X-User-Id", forged)
	if resp.status != http.StatusUnauthorized || strings.Contains(string(resp.body), forged) {
		t.Errorf("/api/whoami without a token: %s", resp)
	}

	// The README's other demo users log in too; frank is denied by the rule.
	for _, email := range []string{bob, carol, dave} {
		u := testkit.DemoUser(t, email)
		if resp := e.postForm(form("grant_type", "password", "client_id", "demo-backend", "client_secret", "demo-secret",
			"username", u.Email, "password", u.Password)); resp.status != http.StatusOK {
			t.Errorf("login %s: %s", email, resp)
		}
	}
	resp = e.postForm(form("grant_type", "password", "client_id", "demo-backend", "client_secret", "demo-secret",
		"username", frank, "password", testkit.DemoUser(t, frank).Password))
	if got := resp.oauthError(t); resp.status != http.StatusForbidden || got.Description != denyMessage {
		t.Errorf("frank: %s, want 403 %q", resp, denyMessage)
	}

	if resp := e.get(base, "/", ""); resp.status != http.StatusNotFound {
		t.Errorf("GET /: %s, want the example's 404", resp)
	}
}
