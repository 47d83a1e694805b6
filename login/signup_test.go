package login

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/testkit"
)

// signupCreateUser is the demo table's create_user statement.
const signupCreateUser = "INSERT INTO users (email, password_hash, username, name, nickname, picture, email_verified, blocked, app_metadata, user_metadata) " +
	"VALUES (:email, :password_hash, :username, :name, :nickname, :picture, :email_verified, :blocked, :app_metadata, :user_metadata)"

// signupUserIDQuery reads a demo user by id.
const signupUserIDQuery = "SELECT id AS user_id, email, email_verified, username, name, nickname, picture, " +
	"password_hash, blocked, app_metadata, user_metadata FROM users WHERE id = ?"

// withSignup gives the test configuration a management block with
// create_user and the SPA client `signup on`.
func withSignup(a *app.App) {
	a.Database.UserIDQuery = signupUserIDQuery
	a.Management = &app.ManagementConfig{CreateUser: signupCreateUser, Hash: "bcrypt", BcryptCost: 10}
	for _, c := range a.Clients {
		if c.ID == spaClient {
			c.Signup = true
		}
	}
}

// signupBody is an Auth0 SDK sign-up body for the SPA client, with kv
// overriding (a nil value removes the property).
func signupBody(kv ...any) string {
	body := map[string]any{
		"client_id":     spaClient,
		"email":         "new.user@example.test",
		"password":      "a long enough password",
		"connection":    testkit.Realm,
		"user_metadata": map[string]any{"city": "Montréal"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(body, k)
			continue
		}
		body[k] = kv[i+1]
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func (h *harness) signup(body string, ip ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := loginRequest{path: pathSignup, contentType: jsonType, body: body}
	if len(ip) > 0 {
		req.ip = ip[0]
	}
	return h.do(req)
}

// signupAnswer is the Authentication API's error body.
type signupAnswer struct {
	Name        string `json:"name"`
	Code        string `json:"code"`
	Description string `json:"description"`
	StatusCode  int    `json:"statusCode"`
}

func expectSignupError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) signupAnswer {
	t.Helper()
	var a signupAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Code != status || a.Code != code || a.StatusCode != status || a.Name == "" || a.Description == "" {
		t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, status, code)
	}
	return a
}

// TestSignup: a sign-up creates the user with its user_metadata and never
// its app_metadata; the user then logs in.
func TestSignup(t *testing.T) {
	h := newHarness(t, withSignup)
	w := h.signup(signupBody("app_metadata", map[string]any{"roles": []string{"admin"}}, "name", "New User"))
	if w.Code != http.StatusOK {
		t.Fatalf("sign-up: %d %s", w.Code, w.Body)
	}
	var got map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &got)
	if got["_id"] == "" || got["_id"] == nil || got["email"] != "new.user@example.test" || got["email_verified"] != false {
		t.Errorf("answer %v", got)
	}
	if _, ok := got["app_metadata"]; ok {
		t.Errorf("answer has app_metadata: %v", got)
	}

	tok, _ := expectToken(t, h.form(testkit.PasswordForm(webClient, webSecret, "username", "new.user@example.test",
		"password", "a long enough password")))
	_, claims := h.parseJWT(tok.AccessToken)
	if claims[cityClaim] != "Montréal" {
		t.Errorf("city claim %v", claims[cityClaim])
	}
	if roles, _ := claims[rolesClaim].([]any); len(roles) != 0 {
		t.Errorf("a sign-up set its own roles: %v", roles)
	}
	user, err := h.app.ManagementAPI().FindUserByEmail(t.Context(), "new.user@example.test")
	if err != nil || user == nil {
		t.Fatalf("user: %v %v", user, err)
	}
	if len(user.AppMetadata) != 0 || user.Blocked || user.Attributes["name"] != "New User" {
		t.Errorf("stored user %+v", user)
	}

	t.Run("form body", func(t *testing.T) {
		w := h.with(t).do(loginRequest{path: pathSignup, contentType: formType, body: url.Values{
			"client_id": {spaClient}, "email": {"form.user@example.test"}, "password": {"another fine password"},
			"connection": {testkit.Realm}, "user_metadata": {`{"city":"Laval"}`}}.Encode()})
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

// TestSignupRefusals: each refusal in Auth0's shape; an existing email gets
// the answer other refusals get, and a weak password is refused alike
// whether or not the email exists.
func TestSignupRefusals(t *testing.T) {
	h := newHarness(t, withSignup)
	for _, c := range []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"existing email", signupBody("email", alice), 400, "invalid_signup"},
		{"existing username", signupBody("email", "x1@example.test", "username", "alice"), 400, "invalid_signup"},
		{"weak password, existing email", signupBody("email", alice, "password", "short"), 400, "invalid_password"},
		{"weak password, new email", signupBody("email", "x2@example.test", "password", "short"), 400, "invalid_password"},
		{"password is the email", signupBody("email", "x3@example.test", "password", "x3@example.test"), 400, "invalid_password"},
		{"client without signup", signupBody("client_id", webClient), 403, "unauthorized"},
		{"unknown client", signupBody("client_id", "nobody"), 403, "unauthorized"},
		{"no client", signupBody("client_id", nil), 403, "unauthorized"},
		{"no email", signupBody("email", nil), 400, "invalid_body"},
		{"no password", signupBody("password", nil), 400, "invalid_body"},
		{"no connection", signupBody("connection", nil), 400, "invalid_body"},
		{"other connection", signupBody("connection", "google-oauth2"), 400, "invalid_connection"},
		{"metadata not an object", signupBody("user_metadata", "x"), 400, "invalid_body"},
		{"metadata value not a string", signupBody("user_metadata", map[string]any{"n": 1}), 400, "invalid_body"},
		{"email not a string", signupBody("email", 1), 400, "invalid_body"},
		{"malformed JSON", `{"client_id":`, 400, "invalid_body"},
		{"SQL as data", signupBody("email", "x'); DROP TABLE users; --@example.test", "name", "'; DELETE FROM users; --"), 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := h.with(t).signup(c.body)
			if c.status == 200 {
				if w.Code != 200 {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				return
			}
			expectSignupError(t, w, c.status, c.code)
		})
	}
	// Another spelling of an existing email is refused exactly when the
	// table's collation makes it the same user (MariaDB's default does;
	// the embedded server's is binary).
	upper := strings.ToUpper(alice)
	if u, err := h.app.ManagementAPI().FindUserByEmail(t.Context(), upper); err != nil {
		t.Fatal(err)
	} else if u != nil {
		expectSignupError(t, h.signup(signupBody("email", upper)), 400, "invalid_signup")
	}
	// The existing email's answer is the generic one, word for word.
	a := expectSignupError(t, h.signup(signupBody("email", alice)), 400, "invalid_signup")
	if a.Description != "Invalid sign up." || strings.Contains(strings.ToLower(a.Description), "exist") {
		t.Errorf("description %q", a.Description)
	}
	// Logins still work: the SQL-looking values were data.
	expectToken(t, h.form(passwordForm()))

	t.Run("method", func(t *testing.T) {
		w := h.with(t).do(loginRequest{method: http.MethodGet, path: pathSignup})
		expectSignupError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
		if w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("Allow %q", w.Header().Get("Allow"))
		}
	})
}

