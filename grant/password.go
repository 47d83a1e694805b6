package grant

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// PasswordRequest is a password(-realm) grant whose parameters passed the
// checks that need no database (required parameters, realm, audience,
// scope).
type PasswordRequest struct {
	Client       *Client
	GrantType    string
	Username     string
	Password     string
	Audience     string
	Scopes       []string // granted, in request order, deduplicated
	Organization string
	// IP is the end user's address as the failure counters key it
	// (AccountingIP).
	IP string
}

// Tokens is what a successful grant answers.
type Tokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
	ExpiresIn    int64
	Scopes       []string
	// UserID is whose tokens they are (for the log).
	UserID string
}

// Password runs the password grant: it looks the user up, checks the
// brute-force block, the credentials, the organization membership and the
// deny rules, then mints the tokens. The lookup comes first because a known
// user's failures are counted by user_id; the answers keep the documented
// order all the same (a block answers before the credentials), and a
// blocked request spends no password hash.
func (s *Service) Password(ctx context.Context, req *PasswordRequest) (*Tokens, error) {
	toks, err := s.password(ctx, req, time.Now())
	return toks, err
}

// password is Password; began is when the request began, for
// min_failure_time.
func (s *Service) password(ctx context.Context, req *PasswordRequest, began time.Time) (_ *Tokens, err error) {
	user, err := s.findUser(ctx, req.Username)
	if err != nil {
		return nil, err
	}
	defer func() { err = s.attributeRefusal(err, user, req.Username) }()
	if err := s.checkPassword(ctx, req, user, began); err != nil {
		return nil, err
	}

	grants, err := s.cfg.Users.LoadGrants(ctx, user, req.Organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return nil, ErrNotMember
	case err != nil:
		return nil, unavailable(err)
	}

	in := ruleInput(req.Client.ID, req.Audience, req.GrantType, req.Scopes, user, grants)
	result, err := s.evaluateRules(in)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	toks, err := s.mint(now, mintRequest{client: req.Client, audience: req.Audience, scopes: req.Scopes}, user, grants, result)
	if err != nil {
		return nil, err
	}
	if slices.Contains(req.Scopes, ScopeOfflineAccess) {
		if toks.RefreshToken, err = s.issueRefreshToken(ctx, req, user, now); err != nil {
			return nil, err
		}
	}
	s.cfg.Logger.Debug("login", zap.String("user_id", user.ID), zap.String("client_id", req.Client.ID))
	return toks, nil
}

// attributeRefusal wraps a refused login in a UserError naming whose it
// was, for the audit events: the user, or the keyed fingerprint of a name
// that matched none (bad credentials or a block only: other refusals of an
// unknown name say nothing about it).
func (s *Service) attributeRefusal(err error, user *store.User, username string) error {
	if err == nil {
		return nil
	}
	if user != nil {
		return withUser(user.ID, err)
	}
	var blocked *BlockedError
	if errors.Is(err, ErrBadCredentials) || errors.As(err, &blocked) {
		return &UserError{NameFingerprint: s.usernameFingerprint(username), Err: err}
	}
	return err
}

