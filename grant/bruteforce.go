package grant

import (
	"context"
	"fmt"

	"github.com/claimgate/claimgate/store"
)

// Brute-force protection, on the claimgate_ state tables so that every
// instance sharing the database sees the same counts and blocks.
//
// Password looks the user up first, so that a known user is counted by
// user_id (a respelled login name cannot escape a block) and an unknown name
// by its weights under the user table's collation (Store.LoginSubject), so
// that spellings the table treats as equal share a counter; then checkBlock answers before
// any password hash is spent; then the credentials are checked, and
// recordFailure / recordSuccess update the counts. Only bad credentials
// count: deny rules, organization membership, blocks and outages do not.
//
// A failure of the state store fails closed (unavailable), never a login
// that skipped the check or went uncounted.

// checkBlock refuses a login from a blocked user+IP pair, an IP over its
// daily budget, or (account_lockout) a blocked user.
func (s *Service) checkBlock(ctx context.Context, subject, ip string) error {
	if err := s.cfg.StateReady(ctx); err != nil {
		return stateUnavailable(err)
	}
	block, err := s.cfg.State.CheckBlocked(ctx, subject, ip, s.cfg.Now(), s.cfg.Protection)
	if err != nil {
		return stateUnavailable(err)
	}
	if !block.Blocked {
		return nil
	}
	return &BlockedError{RetryAfter: block.RetryAfter, Reason: block.Reason}
}

// recordFailure counts a bad-credentials answer against the user+IP pair,
// the user (for account_lockout) and the IP's budget. Answering
// bad credentials without counting would give an attacker unlimited guesses
// while writes fail, so a failure to count is unavailable.
func (s *Service) recordFailure(ctx context.Context, subject, ip string) error {
	if err := s.cfg.State.RecordFailure(ctx, subject, ip, s.cfg.Now(), s.cfg.Protection); err != nil {
		return stateUnavailable(fmt.Errorf("counting a failed login: %w", err))
	}
	return nil
}

// recordSuccess resets the user's failure counts from this IP (and
// account-wide). A failure to do so is unavailable too, so that an answer
// never tells a right password from a wrong one while the state store
// fails.
func (s *Service) recordSuccess(ctx context.Context, subject, ip string, user *store.User) error {
	if err := s.cfg.State.RecordSuccess(ctx, subject, ip); err != nil {
		return stateUnavailable(fmt.Errorf("resetting failure counts of user %s: %w", user.ID, err))
	}
	return nil
}
