package password

import "errors"

// Sentinel errors, checked with errors.Is. Callers must treat every one of
// them exactly like a wrong password towards the client (uniform error), and
// may log which it was. The wrapped descriptions never contain the password
// or any part of the stored hash, so they are safe to log.
var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password does not match")
	// ErrUnknownFormat means the stored hash is in no format we verify, or is
	// malformed, or asks for costs beyond our caps.
	ErrUnknownFormat = errors.New("unknown password hash format")
	// ErrTooLong means a password over bcrypt's 72-byte limit was checked
	// against a bcrypt hash; it is refused rather than silently truncated.
	ErrTooLong = errors.New("password longer than bcrypt's 72 bytes")
	// ErrSaturated means the guard could not get a hashing slot in time.
	ErrSaturated = errors.New("password hashing saturated")
)
