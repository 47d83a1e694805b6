// Package testkit is what claimgate's unit tests (login, app, grant…) and
// its integration tests share: the fixtures of the demo database and of the
// test configurations, request form builders, decoding of OAuth answers and
// of JWTs, a settable clock, and the scan of logs for secrets.
//
// It depends on no claimgate module package (app, login, verify, grant), so
// that those packages' own tests can import it.
package testkit

import (
	"testing"

	"github.com/claimgate/claimgate/demo/demodb"
)

// Demo users (demodb.DemoUsers) by the part they play in the tests, and
// their passwords.
const (
	Alice         = "alice@example.test" // bcrypt $2a$, admin and editor, member of org_acme
	AlicePassword = "correct horse battery staple"
	Bob           = "bob@example.test" // argon2id, editor, member of org_globex
	BobPassword   = "hunter2-argon2id"
	Carol         = "carol@example.test" // PHP bcrypt $2y$, viewer, empty metadata
	CarolPassword = "carol-php-bcrypt"
	Dave          = "dave@example.test" // Django pbkdf2_sha256, no roles
	DavePassword  = "dave-django-pbkdf2"
	Eve           = "eve@example.test" // blocked column set
	EvePassword   = "eve-is-blocked"
	Frank         = "frank@example.test" // refused by the deny rule (app_metadata.blocked)
	FrankPassword = "frank-denied-by-rule"
)

// DemoUser returns the demo user with that email, failing t when there is
// none.
func DemoUser(t testing.TB, email string) demodb.DemoUser {
	t.Helper()
	for _, u := range demodb.DemoUsers {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no demo user %s", email)
	return demodb.DemoUser{}
}

// Clients of the test configurations.
const (
	// WebClient is confidential and may use the password and refresh_token
	// grants.
	WebClient = "web-backend"
	WebSecret = "web-secret"
	// OddSecret needs form-urlencoding inside Basic credentials (RFC 6749
	// §2.3.1).
	OddSecret = "s3cr:et+/%&= é"
	// SPAClient is a public client (no secret).
	SPAClient = "spa"
	// M2MClient may not use the password grant.
	M2MClient = "m2m"
	M2MSecret = "m2m-secret"
)

// Audiences, claims and texts of the test configurations.
const (
	APIAudience     = "https://api.example.test"
	ReportsAudience = "https://reports.example.test"

	RolesClaim = "https://example.test/roles"
	CityClaim  = "https://example.test/city"
	NickClaim  = "https://example.test/nick" // an id_claim

	// DenyExpr is the deny rule that refuses Frank, and DenyMessage its
	// text.
	DenyExpr    = "has(app_metadata.blocked) && app_metadata.blocked"
	DenyMessage = "This account is blocked."

	// Realm is the default database name, the realm a password-realm
	// request may name.
	Realm = "Username-Password-Authentication"
	// WrongCredentials is the one error_description of every
	// bad-credentials answer.
	WrongCredentials = "Wrong email or password."
)
