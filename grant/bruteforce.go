package grant

import (
	"context"

	"github.com/claimgate/claimgate/store"
)

// Brute-force protection, on the claimgate_ state tables so that every
// instance sharing the database sees the same counts and blocks.
//
// Password looks the user up first, so that a known user is counted by
// user_id (a respelled login name cannot escape a block) and an unknown name
// by its weights under the user table's collation (Store.LoginSubject), so
// that spellings the table treats as equal share a counter.
//
// Every attempt is counted BEFORE its password is checked, atomically in
// MySQL (State.BeginAttempt): however many guesses arrive at once, on one
// instance or several, at most max_failures wrong passwords per user and IP,
// and at most the IP's remaining budget, ever reach a hash; the rest are
// refused at once. A right password then gives the reservation back
// (Attempt.Succeeded); only bad credentials keep it.
//
// A failure of the state store fails closed (unavailable), never a login
// that skipped the check or went uncounted.

// beginAttempt reserves one attempt of subject from ip, or refuses it with
// a BlockedError.
func (s *Service) beginAttempt(ctx context.Context, subject, ip string) (*store.Attempt, error) {
	if err := s.cfg.StateReady(ctx); err != nil {
		return nil, stateUnavailable(err)
	}
	attempt, block, err := s.cfg.State.BeginAttempt(ctx, subject, ip, s.cfg.Now(), s.cfg.Protection)
	if err != nil {
		return nil, stateUnavailable(err)
	}
	if block.Blocked {
		return nil, s.blocked(block)
	}
	return attempt, nil
}

// blocked is the refusal of an attempt that block refused, counted for the
// metrics here, where every refusal passes (logins and client
// authentications alike).
func (s *Service) blocked(block store.Block) error {
	s.cfg.Observer.Blocked(block.Reason)
	return &BlockedError{RetryAfter: block.RetryAfter, Reason: block.Reason}
}

// ClientAttempt is a client authentication counted against the IP's daily
// budget before the secret is compared, so that client secrets cannot be
// guessed online faster than passwords. Conclude it with Done.
type ClientAttempt struct {
	attempt *store.Attempt
}

// BeginClientAuth reserves one attempt against ip's budget (the address the
// request came from: trust_forwarded_for needs an authenticated client
// first), or refuses it with a BlockedError.
func (s *Service) BeginClientAuth(ctx context.Context, ip string) (*ClientAttempt, error) {
	if err := s.cfg.StateReady(ctx); err != nil {
		return nil, stateUnavailable(err)
	}
	attempt, block, err := s.cfg.State.BeginIPAttempt(ctx, s.AccountingIP(ip), s.cfg.Now(), s.cfg.Protection)
	if err != nil {
		return nil, stateUnavailable(err)
	}
	if block.Blocked {
		return nil, s.blocked(block)
	}
	return &ClientAttempt{attempt: attempt}, nil
}

// Done concludes the attempt: a failed authentication keeps the spent
// token, a successful one gives it back.
func (c *ClientAttempt) Done(ctx context.Context, authenticated bool) error {
	if authenticated {
		return c.attempt.Succeeded(ctx)
	}
	return c.attempt.Failed(ctx)
}
