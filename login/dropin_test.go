package login

// Issue 9 items 14 (drop-in for Auth0 clients: /userinfo with the standard
// claims, user_id_query, subject_prefix) and 8 (refresh-token families end
// on a password change, but not on claimgate's own rehash; at most 100
// rotated rows), over HTTP on a real database.

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// demoUserIDQuery is the demo's user_query by id: user_id_query.
var demoUserIDQuery = strings.Replace(demo.DemoUserQuery, "WHERE email = ?", "WHERE id = ?", 1)

// withUserIDQuery configures user_id_query.
func withUserIDQuery(a *app.App) { a.Database.UserIDQuery = demoUserIDQuery }

// userinfoAnswer is a /userinfo answer.
type userinfoAnswer struct {
	status    int
	challenge string // WWW-Authenticate
	body      map[string]any
}

// userinfo calls GET /userinfo with an access token.
func (h *harness) userinfo(accessToken string) userinfoAnswer {
	h.t.Helper()
	w := h.do(loginRequest{method: http.MethodGet, path: pathUserinfo,
		header: http.Header{"Authorization": {"Bearer " + accessToken}}})
	a := userinfoAnswer{status: w.Code, challenge: w.Header().Get("WWW-Authenticate")}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		h.t.Fatalf("userinfo body %q: %v", w.Body, err)
	}
	return a
}

// accessToken logs alice in with scope and returns the access token.
func (h *harness) accessToken(scope string) string {
	h.t.Helper()
	body, _ := expectToken(h.t, h.form(passwordForm("scope", scope)))
	return body.AccessToken
}

// aliceClaims are the standard claims of the profile and email scopes as
// the demo database holds them for alice (the demo user_query has no
// updated_at).
func aliceClaims(t testing.TB, scopes ...string) map[string]any {
	u := testkit.DemoUser(t, alice)
	claims := map[string]any{}
	if slices.Contains(scopes, "profile") {
		claims["name"], claims["nickname"], claims["picture"] = u.Name, u.Nickname, u.Picture
	}
	if slices.Contains(scopes, "email") {
		claims["email"], claims["email_verified"] = u.Email, u.EmailVerified
	}
	return claims
}

// TestUserinfoStandardClaims is issue 9 item 14: /userinfo answered only
// {"sub":…} even when email and profile were granted, so Auth0's SDKs
// (getUserInfo, fetchUserInfo) silently got no email. Now the access token
// carries the granted scopes' standard claims and /userinfo returns them —
// from the token without user_id_query, read fresh with it.
func TestUserinfoStandardClaims(t *testing.T) {
	for _, mode := range []struct {
		name      string
		configure func(*app.App)
	}{
		{"from the access token", nil},
		{"user_id_query", withUserIDQuery},
	} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, mode.configure)
			for _, scope := range []string{"openid", "openid email", "openid profile", "openid profile email", "openid email read:orders"} {
				t.Run(scope, func(t *testing.T) {
					h := h.with(t)
					at := h.accessToken(scope)
					want := aliceClaims(t, strings.Fields(scope)...)

					_, access := h.parseJWT(at)
					for name, v := range want {
						if access[name] != v {
							t.Errorf("access token %s = %#v, want %#v", name, access[name], v)
						}
					}
					want["sub"] = "1"
					got := h.userinfo(at)
					if got.status != http.StatusOK || !maps.Equal(got.body, want) {
						t.Errorf("userinfo: %d %v, want 200 %v", got.status, got.body, want)
					}
				})
			}
		})
	}
}

