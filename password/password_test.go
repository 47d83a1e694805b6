package password

import (
	"errors"
	"strings"
	"testing"
)

// Vectors made by independent implementations, not by this package:
// PHP's manual (password_verify), the openwall crypt_blowfish test suite,
// Python's bcrypt module, the argon2 reference CLI (`argon2 <salt> -id ...`),
// Caddy's `hash-password` (its FakeHash), and Python's hashlib.pbkdf2_hmac
// laid out as Django does.
var vectors = []struct {
	name     string
	kind     string
	encoded  string
	password string
	slow     bool // skipped under the race detector
}{
	{"bcrypt 2y php manual", KindBcrypt, "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a", "rasmuslerdorf", true},
	{"bcrypt 2y openwall 8-bit", KindBcrypt, "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "\xff\xff\xa3", false},
	{"bcrypt 2a openwall", KindBcrypt, "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", false},
	{"bcrypt 2b python", KindBcrypt, "$2b$05$VQpwxV8VYOh8LlOlpAcHreJpIU6lqZDpntwHCaxtvEgDAXPCW0iRa", "correct horse", false},
	{"argon2id reference cli m=64MiB t=3 p=4", KindArgon2id, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MTZi$HrGDKK/kxx1uDpdagXSP+KKvth4C3QLxtGQy8WvJoPc", "correct horse", true},
	{"argon2id reference cli owasp minimum", KindArgon2id, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE", "password", false},
	{"argon2id caddy", KindArgon2id, "$argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg", "antitiming", false},
	{"django pbkdf2 600k", KindPBKDF2SHA256, "pbkdf2_sha256$600000$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc=", "correct horse", true},
	{"django pbkdf2 utf-8", KindPBKDF2SHA256, "pbkdf2_sha256$1000$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac=", "pässwörd", false},
}

func TestVerifyKnownVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			if v.slow && raceEnabled {
				t.Skip("slow under the race detector")
			}
			if got := Kind(v.encoded); got != v.kind {
				t.Errorf("Kind = %q, want %q", got, v.kind)
			}
			if err := Verify(v.encoded, []byte(v.password)); err != nil {
				t.Errorf("right password: %v", err)
			}
			if err := Verify(v.encoded, []byte(v.password+"!")); !errors.Is(err, ErrMismatch) {
				t.Errorf("wrong password: got %v, want ErrMismatch", err)
			}
		})
	}
}

// fastVerifier pads unusable hashes with the cheapest dummy so that the
// malformed-input tests stay quick.
var fastVerifier = NewVerifier(mustDummy(NewBcryptDummy(MinBcryptCost)))

func mustDummy(d *Dummy, err error) *Dummy {
	if err != nil {
		panic(err)
	}
	return d
}

