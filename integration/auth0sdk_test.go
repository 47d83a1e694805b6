package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// The management API's acceptance test: a backend written against
// Auth0's Management API creates a user with user_metadata, reads it back,
// merges app_metadata, assigns roles and an organization, and changes the
// password, changing only the domain and the credentials it is configured
// with; the user then logs in and finds all of it in the token.
//
// TestAuth0SDK drives Auth0's own Node SDK (integration/auth0sdk, installed
// with `npm ci` there); TestManagementHTTPClient sends the same requests,
// with the SDK's headers, from Go, and always runs. The SDK only speaks
// https, so the site uses `tls internal` and node trusts Caddy's local CA
// through NODE_EXTRA_CA_CERTS.

const (
	mgmtClient     = "admin-backend"
	mgmtSecret     = "admin-backend-secret"
	mgmtOrgID      = "org_acme"
	mgmtPlanClaim  = "https://example.test/plan"
	mgmtTierClaim  = "https://example.test/tier"
	mgmtProvClaim  = "https://example.test/province"
	mgmtFirstPW    = "first password, long enough"
	mgmtSecondPW   = "second password, long enough"
	mgmtUserAgent  = "node-auth0/7.1.0" // what the SDK's requests carry, near enough
	auth0SDKFolder = "auth0sdk"
)

var mgmtTemplate = template.Must(template.New("Caddyfile").Parse(`{
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
		issuer https://localhost:{{.HTTPSPort}}/
		database {
			dsn "{{.DSN}}"
			user_query "{{.UserQuery}}"
			user_id_query "{{.UserIDQuery}}"
			roles_query "{{.RolesQuery}}"
			organization_query "{{.OrganizationQuery}}"
		}
		management {
			create_user "INSERT INTO users (email, password_hash, username, name, nickname, picture, email_verified, blocked, app_metadata, user_metadata) VALUES (:email, :password_hash, :username, :name, :nickname, :picture, :email_verified, :blocked, :app_metadata, :user_metadata)"
			update_user "UPDATE users SET email = :email, password_hash = :password_hash, name = :name, email_verified = :email_verified, blocked = :blocked, app_metadata = :app_metadata, user_metadata = :user_metadata WHERE id = :user_id"
			delete_user "DELETE FROM users WHERE id = :user_id"
			assign_role "INSERT IGNORE INTO user_roles (user_id, role_id) SELECT :user_id, id FROM roles WHERE name = :role"
			remove_role "DELETE FROM user_roles WHERE user_id = :user_id AND role_id IN (SELECT id FROM roles WHERE name = :role)"
			add_member "INSERT IGNORE INTO members (user_id, org_id) VALUES (:user_id, :org_id)"
			remove_member "DELETE FROM members WHERE user_id = :user_id AND org_id = :org_id"
			hash bcrypt 10
		}
		client admin-backend {
			secret admin-backend-secret
			grant client_credentials
			audience https://localhost:{{.HTTPSPort}}/api/v2/ https://api.example.test
			scope read:users create:users update:users delete:users
		}
		client web-backend {
			secret web-secret
			audience https://api.example.test
			grant password refresh_token
		}
		claim https://example.test/roles roles
		claim https://example.test/org_id app_metadata.org_id
		claim https://example.test/plan app_metadata.plan
		claim https://example.test/tier app_metadata.tier
		claim https://example.test/city user_metadata.city
		claim https://example.test/province user_metadata.province
	}
}

https://localhost:{{.HTTPSPort}} {
	tls internal
	claimgate_login

	handle /machine/* {
		claimgate_verify {
			audience https://api.example.test
			header X-Sub sub
			require scope read:users
		}
		respond "machine {http.auth.user.id}" 200
	}
}
`))

// mgmtEnv is a running configuration with the management API.
type mgmtEnv struct {
	t       *testing.T
	base    string // https://localhost:PORT
	domain  string // localhost:PORT, what the SDK is configured with
	caFile  string // Caddy's local root certificate
	client  *http.Client
	logFile string
}