// TestUserinfoReadsTheUserFresh is issue 9 item 14's user_id_query: with it
// /userinfo reads the user again (a changed email shows at once; a user who
// is blocked or gone gets 401 invalid_token); without it the answer is what
// the access token says. Before the fix there was no user_id_query and
// /userinfo always answered the token's sub alone.
func TestUserinfoReadsTheUserFresh(t *testing.T) {
	const invalidToken = `Bearer realm="claimgate", error="invalid_token"`
	for _, fresh := range []bool{true, false} {
		name := "from the access token"
		if fresh {
			name = "user_id_query"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(a *app.App) {
				if fresh {
					withUserIDQuery(a)
				}
			})
			at := h.accessToken("openid profile email")
			h.exec("UPDATE users SET email = 'alice.new@example.test', name = 'Alice Fresh' WHERE id = 1")
			got := h.userinfo(at)
			wantEmail, wantName := any(alice), any("Alice Liddell")
			if fresh {
				wantEmail, wantName = "alice.new@example.test", "Alice Fresh"
			}
			if got.status != http.StatusOK || got.body["email"] != wantEmail || got.body["name"] != wantName || got.body["sub"] != "1" {
				t.Errorf("after the change: %d %v, want email %v and name %v", got.status, got.body, wantEmail, wantName)
			}

			h.exec("UPDATE users SET blocked = 1 WHERE id = 1")
			got = h.userinfo(at)
			switch {
			case fresh && (got.status != http.StatusUnauthorized || got.challenge != invalidToken || got.body["error"] != "invalid_token"):
				t.Errorf("blocked user: %d %q %v, want 401 invalid_token", got.status, got.challenge, got.body)
			case !fresh && got.status != http.StatusOK:
				t.Errorf("blocked user, from the token: %d %v, want 200", got.status, got.body)
			}
			h.exec("UPDATE users SET blocked = 0 WHERE id = 1")
			if got := h.userinfo(at); got.status != http.StatusOK {
				t.Errorf("unblocked user: %d %v", got.status, got.body)
			}

			h.exec("DELETE FROM users WHERE id = 1")
			got = h.userinfo(at)
			if fresh && (got.status != http.StatusUnauthorized || got.challenge != invalidToken) {
				t.Errorf("deleted user: %d %q %v, want 401 invalid_token", got.status, got.challenge, got.body)
			}
		})
	}
}

// TestSubjectPrefix is issue 9 item 14's subject_prefix: apps
// that stored Auth0 subjects (auth0|<id>) keep finding their users. Every
// token's sub is the prefix and the user_id, refresh and /userinfo work
// with it, and claimgate's own state keeps the bare user_id. Before the fix
// sub was always the bare user_id.
func TestSubjectPrefix(t *testing.T) {
	const prefix, sub = "auth0|", "auth0|1"
	for _, mode := range []struct {
		name      string
		configure func(*app.App)
	}{
		{"from the access token", nil},
		{"user_id_query", withUserIDQuery},
	} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, func(a *app.App) {
				a.SubjectPrefix = prefix
				if mode.configure != nil {
					mode.configure(a)
				}
			})
			body, _ := expectToken(t, h.form(passwordForm("scope", "openid email offline_access")))
			check := func(step string, body testkit.TokenResponse) {
				t.Helper()
				if _, access := h.parseJWT(body.AccessToken); access["sub"] != sub {
					t.Errorf("%s: access token sub = %v, want %s", step, access["sub"], sub)
				}
				if _, id := h.parseJWT(body.IDToken); id["sub"] != sub {
					t.Errorf("%s: ID token sub = %v, want %s", step, id["sub"], sub)
				}
				if got := h.userinfo(body.AccessToken); got.status != http.StatusOK || got.body["sub"] != sub || got.body["email"] != alice {
					t.Errorf("%s: userinfo %d %v, want sub %s and alice's email", step, got.status, got.body, sub)
				}
			}
			check("login", body)
			refreshed, _ := expectToken(t, h.form(refreshForm(body.RefreshToken)))
			check("refresh", refreshed)

			var userID string
			if err := h.db().QueryRowContext(context.Background(),
				"SELECT DISTINCT user_id FROM claimgate_refresh_tokens").Scan(&userID); err != nil || userID != "1" {
				t.Errorf("refresh family kept for user_id %q (%v), want the bare user_id 1", userID, err)
			}
		})
	}
}

// TestRefreshSurvivesEmailChange is issue 9 item 14: a refresh re-reads the
// user. With user_id_query it reads by user_id, so an email change no
// longer ends the user's refresh tokens; without it, by the login name the
// family was issued for, which is gone. Before the fix refresh always read
// by login name.
func TestRefreshSurvivesEmailChange(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*app.App)
		survives  bool
	}{
		{"user_id_query", withUserIDQuery, true},
		{"by login name", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.configure)
			r := h.loginRefresh("scope", "openid email offline_access")
			h.exec("UPDATE users SET email = 'alice.renamed@example.test' WHERE id = 1")
			w := h.form(refreshForm(r))
			if !tt.survives {
				expectInvalidRefresh(t, w)
				return
			}
			body, _ := expectToken(t, w)
			if _, id := h.parseJWT(body.IDToken); id["email"] != "alice.renamed@example.test" || id["sub"] != "1" {
				t.Errorf("refreshed ID token %v, want the new email", id)
			}
			expectToken(t, h.form(refreshForm(body.RefreshToken)))
		})
	}
}

