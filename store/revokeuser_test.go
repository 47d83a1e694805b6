package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store"
)

// TestRevokeUserSessions: every live session of the user ends at once;
// another user's does not.
func TestRevokeUserSessions(t *testing.T) {
	st, _, _ := newState(t)
	ctx := context.Background()
	now := time.Now()
	sessions := map[string]string{"a1": "42", "a2": "42", "b1": "7"}
	for raw, user := range sessions {
		s := store.Session{UserID: user, Username: "u" + user, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateSession(ctx, raw, s, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeUserSessions(ctx, "42", now); err != nil {
		t.Fatal(err)
	}
	for raw, user := range sessions {
		_, err := st.UseSession(ctx, raw, now.Add(time.Second), time.Hour)
		switch {
		case user == "42" && !errors.Is(err, store.ErrSessionInvalid):
			t.Errorf("session %s of the revoked user: %v", raw, err)
		case user != "42" && err != nil:
			t.Errorf("session %s of another user: %v", raw, err)
		}
	}
}
