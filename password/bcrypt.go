package password

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Bcrypt cost bounds. MaxBcryptCost is ours, not bcrypt's (31): each step
// doubles the work, and cost 31 takes days, so a hostile or corrupt row could
// pin a hashing slot indefinitely. Cost 16 is about four seconds on a current
// core, well above any cost used for interactive logins.
const (
	MinBcryptCost = bcrypt.MinCost // 4
	MaxBcryptCost = 16
)

// bcryptMaxPassword is the most bcrypt reads of a password; later bytes would
// be silently ignored.
const bcryptMaxPassword = 72

// bcryptLen is the length of every modular-crypt bcrypt hash:
// "$2b$" + 2 cost digits + "$" + 22 salt + 31 hash characters.
const bcryptLen = 60

// isBcrypt reports whether encoded has one of the bcrypt prefixes we accept.
// $2y$ (PHP) and $2b$ (OpenBSD) are the same algorithm as a correct $2a$;
// golang.org/x/crypto/bcrypt accepts any minor version letter and keeps it
// when re-encoding, so no prefix rewrite is needed. $2x$ (PHP's marker for
// hashes made by the buggy pre-2011 crypt_blowfish) and $2$ are refused.
func isBcrypt(encoded string) bool {
	return strings.HasPrefix(encoded, "$2a$") ||
		strings.HasPrefix(encoded, "$2b$") ||
		strings.HasPrefix(encoded, "$2y$")
}

// verifyBcrypt checks password against a bcrypt hash.
//
// A password over 72 bytes is refused with ErrTooLong, never truncated (OWASP
// ASVS: verify the password exactly as received). It is refused only after a
// full-cost bcrypt of its first 72 bytes against the dummy hash of the same
// cost, so that "too long" is not faster than "wrong": an attacker timing
// responses learns nothing, and the refusal looks like any failed login. The
// real hash never sees the truncated password, so no code path can accept it.
func verifyBcrypt(encoded string, password []byte) error {
	cost, err := bcryptCost(encoded)
	if err != nil {
		return err
	}
	if len(password) > bcryptMaxPassword {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash(cost)), password[:bcryptMaxPassword])
		return ErrTooLong
	}
	err = bcrypt.CompareHashAndPassword([]byte(encoded), password)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return ErrMismatch
	default:
		// x/crypto's own error text may quote bytes of the hash: drop it.
		return fmt.Errorf("%w: bcrypt hash does not decode", ErrUnknownFormat)
	}
}

// bcryptCost validates the shape of a bcrypt hash and returns its cost.
// The checks are strict so that x/crypto only ever sees well-formed input.
func bcryptCost(encoded string) (int, error) {
	if len(encoded) != bcryptLen {
		return 0, fmt.Errorf("%w: bcrypt hash is not %d characters", ErrUnknownFormat, bcryptLen)
	}
	d1, d2, sep := encoded[4], encoded[5], encoded[6]
	if !isDigit(d1) || !isDigit(d2) || sep != '$' {
		return 0, fmt.Errorf("%w: bcrypt cost is not two digits", ErrUnknownFormat)
	}
	for i := 7; i < len(encoded); i++ {
		if !isBcryptBase64(encoded[i]) {
			return 0, fmt.Errorf("%w: bcrypt salt or hash has a character outside its alphabet", ErrUnknownFormat)
		}
	}
	cost := int(d1-'0')*10 + int(d2-'0')
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return 0, fmt.Errorf("%w: bcrypt cost outside %d..%d", ErrUnknownFormat, MinBcryptCost, MaxBcryptCost)
	}
	return cost, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isBcryptBase64 reports whether c is in bcrypt's base64 alphabet
// "./A-Za-z0-9".
func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || isDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// HashBcrypt returns a bcrypt hash of password at cost; it refuses passwords
// over 72 bytes (ErrTooLong) and costs outside MinBcryptCost..MaxBcryptCost,
// which Verify would not accept back.
func HashBcrypt(password []byte, cost int) (string, error) {
	if len(password) > bcryptMaxPassword {
		return "", ErrTooLong
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return "", fmt.Errorf("bcrypt cost %d outside %d..%d", cost, MinBcryptCost, MaxBcryptCost)
	}
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return "", fmt.Errorf("hashing with bcrypt: %w", err)
	}
	return string(h), nil
}

// dummyHashes caches one dummy hash per cost; each is computed once, by the
// first caller, while concurrent callers for the same cost wait for it.
var (
	dummyMu     sync.Mutex
	dummyHashes = map[int]func() string{}
)

// DummyHash returns a bcrypt hash of a random secret at cost, computed once
// per cost and cached; it is verified for unknown users so that their timing
// matches a wrong password. A cost outside MinBcryptCost..MaxBcryptCost is
// clamped into that range (the dummy must be a hash Verify accepts, or an
// unknown user would be answered faster than a real one) — silently, which
// is why new code should not call it with a configured cost.
//
// Deprecated: use NewBcryptDummy (or NewArgon2idDummy when rehash is
// configured) with NewVerifier and VerifyUnknownUser. NewBcryptDummy refuses
// an out-of-range cost with an error instead of clamping it; validate
// dummy_hash_cost at load with ValidateDummyCost.
func DummyHash(cost int) string {
	return dummyHash(min(max(cost, MinBcryptCost), MaxBcryptCost))
}

// dummyHash is DummyHash for a cost already known to be in range.
func dummyHash(cost int) string {
	dummyMu.Lock()
	get, ok := dummyHashes[cost]
	if !ok {
		get = sync.OnceValue(func() string { return newDummyHash(cost) })
		dummyHashes[cost] = get
	}
	dummyMu.Unlock()
	return get()
}

// newDummyHash hashes a random secret that is never kept, so no password can
// match the dummy.
func newDummyHash(cost int) string {
	h, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		// Unreachable: the cost is in range and the secret is 26 bytes.
		panic("password: making dummy bcrypt hash: " + err.Error())
	}
	return string(h)
}
