package token

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

// IsAudienceMismatch reports a token refused because its aud lacks the
// verifier's audience: a well-formed token meant for another API, which
// usually points at a configuration mistake (the verifier's audience, or
// the client's) rather than an attack.
func IsAudienceMismatch(err error) bool {
	return errors.Is(err, jwt.ErrTokenInvalidAudience)
}
