// Package randtoken makes the random values claimgate hands out, written
// once: secrets (refresh tokens, authorization codes, session ids, CSRF
// bindings, OAuth state, nonces, PKCE verifiers) and identifiers (jti).
package randtoken

import (
	"crypto/rand"
	"encoding/base64"
)

// Secret returns 256 random bits, base64url without padding (43
// characters): out of reach of guessing whatever the number of tries.
func Secret() string { return encode(make([]byte, 32)) }

// ID returns 128 random bits, base64url without padding (22 characters):
// unique, not secret.
func ID() string { return encode(make([]byte, 16)) }

// encode fills b with random bytes and encodes it. crypto/rand.Read never
// returns an error (it crashes the program rather than return weak bytes).
func encode(b []byte) string {
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
