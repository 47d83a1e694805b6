package bench

import (
	"testing"

	"github.com/claimgate/claimgate/password"
)

// BenchmarkRawBcrypt10 is the ceiling the login benchmark compares the
// gateway against: bcrypt cost-10 verifications on every core at once, with
// nothing else (no HTTP, SQL, JSON or signing). bench/login/run.sh turns its
// ns/op into verifications per second.
func BenchmarkRawBcrypt10(b *testing.B) {
	pw := []byte(BenchPassword)
	hash, err := password.HashBcrypt(pw, 10)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := password.Verify(hash, pw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchPassword is the bench user's password in bench/login.
const BenchPassword = "bench-password-0123456789"
