package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Brute-force limits that hold under concurrency.
//
// CheckBlocked before the hash and RecordFailure after it let every guess
// that arrives while the first ones are being hashed through: 50 parallel
// guesses with max_failures 10 had 33 hashed. Here an attempt is counted
// when it begins, before its password is checked, by conditional
// statements that MySQL applies atomically (an UPDATE whose WHERE says
// "under the limit", or an INSERT IGNORE that creates the row): of any
// number of concurrent attempts, on one instance or several, at most the
// limit get a reservation, and only those may be checked against a hash.
//
// The counters:
//   - claimgate_login_failures(subject, ip): attempts in flight plus
//     consecutive failures of subject from ip. The reservation that reaches
//     MaxFailures also sets blocked_until, so a crashed instance's
//     reservations end with the block instead of locking the pair forever.
//     A success deletes the row; an expired block restarts the count at 1.
//   - the same table with ip = "": the account, from every IP (only with
//     AccountLockout).
//   - claimgate_ip_failures(ip): the IP's token bucket, IPFailuresPerDay
//     tokens refilled evenly over 24 h; a reservation takes a token only when
//     a whole one is left, so the bucket never goes below zero. A success
//     gives the token back: the budget counts failures.
//
// Each UPDATE assigns a column before any column its expression reads is
// assigned, so it means the same under MySQL's left-to-right assignment
// and under MariaDB's SIMULTANEOUS_ASSIGNMENT.

// Attempt is a login attempt counted against its limits before its
// password is checked. Exactly one of Succeeded, Failed or Cancel
// concludes it; see BeginAttempt.
type Attempt struct {
	state   *State
	subject string
	ip      string
	now     time.Time
	p       Protection
	// Counters this attempt holds a reservation on.
	pair, account, ipToken bool
	done                   atomic.Bool
}

// ErrAttemptConcluded is returned by Succeeded or Failed on an attempt that
// was already concluded.
var ErrAttemptConcluded = errors.New("login attempt already concluded")

// maxReserveRounds bounds the retries of a reservation that lost a race
// (a row created or unblocked by another attempt between two statements).
const maxReserveRounds = 3

// BeginAttempt counts a password attempt of subject from ip before its
// password is checked: against the subject+ip pair (when MaxFailures > 0),
// the account (when AccountLockout is on too) and ip's daily budget (when
// IPFailuresPerDay > 0 and ip is not empty). subject comes from
// Store.LoginSubject; ip is the client address as counted (an IPv6 client
// by its prefix).
//
// When a limit is already reached nothing is counted and the attempt is
// refused: a nil *Attempt and a Block (Blocked, RetryAfter, Reason) to
// answer 429 with, without checking the password — even a right one. A
// database failure is ErrUnavailable (answer 503, never check unmetered).
//
// Otherwise the caller checks the password and then concludes the attempt
// with exactly one of:
//   - Succeeded: the credentials were right (the pair and account counts
//     reset, the IP token is given back) — also when a deny rule or an
//     organization check then refuses the login;
//   - Failed: wrong password, unknown user, blocked user (the count stays;
//     the block, if this attempt reached the limit, stays);
//   - Cancel: the password was never checked (hashing queue timeout, a
//     database error before the check): everything is given back.
//
// `defer attempt.Cancel(ctx)` right after BeginAttempt is safe: Cancel
// after Succeeded or Failed does nothing.
func (s *State) BeginAttempt(ctx context.Context, subject, ip string, now time.Time, p Protection) (*Attempt, Block, error) {
	a := &Attempt{state: s, subject: subject, ip: ip, now: now, p: p}
	if p.MaxFailures > 0 {
		block, err := s.reserveCount(ctx, subject, ip, now, p, "user_ip")
		if err != nil || block.Blocked {
			return nil, block, err
		}
		a.pair = true
	}
	if p.MaxFailures > 0 && p.AccountLockout {
		block, err := s.reserveCount(ctx, subject, accountWideIP, now, p, "account")
		if err != nil || block.Blocked {
			return nil, block, errors.Join(err, a.release(ctx))
		}
		a.account = true
	}
	return s.finishBegin(ctx, a)
}

// BeginIPAttempt counts an attempt against ip's daily budget only, before
// it is checked: client authentication (a failed client
// authentication, invalid_client, counts against the IP's budget and is
// answered 429 past it). Refused (nil *Attempt, a Block with Reason "ip")
// when no whole token is left. Conclude it as for BeginAttempt: Succeeded
// when the client authenticated (the token is given back), Failed when it
// did not, Cancel when the secret was not checked.
func (s *State) BeginIPAttempt(ctx context.Context, ip string, now time.Time, p Protection) (*Attempt, Block, error) {
	return s.finishBegin(ctx, &Attempt{state: s, ip: ip, now: now, p: p})
}

