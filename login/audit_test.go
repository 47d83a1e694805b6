package login

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/metrics"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// TestOutcomeOf maps every answer of the token endpoint to its
// claimgate_logins_total outcome.
func TestOutcomeOf(t *testing.T) {
	for _, c := range []struct {
		name string
		e    *oauthError
		want metrics.Outcome
	}{
		{"tokens", nil, metrics.OutcomeSuccess},
		{"bad credentials", fromGrant(badCreds(grant.WrongPassword), false), metrics.OutcomeWrongCredentials},
		{"bad credentials, auth0 403", fromGrant(badCreds(grant.UnknownUser), true), metrics.OutcomeWrongCredentials},
		{"invalid refresh token", fromGrant(fmt.Errorf("%w: x", grant.ErrInvalidRefresh), false), metrics.OutcomeWrongCredentials},
		{"blocked", fromGrant(&grant.BlockedError{Reason: "user_ip"}, false), metrics.OutcomeBlocked},
		{"denied by a rule", fromGrant(&grant.DeniedError{Message: "no"}, false), metrics.OutcomeDenied},
		{"not a member", fromGrant(grant.ErrNotMember, false), metrics.OutcomeDenied},
		{"database down", fromGrant(&grant.UnavailableError{Description: "down"}, false), metrics.OutcomeUnavailable},
		{"misconfigured", fromGrant(fmt.Errorf("%w: x", grant.ErrMisconfigured), false), metrics.OutcomeUnavailable},
		{"claims too large", fromGrant(grant.ErrClaimsTooLarge, false), metrics.OutcomeUnavailable},
		{"invalid scope", fromGrant(&grant.Refusal{Err: grant.ErrInvalidScope, Description: "no"}, false), metrics.OutcomeInvalidRequest},
		{"unknown client", errInvalidClient(false), metrics.OutcomeInvalidClient},
		{"grant not allowed", newOAuthError(http.StatusBadRequest, codeUnauthorizedClient, "x"), metrics.OutcomeInvalidClient},
		{"missing password", errInvalidRequest("Missing username or password."), metrics.OutcomeInvalidRequest},
		{"audience", newOAuthError(http.StatusBadRequest, codeInvalidTarget, "x"), metrics.OutcomeInvalidRequest},
		{"client auth past the IP budget", errTooManyAttempts(1), metrics.OutcomeBlocked},
		{"state store down at client auth", errUnavailable("x", 1), metrics.OutcomeUnavailable},
	} {
		if got := outcomeOf(c.e); got != c.want {
			t.Errorf("%s: outcome %s, want %s", c.name, got, c.want)
		}
	}
}

func badCreds(f grant.CredentialsFailure) error {
	return &grant.CredentialsError{Failure: f, Reason: errors.New("x")}
}