// TestSignupSpendsIPBudget: every judged sign-up spends one attempt of the
// IP's daily budget, success included; past it the IP gets 429, at sign-up
// and at login.
func TestSignupSpendsIPBudget(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		withSignup(a)
		a.Protection = &app.ProtectionConfig{IPFailuresPerDay: 3}
	})
	const ip = "198.51.100.20"
	if w := h.signup(signupBody("email", "b1@example.test"), ip); w.Code != 200 {
		t.Fatalf("sign-up 1: %d %s", w.Code, w.Body)
	}
	expectSignupError(t, h.signup(signupBody("email", alice), ip), 400, "invalid_signup")
	expectSignupError(t, h.signup(signupBody("email", "b2@example.test", "password", "short"), ip), 400, "invalid_password")
	w := h.signup(signupBody("email", "b3@example.test"), ip)
	expectSignupError(t, w, http.StatusTooManyRequests, "too_many_attempts")
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	expectError(t, h.formFrom(ip, passwordForm()), http.StatusTooManyRequests, codeTooManyAttempts)
	// Another address is not affected.
	if w := h.signup(signupBody("email", "b4@example.test"), "198.51.100.21"); w.Code != 200 {
		t.Fatalf("sign-up from another IP: %d %s", w.Code, w.Body)
	}
}

// TestSignupEvents: ss names the client and the new user; fs names the
// client, and the existing user when the email had an account — in the
// event only, never in the answer. No event holds the password.
func TestSignupEvents(t *testing.T) {
	h := newHarness(t, withSignup)
	pw := "a long enough password"
	if w := h.signup(signupBody()); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	expectSignupError(t, h.signup(signupBody("email", alice)), 400, "invalid_signup")
	expectSignupError(t, h.signup(signupBody("client_id", webClient)), 403, "unauthorized")

	entries := h.logs.FilterLoggerName("events").AllUntimed()
	want := []string{events.TypeSuccessSignup, events.TypeFailedSignup, events.TypeFailedSignup}
	if len(entries) != len(want) {
		t.Fatalf("%d events: %v", len(entries), testkit.EntryLines(entries))
	}
	for i, e := range entries {
		m := e.ContextMap()
		if m["type"] != want[i] {
			t.Errorf("event %d: %v, want %s", i, m["type"], want[i])
		}
	}
	if m := entries[0].ContextMap(); m["client_id"] != spaClient || m["user_id"] == nil {
		t.Errorf("ss %v", m)
	}
	if m := entries[1].ContextMap(); m["user_id"] == nil {
		t.Errorf("fs for an existing email does not name the user: %v", m)
	}
	if m := entries[2].ContextMap(); m["client_id"] != webClient {
		t.Errorf("fs %v", m)
	}
	testkit.AssertNoSecretsLogged(t, "events", testkit.EntryLines(h.logs.All()), testkit.Secrets(pw))
}

// TestSignupNeedsCreateUser: `signup on` without create_user is refused at
// load; without a management block the path is the next handler's.
func TestSignupNeedsCreateUser(t *testing.T) {
	a := loginTestApp("root@tcp(127.0.0.1:3306)/claimgate")
	a.Clients[1].Signup = true
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "create_user") {
		t.Errorf("Validate: %v", err)
	}
	h := newHarness(t, nil)
	if w := h.signup(signupBody()); w.Code != http.StatusTeapot {
		t.Errorf("without a management block: %d", w.Code)
	}
}
