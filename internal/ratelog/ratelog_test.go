package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(time.Minute)
	l.SetClock(func() time.Time { return now })
	steps := []struct {
		advance time.Duration
		want    bool
	}{
		{0, true},                 // the first event
		{0, false},                // the same instant
		{59 * time.Second, false}, // within the minute
		{time.Second, true},       // a minute after the first
		{30 * time.Second, false}, // within the next minute
		{10 * time.Minute, true},  // long after
		{time.Nanosecond, false},  // right after that
		{time.Minute - time.Nanosecond, true},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.Allow(); got != s.want {
			t.Errorf("step %d (+%s): Allow() = %v, want %v", i, s.advance, got, s.want)
		}
	}
}

// TestLimiterConcurrent: of many concurrent callers, exactly one is let
// through in one interval.
func TestLimiterConcurrent(t *testing.T) {
	l := New(time.Hour)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if l.Allow() {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 1 {
		t.Errorf("%d callers allowed, want 1", n)
	}
}