func TestVerifyUnknownFormat(t *testing.T) {
	const secret = "s3cr3t-PASSWORD-xyz"
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"plaintext", "hunter2-plaintext"},
		{"md5 crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"},
		{"sha512 crypt", "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"},
		{"pbkdf2 sha1", "pbkdf2_sha1$260000$salt$aGFzaA=="},
		{"over 1024 bytes", "pbkdf2_sha256$1000$" + strings.Repeat("S", 2000) + "$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},

		{"bcrypt 2x", "$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt 2 without minor", "$2$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3eX"},
		{"bcrypt truncated", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3"},
		{"bcrypt trailing byte", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e="},
		{"bcrypt cost 3", "$2y$03$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt cost 17", "$2y$17$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt cost 31", "$2b$31$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt cost not digits", "$2y$0x$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt cost separator", "$2y$05!/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
		{"bcrypt bad alphabet", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3+"},

		{"argon2id version 16", "$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id no version", "$argon2id$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id memory 1 GiB", "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id memory 4 TiB", "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id memory overflow", "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id memory under 8p", "$argon2id$v=19$m=31,t=2,p=4$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id time 0", "$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id time 11", "$argon2id$v=19$m=19456,t=11,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id threads 0", "$argon2id$v=19$m=19456,t=2,p=0$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id threads 17", "$argon2id$v=19$m=19456,t=2,p=17$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id threads 256", "$argon2id$v=19$m=19456,t=2,p=256$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id signed", "$argon2id$v=19$m=+19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id reordered", "$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id extra data", "$argon2id$v=19$m=19456,t=2,p=1,data=YWJj$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id salt 4 bytes", "$argon2id$v=19$m=19456,t=2,p=1$c29tZQ$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id padded salt", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id key 8 bytes", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JU"},
		{"argon2id key not base64", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9Zxz*mHFTdb7J0WQsnj2V8bZaqyPptE"},
		{"argon2id seven fields", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE$"},
		{"argon2id five fields", "$argon2id$v=19$m=19456,t=2,p=1$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"},

		{"pbkdf2 iterations 0", "pbkdf2_sha256$0$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc="},
		{"pbkdf2 iterations over cap", "pbkdf2_sha256$10000001$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc="},
		{"pbkdf2 iterations huge", "pbkdf2_sha256$99999999999999999999$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc="},
		{"pbkdf2 iterations negative", "pbkdf2_sha256$-1$seasalt0123456789abcde$Jbjo7P9rDFcNNGIECsUmPY0Aip6uNRfN3xr09Imwklc="},
		{"pbkdf2 iterations signed", "pbkdf2_sha256$+1000$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},
		{"pbkdf2 iterations text", "pbkdf2_sha256$many$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},
		{"pbkdf2 empty salt", "pbkdf2_sha256$1000$$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},
		{"pbkdf2 unpadded hash", "pbkdf2_sha256$1000$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac"},
		{"pbkdf2 short hash", "pbkdf2_sha256$1000$x$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApv"},
		{"pbkdf2 five fields", "pbkdf2_sha256$1000$x$y$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},
		{"pbkdf2 three fields", "pbkdf2_sha256$1000$FVUKCODGz9FzfjbJ0h0HeI9YAAlHaApvEJrvMw1Nmac="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fastVerifier.Verify(tt.encoded, []byte(secret))
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("got %v, want ErrUnknownFormat", err)
			}
			assertNoSecrets(t, err, tt.encoded, secret)
			if NeedsRehash(tt.encoded, DefaultArgon2) && Kind(tt.encoded) == KindArgon2id {
				t.Error("NeedsRehash true for an argon2id hash that does not parse")
			}
		})
	}
}

// assertNoSecrets fails when err's text quotes the password or any
// distinctive part of the stored hash.
func assertNoSecrets(t *testing.T, err error, encoded, password string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("error text %q contains the password", msg)
	}
	for _, field := range strings.Split(encoded, "$") {
		if len(field) >= 10 && field != KindPBKDF2SHA256 && strings.Contains(msg, field) {
			t.Errorf("error text %q contains hash field %q", msg, field)
		}
	}
}

// TestUnknownFormatSpendsDummyHash covers a Verifier literal (not made by
// NewVerifier), which still pads with the bcrypt dummy of DummyCost.
func TestUnknownFormatSpendsDummyHash(t *testing.T) {
	const cost = 7
	forgetDummy(cost) // so that only the Verify below can have filled it
	err := Verifier{DummyCost: cost}.Verify("not-a-hash", []byte("pw"))
	if !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("got %v, want ErrUnknownFormat", err)
	}
	if !dummyCached(cost) {
		t.Error("unknown format answered without verifying the dummy hash")
	}
}

// forgetDummy drops the cached dummy of cost, so that a test can tell from
// dummyCached whether the code under test made (and so spent) it, however
// many times and in whatever order the tests run.
func forgetDummy(cost int) {
	dummyMu.Lock()
	defer dummyMu.Unlock()
	delete(dummyHashes, cost)
}

func dummyCached(cost int) bool {
	dummyMu.Lock()
	defer dummyMu.Unlock()
	_, ok := dummyHashes[cost]
	return ok
}

func TestKind(t *testing.T) {
	tests := []struct{ encoded, want string }{
		{"$2a$10$x", KindBcrypt},
		{"$2b$10$x", KindBcrypt},
		{"$2y$10$x", KindBcrypt},
		{"$2x$10$x", KindUnknown},
		{"$2$10$x", KindUnknown},
		{"$argon2id$v=19$", KindArgon2id},
		{"$argon2i$v=19$", KindUnknown},
		{"$argon2d$v=19$", KindUnknown},
		{"pbkdf2_sha256$1$s$h", KindPBKDF2SHA256},
		{"pbkdf2_sha1$1$s$h", KindUnknown},
		{"PBKDF2_SHA256$1$s$h", KindUnknown},
		{"", KindUnknown},
		{"password123", KindUnknown},
	}
	for _, tt := range tests {
		if got := Kind(tt.encoded); got != tt.want {
			t.Errorf("Kind(%q) = %q, want %q", tt.encoded, got, tt.want)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	want := Argon2Params{Memory: 19456, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	salt16 := "c29tZXNhbHRzb21lc2FsdA"                     // 16 bytes
	salt8 := "c29tZXNhbHQ"                                 // 8 bytes
	key32 := "K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE" // 32 bytes
	key16 := "K13EBUiG7JV+9ZxztmHFTQ"                      // 16 bytes
	a := func(params, salt, key string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name    string
		encoded string
		want    bool
	}{
		{"bcrypt", vectors[0].encoded, true},
		{"pbkdf2", vectors[7].encoded, true},
		{"argon2id equal", a("m=19456,t=2,p=2", salt16, key32), false},
		{"argon2id stronger", a("m=65536,t=3,p=4", salt16, key32), false},
		{"argon2id lower memory", a("m=19455,t=2,p=2", salt16, key32), true},
		{"argon2id lower time", a("m=65536,t=1,p=2", salt16, key32), true},
		{"argon2id lower threads", a("m=65536,t=3,p=1", salt16, key32), true},
		{"argon2id shorter salt", a("m=19456,t=2,p=2", salt8, key32), true},
		{"argon2id shorter key", a("m=19456,t=2,p=2", salt16, key16), true},
		{"argon2id malformed", a("m=19456,t=2", salt16, key32), false},
		{"unknown", "hunter2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.encoded, want); got != tt.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRehashUpgrade walks the rehash-at-login path: a bcrypt hash verifies,
// needs a rehash, and its argon2id replacement verifies and does not.
func TestRehashUpgrade(t *testing.T) {
	pw := []byte(vectors[3].password)
	if err := Verify(vectors[3].encoded, pw); err != nil {
		t.Fatal(err)
	}
	if !NeedsRehash(vectors[3].encoded, DefaultArgon2) {
		t.Fatal("bcrypt hash does not need a rehash")
	}
	upgraded, err := HashArgon2id(pw, DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(upgraded, pw); err != nil {
		t.Errorf("upgraded hash: %v", err)
	}
	if NeedsRehash(upgraded, DefaultArgon2) {
		t.Error("upgraded hash still needs a rehash")
	}
}
