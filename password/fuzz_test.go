package password

import (
	"errors"
	"testing"
)

// FuzzVerify feeds arbitrary stored hashes and passwords to Verify. It must
// never panic, and must answer nil or one of its sentinel errors. Huge
// allocations are ruled out by the caps (argon2id memory 256 MiB, PBKDF2 10M
// iterations, bcrypt cost 16); mutations that reach a cap's upper end are
// slow but legal.
func FuzzVerify(f *testing.F) {
	for _, v := range vectors {
		if !v.slow {
			f.Add(v.encoded, []byte(v.password))
		}
	}
	f.Add("$2y$04$"+"......................"+"...............................", []byte("x"))
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE", []byte("pw"))
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdA$a2V5", []byte("pw"))
	f.Add("pbkdf2_sha256$1$s$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac=", make([]byte, 100))
	f.Add("pbkdf2_sha256$4294967295$s$h", []byte{})
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, encoded string, password []byte) {
		_ = Kind(encoded)
		_ = NeedsRehash(encoded, DefaultArgon2)
		err := fastVerifier.Verify(encoded, password)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrTooLong) {
			t.Fatalf("Verify returned a non-sentinel error: %v", err)
		}
		if errors.Is(err, ErrTooLong) && (Kind(encoded) != KindBcrypt || len(password) <= bcryptMaxPassword) {
			t.Fatalf("ErrTooLong for a %s hash and a %d-byte password", Kind(encoded), len(password))
		}
	})
}