// padFailure waits until min_failure_time has passed since began, so that a
// failed credential check takes as long whatever the hash format (or its
// absence) behind it. The wait ends early when the client goes away.
func (s *Service) padFailure(ctx context.Context, began time.Time) {
	wait := s.cfg.MinFailureTime - time.Since(began)
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// findUser runs user_query; no such user is (nil, nil). A database failure
// is unavailable.
func (s *Service) findUser(ctx context.Context, username string) (*store.User, error) {
	user, err := s.cfg.Users.FindUser(ctx, username)
	switch {
	case err == nil:
		return user, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	default:
		return nil, unavailable(err)
	}
}

// verifyCredentials verifies the password of user (nil: no such user).
// Every bad-credentials case does the same work (an unknown user is checked
// against a dummy hash) and gets the same answer; only the log says which.
func (s *Service) verifyCredentials(ctx context.Context, req *PasswordRequest, user *store.User) error {
	kind := hashKindDummy
	check := func() error { return s.cfg.Passwords.VerifyUnknownUser([]byte(req.Password)) }
	if user != nil {
		kind = password.Kind(user.PasswordHash)
		check = func() error { return s.cfg.Passwords.Verify(user.PasswordHash, []byte(req.Password)) }
	}

	var verr error
	if err := s.guardedCheck(ctx, kind, check, &verr); err != nil {
		return &UnavailableError{Description: "Too many logins at once. Try again shortly.", RetryAfter: retryAfterSaturated, Err: err}
	}

	var reason error
	var failure CredentialsFailure
	switch {
	case user == nil:
		reason, failure = errors.New("unknown user"), UnknownUser
	case errors.Is(verr, password.ErrUnknownFormat):
		reason, failure = verr, UncheckableHash
	case verr != nil:
		// Mismatch or ErrTooLong: the kind, never the hash.
		reason, failure = verr, WrongPassword
	case user.Blocked:
		// Checked after the password so a blocked account costs the same
		// and answers the same as a wrong password.
		reason, failure = errors.New("user is blocked"), UserBlocked
	default:
		return nil
	}
	fields := []zap.Field{s.logUsername(req.Username), zap.String("client_id", req.Client.ID), zap.Error(reason)}
	if user != nil {
		fields = append(fields, zap.String("user_id", user.ID))
	}
	s.cfg.Logger.Info("login failed", fields...)
	return badCredentials(failure, reason)
}

// guardedCheck runs check in a hashing slot, storing its result in verr,
// and reports how long it waited for the slot and how long the check took.
// The wait ends when the callback starts, so it is the time spent queued
// alone; a wait that gave up (the guard was saturated) is reported too,
// since those are the waits an operator most needs to see.
func (s *Service) guardedCheck(ctx context.Context, kind string, check func() error, verr *error) error {
	queued := time.Now()
	err := s.cfg.Guard.Do(ctx, func() {
		start := time.Now()
		s.cfg.Observer.HashQueueWait(start.Sub(queued))
		*verr = check()
		s.cfg.Observer.PasswordHash(kind, time.Since(start))
	})
	if errors.Is(err, password.ErrSaturated) {
		s.cfg.Observer.HashQueueWait(time.Since(queued))
	}
	return err
}

// logUsername is how a username appears in logs: a short keyed
// fingerprint, so that failures can be correlated without writing what may
// be a mistyped password (users do type passwords into the username
// field).
func (s *Service) logUsername(username string) zap.Field {
	return zap.String("username_sha256", s.usernameFingerprint(username))
}

// usernameFingerprint is the keyed fingerprint of logUsername, also the one
// the audit events carry for a name that matched no user.
func (s *Service) usernameFingerprint(username string) string {
	mac := hmac.New(sha256.New, s.logKey())
	mac.Write([]byte(username))
	return hex.EncodeToString(mac.Sum(nil)[:6])
}

// maybeRehash upgrades a weak hash to argon2id after a successful login,
// when rehash_query is configured. It runs in the background, through the
// hashing guard, bounded by the rehash timeout; a failure only logs.
func (s *Service) maybeRehash(user *store.User, pw string) {
	if !s.cfg.Rehash || !password.NeedsRehash(user.PasswordHash, password.DefaultArgon2) {
		return
	}
	userID, verified, plain := user.ID, user.PasswordHash, []byte(pw)
	s.goBackground(func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RehashTimeout)
		defer cancel()
		var hash string
		var herr error
		if err := s.cfg.Guard.Do(ctx, func() { hash, herr = password.HashArgon2id(plain, password.DefaultArgon2) }); err != nil {
			s.cfg.Logger.Debug("password rehash skipped", zap.String("user_id", userID), zap.Error(err))
			return
		}
		if herr != nil {
			s.cfg.Logger.Warn("password rehash failed", zap.String("user_id", userID), zap.Error(herr))
			return
		}
		// Only over the hash that was verified: a password changed or reset
		// since this login began must never be undone.
		// UpgradePassword records the rehash first, so the user's refresh
		// families follow it instead of ending as after a password change.
		updated, err := store.UpgradePassword(ctx, s.cfg.Users, s.cfg.State, userID, verified, hash, s.cfg.Now())
		if err != nil {
			s.cfg.Logger.Warn("storing the upgraded password hash failed", zap.String("user_id", userID), zap.Error(err))
			return
		}
		if !updated {
			s.cfg.Logger.Info("password changed during the rehash; the new password is kept", zap.String("user_id", userID))
			return
		}
		s.cfg.Logger.Info("upgraded password hash to argon2id", zap.String("user_id", userID))
	})
}