// finishBegin takes the IP token last, giving back what a has when the IP
// is refused.
func (s *State) finishBegin(ctx context.Context, a *Attempt) (*Attempt, Block, error) {
	if a.p.IPFailuresPerDay <= 0 || a.ip == "" {
		return a, Block{}, nil
	}
	block, err := s.reserveIPToken(ctx, a.ip, a.now, a.p)
	if err != nil || block.Blocked {
		return nil, block, errors.Join(err, a.release(ctx))
	}
	a.ipToken = true
	return a, Block{}, nil
}

// Succeeded concludes an attempt whose credentials were right: the pair's
// and the account's counts are reset (a success ends a run of failures) and
// the IP token is given back (the budget counts failures only).
func (a *Attempt) Succeeded(ctx context.Context) error {
	if !a.done.CompareAndSwap(false, true) {
		return ErrAttemptConcluded
	}
	if a.pair || a.account {
		if err := a.state.RecordSuccess(ctx, a.subject, a.ip); err != nil {
			return err
		}
	}
	if a.ipToken {
		return a.state.returnIPToken(ctx, a.ip, a.now, a.p)
	}
	return nil
}

// Failed concludes an attempt whose credentials were wrong. The failure was
// counted when the attempt began, and the reservation that reached
// MaxFailures already set the block, so there is nothing left to write.
func (a *Attempt) Failed(ctx context.Context) error {
	if !a.done.CompareAndSwap(false, true) {
		return ErrAttemptConcluded
	}
	return nil
}

// Cancel concludes an attempt whose password was never checked, giving
// back every reservation (and lifting the block it set, if it was the one
// that reached the limit). It does nothing on a concluded attempt.
func (a *Attempt) Cancel(ctx context.Context) error {
	if a == nil || !a.done.CompareAndSwap(false, true) {
		return nil
	}
	return a.release(ctx)
}

// release gives back every reservation a holds.
func (a *Attempt) release(ctx context.Context) error {
	var errs []error
	if a.pair {
		errs = append(errs, a.state.releaseCount(ctx, a.subject, a.ip, a.p))
	}
	if a.account {
		errs = append(errs, a.state.releaseCount(ctx, a.subject, accountWideIP, a.p))
	}
	if a.ipToken {
		errs = append(errs, a.state.returnIPToken(ctx, a.ip, a.now, a.p))
	}
	a.pair, a.account, a.ipToken = false, false, false
	return errors.Join(errs...)
}

// reserveCount takes one slot of the (subject, ip) counter, or says why
// not. Every grant is one conditional statement; the SELECT in between only
// picks which one to try, and a lost race goes round again.
func (s *State) reserveCount(ctx context.Context, subject, ip string, now time.Time, p Protection, reason string) (Block, error) {
	for range maxReserveRounds {
		if ok, err := s.takeCount(ctx, subject, ip, now, p); err != nil || ok {
			return Block{}, err
		}
		failures, until, found, err := s.readCount(ctx, subject, ip)
		if err != nil {
			return Block{}, err
		}
		var ok bool
		switch {
		case !found:
			ok, err = s.insertCount(ctx, subject, ip, now, p)
		case until > now.Unix():
			return Block{Blocked: true, RetryAfter: time.Unix(until, 0).Sub(now), Reason: reason}, nil
		case until > 0:
			ok, err = s.restartCount(ctx, subject, ip, now, p)
		case failures >= p.MaxFailures:
			// Over the limit without a block: MaxFailures was lowered,
			// or a SIMULTANEOUS_ASSIGNMENT server. Block from now, so
			// that the pair is not refused forever.
			return Block{Blocked: true, RetryAfter: p.BlockFor, Reason: reason},
				s.exec(ctx, `UPDATE claimgate_login_failures SET blocked_until = ?
WHERE subject = ? AND ip = ? AND blocked_until = 0 AND failures >= ?`,
					now.Add(p.BlockFor).Unix(), subject, ip, p.MaxFailures)
		}
		if err != nil || ok {
			return Block{}, err
		}
	}
	// Lost every race: refuse briefly rather than count unmetered.
	return Block{Blocked: true, RetryAfter: time.Second, Reason: reason}, nil
}

// takeCount counts one more attempt on an existing, unblocked row under
// the limit; the attempt that reaches the limit sets the block.
func (s *State) takeCount(ctx context.Context, subject, ip string, now time.Time, p Protection) (bool, error) {
	return s.execOne(ctx, `UPDATE claimgate_login_failures SET
	blocked_until = CASE WHEN failures + 1 >= ? THEN ? ELSE 0 END,
	failures = failures + 1,
	updated_at = ?
WHERE subject = ? AND ip = ? AND blocked_until = 0 AND failures < ?`,
		p.MaxFailures, now.Add(p.BlockFor).Unix(), now.Unix(), subject, ip, p.MaxFailures)
}

