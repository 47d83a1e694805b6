package login

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
	"github.com/claimgate/claimgate/token"
)

const (
	managementAudience = loginIssuer + "api/v2/"
	mgmtClient         = "admin-backend"
	allMgmtScope       = "read:users create:users update:users delete:users"
	// newPassword is what tests create users with (kept out of every log).
	newPassword = "a-new-Passw0rd-for-tests"
)

// mgmtUserIDQuery is the demo's user query by id, with the timestamps.
var mgmtUserIDQuery = strings.Replace(demo.DemoUserQuery, ", user_metadata FROM users WHERE email = ?",
	", user_metadata, created_at, updated_at FROM users WHERE id = ?", 1)

// mgmtStatements fit the demo schema.
func mgmtStatements() *app.ManagementConfig {
	return &app.ManagementConfig{
		CreateUser: "INSERT INTO users (email, username, name, nickname, picture, password_hash, email_verified, blocked, app_metadata, user_metadata) " +
			"VALUES (:email, :username, :name, :nickname, :picture, :password_hash, :email_verified, :blocked, :app_metadata, :user_metadata)",
		UpdateUser: "UPDATE users SET email = :email, username = :username, name = :name, nickname = :nickname, picture = :picture, " +
			"password_hash = :password_hash, email_verified = :email_verified, blocked = :blocked, app_metadata = :app_metadata, " +
			"user_metadata = :user_metadata WHERE id = :user_id",
		DeleteUser:   "DELETE FROM users WHERE id = :user_id",
		AssignRole:   "INSERT IGNORE INTO user_roles (user_id, role_id) SELECT :user_id, id FROM roles WHERE name = :role",
		RemoveRole:   "DELETE FROM user_roles WHERE user_id = :user_id AND role_id IN (SELECT id FROM roles WHERE name = :role)",
		AddMember:    "INSERT IGNORE INTO members (user_id, org_id) VALUES (:user_id, :org_id)",
		RemoveMember: "DELETE FROM members WHERE user_id = :user_id AND org_id = :org_id",
	}
}

// newMgmtHarness is the login harness with the management block,
// user_id_query and subject_prefix auth0|.
func newMgmtHarness(t testing.TB, configure func(*app.App)) *harness {
	return newHarness(t, func(a *app.App) {
		a.Database.UserIDQuery = mgmtUserIDQuery
		a.SubjectPrefix = "auth0|"
		a.Management = mgmtStatements()
		if configure != nil {
			configure(a)
		}
	})
}

// mgmtToken signs a claimgate access token for aud with scope.
func (h *harness) mgmtToken(aud, scope string) string {
	h.t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": loginIssuer, "sub": mgmtClient + "@clients", "aud": aud, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "jti": token.NewID(), "client_id": mgmtClient, "scope": scope,
		"gty": grant.GrantTypeClaimValue,
	}
	raw, err := h.app.KeySet().Sign(claims, token.TypeAccessToken)
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// api calls the management API with a bearer token ("" for none).
func (h *harness) api(method, path, bearer, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	hdr := make(http.Header)
	if bearer != "" {
		hdr.Set("Authorization", "Bearer "+bearer)
	}
	return h.do(loginRequest{method: method, path: path, contentType: jsonType, body: body, header: hdr})
}

// expectMgmtError checks an Auth0-shaped error.
func expectMgmtError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d, body %q: %v", w.Code, w.Body, err)
	}
	if w.Code != status || body["errorCode"] != code || body["statusCode"] != float64(status) ||
		body["error"] != http.StatusText(status) || body["message"] == "" {
		t.Fatalf("got %d %v, want %d %s", w.Code, body, status, code)
	}
	return body
}

