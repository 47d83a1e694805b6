package login

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/testkit"
)

// Sign-ins through the login page are authentication events like the
// password grant's (before, the page emitted none and was not counted).
func TestLoginPageEvents(t *testing.T) {
	h := newHarness(t, browserApp)
	b := newBrowser(h)
	b.ip = ipA
	if w := b.signIn(t, authorizeQuery(), alice, "wrong-on-the-page"); w.Code != http.StatusBadRequest {
		t.Fatalf("wrong password: %d", w.Code)
	}
	codeFrom(t, b.signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")

	entries := h.logs.FilterLoggerName("events").AllUntimed()
	want := []string{events.TypeWrongPassword, events.TypeSuccessLogin}
	if len(entries) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(entries), len(want), testkit.EntryLines(entries))
	}
	aliceID := strconv.FormatInt(testkit.DemoUser(t, alice).ID, 10)
	for i, e := range entries {
		m := e.ContextMap()
		if m["type"] != want[i] || m["user_id"] != aliceID || m["client_id"] != pkceClient {
			t.Errorf("event %d: %v, want type %s for user %s and client %s", i, m, want[i], aliceID, pkceClient)
		}
	}
	testkit.AssertNoSecretsLogged(t, "events", testkit.EntryLines(entries),
		testkit.Secrets(alicePassword, "wrong-on-the-page"))
}
