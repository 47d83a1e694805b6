package testkit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/claimgate/claimgate/demo/demodb"
)

// TestFixturesMatchTheDemoDatabase: the password constants are the demo
// users' own.
func TestFixturesMatchTheDemoDatabase(t *testing.T) {
	for email, password := range map[string]string{
		Alice: AlicePassword, Bob: BobPassword, Carol: CarolPassword,
		Dave: DavePassword, Eve: EvePassword, Frank: FrankPassword,
	} {
		if got := DemoUser(t, email).Password; got != password {
			t.Errorf("%s: demo password %q, fixture %q", email, got, password)
		}
	}
	if len(Secrets()) != 4+len(demodb.DemoUsers) {
		t.Errorf("Secrets() = %d entries", len(Secrets()))
	}
}

func TestForms(t *testing.T) {
	got := PasswordForm(WebClient, WebSecret, "scope", "openid", "client_secret", "", "username", Bob)
	want := url.Values{"grant_type": {"password"}, "username": {Bob}, "password": {AlicePassword},
		"client_id": {WebClient}, "scope": {"openid"}}
	if got.Encode() != want.Encode() {
		t.Errorf("PasswordForm = %s, want %s", got.Encode(), want.Encode())
	}
	if got := PasswordForm(SPAClient, ""); got.Has("client_secret") {
		t.Errorf("public client form %s has a secret", got.Encode())
	}
	if got := RefreshForm(WebClient, WebSecret, "r1", "scope", "read:orders").Encode(); got !=
		"client_id=web-backend&client_secret=web-secret&grant_type=refresh_token&refresh_token=r1&scope=read%3Aorders" {
		t.Errorf("RefreshForm = %s", got)
	}
	if got := BasicAuth("a b", OddSecret); got != "Basic YStiOnMzY3IlM0FldCUyQiUyRiUyNSUyNiUzRCslQzMlQTk=" {
		t.Errorf("BasicAuth = %s", got)
	}
}

func TestAnswers(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Wrong email or password."}`)
	if e := ExpectError(t, Recorded(w), 400, "invalid_grant"); e.Description != WrongCredentials {
		t.Errorf("description %q", e.Description)
	}

	tr, raw := DecodeToken(t, []byte(`{"access_token":"x","token_type":"Bearer","expires_in":3600}`))
	if tr.AccessToken != "x" || tr.ExpiresIn != 3600 {
		t.Errorf("token %+v", tr)
	}
	if _, ok := raw["id_token"]; ok {
		t.Error("absent id_token in raw")
	}

	header, claims := JWTParts(t, "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
	if header["alg"] != "ES256" || claims["sub"] != "1" {
		t.Errorf("header %v claims %v", header, claims)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Add(time.Hour)
	if !c.Now().Equal(start.Add(time.Hour)) {
		t.Errorf("Now = %v", c.Now())
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("Now = %v", c.Now())
	}
}

// errorRecorder is a testing.TB that records Errorf calls.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Helper() {}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestAssertNoSecretsLogged(t *testing.T) {
	r := &errorRecorder{TB: t}
	lines := LogLines([]byte("login failed user=ab12\n" +
		"token request refused password=" + BobPassword + "\n" +
		"issued eyJhbGciOi.x.y\n" +
		"custom my-own-secret\n"))
	AssertNoSecretsLogged(r, "the log", lines, Secrets("my-own-secret", ""))
	if len(r.errors) != 3 {
		t.Errorf("%d findings, want 3: %q", len(r.errors), r.errors)
	}
	r.errors = nil
	AssertNoSecretsLogged(r, "the log", lines[:1], Secrets())
	if len(r.errors) != 0 {
		t.Errorf("findings in a clean log: %q", r.errors)
	}
}
