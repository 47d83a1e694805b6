package store

import (
	"context"
	"time"
)

// RevokeUserSessions ends every sign-in (SSO) session of a user at once, on
// every instance (they share the table): a password change, a block or a
// deletion through the management API.
func (s *State) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	return s.exec(ctx, `UPDATE claimgate_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`,
		now.Unix(), userID)
}