func decodeObject(t testing.TB, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestManagementAuthorization(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tests := []struct {
		name, bearer, method, path, body string
		status                           int
		code, message                    string
	}{
		{name: "no token", method: "GET", path: "/api/v2/users/auth0|1", status: 401, code: "invalid_token"},
		{name: "garbage token", bearer: "not.a.token", method: "GET", path: "/api/v2/users/auth0|1", status: 401, code: "invalid_token"},
		{name: "other audience", bearer: h.mgmtToken(loginAPI, allMgmtScope), method: "GET", path: "/api/v2/users/auth0|1", status: 401, code: "invalid_token"},
		{name: "missing scope", bearer: h.mgmtToken(managementAudience, "read:users"), method: "POST", path: "/api/v2/users",
			body: `{}`, status: 403, code: "insufficient_scope", message: "Insufficient scope, expected any of: create:users"},
		{name: "read needs read:users", bearer: h.mgmtToken(managementAudience, "create:users"), method: "GET", path: "/api/v2/users-by-email?email=x",
			status: 403, code: "insufficient_scope", message: "Insufficient scope, expected any of: read:users"},
		{name: "delete needs delete:users", bearer: h.mgmtToken(managementAudience, "update:users"), method: "DELETE", path: "/api/v2/users/auth0|1",
			status: 403, code: "insufficient_scope"},
		{name: "app_metadata scope is not enough for name", bearer: h.mgmtToken(managementAudience, "update:users_app_metadata"), method: "PATCH",
			path: "/api/v2/users/auth0|1", body: `{"name":"x"}`, status: 403, code: "insufficient_scope",
			message: "Insufficient scope, expected any of: update:users"},
		{name: "unknown path", bearer: h.mgmtToken(managementAudience, allMgmtScope), method: "GET", path: "/api/v2/clients", status: 404, code: "not_found"},
		{name: "wrong method", bearer: h.mgmtToken(managementAudience, allMgmtScope), method: "PUT", path: "/api/v2/users/1", status: 405, code: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.with(t).api(tt.method, tt.path, tt.bearer, tt.body)
			body := expectMgmtError(t, w, tt.status, tt.code)
			if tt.message != "" && body["message"] != tt.message {
				t.Errorf("message %q, want %q", body["message"], tt.message)
			}
			if tt.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	// app_metadata alone: update:users_app_metadata suffices.
	w := h.api("PATCH", "/api/v2/users/auth0|1", h.mgmtToken(managementAudience, "update:users_app_metadata"), `{"app_metadata":{"tier":"gold"}}`)
	if got := decodeObject(t, w, 200); got["app_metadata"].(map[string]any)["tier"] != "gold" {
		t.Errorf("app_metadata = %v", got["app_metadata"])
	}
	// Without a management block the paths pass to the next handler.
	plain := newHarness(t, nil)
	if w := plain.api("GET", "/api/v2/users/1", "", ""); w.Code != http.StatusTeapot {
		t.Errorf("without management: %d", w.Code)
	}
}

func TestManagementUsers(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	create := func(t *testing.T, body map[string]any) *httptest.ResponseRecorder {
		return h.with(t).api("POST", "/api/v2/users", tok, mustJSON(body))
	}
	base := func(extra ...any) map[string]any {
		m := map[string]any{"email": "new@example.test", "password": newPassword, "connection": "Username-Password-Authentication"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(m, extra[i].(string))
				continue
			}
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}

	w := create(t, base("user_metadata", map[string]any{"city": "Lisbon", "province": "Lisboa"}, "name", "New User", "username", "newbie"))
	u := decodeObject(t, w, 201)
	id, _ := u["user_id"].(string)
	if !strings.HasPrefix(id, "auth0|") || u["email"] != "new@example.test" || u["name"] != "New User" ||
		u["email_verified"] != false || u["blocked"] != false || u["user_metadata"].(map[string]any)["city"] != "Lisbon" {
		t.Fatalf("created user = %v", u)
	}
	if _, ok := u["password_hash"]; ok || strings.Contains(w.Body.String(), "argon2id") {
		t.Fatalf("the hash is returned: %s", w.Body)
	}
	if _, ok := u["created_at"]; !ok {
		t.Errorf("no created_at: %v", u)
	}
	ident := u["identities"].([]any)[0].(map[string]any)
	if ident["connection"] != "Username-Password-Authentication" || ident["provider"] != "auth0" ||
		ident["user_id"] != strings.TrimPrefix(id, "auth0|") || ident["isSocial"] != false {
		t.Errorf("identities = %v", u["identities"])
	}
	// The new user logs in with the password, hashed as argon2id.
	expectToken(t, h.form(passwordForm("username", "new@example.test", "password", newPassword)))

	t.Run("create errors", func(t *testing.T) {
		tests := []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"exists", base(), 409, "auth0_idp_error"},
			{"short password", base("email", "short@example.test", "password", "short"), 400, "invalid_body"},
			{"password is the email", base("email", "same-as-password@example.test", "password", "same-as-password@example.test"), 400, "invalid_body"},
			{"password too long", base("email", "long@example.test", "password", strings.Repeat("x", 1025)), 400, "invalid_body"},
			{"no connection", base("connection", nil), 400, "invalid_body"},
			{"other connection", base("connection", "google-oauth2"), 400, "invalid_body"},
			{"no email", base("email", nil), 400, "invalid_body"},
			{"unknown field", base("password_hash", "$2a$x"), 400, "invalid_body"},
			{"metadata not an object", base("email", "meta@example.test", "user_metadata", "x"), 400, "invalid_body"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := expectMgmtError(t, create(t, tt.body), tt.status, tt.code)
				if tt.status == 409 && body["message"] != "The user already exists." {
					t.Errorf("message %q", body["message"])
				}
			})
		}
		w := h.with(t).api("POST", "/api/v2/users", tok, `{"email":`)
		expectMgmtError(t, w, 400, "invalid_body")
	})

	t.Run("read", func(t *testing.T) {
		got := decodeObject(t, h.with(t).api("GET", "/api/v2/users/"+url.PathEscape(id), tok, ""), 200)
		if got["user_id"] != id || got["email"] != "new@example.test" {
			t.Errorf("read = %v", got)
		}
		expectMgmtError(t, h.with(t).api("GET", "/api/v2/users/auth0|999999", tok, ""), 404, "inexistent_user")
		w := h.with(t).api("GET", "/api/v2/users-by-email?email=new%40example.test", tok, "")
		var list []map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0]["user_id"] != id {
			t.Errorf("by email: %d %s", w.Code, w.Body)
		}
		w = h.with(t).api("GET", "/api/v2/users-by-email?email=nobody%40example.test", tok, "")
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("by email, nobody: %d %s", w.Code, w.Body)
		}
		expectMgmtError(t, h.with(t).api("GET", "/api/v2/users-by-email", tok, ""), 400, "invalid_query_string")
	})

	t.Run("patch merges metadata", func(t *testing.T) {
		w := h.with(t).api("PATCH", "/api/v2/users/"+id, tok,
			`{"user_metadata":{"province":null,"zip":"1000-001"},"app_metadata":{"roles":["admin"],"org_id":"org_acme"},"name":"Renamed","email_verified":true}`)
		got := decodeObject(t, w, 200)
		um := got["user_metadata"].(map[string]any)
		if um["city"] != "Lisbon" || um["zip"] != "1000-001" || um["province"] != nil || len(um) != 2 {
			t.Errorf("user_metadata = %v", um)
		}
		if am := got["app_metadata"].(map[string]any); am["org_id"] != "org_acme" {
			t.Errorf("app_metadata = %v", am)
		}
		if got["name"] != "Renamed" || got["email_verified"] != true || got["username"] != "newbie" {
			t.Errorf("patched = %v", got)
		}
		expectMgmtError(t, h.with(t).api("PATCH", "/api/v2/users/auth0|999999", tok, `{"name":"x"}`), 404, "inexistent_user")
		expectMgmtError(t, h.with(t).api("PATCH", "/api/v2/users/"+id, tok, `{"password":"short"}`), 400, "invalid_body")
		expectMgmtError(t, h.with(t).api("PATCH", "/api/v2/users/"+id, tok, `{"email":"alice@example.test"}`), 409, "auth0_idp_error")
		expectMgmtError(t, h.with(t).api("PATCH", "/api/v2/users/"+id, tok, `{"blocked":"yes"}`), 400, "invalid_body")
	})

	t.Run("delete", func(t *testing.T) {
		if w := h.with(t).api("DELETE", "/api/v2/users/"+id, tok, ""); w.Code != 204 {
			t.Fatalf("delete: %d %s", w.Code, w.Body)
		}
		expectMgmtError(t, h.with(t).api("GET", "/api/v2/users/"+id, tok, ""), 404, "inexistent_user")
		// Again: 204, as Auth0 answers (a retried delete must not fail).
		if w := h.with(t).api("DELETE", "/api/v2/users/"+id, tok, ""); w.Code != 204 {
			t.Errorf("second delete: %d %s, want 204", w.Code, w.Body)
		}
		expectError(t, h.with(t).form(passwordForm("username", "new@example.test", "password", newPassword)), 400, codeInvalidGrant)
	})

	// Every write is an event naming the client and the user, never a
	// password or hash.
	entries := h.logs.FilterLoggerName("events").AllUntimed()
	var types []string
	for _, e := range entries {
		m := e.ContextMap()
		typ, _ := m["type"].(string)
		if !slices.Contains([]string{events.TypeSuccessAPIOperation, events.TypeFailedAPIOperation, events.TypeDeletedUser}, typ) {
			continue
		}
		types = append(types, typ)
		if m["client_id"] != mgmtClient {
			t.Errorf("event without the client: %v", m)
		}
		if typ != events.TypeFailedAPIOperation && m["user_id"] != strings.TrimPrefix(id, "auth0|") {
			t.Errorf("event without the user: %v", m)
		}
	}
	for _, want := range []string{events.TypeSuccessAPIOperation, events.TypeFailedAPIOperation, events.TypeDeletedUser} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	lines := testkit.EntryLines(h.logs.All())
	testkit.AssertNoSecretsLogged(t, "log", lines, []string{newPassword, "$argon2id$"})
}

