package login

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/internal/testkit"
)

// TestStockOIDCClient runs the authorization code flow with PKCE as a
// stock client library does (golang.org/x/oauth2, a test-only dependency),
// configured from the discovery document alone, over real HTTPS.
func TestStockOIDCClient(t *testing.T) {
	var h *harness
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := caddyHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			http.NotFound(w, r)
			return nil
		})
		if err := h.login.ServeHTTP(w, r, next); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	issuer := "https://" + srv.Listener.Addr().String() + "/"
	h = newHarness(t, func(a *app.App) { a.Issuer = issuer; browserApp(a) })
	srv.StartTLS()
	defer srv.Close()

	// Discovery is all the client knows.
	resp, err := srv.Client().Get(issuer + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc := decodeJSON(t, body)
	conf := oauth2.Config{
		ClientID:    pkceClient,
		RedirectURL: pkceRedirect,
		Scopes:      []string{"openid", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: doc["authorization_endpoint"].(string),
			TokenURL: doc["token_endpoint"].(string), AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("xyz-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "abc"))

	// The user's browser: cookies, and it stops at the app's callback.
	jar, _ := cookiejar.New(nil)
	browser := srv.Client()
	browser.Jar = jar
	browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), pkceRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	page, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	pageBody, _ := io.ReadAll(page.Body)
	page.Body.Close()
	action := formActionRE.FindStringSubmatch(string(pageBody))
	csrf := csrfRE.FindStringSubmatch(string(pageBody))
	if page.StatusCode != http.StatusOK || action == nil || csrf == nil {
		t.Fatalf("authorize: %d %s", page.StatusCode, pageBody)
	}
	form := url.Values{"csrf_token": {html.UnescapeString(csrf[1])}, "username": {alice}, "password": {alicePassword}}
	post, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(issuer, "/")+html.UnescapeString(action[1]),
		strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Origin", strings.TrimSuffix(issuer, "/"))
	done, err := browser.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	done.Body.Close()
	loc, err := url.Parse(done.Header.Get("Location"))
	if err != nil || done.StatusCode != http.StatusSeeOther || loc.Query().Get("state") != "xyz-state" {
		t.Fatalf("login post: %d Location %q", done.StatusCode, done.Header.Get("Location"))
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if tok.AccessToken == "" || tok.RefreshToken == "" || idToken == "" {
		t.Fatalf("tokens %+v, want access, refresh and ID tokens", tok)
	}
	// The claims only: the signature is the verifier's business, tested
	// elsewhere; this checks what the library handed over.
	if _, claims := testkit.JWTParts(t, idToken); claims["nonce"] != "abc" || claims["aud"] != pkceClient || claims["iss"] != issuer {
		t.Errorf("ID token claims %v", claims)
	}
	// The library's refresh works too.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh through the library: %v", err)
	}
}
