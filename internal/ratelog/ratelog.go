// Package ratelog lets a log line through at most once per interval, for
// refusals that point at a configuration mistake: the operator must learn
// of them without turning on debug, and a client that repeats the mistake
// on every request must not flood the log.
package ratelog

import (
	"sync/atomic"
	"time"
)

// Limiter allows one event per interval. It is safe for concurrent use and
// costs one atomic load when it refuses.
type Limiter struct {
	interval time.Duration
	now      func() time.Time
	// next is when the next event is allowed, in Unix nanoseconds.
	next atomic.Int64
}

// New returns a Limiter that allows the first event at once, then one per
// interval.
func New(interval time.Duration) *Limiter {
	return &Limiter{interval: interval, now: time.Now}
}

// Allow reports whether an event may be logged now. Of concurrent callers
// in one interval exactly one gets true.
func (l *Limiter) Allow() bool {
	now := l.now().UnixNano()
	next := l.next.Load()
	if now < next {
		return false
	}
	return l.next.CompareAndSwap(next, now+int64(l.interval))
}

// SetClock replaces the clock (tests).
func (l *Limiter) SetClock(now func() time.Time) { l.now = now }
