package password

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
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
	v := NewVerifier(mustDummy(NewBcryptDummy(DefaultDummyCost)))
	pw := []byte("correct horse battery staple")
	for b.Loop() {
		if err := v.VerifyUnknownUser(pw); !errors.Is(err, ErrMismatch) {
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

// minTimingSamples is how many samples of each series
// BenchmarkUnknownVsWrongPassword takes at least, whatever b.N is.
const minTimingSamples = 40

// BenchmarkUnknownVsWrongPassword measures, through the public Verifier
// API, what an unknown user costs next to a known user with a wrong
// password, and reports the medians and their ratio (1.0 is the goal).
// It is a measurement, not an assertion: run it on a quiet machine with
//
//	go test -run x -bench UnknownVsWrong -benchtime 40x ./password/
//
// Samples of the two series alternate (and alternate which goes first), so
// that load from other processes falls on both alike. The
// "argon2id-users/bcrypt10-dummy" case is the configuration before the
// dummy followed the rehash target: rehashed users on argon2id, unknown
// users on a cost-10 bcrypt.
func BenchmarkUnknownVsWrongPassword(b *testing.B) {
	pw, wrong := []byte("correct horse battery staple"), []byte("correct horse battery stapler")
	bcrypt10, err := HashBcrypt(pw, DefaultDummyCost)
	if err != nil {
		b.Fatal(err)
	}
	argon, err := HashArgon2id(pw, DefaultArgon2)
	if err != nil {
		b.Fatal(err)
	}
	bcryptDummy := mustDummy(NewBcryptDummy(DefaultDummyCost))
	argonDummy := mustDummy(NewArgon2idDummy(DefaultArgon2))

	cases := []struct {
		name    string
		v       Verifier
		stored  string // the known user's hash
		unknown func(Verifier) error
	}{
		{"bcrypt10-users/bcrypt10-dummy", NewVerifier(bcryptDummy), bcrypt10, unknownUser(wrong)},
		{"argon2id-users/argon2id-dummy", NewVerifier(argonDummy), argon, unknownUser(wrong)},
		{"argon2id-users/null-hash", NewVerifier(argonDummy), argon, func(v Verifier) error { return v.Verify("", wrong) }},
		{"argon2id-users/bcrypt10-dummy", NewVerifier(bcryptDummy), argon, unknownUser(wrong)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var unknownNs, wrongNs []float64
			sample := func(i int) {
				unknown := func() {
					start := time.Now()
					if err := c.unknown(c.v); err == nil {
						b.Fatal("unknown user accepted")
					}
					unknownNs = append(unknownNs, float64(time.Since(start)))
				}
				wrongPw := func() {
					start := time.Now()
					if err := c.v.Verify(c.stored, wrong); !errors.Is(err, ErrMismatch) {
						b.Fatalf("wrong password: %v", err)
					}
					wrongNs = append(wrongNs, float64(time.Since(start)))
				}
				if i%2 == 0 {
					unknown()
					wrongPw()
				} else {
					wrongPw()
					unknown()
				}
			}
			i := 0
			for b.Loop() {
				sample(i)
				i++
			}
			// Top up outside the timed loop when b.N was small.
			for ; i < minTimingSamples; i++ {
				sample(i)
			}
			mu, mw := median(unknownNs), median(wrongNs)
			b.ReportMetric(mu/1e6, "unknown-ms")
			b.ReportMetric(mw/1e6, "wrong-ms")
			b.ReportMetric(mu/mw, "unknown/wrong")
			b.ReportMetric(float64(len(unknownNs)), "samples")
		})
	}
}

func unknownUser(pw []byte) func(Verifier) error {
	return func(v Verifier) error { return v.VerifyUnknownUser(pw) }
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