// TestDescribe maps every answer to its Auth0 event type, and checks that
// the description is fixed text, an unknown name only as its fingerprint.
func TestDescribe(t *testing.T) {
	const fp = "0a1b2c3d4e5f"
	unknown := &grant.UserError{NameFingerprint: fp, Err: badCreds(grant.UnknownUser)}
	for _, c := range []struct {
		name    string
		g       metrics.Grant
		err     error       // the grant's error
		e       *oauthError // the answer; nil is tokens
		typ     string
		descHas string
	}{
		{"login", metrics.GrantPassword, nil, nil, events.TypeSuccessLogin, "Successful"},
		{"unknown user", metrics.GrantPassword, unknown, nil, events.TypeUnknownUser, fp},
		{"wrong password", metrics.GrantPassword, &grant.UserError{UserID: "7", Err: badCreds(grant.WrongPassword)}, nil, events.TypeWrongPassword, "Wrong password"},
		{"password too long", metrics.GrantPassword, &grant.CredentialsError{Failure: grant.WrongPassword, Reason: password.ErrTooLong}, nil, events.TypeWrongPassword, "Wrong password"},
		{"blocked column", metrics.GrantPassword, badCreds(grant.UserBlocked), nil, events.TypeFailedLogin, "blocked"},
		{"unknown hash format", metrics.GrantPassword, badCreds(grant.UncheckableHash), nil, events.TypeFailedLogin, "format"},
		{"user+IP block", metrics.GrantPassword, &grant.UserError{UserID: "7", Err: &grant.BlockedError{Reason: metrics.BlockUserIP}}, nil, events.TypeBlockedAccount, "from this IP"},
		{"user+IP block, unknown name", metrics.GrantPassword, &grant.UserError{NameFingerprint: fp, Err: &grant.BlockedError{Reason: metrics.BlockUserIP}}, nil, events.TypeBlockedAccount, fp},
		{"account lockout", metrics.GrantPassword, &grant.BlockedError{Reason: metrics.BlockAccount}, nil, events.TypeBlockedAccount, "account lockout"},
		{"IP block", metrics.GrantPassword, &grant.BlockedError{Reason: metrics.BlockIP}, nil, events.TypeBlockedIP, "from this IP"},
		{"IP block at client authentication", metrics.GrantPassword, nil, errTooManyAttempts(1), events.TypeBlockedIP, "from this IP"},
		{"deny rule", metrics.GrantPassword, &grant.DeniedError{Message: denyMessage}, nil, events.TypeFailedLogin, denyMessage},
		{"not a member", metrics.GrantPassword, grant.ErrNotMember, nil, events.TypeFailedLogin, "member"},
		{"database down", metrics.GrantPassword, &grant.UnavailableError{Description: "The user database is unavailable."}, nil, events.TypeFailedPasswordExchange, "unavailable"},
		{"unknown client", metrics.GrantPassword, nil, errInvalidClient(false), events.TypeFailedPasswordExchange, "Client authentication failed."},
		{"missing password", metrics.GrantPassword, nil, errInvalidRequest("Missing username or password."), events.TypeFailedPasswordExchange, "Missing"},
		{"refresh", metrics.GrantRefreshToken, nil, nil, events.TypeSuccessRefreshExchange, "exchanged"},
		{"refresh reuse", metrics.GrantRefreshToken, &grant.UserError{UserID: "7", Err: fmt.Errorf("%w: %w", grant.ErrInvalidRefresh, store.ErrRefreshReused)}, nil, events.TypeRefreshReuse, "presented again"},
		{"refresh expired", metrics.GrantRefreshToken, fmt.Errorf("%w: %w", grant.ErrInvalidRefresh, store.ErrRefreshInvalid), nil, events.TypeFailedRefreshExchange, "refresh token"},
		{"refresh, wrong client secret", metrics.GrantRefreshToken, nil, errInvalidClient(true), events.TypeFailedRefreshExchange, "Client authentication failed."},
		{"code exchanged", metrics.GrantAuthorizationCode, nil, nil, events.TypeSuccessCodeExchange, "code exchanged"},
		{"code refused", metrics.GrantAuthorizationCode, nil, errInvalidRequest("Missing code."), events.TypeFailedCodeExchange, "Missing code."},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			if e == nil && c.err != nil {
				e = fromGrant(c.err, false)
			}
			typ, desc := describe(c.g, e, c.err)
			if typ != c.typ {
				t.Errorf("type %q, want %q", typ, c.typ)
			}
			if !strings.Contains(desc, c.descHas) {
				t.Errorf("description %q lacks %q", desc, c.descHas)
			}
		})
	}
}

// TestUserOf: a refusal names its user only through grant.UserError.
func TestUserOf(t *testing.T) {
	if got := userOf(fmt.Errorf("wrapped: %w", &grant.UserError{UserID: "7", Err: grant.ErrNotMember})); got != "7" {
		t.Errorf("user %q, want 7", got)
	}
	if got := userOf(&grant.UserError{NameFingerprint: "abc", Err: badCreds(grant.UnknownUser)}); got != "" {
		t.Errorf("an unknown name gave user %q", got)
	}
	if got := userOf(grant.ErrNotMember); got != "" {
		t.Errorf("user %q from an error naming none", got)
	}
}

