package password

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestBcryptRoundTrip(t *testing.T) {
	for _, pw := range [][]byte{
		[]byte("correct horse battery staple"),
		{},
		bytes.Repeat([]byte("é"), 36), // 72 bytes, the most bcrypt takes
	} {
		h, err := HashBcrypt(pw, MinBcryptCost)
		if err != nil {
			t.Fatal(err)
		}
		if Kind(h) != KindBcrypt {
			t.Errorf("Kind(%q) = %q", h, Kind(h))
		}
		if err := Verify(h, pw); err != nil {
			t.Errorf("Verify(own hash of %d bytes): %v", len(pw), err)
		}
		if err := Verify(h, append(pw, 'x')[:len(pw)+1]); err == nil {
			t.Errorf("Verify accepted a longer password for a %d-byte one", len(pw))
		}
	}
}

// TestBcryptTooLong checks that a password over 72 bytes is refused, even
// when its first 72 bytes are exactly the stored password (which plain
// bcrypt would accept), and that the refusal still spends a full bcrypt.
func TestBcryptTooLong(t *testing.T) {
	const cost = 6
	pw72 := bytes.Repeat([]byte("a"), 72)
	h, err := HashBcrypt(pw72, cost)
	if err != nil {
		t.Fatal(err)
	}
	// Prove the premise: the library alone would truncate and accept.
	if err := bcrypt.CompareHashAndPassword([]byte(h), append(pw72, 'b')); err != nil {
		t.Fatalf("premise: x/crypto no longer truncates (%v); revisit verifyBcrypt", err)
	}
	// Start from an empty cache entry, whatever ran before (-count=2,
	// -shuffle, another test at this cost): only this call may fill it.
	forgetDummy(cost)
	err = Verify(h, append(pw72, 'b'))
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("73 bytes: got %v, want ErrTooLong", err)
	}
	if !dummyCached(cost) {
		t.Error("ErrTooLong returned without spending a bcrypt of the hash's cost")
	}
	if err := Verify(h, pw72); err != nil {
		t.Errorf("72 bytes: %v", err)
	}
	if _, err := HashBcrypt(append(pw72, 'b'), MinBcryptCost); !errors.Is(err, ErrTooLong) {
		t.Errorf("HashBcrypt(73 bytes): got %v, want ErrTooLong", err)
	}
}

func TestHashBcryptCostRange(t *testing.T) {
	for _, cost := range []int{0, MinBcryptCost - 1, MaxBcryptCost + 1, 31} {
		if _, err := HashBcrypt([]byte("pw"), cost); err == nil {
			t.Errorf("HashBcrypt(cost %d) succeeded", cost)
		}
	}
}

func TestDummyHash(t *testing.T) {
	d := DummyHash(MinBcryptCost)
	if d != DummyHash(MinBcryptCost) {
		t.Error("DummyHash is not cached")
	}
	if c, err := bcrypt.Cost([]byte(d)); err != nil || c != MinBcryptCost {
		t.Errorf("cost = %d, %v; want %d", c, err, MinBcryptCost)
	}
	if err := Verify(d, []byte("")); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify(dummy) = %v, want ErrMismatch", err)
	}
	// Costs below the minimum are clamped, not refused: the dummy must
	// always be a hash that Verify spends time on.
	for _, cost := range []int{-1, 0, 3} {
		if got := DummyHash(cost); got != d {
			t.Errorf("DummyHash(%d) is not the cost-%d dummy", cost, MinBcryptCost)
		}
	}
	if DummyHash(5) == d {
		t.Error("costs 4 and 5 share a dummy")
	}
}

func TestDummyHashConcurrent(t *testing.T) {
	const n = 8
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Go(func() { got[i] = DummyHash(5) })
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if got[i] != got[0] {
			t.Fatal("concurrent callers got different dummies")
		}
	}
}
