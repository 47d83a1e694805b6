// Package password verifies and creates password hashes in the formats that
// customers' user tables hold: bcrypt, argon2id (PHC string) and Django's
// pbkdf2_sha256. It also bounds how many verifications run at once.
package password

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Callers must treat every one of them exactly like a wrong
// password towards the client (uniform error), and may log which it was.
var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password does not match")
	// ErrUnknownFormat means the stored hash is in no format we verify.
	ErrUnknownFormat = errors.New("unknown password hash format")
	// ErrTooLong means a password over bcrypt's 72-byte limit was checked
	// against a bcrypt hash; it is refused rather than silently truncated.
	ErrTooLong = errors.New("password longer than bcrypt's 72 bytes")
	// ErrSaturated means the guard could not get a hashing slot in time.
	ErrSaturated = errors.New("password hashing saturated")
)

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultArgon2 meets OWASP ASVS 5.0's minimum (19 MiB, t=2, p=1).
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Verify reports whether password matches the encoded hash: nil on a match,
// otherwise one of the sentinel errors (possibly wrapped).
func Verify(encoded string, password []byte) error { return errors.New("password.Verify: pending") }

// HashArgon2id returns a PHC-format argon2id hash of password.
func HashArgon2id(password []byte, p Argon2Params) (string, error) {
	return "", errors.New("password.HashArgon2id: pending")
}

// HashBcrypt returns a bcrypt hash of password at cost; it refuses passwords
// over 72 bytes.
func HashBcrypt(password []byte, cost int) (string, error) {
	return "", errors.New("password.HashBcrypt: pending")
}

// NeedsRehash reports whether encoded is weaker than argon2id at p (any
// bcrypt or PBKDF2 hash, or argon2id with lower parameters).
func NeedsRehash(encoded string, p Argon2Params) bool { return false }

// DummyHash returns a bcrypt hash of a random secret at cost, computed once
// per cost and cached; it is verified for unknown users so that their timing
// matches a wrong password.
func DummyHash(cost int) string { return "" }

// Guard bounds concurrent password verifications.
type Guard struct{}

// NewGuard allows max verifications at once (max <= 0 means runtime.NumCPU());
// a caller that waits longer than queueTimeout gets ErrSaturated.
func NewGuard(max int, queueTimeout time.Duration) *Guard { return &Guard{} }

// Do runs fn while holding a slot. It returns ErrSaturated when no slot freed
// up within the queue timeout, or ctx.Err() when ctx ended first.
func (g *Guard) Do(ctx context.Context, fn func()) error { return errors.New("password.Guard: pending") }