// TestRefreshEndsOnPasswordChange is issue 9 item 8: a refresh-token family
// outlived a password change or reset. Now a refresh whose user's stored
// hash is no longer the one the family was issued under answers
// invalid_grant and revokes the family — unless the change was claimgate's
// own rehash (rehash_query upgrading a bcrypt user at login), which keeps
// the family working. Before the fix the first case got new tokens.
func TestRefreshEndsOnPasswordChange(t *testing.T) {
	newHash, err := password.HashBcrypt([]byte("a new password after a reset"), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name      string
		configure func(*app.App)
	}{
		{"by login name", nil},
		{"user_id_query", withUserIDQuery},
	} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, func(a *app.App) {
				a.Database.RehashQuery = demo.DemoRehashQuery
				if mode.configure != nil {
					mode.configure(a)
				}
			})

			t.Run("password changed", func(t *testing.T) {
				h := h.with(t)
				// bob is on argon2id at the rehash target: no rehash.
				r := h.loginRefresh("username", bob, "password", bobPassword)
				r = expectTokenBody(t, h.form(refreshForm(r))).RefreshToken
				old := storedHash(t, h, 2)
				h.exec("UPDATE users SET password_hash = ? WHERE id = 2", newHash)
				expectInvalidRefresh(t, h.form(refreshForm(r)))
				if h.logs.FilterMessageSnippet("the password changed since the refresh-token family began").Len() == 0 {
					t.Error("the revocation was not logged")
				}
				// The family is revoked: putting the old hash back does not
				// revive it.
				h.exec("UPDATE users SET password_hash = ? WHERE id = 2", old)
				expectInvalidRefresh(t, h.form(refreshForm(r)))
			})

			t.Run("claimgate's own rehash", func(t *testing.T) {
				h := h.with(t)
				r := h.loginRefresh() // alice, bcrypt: rehashed in the background
				h.app.Grants().WaitBackground()
				if hash := storedHash(t, h, 1); password.Kind(hash) != password.KindArgon2id {
					t.Fatalf("alice's hash is %s, want it rehashed to argon2id", password.Kind(hash))
				}
				for range 2 {
					r = expectTokenBody(t, h.form(refreshForm(r))).RefreshToken
				}
				// A real change after the rehash still ends the family.
				h.exec("UPDATE users SET password_hash = ? WHERE id = 1", newHash)
				expectInvalidRefresh(t, h.form(refreshForm(r)))
			})
		})
	}
}

// TestRefreshFamilyRowsBounded is issue 9 item 8's other half: one user made
// 4,059 refreshes in 15 s and every rotated row was kept for 37 days. A
// family keeps at most store.MaxRotatedRefreshTokens rotated rows.
func TestRefreshFamilyRowsBounded(t *testing.T) {
	h := newHarness(t, nil)
	r := h.loginRefresh()
	refreshes := store.MaxRotatedRefreshTokens + 10
	for range refreshes {
		r = expectTokenBody(t, h.form(refreshForm(r))).RefreshToken
	}
	var rows int
	if err := h.db().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM claimgate_refresh_tokens").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows > store.MaxRotatedRefreshTokens+1 {
		t.Errorf("%d rows after %d refreshes, want at most %d rotated and the live one", rows, refreshes, store.MaxRotatedRefreshTokens)
	}
	expectToken(t, h.form(refreshForm(r)))
}

// expectTokenBody is expectToken's body alone.
func expectTokenBody(t testing.TB, w *httptest.ResponseRecorder) testkit.TokenResponse {
	t.Helper()
	body, _ := expectToken(t, w)
	return body
}

// storedHash reads a user's password_hash.
func storedHash(t testing.TB, h *harness, id int) string {
	t.Helper()
	var hash string
	if err := h.db().QueryRowContext(context.Background(), "SELECT password_hash FROM users WHERE id = ?", id).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return hash
}
