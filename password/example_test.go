package password_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/claimgate/claimgate/password"
)

func ExampleVerify() {
	// A Django hash (PBKDF2-HMAC-SHA256, 1000 iterations, salt "x").
	stored := "pbkdf2_sha256$1000$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="

	fmt.Println(password.Kind(stored))
	fmt.Println(password.Verify(stored, []byte("pässwörd")))
	fmt.Println(errors.Is(password.Verify(stored, []byte("guess")), password.ErrMismatch))
	fmt.Println(password.NeedsRehash(stored, password.DefaultArgon2))
	// Output:
	// pbkdf2_sha256
	// <nil>
	// true
	// true
}

func ExampleGuard() {
	guard := password.NewGuard(0, 2*time.Second) // one slot per CPU
	// e.g. the row's password_hash
	stored, _ := password.HashBcrypt([]byte("s3cret"), password.MinBcryptCost)

	var verr error
	if err := guard.Do(context.Background(), func() {
		verr = password.Verify(stored, []byte("guess"))
	}); err != nil {
		fmt.Println("503:", err) // ErrSaturated or the request's ctx.Err()
		return
	}
	fmt.Println(verr)
	// Output:
	// password does not match
}

// A login handler builds its Verifier once, at setup, with the dummy that
// matches the configuration: argon2id at the rehash target when rehash is
// on, otherwise bcrypt at dummy_hash_cost (validated when the config loads).
func ExampleNewVerifier() {
	rehash := true // rehash_query configured
	dummyHashCost := 10
	if err := password.ValidateDummyCost(dummyHashCost); err != nil {
		fmt.Println("config refused:", err)
		return
	}
	var dummy *password.Dummy
	var err error
	if rehash {
		dummy, err = password.NewArgon2idDummy(password.DefaultArgon2)
	} else {
		dummy, err = password.NewBcryptDummy(dummyHashCost)
	}
	if err != nil {
		panic(err)
	}
	v := password.NewVerifier(dummy)

	// Per login: an unknown user, a NULL password_hash and a wrong
	// password all cost one argon2id verification at DefaultArgon2.
	fmt.Println(dummy.Kind())
	fmt.Println(v.VerifyUnknownUser([]byte("guess")))
	fmt.Println(errors.Is(v.Verify("", []byte("guess")), password.ErrUnknownFormat))
	fmt.Println(password.ValidateDummyCost(20) != nil)
	// Output:
	// argon2id
	// password does not match
	// true
	// true
}