// TestGrantOf: only the grants claimgate runs are counted.
func TestGrantOf(t *testing.T) {
	for gt, want := range map[string]metrics.Grant{
		grant.TypePassword:          metrics.GrantPassword,
		grant.TypePasswordRealm:     metrics.GrantPassword,
		grant.TypeRefreshToken:      metrics.GrantRefreshToken,
		grant.TypeAuthorizationCode: metrics.GrantAuthorizationCode,
		grant.TypeClientCredentials: metrics.GrantClientCredentials,
	} {
		if got, ok := grantOf(gt); !ok || got != want {
			t.Errorf("grantOf(%q) = %v, %v", gt, got, ok)
		}
	}
	if _, ok := grantOf("urn:ietf:params:oauth:grant-type:device_code"); ok {
		t.Error("an unsupported grant type is counted")
	}
}

// TestEventsPerRequest: every token and revocation request emits exactly
// one event on claimgate.events, with the Auth0 type of its outcome and the
// request's client, user, IP and user agent; no event holds a secret.
func TestEventsPerRequest(t *testing.T) {
	h := newHarness(t, nil)
	const ua = "audit-test/1.0"
	ip := "203.0.113.9"
	post := func(v url.Values) *httptest.ResponseRecorder {
		return h.do(loginRequest{contentType: formType, body: v.Encode(), ip: ip,
			header: http.Header{"User-Agent": {ua}}})
	}

	tok, _ := expectToken(t, post(passwordForm("scope", "openid offline_access")))
	expectError(t, post(passwordForm("password", "wrong")), http.StatusBadRequest, codeInvalidGrant)
	expectError(t, post(passwordForm("username", "nobody@example.test")), http.StatusBadRequest, codeInvalidGrant)
	expectError(t, post(passwordForm("password", "")), http.StatusBadRequest, codeInvalidRequest)
	fresh, _ := expectToken(t, post(testkit.RefreshForm(webClient, webSecret, tok.RefreshToken)))
	expectError(t, post(testkit.RefreshForm(webClient, webSecret, tok.RefreshToken)), http.StatusBadRequest, codeInvalidGrant)
	if w := h.do(loginRequest{path: pathRevoke, contentType: formType, ip: ip, header: http.Header{"User-Agent": {ua}},
		body: testkit.RevokeForm(webClient, webSecret, fresh.RefreshToken).Encode()}); w.Code != http.StatusOK {
		t.Fatalf("revocation: %d %s", w.Code, w.Body)
	}
	// No grant type: no authentication event.
	expectError(t, post(url.Values{"client_id": {webClient}}), http.StatusBadRequest, codeInvalidRequest)

	entries := h.logs.FilterLoggerName("events").AllUntimed()
	want := []string{events.TypeSuccessLogin, events.TypeWrongPassword, events.TypeUnknownUser,
		events.TypeFailedPasswordExchange, events.TypeSuccessRefreshExchange, events.TypeRefreshReuse,
		events.TypeRevocation}
	if len(entries) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(entries), len(want), testkit.EntryLines(entries))
	}
	aliceID := strconv.FormatInt(testkit.DemoUser(t, alice).ID, 10)
	for i, e := range entries {
		m := e.ContextMap()
		if m["type"] != want[i] {
			t.Errorf("event %d: type %v, want %s", i, m["type"], want[i])
		}
		if m["ip"] != ip || m["user_agent"] != ua || m["client_id"] != webClient || m["connection"] != "Username-Password-Authentication" {
			t.Errorf("event %d (%s): fields %v", i, want[i], m)
		}
		switch want[i] {
		case events.TypeSuccessLogin, events.TypeWrongPassword, events.TypeSuccessRefreshExchange, events.TypeRefreshReuse:
			if m["user_id"] != aliceID {
				t.Errorf("event %d (%s): user_id %v, want %s", i, want[i], m["user_id"], aliceID)
			}
		default:
			if _, ok := m["user_id"]; ok {
				t.Errorf("event %d (%s) names a user: %v", i, want[i], m)
			}
		}
	}
	if d, _ := entries[2].ContextMap()["description"].(string); strings.Contains(d, "nobody") || !strings.Contains(d, "fingerprint") {
		t.Errorf("unknown user's description %q: want the name's fingerprint only", d)
	}
	testkit.AssertNoSecretsLogged(t, "events", testkit.EntryLines(entries),
		testkit.Secrets(tok.AccessToken, tok.RefreshToken, fresh.RefreshToken, "nobody@example.test"))
}