// restartCount starts a new count (this attempt) on a row whose block has
// expired.
func (s *State) restartCount(ctx context.Context, subject, ip string, now time.Time, p Protection) (bool, error) {
	return s.execOne(ctx, `UPDATE claimgate_login_failures SET failures = 1, blocked_until = ?, updated_at = ?
WHERE subject = ? AND ip = ? AND blocked_until > 0 AND blocked_until <= ?`,
		firstBlock(now, p), now.Unix(), subject, ip, now.Unix())
}

// insertCount creates the row with this attempt counted; false when another
// attempt created it first.
func (s *State) insertCount(ctx context.Context, subject, ip string, now time.Time, p Protection) (bool, error) {
	return s.execOne(ctx, `INSERT IGNORE INTO claimgate_login_failures (subject, ip, failures, blocked_until, updated_at)
VALUES (?, ?, 1, ?, ?)`, subject, ip, firstBlock(now, p), now.Unix())
}

// firstBlock is blocked_until after a first attempt: a block already when
// MaxFailures is 1.
func firstBlock(now time.Time, p Protection) int64 {
	if p.MaxFailures <= 1 {
		return now.Add(p.BlockFor).Unix()
	}
	return 0
}

func (s *State) readCount(ctx context.Context, subject, ip string) (failures int, until int64, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.db.QueryRowContext(ctx, `SELECT failures, blocked_until FROM claimgate_login_failures
WHERE subject = ? AND ip = ?`, subject, ip).Scan(&failures, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: reading a failure count: %w", ErrUnavailable, err)
	}
	return failures, until, true, nil
}

// releaseCount gives back one counted attempt; below the limit again, the
// block goes too (it was set by the reservation being given back, or by
// one that a later release made moot).
func (s *State) releaseCount(ctx context.Context, subject, ip string, p Protection) error {
	return s.exec(ctx, `UPDATE claimgate_login_failures SET
	blocked_until = CASE WHEN failures - 1 >= ? THEN blocked_until ELSE 0 END,
	failures = failures - 1
WHERE subject = ? AND ip = ? AND failures > 0`, p.MaxFailures, subject, ip)
}

// reserveIPToken takes one whole token from ip's bucket (refilled first for
// the time since its last update), or says how long until there is one.
func (s *State) reserveIPToken(ctx context.Context, ip string, now time.Time, p Protection) (Block, error) {
	capacity, rate := ipBucket(p)
	for range maxReserveRounds {
		ok, err := s.execOne(ctx, `UPDATE claimgate_ip_failures SET
	tokens = LEAST(?, tokens + GREATEST(0, ? - updated_at) * ?) - 1,
	updated_at = GREATEST(updated_at, ?)
WHERE ip = ? AND LEAST(?, tokens + GREATEST(0, ? - updated_at) * ?) >= 1`,
			capacity, now.Unix(), rate, now.Unix(), ip, capacity, now.Unix(), rate)
		if err != nil || ok {
			return Block{}, err
		}
		tokens, updated, found, err := s.readIPBucket(ctx, ip)
		if err != nil {
			return Block{}, err
		}
		if !found {
			ok, err := s.execOne(ctx, `INSERT IGNORE INTO claimgate_ip_failures (ip, tokens, updated_at) VALUES (?, ?, ?)`,
				ip, capacity-1, now.Unix())
			if err != nil || ok {
				return Block{}, err
			}
			continue
		}
		refilled := min(capacity, tokens+float64(max(0, now.Unix()-updated))*rate)
		if refilled < 1 {
			wait := time.Duration((1 - refilled) / rate * float64(time.Second))
			return Block{Blocked: true, RetryAfter: max(wait, time.Second), Reason: "ip"}, nil
		}
	}
	return Block{Blocked: true, RetryAfter: time.Second, Reason: "ip"}, nil
}

// returnIPToken gives a token back, up to the capacity.
func (s *State) returnIPToken(ctx context.Context, ip string, now time.Time, p Protection) error {
	capacity, rate := ipBucket(p)
	return s.exec(ctx, `UPDATE claimgate_ip_failures SET
	tokens = LEAST(?, tokens + GREATEST(0, ? - updated_at) * ? + 1),
	updated_at = GREATEST(updated_at, ?)
WHERE ip = ?`, capacity, now.Unix(), rate, now.Unix(), ip)
}

// ipBucket is the bucket's capacity and its refill rate per second.
func ipBucket(p Protection) (capacity, rate float64) {
	capacity = float64(p.IPFailuresPerDay)
	return capacity, capacity / (24 * time.Hour).Seconds()
}

func (s *State) readIPBucket(ctx context.Context, ip string) (tokens float64, updated int64, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.db.QueryRowContext(ctx, `SELECT tokens, updated_at FROM claimgate_ip_failures WHERE ip = ?`, ip).
		Scan(&tokens, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: reading an IP budget: %w", ErrUnavailable, err)
	}
	return tokens, updated, true, nil
}

// execOne runs a conditional statement and reports whether it changed a
// row. Every statement given to it changes the row it matches, so the
// answer is the same with or without the clientFoundRows DSN option.
func (s *State) execOne(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.execResult(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return n > 0, nil
}
