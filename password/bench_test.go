package password

import (
	"context"
	"errors"
	"testing"
)

// The login benchmark compares the gateway against BenchmarkVerifyBcrypt10,
// the raw cost of the hash most customer tables hold.

func BenchmarkVerifyBcrypt10(b *testing.B) {
	pw := []byte("correct horse battery staple")
	h, err := HashBcrypt(pw, 10)
	if err != nil {
		b.Fatal(err)
	}
	benchVerify(b, h, pw)
}

func BenchmarkVerifyArgon2idDefault(b *testing.B) {
	pw := []byte("correct horse battery staple")
	h, err := HashArgon2id(pw, DefaultArgon2)
	if err != nil {
		b.Fatal(err)
	}
	benchVerify(b, h, pw)
}

func BenchmarkVerifyPBKDF2_600k(b *testing.B) {
	// Django's 4.2 default iteration count, the OWASP ASVS minimum.
	benchVerify(b, "pbkdf2_sha256$600000$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc=", []byte("correct horse"))
}

// BenchmarkVerifyUnknownUser is the unknown-user path (the cost-10 dummy),
// which must cost the same as BenchmarkVerifyBcrypt10.
func BenchmarkVerifyUnknownUser(b *testing.B) {
	d := DummyHash(DefaultDummyCost)
	pw := []byte("correct horse battery staple")
	for b.Loop() {
		if err := Verify(d, pw); !errors.Is(err, ErrMismatch) {
			b.Fatal(err)
		}
	}
}

func benchVerify(b *testing.B, encoded string, pw []byte) {
	b.Helper()
	for b.Loop() {
		if err := Verify(encoded, pw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuardDo is the guard's own overhead per verification.
func BenchmarkGuardDo(b *testing.B) {
	g := NewGuard(0, 0)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := g.Do(ctx, func() {}); err != nil && !errors.Is(err, ErrSaturated) {
				b.Fatal(err)
			}
		}
	})
}
