package login

import (
	"testing"
	"time"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/token"
)

// A create whose body names a user_id that create_user does not store must
// not answer with that other user's record (before, a token with
// create:users alone read alice this way).
func TestManagementCreateIgnoresForeignUserID(t *testing.T) {
	h := newMgmtHarness(t, nil)
	tok := h.mgmtToken(managementAudience, "create:users")
	body := map[string]any{"email": "mallory@example.test", "password": newPassword,
		"connection": "Username-Password-Authentication", "user_id": "1"}
	u := decodeObject(t, h.api("POST", "/api/v2/users", tok, mustJSON(body)), 201)
	if u["user_id"] == "auth0|1" || u["email"] != "mallory@example.test" {
		t.Fatalf("created user answered as %v, want mallory's own record", u)
	}
}

// A PATCH through an update_user that writes a column user_id_query does not
// read is refused: it would overwrite the stored value (blocked = 0 over a
// blocked user, NULL over a name).
func TestManagementPatchRefusesUnreadColumns(t *testing.T) {
	h := newMgmtHarness(t, func(a *app.App) {
		a.Database.UserIDQuery = "SELECT id AS user_id, email, password_hash, app_metadata, user_metadata FROM users WHERE id = ?"
	})
	tok := h.mgmtToken(managementAudience, allMgmtScope)
	if _, err := h.db().Exec("UPDATE users SET blocked = 1, name = 'Alice A' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	w := h.api("PATCH", "/api/v2/users/auth0|1", tok, `{"app_metadata":{"plan":"gold"}}`)
	if w.Code != 500 {
		t.Fatalf("PATCH through a narrower user_id_query: %d %s, want 500 (misconfigured)", w.Code, w.Body)
	}
	var blocked int
	var name string
	if err := h.db().QueryRow("SELECT blocked, name FROM users WHERE id = 1").Scan(&blocked, &name); err != nil {
		t.Fatal(err)
	}
	if blocked != 1 || name != "Alice A" {
		t.Errorf("row changed: blocked=%d name=%q", blocked, name)
	}
}

// An end user's token carrying management scopes (a client with user grants
// and the management audience) is refused: only machine tokens manage users.
func TestManagementRefusesUserTokens(t *testing.T) {
	h := newMgmtHarness(t, nil)
	now := time.Now()
	raw, err := h.app.KeySet().Sign(map[string]any{
		"iss": loginIssuer, "sub": "auth0|1", "aud": managementAudience, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "jti": token.NewID(), "client_id": mgmtClient, "scope": allMgmtScope,
	}, token.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if w := h.api("GET", "/api/v2/users/auth0|1", raw, ""); w.Code != 401 {
		t.Errorf("a user's token: %d %s, want 401", w.Code, w.Body)
	}
	if w := h.api("GET", "/api/v2/users/auth0|1", h.mgmtToken(managementAudience, allMgmtScope), ""); w.Code != 200 {
		t.Errorf("a machine token: %d %s, want 200", w.Code, w.Body)
	}
}