func startManagement(t *testing.T) *mgmtEnv {
	t.Helper()
	ports := freePorts(t, 2)
	storage := t.TempDir()
	e := &mgmtEnv{
		t:       t,
		base:    fmt.Sprintf("https://localhost:%d", ports[1]),
		domain:  fmt.Sprintf("localhost:%d", ports[1]),
		caFile:  filepath.Join(storage, "pki", "authorities", "local", "root.crt"),
		logFile: filepath.Join(t.TempDir(), "caddy.log"),
	}
	var cfg bytes.Buffer
	if err := mgmtTemplate.Execute(&cfg, map[string]any{
		"Admin": adminAddr, "HTTPPort": ports[0], "HTTPSPort": ports[1], "Storage": storage, "LogFile": e.logFile,
		"DSN": storetest.NewDemoDatabase(t), "UserQuery": demo.DemoUserQuery,
		"UserIDQuery": strings.Replace(demo.DemoUserQuery, "WHERE email = ?", "WHERE id = ?", 1),
		"RolesQuery":  demo.DemoRolesQuery, "OrganizationQuery": demo.DemoOrganizationQuery,
	}); err != nil {
		t.Fatal(err)
	}
	tester := newTester(t)
	tester.InitServer(cfg.String(), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { unload(t) })
	t.Cleanup(func() {
		log, _ := os.ReadFile(e.logFile)
		testkit.AssertNoSecretsLogged(t, "Caddy's log", testkit.LogLines(log),
			testkit.Secrets(mgmtSecret, mgmtFirstPW, mgmtSecondPW))
		if t.Failed() {
			lines := strings.Split(string(log), "\n")
			t.Logf("Caddy's log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})

	var pem []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if pem, err = os.ReadFile(e.caFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Caddy's local CA: %v", err)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("Caddy's local CA certificate does not parse")
	}
	e.client = &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}
	// The site's certificate is issued in the background after the load.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := e.client.Get(e.base + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the https site does not answer: %v", err)
		}
	}
	return e
}

// mgmtAnswer is one answer: status, headers, body.
type mgmtAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a mgmtAnswer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
}

