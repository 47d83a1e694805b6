package grant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/claimgate/claimgate/store"
)

// checkPassword is the one credential check of every way in — the password
// grant and the hosted login page — so that they share one budget: the same
// failure counters (reserved before the hash by beginAttempt), the same
// hashing guard, the same dummy hash for an unknown user (nil), the same
// uniform answer. On success it gives the reservation back and starts the
// background rehash. req needs Client, Username, Password and IP.
func (s *Service) checkPassword(ctx context.Context, req *PasswordRequest, user *store.User, began time.Time) error {
	subject, err := s.cfg.Users.LoginSubject(ctx, user, req.Username)
	if err != nil {
		return unavailable(err)
	}
	attempt, err := s.beginAttempt(ctx, subject, req.IP)
	if err != nil {
		return err
	}
	// Gives the reservation back when the password was never checked (the
	// hashing guard was full); a no-op once the attempt is concluded.
	defer func() { _ = attempt.Cancel(context.WithoutCancel(ctx)) }()
	if err := s.verifyCredentials(ctx, req, user); err != nil {
		if errors.Is(err, ErrBadCredentials) {
			_ = attempt.Failed(ctx)
			s.padFailure(ctx, began)
		}
		return err
	}
	if err := attempt.Succeeded(ctx); err != nil {
		// The answer must not tell a right password from a wrong one while
		// the state store fails.
		return stateUnavailable(fmt.Errorf("resetting failure counts of user %s: %w", user.ID, err))
	}
	s.maybeRehash(user, req.Password)
	return nil
}
