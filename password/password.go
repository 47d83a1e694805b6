// Package password verifies and creates password hashes in the formats that
// customers' user tables hold: bcrypt, argon2id (PHC string) and Django's
// pbkdf2_sha256. It also bounds how many verifications run at once.
//
// Every stored hash is untrusted input: a corrupt or hostile row must not make
// a login allocate gigabytes or burn CPU for hours, so each format's costs are
// capped and anything beyond the caps is ErrUnknownFormat.
package password

import (
	"errors"
	"fmt"
	"strings"
)

// Names returned by Kind.
const (
	KindBcrypt       = "bcrypt"
	KindArgon2id     = "argon2id"
	KindPBKDF2SHA256 = "pbkdf2_sha256"
	KindUnknown      = "unknown"
)

// DefaultDummyCost is the bcrypt cost of the dummy hash checked for unknown
// users (and for unusable stored hashes) unless dummy_hash_cost or a rehash
// target say otherwise.
const DefaultDummyCost = 10

// maxEncodedLen bounds the stored hash we even look at. The longest hash we
// accept (argon2id with a 64-byte salt and a 128-byte key) is about 300 bytes.
const maxEncodedLen = 1024

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

// Verifier verifies passwords with uniform timing. Build one per module
// instance with NewVerifier, from the Dummy that matches the configuration
// (see there). A Verifier literal without NewVerifier (the zero value, or
// one with only DummyCost set) still works as before: its dummy is the
// bcrypt DummyHash(DummyCost), made on first use, with DefaultDummyCost for
// 0 and out-of-range costs clamped; new callers should not rely on that.
type Verifier struct {
	// DummyCost is the bcrypt cost of the dummy of a Verifier not made by
	// NewVerifier. A stored hash that cannot be used at all
	// (ErrUnknownFormat) is answered only after verifying that same dummy,
	// so such an account times exactly like an unknown user.
	//
	// Deprecated: use NewVerifier with a Dummy from NewBcryptDummy, which
	// refuses a cost outside MinBcryptCost..MaxDummyBcryptCost instead of
	// clamping it and computes the dummy up front.
	DummyCost int

	// dummy, when set by NewVerifier, replaces DummyCost: it is what
	// VerifyUnknownUser and unusable stored hashes are checked against.
	dummy *Dummy
}

// Verify reports whether password matches the encoded hash: nil on a match,
// otherwise one of the sentinel errors (possibly wrapped). It uses a
// Verifier with DefaultDummyCost, so an unusable stored hash costs a
// cost-10 bcrypt whatever dummy_hash_cost or the rehash target say; callers
// with a configuration use NewVerifier(...).Verify instead.
func Verify(encoded string, password []byte) error {
	return Verifier{}.Verify(encoded, password)
}

// Verify reports whether password matches the encoded hash: nil on a match,
// otherwise ErrMismatch, ErrTooLong or ErrUnknownFormat (possibly wrapped).
// Every outcome costs one full hash computation, so timing tells an
// observer nothing about which of them it was: a stored hash that is empty
// (a NULL column), malformed or in no known format is answered only after
// verifying the Verifier's dummy, exactly as VerifyUnknownUser does.
func (v Verifier) Verify(encoded string, password []byte) error {
	err := verify(encoded, password)
	if errors.Is(err, ErrUnknownFormat) {
		// Nothing was hashed: spend what an unknown user costs. The result
		// is meaningless (the dummy's secret is random and thrown away).
		_ = v.VerifyUnknownUser(password)
	}
	return err
}

func (v Verifier) dummyCost() int {
	if v.DummyCost == 0 {
		return DefaultDummyCost
	}
	return v.DummyCost
}

// verify dispatches on the hash's format without any timing padding.
func verify(encoded string, password []byte) error {
	if len(encoded) > maxEncodedLen {
		return fmt.Errorf("%w: stored hash longer than %d bytes", ErrUnknownFormat, maxEncodedLen)
	}
	switch Kind(encoded) {
	case KindBcrypt:
		return verifyBcrypt(encoded, password)
	case KindArgon2id:
		return verifyArgon2id(encoded, password)
	case KindPBKDF2SHA256:
		return verifyPBKDF2(encoded, password)
	}
	if encoded == "" {
		return fmt.Errorf("%w: stored hash is empty", ErrUnknownFormat)
	}
	return fmt.Errorf("%w: unrecognised prefix (want $2a$, $2b$, $2y$, $argon2id$ or pbkdf2_sha256$)", ErrUnknownFormat)
}

// Kind names the format encoded claims to be by its prefix: "bcrypt",
// "argon2id", "pbkdf2_sha256" or "unknown". It does not validate the rest of
// the hash, and the name is safe to log.
func Kind(encoded string) string {
	switch {
	case isBcrypt(encoded):
		return KindBcrypt
	case strings.HasPrefix(encoded, argon2idPrefix):
		return KindArgon2id
	case strings.HasPrefix(encoded, pbkdf2Prefix):
		return KindPBKDF2SHA256
	}
	return KindUnknown
}

// NeedsRehash reports whether encoded is weaker than argon2id at p: any
// bcrypt or PBKDF2 hash, or an argon2id hash with any of memory, time,
// threads, salt length or key length below p. It is meant for a hash that
// Verify just accepted; for a hash it cannot parse it returns false, so that
// nothing is ever written because of data we do not understand.
func NeedsRehash(encoded string, p Argon2Params) bool {
	switch Kind(encoded) {
	case KindBcrypt, KindPBKDF2SHA256:
		return true
	case KindArgon2id:
		h, err := parseArgon2id(encoded)
		if err != nil {
			return false
		}
		return h.params.weakerThan(p)
	}
	return false
}