// send makes one request; body is JSON-encoded unless it is url.Values.
func (e *mgmtEnv) send(method, path string, header http.Header, body any) mgmtAnswer {
	e.t.Helper()
	var r io.Reader
	h := header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	switch b := body.(type) {
	case nil:
	case url.Values:
		r = strings.NewReader(b.Encode())
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
		h.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = h
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return mgmtAnswer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// sdkHeaders are the headers Auth0's SDK sends with every request: its
// telemetry (Auth0-Client, Base64 JSON) and a user agent.
func sdkHeaders() http.Header {
	telemetry := base64.StdEncoding.EncodeToString([]byte(`{"name":"node-auth0","version":"7.1.0","env":{"node":"v20"}}`))
	return http.Header{"Auth0-Client": {telemetry}, "User-Agent": {mgmtUserAgent}, "Accept": {"application/json"}}
}

// machineToken is the SDK's token request: client_credentials, form
// encoded, client_secret_post, the management audience.
func (e *mgmtEnv) machineToken(scope string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {mgmtClient},
		"client_secret": {mgmtSecret}, "audience": {e.base + "/api/v2/"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	a := e.send(http.MethodPost, "/oauth/token", sdkHeaders(), form)
	if a.status != http.StatusOK {
		e.t.Fatalf("client_credentials: %d %s", a.status, a.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	a.json(e.t, &tok)
	if tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		e.t.Fatalf("token response %s", a.body)
	}
	return tok.AccessToken
}

// api calls the management API with the SDK's headers and token.
func (e *mgmtEnv) api(token, method, path string, body any) mgmtAnswer {
	e.t.Helper()
	h := sdkHeaders()
	h.Set("Authorization", "Bearer "+token)
	return e.send(method, "/api/v2"+path, h, body)
}

// userLogin is the password grant of the web backend for the new user.
func (e *mgmtEnv) userLogin(email, password string) mgmtAnswer {
	e.t.Helper()
	return e.send(http.MethodPost, "/oauth/token", nil, url.Values{"grant_type": {"password"},
		"client_id": {webClient}, "client_secret": {webSecret}, "username": {email}, "password": {password},
		"audience": {apiAudience}, "scope": {"openid offline_access"}, "organization": {mgmtOrgID}})
}

// checkUserAfterManagement logs the managed user in and checks the token,
// then (after changePassword ran) that the old password and the refresh
// token no longer work and the new password does.
func (e *mgmtEnv) checkUserAfterManagement(email string, changePassword func()) {
	t := e.t
	a := e.userLogin(email, mgmtFirstPW)
	if a.status != http.StatusOK {
		t.Fatalf("login of the managed user: %d %s", a.status, a.body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	a.json(t, &tok)
	_, claims := testkit.JWTParts(t, tok.AccessToken)
	roles, _ := claims[rolesClaim].([]any)
	if !slices.Contains(roles, any("editor")) || !slices.Contains(roles, any("viewer")) {
		t.Errorf("roles claim %v, want editor and viewer", claims[rolesClaim])
	}
	for claim, want := range map[string]any{
		"org_id": mgmtOrgID, orgClaim: mgmtOrgID, mgmtPlanClaim: "pro", mgmtTierClaim: "gold", cityClaim: "Québec",
	} {
		if claims[claim] != want {
			t.Errorf("claim %s = %v, want %v", claim, claims[claim], want)
		}
	}
	if _, ok := claims[mgmtProvClaim]; ok {
		t.Errorf("province was removed by a null in the patch, the token still has it: %v", claims[mgmtProvClaim])
	}

	changePassword()

	if a := e.userLogin(email, mgmtFirstPW); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "invalid_grant") {
		t.Errorf("old password after the change: %d %s", a.status, a.body)
	}
	refresh := e.send(http.MethodPost, "/oauth/token", nil, url.Values{"grant_type": {"refresh_token"},
		"client_id": {webClient}, "client_secret": {webSecret}, "refresh_token": {tok.RefreshToken}})
	if refresh.status != http.StatusBadRequest || !strings.Contains(string(refresh.body), "invalid_grant") {
		t.Errorf("refresh token after the password change: %d %s", refresh.status, refresh.body)
	}
	if a := e.userLogin(email, mgmtSecondPW); a.status != http.StatusOK {
		t.Errorf("new password: %d %s", a.status, a.body)
	}
}

// TestManagementHTTPClient sends the requests Auth0's SDK sends, in its
// order and with its headers, from Go.
func TestManagementHTTPClient(t *testing.T) {
	e := startManagement(t)
	const email = "go.client@example.test"

	// The machine token works at claimgate_verify too, by scope.
	token := e.machineToken("")
	if a := e.api(token, http.MethodGet, "/users-by-email?email="+url.QueryEscape(email), nil); a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
		t.Fatalf("users-by-email before the create: %d %s", a.status, a.body)
	}

	a := e.api(token, http.MethodPost, "/users", map[string]any{
		"connection": realm, "email": email, "password": mgmtFirstPW, "email_verified": true,
		"user_metadata": map[string]any{"city": "Québec", "province": "QC"},
	})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	var created map[string]any
	a.json(t, &created)
	id, _ := created["user_id"].(string)
	if id == "" || created["email"] != email || created["email_verified"] != true {
		t.Fatalf("created %v", created)
	}
	if _, ok := created["password_hash"]; ok {
		t.Error("the user object has the password hash")
	}
	path := "/users/" + url.PathEscape(id)
	var read map[string]any
	e.api(token, http.MethodGet, path, nil).json(t, &read)
	if meta, _ := read["user_metadata"].(map[string]any); meta["city"] != "Québec" || meta["province"] != "QC" {
		t.Errorf("read back %v", read)
	}
	var byEmail []map[string]any
	e.api(token, http.MethodGet, "/users-by-email?email="+url.QueryEscape(email), nil).json(t, &byEmail)
	if len(byEmail) != 1 || byEmail[0]["user_id"] != id {
		t.Errorf("users-by-email %v", byEmail)
	}

	for _, patch := range []map[string]any{
		{"app_metadata": map[string]any{"plan": "pro", "org_id": mgmtOrgID}},
		{"app_metadata": map[string]any{"tier": "gold"}, "user_metadata": map[string]any{"province": nil}},
	} {
		if a := e.api(token, http.MethodPatch, path, patch); a.status != http.StatusOK {
			t.Fatalf("patch %v: %d %s", patch, a.status, a.body)
		}
	}
	var merged map[string]any
	e.api(token, http.MethodGet, path, nil).json(t, &merged)
	if app, _ := merged["app_metadata"].(map[string]any); app["plan"] != "pro" || app["tier"] != "gold" || app["org_id"] != mgmtOrgID {
		t.Errorf("merged app_metadata %v", merged["app_metadata"])
	}
	if a := e.api(token, http.MethodPost, path+"/roles", map[string]any{"roles": []string{"editor", "viewer"}}); a.status != http.StatusNoContent {
		t.Fatalf("assign roles: %d %s", a.status, a.body)
	}
	// The SDK's paging parameters.
	var page struct {
		Roles []struct{ ID, Name string } `json:"roles"`
		Total int                         `json:"total"`
	}
	e.api(token, http.MethodGet, path+"/roles?page=0&per_page=50&include_totals=true", nil).json(t, &page)
	if page.Total != 2 || len(page.Roles) != 2 {
		t.Errorf("roles page %+v", page)
	}
	if a := e.api(token, http.MethodPost, "/organizations/"+mgmtOrgID+"/members", map[string]any{"members": []string{id}}); a.status != http.StatusNoContent {
		t.Fatalf("add member: %d %s", a.status, a.body)
	}

	e.checkUserAfterManagement(email, func() {
		if a := e.api(token, http.MethodPatch, path, map[string]any{"password": mgmtSecondPW}); a.status != http.StatusOK {
			t.Fatalf("password change: %d %s", a.status, a.body)
		}
	})

	t.Run("machine token at claimgate_verify", func(t *testing.T) {
		e := *e
		e.t = t
		// A token for the API audience with read:users passes require
		// scope read:users; one without it is 403.
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {apiAudience}}
		h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(mgmtClient+":"+mgmtSecret))}}
		for _, c := range []struct {
			scope  string
			status int
		}{{"read:users create:users", 200}, {"create:users", 403}} {
			form.Set("scope", c.scope)
			a := e.send(http.MethodPost, "/oauth/token", h, form)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			a.json(t, &tok)
			got := e.send(http.MethodGet, "/machine/x", http.Header{"Authorization": {"Bearer " + tok.AccessToken}}, nil)
			if got.status != c.status {
				t.Errorf("scope %q: %d %s, want %d", c.scope, got.status, got.body, c.status)
			}
			if c.status == 200 && string(got.body) != "machine "+mgmtClient+"@clients" {
				t.Errorf("body %q", got.body)
			}
		}
	})
}

