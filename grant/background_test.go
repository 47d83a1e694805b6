package grant

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoBackgroundWorkAfterClose is issue 9 item 13: a login that outlived
// Caddy's grace period could start a background rehash (background.Add)
// while Cleanup was already waiting on the group — a WaitGroup misuse that
// panics ("WaitGroup is reused before previous Wait has returned") or
// leaves work running on a closed pool. Close now refuses new background
// work from the moment it begins, and still waits for the work already
// running. Before the fix there was no such refusal: the group took any
// Add at any time.
func TestNoBackgroundWorkAfterClose(t *testing.T) {
	s := New(context.Background(), Config{})
	release := make(chan struct{})
	var ran atomic.Int32
	if !s.goBackground(func() { <-release; ran.Add(1) }) {
		t.Fatal("goBackground refused work before Close")
	}

	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	// Wait until Close has begun: from then on nothing new may start.
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.mu.Lock()
		c := s.closed
		s.mu.Unlock()
		if c {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close never began")
		}
		time.Sleep(time.Millisecond)
	}

	// A late login's rehash, while Close waits.
	if s.goBackground(func() { ran.Add(100) }) {
		t.Error("goBackground started work while Close was waiting")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while background work was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if s.goBackground(func() { ran.Add(100) }) {
		t.Error("goBackground started work after Close")
	}
	s.WaitBackground()
	if got := ran.Load(); got != 1 {
		t.Errorf("background work ran %d times (100 per late start), want only the first, once", got)
	}
}
