package password

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
)

// MaxDummyBcryptCost is the highest bcrypt cost a dummy hash may have. It is
// MaxBcryptCost on purpose: a stored bcrypt hash above that cost is refused
// as ErrUnknownFormat, so no real account costs more, and a costlier dummy
// would make unknown users the slowest answers there are — the very timing
// signal the dummy exists to hide. Higher costs are also impractical to
// compute at all (each step doubles the work; cost 31 takes days), so
// ValidateDummyCost refuses them at load instead of clamping them.
const MaxDummyBcryptCost = MaxBcryptCost

// ValidateDummyCost reports whether cost is a bcrypt cost a dummy hash may be
// made with: MinBcryptCost..MaxDummyBcryptCost (4..16). Config loaders call
// it on dummy_hash_cost so that an out-of-range value is refused with this
// error when the config loads, rather than clamped (which silently made a
// configured 20 behave as 16). It does not treat 0 as "unset": callers map an
// absent setting to DefaultDummyCost before validating.
func ValidateDummyCost(cost int) error {
	switch {
	case cost < MinBcryptCost:
		return fmt.Errorf("bcrypt dummy cost %d is outside %d..%d: bcrypt's minimum is %d",
			cost, MinBcryptCost, MaxDummyBcryptCost, MinBcryptCost)
	case cost > MaxDummyBcryptCost:
		return fmt.Errorf("bcrypt dummy cost %d is outside %d..%d: stored bcrypt hashes above cost %d are refused, "+
			"so a costlier dummy would make unknown users slower than any real account "+
			"(and each step doubles the time to compute it: cost 31 takes days)",
			cost, MinBcryptCost, MaxDummyBcryptCost, MaxBcryptCost)
	}
	return nil
}

// Dummy is a hash of a random, discarded secret, verified in place of a
// password hash when there is none to verify (an unknown user) or the stored
// one is unusable (NULL, empty, malformed), so that those cases cost what a
// wrong password costs.
//
// It is computed once, when it is made, so that the first unknown user does
// not stand out by the time it takes to make it. It is immutable afterwards
// and safe for concurrent use. Make one per configuration with
// NewBcryptDummy or NewArgon2idDummy and share it through NewVerifier.
type Dummy struct {
	encoded string
	kind    string
	// spent counts verifications, so tests can prove that a path paid for
	// the dummy without timing it. One atomic add is negligible next to a
	// hash that takes tens of milliseconds.
	spent atomic.Uint64
}

// NewBcryptDummy makes a bcrypt dummy at cost (dummy_hash_cost), the dummy to
// use when rehash_query is not configured. A cost outside
// MinBcryptCost..MaxDummyBcryptCost is an error (see ValidateDummyCost),
// never clamped.
//
// The hash is shared with DummyHash's per-cost cache, which verifyBcrypt
// also uses when it refuses an over-long password for a stored hash of this
// cost, so that path is warm too.
func NewBcryptDummy(cost int) (*Dummy, error) {
	if err := ValidateDummyCost(cost); err != nil {
		return nil, fmt.Errorf("making dummy hash: %w", err)
	}
	return &Dummy{encoded: dummyHash(cost), kind: KindBcrypt}, nil
}

// NewArgon2idDummy makes an argon2id dummy with exactly the parameters p,
// the dummy to use when rehash_query is configured with p as its target
// (the parameters NeedsRehash compares against and HashArgon2id writes).
// Users who logged in once are then stored at p, and an unknown user must
// cost what they cost: a bcrypt dummy next to argon2id users is told apart
// in a single sample. Parameters outside the caps Verify applies are an
// error.
func NewArgon2idDummy(p Argon2Params) (*Dummy, error) {
	h, err := HashArgon2id([]byte(rand.Text()), p)
	if err != nil {
		return nil, fmt.Errorf("making dummy hash: %w", err)
	}
	return &Dummy{encoded: h, kind: KindArgon2id}, nil
}

// Kind is the dummy's format, KindBcrypt or KindArgon2id; safe to log.
func (d *Dummy) Kind() string { return d.kind }

// Verify spends one verification of password against the dummy, through
// the same code path a stored hash of its format takes, and returns
// ErrMismatch: no password matches a dummy.
func (d *Dummy) Verify(password []byte) error {
	d.spent.Add(1)
	if err := verify(d.encoded, password); err == nil {
		// Unreachable unless someone guessed 130 random bits. Refuse anyway.
		return fmt.Errorf("%w: matched the dummy hash", ErrMismatch)
	}
	return ErrMismatch
}

// NewVerifier returns a Verifier that checks unknown users and unusable
// stored hashes against d. Build d once at setup:
//
//	var d *password.Dummy
//	if rehashConfigured {
//		d, err = password.NewArgon2idDummy(password.DefaultArgon2) // the rehash target
//	} else {
//		d, err = password.NewBcryptDummy(dummyHashCost)
//	}
//	v := password.NewVerifier(d)
//	...
//	if user == nil {
//		err = v.VerifyUnknownUser(pw)
//	} else {
//		err = v.Verify(user.PasswordHash, pw)
//	}
//
// A nil d gives the zero Verifier (the DefaultDummyCost bcrypt dummy, made
// lazily), which only callers not yet switched over should rely on.
func NewVerifier(d *Dummy) Verifier {
	return Verifier{dummy: d}
}

// VerifyUnknownUser spends what verifying a wrong password costs, against
// the Verifier's dummy, and returns ErrMismatch. Call it when no account
// matched the login name.
func (v Verifier) VerifyUnknownUser(password []byte) error {
	if v.dummy != nil {
		return v.dummy.Verify(password)
	}
	// A Verifier not made by NewVerifier: the bcrypt dummy of DummyCost.
	_ = verifyBcrypt(DummyHash(v.dummyCost()), password) // clamps: see DummyHash
	return ErrMismatch
}