// auth0SDKDir returns the folder with Auth0's SDK installed, or skips (or,
// in CI, fails) when node or the package is missing.
func auth0SDKDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(auth0SDKFolder)
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, pkgErr := os.Stat(filepath.Join(dir, "node_modules", "auth0", "package.json"))
	if nodeErr == nil && pkgErr == nil {
		return dir
	}
	msg := "Auth0's Node SDK is not installed: install node and run `npm ci` in integration/auth0sdk"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: .ci/run installs them)")
	}
	t.Skip(msg)
	return ""
}

// TestAuth0SDK is the acceptance test with Auth0's own Node SDK.
func TestAuth0SDK(t *testing.T) {
	dir := auth0SDKDir(t)
	e := startManagement(t)
	const email = "node.sdk@example.test"

	node := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("node", append([]string{"migrate.mjs"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"CLAIMGATE_DOMAIN="+e.domain,
			"CLAIMGATE_CLIENT_ID="+mgmtClient,
			"CLAIMGATE_CLIENT_SECRET="+mgmtSecret,
			"CLAIMGATE_CONNECTION="+realm,
			"NODE_EXTRA_CA_CERTS="+e.caFile,
		)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node migrate.mjs %s: %v\n%s", args[0], err, stderr.String())
		}
		return out
	}

	var got struct {
		Created map[string]any   `json:"created"`
		Read    map[string]any   `json:"read"`
		ByEmail []map[string]any `json:"byEmail"`
		Merged  map[string]any   `json:"merged"`
		Roles   []map[string]any `json:"roles"`
	}
	if err := json.Unmarshal(node("create", email, mgmtFirstPW, mgmtOrgID), &got); err != nil {
		t.Fatal(err)
	}
	id, _ := got.Created["user_id"].(string)
	if id == "" || got.Created["email"] != email {
		t.Fatalf("created %v", got.Created)
	}
	if meta, _ := got.Read["user_metadata"].(map[string]any); meta["city"] != "Québec" {
		t.Errorf("read %v", got.Read)
	}
	if len(got.ByEmail) != 1 || got.ByEmail[0]["user_id"] != id {
		t.Errorf("byEmail %v", got.ByEmail)
	}
	if app, _ := got.Merged["app_metadata"].(map[string]any); app["plan"] != "pro" || app["tier"] != "gold" {
		t.Errorf("merged %v", got.Merged)
	}
	if len(got.Roles) != 2 {
		t.Errorf("roles %v", got.Roles)
	}
	e.checkUserAfterManagement(email, func() { node("password", id, mgmtSecondPW) })
}
