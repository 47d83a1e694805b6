package login

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/testkit"
)

// Machine clients of the client_credentials tests.
const (
	adminBackend       = "admin-backend"
	adminBackendSecret = "admin-backend-secret"
	cronClient         = "cron" // one audience, no scopes
	cronSecret         = "cron-secret"
	mgmtAudience       = "https://auth.example.test/api/v2/"
)

// withMachineClients adds the machine clients to the test configuration.
func withMachineClients(a *app.App) {
	a.Clients = append(a.Clients,
		&app.ClientConfig{ID: adminBackend, Secret: adminBackendSecret, Audiences: []string{mgmtAudience, loginAPI},
			Grants: []string{"client_credentials"}, Scopes: []string{"read:users", "create:users", "update:users"}},
		&app.ClientConfig{ID: cronClient, Secret: cronSecret, Audiences: []string{loginAPI},
			Grants: []string{"client_credentials"}},
	)
}

// machineForm is a client_credentials request by the admin backend
// (client_secret_post), with testkit.Overrides.
func machineForm(extra ...string) url.Values {
	v := url.Values{
		"grant_type":    {grant.TypeClientCredentials},
		"client_id":     {adminBackend},
		"client_secret": {adminBackendSecret},
		"audience":      {mgmtAudience},
	}
	return testkit.Overrides(v, extra...)
}

// TestClientCredentials: the access token of a machine client is Auth0's —
// sub <client_id>@clients, gty, azp, the client's scopes — without ID
// token, refresh token or any claim rule's output.
func TestClientCredentials(t *testing.T) {
	h := newHarness(t, withMachineClients)

	tok, raw := expectToken(t, h.form(machineForm("scope", "")))
	for _, k := range []string{"id_token", "refresh_token"} {
		if _, ok := raw[k]; ok {
			t.Errorf("client_credentials answered a %s", k)
		}
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || tok.Scope != "read:users create:users update:users" {
		t.Errorf("token response %+v", tok)
	}
	header, claims := h.parseJWT(tok.AccessToken)
	if header["typ"] != "at+jwt" {
		t.Errorf("typ %v", header["typ"])
	}
	want := map[string]any{
		"sub": adminBackend + "@clients", "gty": "client-credentials", "azp": adminBackend,
		"client_id": adminBackend, "aud": mgmtAudience, "scope": "read:users create:users update:users",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	for _, k := range []string{rolesClaim, cityClaim, "permissions", "email", "org_id"} {
		if _, ok := claims[k]; ok {
			t.Errorf("machine token has %s (rules and user claims are not for machines)", k)
		}
	}
	if claims["jti"] == "" || claims["exp"] == nil || claims["iat"] == nil {
		t.Errorf("missing jti/exp/iat: %v", claims)
	}

	t.Run("requested subset, Basic, JSON", func(t *testing.T) {
		w := h.jsonPost(map[string]string{"grant_type": "client_credentials", "audience": loginAPI,
			"scope": "create:users read:users create:users"}, "Authorization", clientBasic(adminBackend, adminBackendSecret))
		tok, _ := expectToken(t, w)
		_, claims := h.parseJWT(tok.AccessToken)
		if tok.Scope != "create:users read:users" || claims["scope"] != tok.Scope || claims["aud"] != loginAPI {
			t.Errorf("scope %q, claims %v", tok.Scope, claims)
		}
	})
	t.Run("the only audience by default, no scopes", func(t *testing.T) {
		tok, raw := expectToken(t, h.form(url.Values{"grant_type": {"client_credentials"},
			"client_id": {cronClient}, "client_secret": {cronSecret}}))
		_, claims := h.parseJWT(tok.AccessToken)
		if claims["aud"] != loginAPI || claims["sub"] != cronClient+"@clients" {
			t.Errorf("claims %v", claims)
		}
		if _, ok := raw["scope"]; ok {
			t.Errorf("scope answered for a client without scopes: %v", raw)
		}
		if _, ok := claims["scope"]; ok {
			t.Errorf("scope claim for a client without scopes: %v", claims)
		}
	})
}

// TestClientCredentialsRefusals: each refusal in the documented order.
func TestClientCredentialsRefusals(t *testing.T) {
	h := newHarness(t, withMachineClients)
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong secret", machineForm("client_secret", "nope"), 401, codeInvalidClient},
		{"no secret", machineForm("client_secret", ""), 401, codeInvalidClient},
		{"unknown client", machineForm("client_id", "nobody"), 401, codeInvalidClient},
		{"client without the grant", machineForm("client_id", webClient, "client_secret", webSecret), 400, codeUnauthorizedClient},
		{"public client", machineForm("client_id", spaClient, "client_secret", ""), 400, codeUnauthorizedClient},
		{"audience required with several", machineForm("audience", ""), 400, codeInvalidRequest},
		{"audience not the client's", machineForm("audience", loginAPI2), 400, codeInvalidTarget},
		{"audience before scope", machineForm("audience", loginAPI2, "scope", "nope"), 400, codeInvalidTarget},
		{"scope not the client's", machineForm("scope", "read:users delete:users"), 400, codeInvalidScope},
		{"openid: there is no user", machineForm("scope", "openid"), 400, codeInvalidScope},
		{"offline_access: no refresh tokens", machineForm("scope", "offline_access"), 400, codeInvalidScope},
	} {
		t.Run(c.name, func(t *testing.T) {
			expectError(t, h.with(t).form(c.form), c.status, c.code)
		})
	}
}

// TestClientCredentialsEvents: seccft and feccft name the client (the
// metrics are scraped in integration/management_test.go).
func TestClientCredentialsEvents(t *testing.T) {
	h := newHarness(t, withMachineClients)
	tok, _ := expectToken(t, h.form(machineForm()))
	expectError(t, h.form(machineForm("scope", "delete:users")), http.StatusBadRequest, codeInvalidScope)
	expectError(t, h.form(machineForm("client_secret", "wrong")), http.StatusUnauthorized, codeInvalidClient)

	entries := h.logs.FilterLoggerName("events").AllUntimed()
	want := []string{events.TypeSuccessClientCredentials, events.TypeFailedClientCredentials, events.TypeFailedClientCredentials}
	if len(entries) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(entries), len(want), testkit.EntryLines(entries))
	}
	for i, e := range entries {
		m := e.ContextMap()
		if m["type"] != want[i] {
			t.Errorf("event %d: type %v, want %s", i, m["type"], want[i])
		}
		if m["client_id"] != adminBackend {
			t.Errorf("event %d: client_id %v", i, m["client_id"])
		}
		if _, ok := m["user_id"]; ok {
			t.Errorf("event %d names a user: %v", i, m)
		}
	}
	testkit.AssertNoSecretsLogged(t, "events", testkit.EntryLines(entries), testkit.Secrets(tok.AccessToken, adminBackendSecret))

}

// TestDiscoveryListsClientCredentials: the grant is listed once a
// confidential client has it.
func TestDiscoveryListsClientCredentials(t *testing.T) {
	h := newHarness(t, withMachineClients)
	if doc := h.login.discovery(); !slices.Contains(doc.GrantTypesSupported, grant.TypeClientCredentials) {
		t.Errorf("grant_types_supported = %v", doc.GrantTypesSupported)
	}
	h = newHarness(t, nil)
	if doc := h.login.discovery(); slices.Contains(doc.GrantTypesSupported, grant.TypeClientCredentials) {
		t.Errorf("grant_types_supported = %v without a machine client", doc.GrantTypesSupported)
	}
}