func TestManagementSQLLookingValuesAreData(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	nasty := []string{`'; DROP TABLE users; --`, `" OR "1"="1`, `back\slash \' \\`, "semi;colon -- comment /* x */", `:user_id ? %s`}
	meta := map[string]any{}
	for i, v := range nasty {
		meta["k"+strconv.Itoa(i)] = v
	}
	body := map[string]any{"email": "o'brien+x@example.test", "password": newPassword, "connection": "Username-Password-Authentication",
		"name": nasty[0], "nickname": nasty[2], "username": nasty[1], "user_metadata": meta, "app_metadata": map[string]any{nasty[0]: nasty[3]}}
	u := decodeObject(t, h.api("POST", "/api/v2/users", tok, mustJSON(body)), 201)
	got := decodeObject(t, h.api("GET", "/api/v2/users/"+u["user_id"].(string), tok, ""), 200)
	if got["email"] != body["email"] || got["name"] != nasty[0] || got["nickname"] != nasty[2] || got["username"] != nasty[1] {
		t.Errorf("read back %v", got)
	}
	for k, v := range meta {
		if got["user_metadata"].(map[string]any)[k] != v {
			t.Errorf("user_metadata[%s] = %q, want %q", k, got["user_metadata"].(map[string]any)[k], v)
		}
	}
	if got["app_metadata"].(map[string]any)[nasty[0]] != nasty[3] {
		t.Errorf("app_metadata = %v", got["app_metadata"])
	}
	// The table is still there, and so are the other users.
	w := h.api("GET", "/api/v2/users-by-email?email="+url.QueryEscape(alice), tok, "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), alice) {
		t.Errorf("alice after: %d %s", w.Code, w.Body)
	}
	w = h.api("GET", "/api/v2/users-by-email?email="+url.QueryEscape(nasty[0]), tok, "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "[]" {
		t.Errorf("by a SQL-looking email: %d %s", w.Code, w.Body)
	}
}

