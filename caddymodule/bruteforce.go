package caddymodule

import (
	"context"

	"github.com/claimgate/claimgate/store"
)

// Brute-force protection hooks (SPEC §5, issue 5).
//
// The token endpoint calls these three at the SPEC's place in the error
// order: checkBruteForceBlock after the scope checks and before the
// credentials; recordLoginFailure after every bad-credentials answer
// (invalid_grant); recordLoginSuccess after the password verified. req.ip is
// the end user's IP (trust_forwarded_for honoured for confidential clients),
// req.username the name as sent.
//
// TODO(issue 5): they do nothing yet. Implement them on the claimgate_ state
// tables (store.State) with the App's Protection settings: 429
// too_many_attempts with Retry-After (errTooManyAttempts) for a blocked
// user+IP pair, an IP over its daily budget, or, with account_lockout, a
// blocked user; a state-store failure must fail closed (503).

// checkBruteForceBlock refuses a login from a blocked user+IP pair or IP.
func (l *Login) checkBruteForceBlock(ctx context.Context, req *passwordRequest) *oauthError {
	return nil
}

// recordLoginFailure counts a bad-credentials answer against the user+IP
// pair and the IP.
func (l *Login) recordLoginFailure(ctx context.Context, req *passwordRequest) {}

// recordLoginSuccess resets the user+IP pair's failure count.
func (l *Login) recordLoginSuccess(ctx context.Context, req *passwordRequest, user *store.User) {}
