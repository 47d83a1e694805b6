package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// long is a queue timeout no test should ever reach; the tests synchronise
// with channels, never with sleeps.
const long = time.Minute

func TestGuardNeverExceedsMax(t *testing.T) {
	const max, callers = 3, 20
	g := NewGuard(max, long)
	var inUse, peak atomic.Int32
	entered := make(chan struct{}, callers)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			errs <- g.Do(t.Context(), func() {
				n := inUse.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				entered <- struct{}{}
				<-gate
				inUse.Add(-1)
			})
		})
	}
	for range max {
		<-entered // max callers hold slots and are parked on the gate
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	if p := peak.Load(); p != max {
		t.Errorf("peak concurrency %d, want exactly %d", p, max)
	}
}

// holdSlots fills every slot of g and returns a func that frees them.
func holdSlots(t *testing.T, g *Guard, n int) (release func()) {
	t.Helper()
	held := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = g.Do(context.Background(), func() {
				held <- struct{}{}
				<-done
			})
		}()
	}
	for range n {
		<-held
	}
	return func() { close(done); wg.Wait() }
}

func TestGuardSaturated(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Millisecond} {
		g := NewGuard(2, timeout)
		release := holdSlots(t, g, 2)
		ran := false
		err := g.Do(t.Context(), func() { ran = true })
		if !errors.Is(err, ErrSaturated) {
			t.Errorf("timeout %v: got %v, want ErrSaturated", timeout, err)
		}
		if ran {
			t.Errorf("timeout %v: fn ran without a slot", timeout)
		}
		release()
		if err := g.Do(t.Context(), func() {}); err != nil {
			t.Errorf("timeout %v: after release: %v", timeout, err)
		}
	}
}

func TestGuardWaiterGetsFreedSlot(t *testing.T) {
	g := NewGuard(1, long)
	release := holdSlots(t, g, 1)
	result := make(chan error)
	go func() { result <- g.Do(t.Context(), func() {}) }()
	release()
	if err := <-result; err != nil {
		t.Errorf("waiter: %v", err)
	}
}

func TestGuardContextCancelled(t *testing.T) {
	g := NewGuard(1, long)

	// Already cancelled: refused even though a slot is free.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	if err := g.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("cancelled before: err %v, ran %v", err, ran)
	}

	// Cancelled while queued.
	release := holdSlots(t, g, 1)
	defer release()
	ctx, cancel = context.WithCancel(t.Context())
	result := make(chan error)
	go func() { result <- g.Do(ctx, func() { ran = true }) }()
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while queued: got %v, want context.Canceled", err)
	}
}

func TestGuardReleasesOnPanic(t *testing.T) {
	g := NewGuard(1, 0)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed")
			}
		}()
		_ = g.Do(t.Context(), func() { panic("boom") })
	}()
	if err := g.Do(t.Context(), func() {}); err != nil {
		t.Errorf("slot not released after panic: %v", err)
	}
}

func TestNewGuardDefaultsToNumCPU(t *testing.T) {
	for _, max := range []int{0, -1} {
		if got := cap(NewGuard(max, 0).slots); got != runtime.NumCPU() {
			t.Errorf("NewGuard(%d): %d slots, want %d", max, got, runtime.NumCPU())
		}
	}
}
