package password

import (
	"context"
	"runtime"
	"time"
)

// Guard bounds concurrent password verifications. Hashing is deliberately
// expensive; without a bound, a burst of logins would queue on the CPU and
// every request would slow down together. With it, the excess fails fast
// with ErrSaturated (503 with Retry-After) while admitted logins keep their
// normal latency.
type Guard struct {
	slots        chan struct{} // a buffered channel as a counting semaphore
	queueTimeout time.Duration
}

// NewGuard allows max verifications at once (max <= 0 means runtime.NumCPU());
// a caller that waits longer than queueTimeout gets ErrSaturated. A
// queueTimeout <= 0 means callers do not wait at all when every slot is
// taken.
func NewGuard(max int, queueTimeout time.Duration) *Guard {
	if max <= 0 {
		max = runtime.NumCPU()
	}
	return &Guard{slots: make(chan struct{}, max), queueTimeout: queueTimeout}
}

// Do runs fn while holding a slot. It returns ErrSaturated when no slot freed
// up within the queue timeout, or ctx.Err() when ctx ended first. The slot is
// released when fn returns, also when it panics (the panic goes on).
func (g *Guard) Do(ctx context.Context, fn func()) error {
	if err := g.acquire(ctx); err != nil {
		return err
	}
	defer g.release()
	fn()
	return nil
}

func (g *Guard) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Fast path: a free slot needs no timer.
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.queueTimeout <= 0 {
		return ErrSaturated
	}
	timer := time.NewTimer(g.queueTimeout)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrSaturated
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Guard) release() { <-g.slots }
