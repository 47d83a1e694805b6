package grant

import (
	"context"
	"errors"
	"strings"

	"github.com/claimgate/claimgate/store"
)

// ErrUserGone is a token whose user no longer exists or is blocked.
var ErrUserGone = errors.New("the user no longer exists or is blocked")

// CanReadUserByID reports whether user_id_query is configured, so that
// userinfo can read the user fresh.
func (s *Service) CanReadUserByID() bool { return s.cfg.Users.HasUserIDQuery() }

// UserInfo reads the user behind sub (a token's subject, prefix included)
// again through user_id_query and returns the standard claims of the
// granted scopes, as a new ID token would have them. A user who is gone or
// blocked is ErrUserGone; a database failure is unavailable.
func (s *Service) UserInfo(ctx context.Context, sub string, scopes []string) (map[string]any, error) {
	userID, ok := strings.CutPrefix(sub, s.cfg.SubjectPrefix)
	if !ok {
		return nil, ErrUserGone
	}
	user, err := s.cfg.Users.FindUserByID(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUserGone
	case err != nil:
		return nil, unavailable(err)
	case user.Blocked:
		return nil, ErrUserGone
	}
	claims := map[string]any{"sub": sub}
	copyScopedClaims(claims, scopes, user.Attributes)
	return claims, nil
}
