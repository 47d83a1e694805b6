package password

import (
	"errors"
	"strings"
	"testing"
)

// cheapArgon2 keeps round-trip tests fast; the parameters are still valid.
var cheapArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestArgon2idRoundTrip(t *testing.T) {
	for _, p := range []Argon2Params{
		cheapArgon2,
		{Memory: 256, Time: 2, Threads: 4, SaltLen: argon2MinSalt, KeyLen: argon2MinKey},
		{Memory: 128, Time: 1, Threads: 2, SaltLen: argon2MaxSalt, KeyLen: argon2MaxKey},
	} {
		pw := []byte("correct horse battery staple, and longer than bcrypt's seventy-two byte limit ...")
		h, err := HashArgon2id(pw, p)
		if err != nil {
			t.Fatalf("HashArgon2id(%+v): %v", p, err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=") || Kind(h) != KindArgon2id {
			t.Errorf("unexpected encoding %q", h)
		}
		parsed, err := parseArgon2id(h)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.params != p {
			t.Errorf("params round trip: got %+v, want %+v", parsed.params, p)
		}
		if err := Verify(h, pw); err != nil {
			t.Errorf("Verify(own hash): %v", err)
		}
		if err := Verify(h, pw[:len(pw)-1]); !errors.Is(err, ErrMismatch) {
			t.Errorf("wrong password: got %v, want ErrMismatch", err)
		}
	}
}

func TestArgon2idDefaultRoundTrip(t *testing.T) {
	h, err := HashArgon2id([]byte("pw"), DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("unexpected encoding %q", h)
	}
	if err := Verify(h, []byte("pw")); err != nil {
		t.Error(err)
	}
}

func TestArgon2idSaltIsRandom(t *testing.T) {
	a, _ := HashArgon2id([]byte("pw"), cheapArgon2)
	b, _ := HashArgon2id([]byte("pw"), cheapArgon2)
	if a == b {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestHashArgon2idRejectsOutOfRange(t *testing.T) {
	with := func(f func(*Argon2Params)) Argon2Params { p := cheapArgon2; f(&p); return p }
	for name, p := range map[string]Argon2Params{
		"zero":         {},
		"memory 1 GiB": with(func(p *Argon2Params) { p.Memory = 1 << 20 }),
		"memory < 8p":  with(func(p *Argon2Params) { p.Memory, p.Threads = 8, 2 }),
		"time 0":       with(func(p *Argon2Params) { p.Time = 0 }),
		"time 11":      with(func(p *Argon2Params) { p.Time = 11 }),
		"threads 0":    with(func(p *Argon2Params) { p.Threads = 0 }),
		"threads 17":   with(func(p *Argon2Params) { p.Threads = 17 }),
		"salt 7":       with(func(p *Argon2Params) { p.SaltLen = 7 }),
		"salt 65":      with(func(p *Argon2Params) { p.SaltLen = 65 }),
		"key 15":       with(func(p *Argon2Params) { p.KeyLen = 15 }),
		"key 129":      with(func(p *Argon2Params) { p.KeyLen = 129 }),
	} {
		if _, err := HashArgon2id([]byte("pw"), p); err == nil {
			t.Errorf("%s: HashArgon2id accepted %+v", name, p)
		}
	}
}