func TestManagementRolesMembersBlocks(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	roles := func(query string) string {
		w := h.api("GET", "/api/v2/users/auth0|3/roles"+query, tok, "")
		if w.Code != 200 {
			t.Fatalf("roles%s: %d %s", query, w.Code, w.Body)
		}
		return strings.TrimSpace(w.Body.String())
	}
	if got := roles(""); got != `[{"description":"viewer","id":"viewer","name":"viewer"}]` {
		t.Errorf("carol's roles = %s", got)
	}
	if w := h.api("POST", "/api/v2/users/auth0|3/roles", tok, `{"roles":["admin","editor"]}`); w.Code != 204 {
		t.Fatalf("assign: %d %s", w.Code, w.Body)
	}
	if got := roles("?per_page=2&page=0&include_totals=true"); got !=
		`{"limit":2,"roles":[{"description":"admin","id":"admin","name":"admin"},{"description":"editor","id":"editor","name":"editor"}],"start":0,"total":3}` {
		t.Errorf("page 0 = %s", got)
	}
	if got := roles("?per_page=2&page=1"); got != `[{"description":"viewer","id":"viewer","name":"viewer"}]` {
		t.Errorf("page 1 = %s", got)
	}
	if got := roles("?per_page=2&page=5&include_totals=true"); got != `{"limit":2,"roles":[],"start":10,"total":3}` {
		t.Errorf("past the end = %s", got)
	}
	expectMgmtError(t, h.api("GET", "/api/v2/users/auth0|3/roles?per_page=0", tok, ""), 400, "invalid_query_string")
	expectMgmtError(t, h.api("GET", "/api/v2/users/auth0|3/roles?include_totals=maybe", tok, ""), 400, "invalid_query_string")
	if w := h.api("DELETE", "/api/v2/users/auth0|3/roles", tok, `{"roles":["editor"]}`); w.Code != 204 {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if got := roles(""); !strings.Contains(got, "admin") || strings.Contains(got, "editor") {
		t.Errorf("after removal = %s", got)
	}
	expectMgmtError(t, h.api("POST", "/api/v2/users/auth0|999/roles", tok, `{"roles":["admin"]}`), 404, "inexistent_user")
	expectMgmtError(t, h.api("POST", "/api/v2/users/auth0|3/roles", tok, `{"roles":[]}`), 400, "invalid_body")
	expectMgmtError(t, h.api("POST", "/api/v2/users/auth0|3/roles", tok, `{"role":["x"]}`), 400, "invalid_body")

	// Organizations: dave (4) joins org_acme, then logs in for it.
	orgLogin := func() *httptest.ResponseRecorder {
		return h.form(passwordForm("username", "dave@example.test", "password", testkit.DemoUser(t, "dave@example.test").Password, "organization", "org_acme"))
	}
	expectError(t, orgLogin(), http.StatusForbidden, codeAccessDenied)
	if w := h.api("POST", "/api/v2/organizations/org_acme/members", tok, `{"members":["auth0|4"]}`); w.Code != 204 {
		t.Fatalf("add member: %d %s", w.Code, w.Body)
	}
	tr, _ := expectToken(t, orgLogin())
	if _, claims := testkit.JWTParts(t, tr.AccessToken); claims["org_id"] != "org_acme" {
		t.Errorf("org_id = %v", claims["org_id"])
	}
	if w := h.api("DELETE", "/api/v2/organizations/org_acme/members", tok, `{"members":["auth0|4"]}`); w.Code != 204 {
		t.Fatalf("remove member: %d %s", w.Code, w.Body)
	}
	expectError(t, orgLogin(), http.StatusForbidden, codeAccessDenied)
	expectMgmtError(t, h.api("POST", "/api/v2/organizations/org_acme/members", tok, `{"members":["auth0|999"]}`), 404, "inexistent_user")

	// User blocks: bob locked out by failures, unblocked through the API.
	for range 10 {
		h.form(passwordForm("username", bob, "password", "wrong"))
	}
	expectError(t, h.form(passwordForm("username", bob, "password", bobPassword)), http.StatusTooManyRequests, codeTooManyAttempts)
	if w := h.api("DELETE", "/api/v2/user-blocks/auth0|2", tok, ""); w.Code != 204 {
		t.Fatalf("unblock: %d %s", w.Code, w.Body)
	}
	expectToken(t, h.form(passwordForm("username", bob, "password", bobPassword)))
	expectMgmtError(t, h.api("DELETE", "/api/v2/user-blocks/auth0|999", tok, ""), 404, "inexistent_user")
}

func TestManagementMissingStatement(t *testing.T) {
	h := newMgmtHarness(t, func(a *app.App) { a.Management = &app.ManagementConfig{} })
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	tests := []struct{ method, path, body, directive string }{
		{"POST", "/api/v2/users", `{"email":"x@example.test","password":"` + newPassword + `","connection":"Username-Password-Authentication"}`, "create_user"},
		{"PATCH", "/api/v2/users/auth0|1", `{"name":"x"}`, "update_user"},
		{"DELETE", "/api/v2/users/auth0|1", "", "delete_user"},
		{"POST", "/api/v2/users/auth0|1/roles", `{"roles":["admin"]}`, "assign_role"},
		{"DELETE", "/api/v2/organizations/org_acme/members", `{"members":["1"]}`, "remove_member"},
	}
	for _, tt := range tests {
		t.Run(tt.directive, func(t *testing.T) {
			body := expectMgmtError(t, h.with(t).api(tt.method, tt.path, tok, tt.body), 501, "not_implemented")
			if !strings.Contains(body["message"].(string), tt.directive) {
				t.Errorf("message %q does not name %s", body["message"], tt.directive)
			}
		})
	}
	// Reads need no management statement.
	decodeObject(t, h.api("GET", "/api/v2/users/auth0|1", tok, ""), 200)
}

// TestManagementConcurrentPatches: 20 PATCHes of one user at once, each
// adding its own key, lose none (SELECT … FOR UPDATE in one transaction;
// the embedded server serializes transactions, see demodb/serial.go).
func TestManagementConcurrentPatches(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"user_metadata":{"key%02d":%d},"app_metadata":{"app%02d":true}}`, i, i, i)
			codes[i] = h.api("PATCH", "/api/v2/users/auth0|3", tok, body).Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("patch %d: status %d", i, c)
		}
	}
	got := decodeObject(t, h.api("GET", "/api/v2/users/auth0|3", tok, ""), 200)
	um, am := got["user_metadata"].(map[string]any), got["app_metadata"].(map[string]any)
	var missing []string
	for i := range n {
		if _, ok := um[fmt.Sprintf("key%02d", i)]; !ok {
			missing = append(missing, fmt.Sprintf("key%02d", i))
		}
		if _, ok := am[fmt.Sprintf("app%02d", i)]; !ok {
			missing = append(missing, fmt.Sprintf("app%02d", i))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("lost updates: %v", missing)
	}
}

// TestManagementRevokes: a password change, a block or a delete ends the
// user's refresh tokens at once, and the old password fails.
func TestManagementRevokes(t *testing.T) {
	for _, tt := range []struct {
		name, method, body string
	}{
		{"password change", "PATCH", `{"password":"` + newPassword + `"}`},
		{"block", "PATCH", `{"blocked":true}`},
		{"delete", "DELETE", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newMgmtHarness(t, nil)
			tok := h.mgmtToken(managementAudience, allMgmtScope)
			login := func(pw string) *httptest.ResponseRecorder {
				return h.form(passwordForm("username", alice, "password", pw, "scope", "openid offline_access"))
			}
			tr, _ := expectToken(t, login(alicePassword))
			tr2, _ := expectToken(t, login(alicePassword))
			if w := h.api(tt.method, "/api/v2/users/auth0|1", tok, tt.body); w.Code/100 != 2 {
				t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
			}
			for _, rt := range []string{tr.RefreshToken, tr2.RefreshToken} {
				expectError(t, h.form(testkit.RefreshForm(webClient, webSecret, rt)), http.StatusBadRequest, codeInvalidGrant)
			}
			var live int
			if err := storetest.Open(t, h.dsn).QueryRow("SELECT COUNT(*) FROM claimgate_refresh_tokens WHERE user_id = '1' AND revoked_at = 0").Scan(&live); err != nil {
				t.Fatal(err)
			}
			if live != 0 {
				t.Errorf("%d refresh tokens still live", live)
			}
			expectError(t, login(alicePassword), http.StatusBadRequest, codeInvalidGrant)
			if tt.name == "password change" {
				expectToken(t, login(newPassword))
			} else {
				expectError(t, login(newPassword), http.StatusBadRequest, codeInvalidGrant)
			}
		})
	}
}

// TestManagementMeasure quotes the cost of a create (argon2id hashing
// included) and of a metadata patch: CLAIMGATE_MEASURE=1.
func TestManagementMeasure(t *testing.T) {
	if os.Getenv("CLAIMGATE_MEASURE") != "1" {
		t.Skip("set CLAIMGATE_MEASURE=1")
	}
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	const runs = 25
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	var creates, patches []time.Duration
	for i := range runs {
		body := fmt.Sprintf(`{"email":"m%d@example.test","password":"%s","connection":"Username-Password-Authentication","user_metadata":{"city":"Lisbon"}}`, i, newPassword)
		start := time.Now()
		w := h.api("POST", "/api/v2/users", tok, body)
		creates = append(creates, time.Since(start))
		if w.Code != 201 {
			t.Fatalf("create: %d %s", w.Code, w.Body)
		}
	}
	for i := range runs {
		start := time.Now()
		w := h.api("PATCH", "/api/v2/users/auth0|3", tok, fmt.Sprintf(`{"user_metadata":{"k%d":%d}}`, i, i))
		patches = append(patches, time.Since(start))
		if w.Code != 200 {
			t.Fatalf("patch: %d %s", w.Code, w.Body)
		}
	}
	t.Logf("median of %d: create %s (argon2id m=19MiB t=2 included), patch %s", runs, median(creates), median(patches))
}
