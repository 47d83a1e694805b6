package grant

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

// Sign-up (Auth0's POST /dbconnections/signup): a user
// creates their own account through a client with `signup on`. It is
// CreateUser with what a user may not choose taken away (app_metadata,
// email_verified, blocked, the user_id) and with two protections a public
// endpoint needs:
//
//   - It does not say which emails have accounts. An existing email gets
//     the same refusal as every other refusal of acceptable input
//     (ErrSignupRefused), after the same work (a password hash), so that
//     neither the answer nor its timing tells it from a new one. The policy
//     is checked first, so a weak password is refused alike whether or not
//     the email exists.
//   - It spends the IP's daily budget, as failed logins do: every sign-up that gets
//     past the request's syntax reserves one attempt of the IP before
//     anything else, and keeps it — success included. A successful login
//     gives its attempt back because a right password proves the client
//     knew something; a successful sign-up proves nothing (an attacker
//     creating accounts in bulk succeeds every time), so Auth0 counts
//     sign-ups as attempts and so does claimgate. Only a sign-up that could
//     not be judged (the database or the hashing slots unavailable) gives
//     its attempt back. An IP that spent its budget gets 429, at sign-up
//     and at every login alike.

// ErrSignupRefused is a sign-up refused for a reason the answer does not
// tell: the email (or username) has an account already, or the database
// refused the values.
var ErrSignupRefused = errors.New("invalid sign up")

// ErrSignupNotAllowed is a sign-up through a client without `signup on`, or
// an unknown one.
var ErrSignupNotAllowed = errors.New("sign-up not allowed for this client")

// SignupRequest is a sign-up whose body was read.
type SignupRequest struct {
	// Client is the client named by client_id; nil when it is unknown.
	Client *Client
	// IP is the request's address as the failure counters key it
	// (AccountingIP).
	IP                string
	Email, Password   string
	Username, Name    string
	Nickname, Picture string
	UserMetadata      map[string]any
}

// Signup creates the user of req, or refuses it with ErrSignupNotAllowed,
// a *BlockedError (the IP's budget is spent), a *PasswordPolicyError,
// ErrSignupRefused, a *StatementMissingError (no create_user), or an
// *UnavailableError. The user's user_id is in the error's UserError when
// the refusal concerns an existing account (for the event, never the
// answer).
func (m *Management) Signup(ctx context.Context, req *SignupRequest) (*store.User, error) {
	if req.Client == nil || !req.Client.Signup {
		return nil, ErrSignupNotAllowed
	}
	if req.Email == "" {
		return nil, &InvalidInputError{Message: "Missing required property: email"}
	}
	if req.Password == "" {
		return nil, &InvalidInputError{Message: "Missing required property: password"}
	}
	if !m.cfg.Writer.Has(store.DirectiveCreateUser) {
		return nil, &StatementMissingError{Directive: store.DirectiveCreateUser}
	}
	attempt, err := m.s.BeginClientAuth(ctx, req.IP)
	if err != nil {
		return nil, err
	}
	user, err := m.signup(ctx, req)
	var unavailable *UnavailableError
	// An attempt that could not be judged is given back; every other one,
	// success included, keeps its token (see above).
	if derr := attempt.Done(context.WithoutCancel(ctx), errors.As(err, &unavailable)); derr != nil && err == nil {
		m.s.cfg.Logger.Warn("counting a sign-up against the IP's budget failed", zap.Error(derr))
	}
	return user, err
}

// signup is Signup once the attempt is counted.
func (m *Management) signup(ctx context.Context, req *SignupRequest) (*store.User, error) {
	if err := m.CheckPassword(req.Password, req.Email, req.Username); err != nil {
		return nil, err
	}
	existing, err := m.FindUserByEmail(ctx, req.Email)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		// The work a new user's sign-up does (its hash), then the refusal
		// every other one gets.
		if _, err := m.hashPassword(ctx, req.Password); err != nil {
			return nil, err
		}
		return nil, withUser(existing.ID, fmt.Errorf("%w: the email has an account", ErrSignupRefused))
	}
	user, err := m.CreateUser(ctx, NewUser{
		Email:        req.Email,
		Password:     req.Password,
		Username:     req.Username,
		Name:         req.Name,
		Nickname:     req.Nickname,
		Picture:      req.Picture,
		UserMetadata: req.UserMetadata,
	})
	var invalid *InvalidInputError
	switch {
	case errors.Is(err, ErrUserExists):
		// A concurrent sign-up of the same email, or a username that is
		// taken: the same refusal.
		return nil, fmt.Errorf("%w: %w", ErrSignupRefused, err)
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: %w", ErrSignupRefused, err)
	case err != nil:
		return nil, err
	}
	m.s.cfg.Logger.Debug("sign-up", zap.String("user_id", user.ID), zap.String("client_id", req.Client.ID))
	return user, nil
}
