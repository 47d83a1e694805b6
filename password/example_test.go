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
	stored := password.DummyHash(4)              // e.g. the row's password_hash

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
