package password

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestValidateDummyCost(t *testing.T) {
	tests := []struct {
		cost int
		ok   bool
	}{
		{-1, false},
		{0, false}, // "unset" is the caller's business: it maps it to DefaultDummyCost
		{3, false},
		{MinBcryptCost, true},
		{DefaultDummyCost, true},
		{16, true},
		{17, false}, // accepted by bcrypt, but slower than any hash we verify
		{31, false}, // bcrypt's own maximum: days to compute
		{32, false},
	}
	for _, tt := range tests {
		err := ValidateDummyCost(tt.cost)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateDummyCost(%d) = %v, want ok=%v", tt.cost, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "4..16") {
			t.Errorf("ValidateDummyCost(%d): error %q does not name the valid range", tt.cost, err)
		}
	}
	if MaxDummyBcryptCost != MaxBcryptCost {
		t.Errorf("MaxDummyBcryptCost %d != MaxBcryptCost %d: a dummy costlier than any verifiable hash would stand out",
			MaxDummyBcryptCost, MaxBcryptCost)
	}
}

// TestNewBcryptDummyRefusesInsteadOfClamping: dummy_hash_cost 17..31 used to
// be accepted and silently treated as 16.
func TestNewBcryptDummyRefusesInsteadOfClamping(t *testing.T) {
	tests := []struct {
		cost int
		ok   bool
	}{
		{MinBcryptCost, true},
		{5, true},
		{0, false},
		{3, false},
		{17, false},
		{31, false},
	}
	for _, tt := range tests {
		d, err := NewBcryptDummy(tt.cost)
		if !tt.ok {
			if err == nil || d != nil {
				t.Errorf("NewBcryptDummy(%d) = %v, %v; want an error", tt.cost, d, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewBcryptDummy(%d): %v", tt.cost, err)
		}
		if c, err := bcrypt.Cost([]byte(d.encoded)); err != nil || c != tt.cost {
			t.Errorf("NewBcryptDummy(%d): hash cost %d, %v", tt.cost, c, err)
		}
		if d.Kind() != KindBcrypt {
			t.Errorf("NewBcryptDummy(%d).Kind() = %q", tt.cost, d.Kind())
		}
	}
}

// TestNewArgon2idDummyMatchesRehashTarget: with rehash configured, the dummy
// must be an argon2id hash with exactly the target's parameters (salt and
// key length included), i.e. a hash NeedsRehash would leave alone, so an
// unknown user costs what a rehashed user costs.
func TestNewArgon2idDummyMatchesRehashTarget(t *testing.T) {
	tests := []struct {
		name string
		p    Argon2Params
		ok   bool
	}{
		{"cheap", cheapArgon2, true},
		{"default", DefaultArgon2, true},
		{"wide", Argon2Params{Memory: 256, Time: 2, Threads: 4, SaltLen: 32, KeyLen: 64}, true},
		{"zero", Argon2Params{}, false},
		{"memory over cap", Argon2Params{Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p == DefaultArgon2 && raceEnabled {
				t.Skip("slow under the race detector")
			}
			d, err := NewArgon2idDummy(tt.p)
			if !tt.ok {
				if err == nil {
					t.Fatalf("NewArgon2idDummy(%+v) succeeded", tt.p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind() != KindArgon2id || Kind(d.encoded) != KindArgon2id {
				t.Fatalf("kind %q, encoded as %q", d.Kind(), Kind(d.encoded))
			}
			h, err := parseArgon2id(d.encoded)
			if err != nil {
				t.Fatal(err)
			}
			if h.params != tt.p {
				t.Errorf("dummy params %+v, want exactly %+v", h.params, tt.p)
			}
			if NeedsRehash(d.encoded, tt.p) {
				t.Error("the dummy is weaker than the rehash target")
			}
			if err := d.Verify([]byte("")); !errors.Is(err, ErrMismatch) {
				t.Errorf("Verify = %v, want ErrMismatch", err)
			}
		})
	}
}

// TestUnusableHashSpendsConfiguredDummy: an account whose stored hash is
// NULL (read as ""), empty or unreadable is checked against the Verifier's
// configured dummy — not the default cost-10 bcrypt — and fails like a wrong
// password would.
func TestUnusableHashSpendsConfiguredDummy(t *testing.T) {
	dummies := map[string]*Dummy{
		"bcrypt cost 5": mustDummy(NewBcryptDummy(5)),
		"argon2id":      mustDummy(NewArgon2idDummy(cheapArgon2)),
	}
	good, err := HashArgon2id([]byte("right"), cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		encoded   string
		want      error
		wantSpent uint64
	}{
		{"null", "", ErrUnknownFormat, 1},
		{"plaintext", "hunter2", ErrUnknownFormat, 1},
		{"bcrypt truncated", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3", ErrUnknownFormat, 1},
		{"bcrypt cost 31", "$2b$31$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", ErrUnknownFormat, 1},
		{"argon2id over the caps", "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE", ErrUnknownFormat, 1},
		// A usable hash pays for itself and never touches the dummy.
		{"usable, wrong password", good, ErrMismatch, 0},
	}
	for dname, d := range dummies {
		v := NewVerifier(d)
		for _, tt := range tests {
			t.Run(dname+"/"+tt.name, func(t *testing.T) {
				before := d.spent.Load()
				err := v.Verify(tt.encoded, []byte("wrong"))
				if !errors.Is(err, tt.want) {
					t.Errorf("Verify = %v, want %v", err, tt.want)
				}
				if got := d.spent.Load() - before; got != tt.wantSpent {
					t.Errorf("configured dummy verified %d times, want %d", got, tt.wantSpent)
				}
			})
		}
	}
}

func TestVerifyUnknownUser(t *testing.T) {
	tests := []struct {
		name     string
		dummy    *Dummy
		password []byte
	}{
		{"bcrypt", mustDummy(NewBcryptDummy(MinBcryptCost)), []byte("guess")},
		{"bcrypt, over 72 bytes", mustDummy(NewBcryptDummy(MinBcryptCost)), bytes.Repeat([]byte("a"), 100)},
		{"argon2id", mustDummy(NewArgon2idDummy(cheapArgon2)), []byte("guess")},
		{"argon2id, empty", mustDummy(NewArgon2idDummy(cheapArgon2)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.dummy.spent.Load()
			if err := NewVerifier(tt.dummy).VerifyUnknownUser(tt.password); !errors.Is(err, ErrMismatch) {
				t.Errorf("VerifyUnknownUser = %v, want ErrMismatch", err)
			}
			if tt.dummy.spent.Load() != before+1 {
				t.Error("VerifyUnknownUser did not verify the dummy")
			}
		})
	}
	// A Verifier not made by NewVerifier keeps its old dummy: DummyCost.
	const cost = 8
	forgetDummy(cost)
	if err := (Verifier{DummyCost: cost}).VerifyUnknownUser([]byte("guess")); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verifier literal: %v, want ErrMismatch", err)
	}
	if !dummyCached(cost) {
		t.Error("Verifier literal did not verify its DummyCost dummy")
	}
}

// TestDummyConcurrent shares one Dummy between many goroutines, as every
// login request of a module instance does (run with -race).
func TestDummyConcurrent(t *testing.T) {
	d := mustDummy(NewArgon2idDummy(cheapArgon2))
	v := NewVerifier(d)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = v.VerifyUnknownUser([]byte("guess"))
			} else {
				err = v.Verify("", []byte("guess"))
			}
			if err == nil {
				t.Error("a guess was accepted")
			}
		})
	}
	wg.Wait()
	if got := d.spent.Load(); got != n {
		t.Errorf("dummy verified %d times, want %d", got, n)
	}
}
