package grant

import "time"

// Observer is told what the flows measure, for the metrics
// (internal/metrics.Set implements it); the flows stay free of Prometheus.
// Every method must be cheap and safe for concurrent use.
type Observer interface {
	// PasswordHash is one password check: kind is password.Kind of the
	// stored hash, or "dummy" for an unknown user's check.
	PasswordHash(kind string, took time.Duration)
	// HashQueueWait is how long a password check waited for a hashing
	// slot, also when it gave up (the guard was saturated).
	HashQueueWait(took time.Duration)
	// Blocked is an attempt refused by brute-force protection; kind is the
	// limit (store.Block's Reason: user_ip, ip or account).
	Blocked(kind string)
	// RefreshReused is a rotated refresh token presented again.
	RefreshReused()
}

// nopObserver observes nothing: Config.Observer unset.
type nopObserver struct{}

func (nopObserver) PasswordHash(string, time.Duration) {}
func (nopObserver) HashQueueWait(time.Duration)        {}
func (nopObserver) Blocked(string)                     {}
func (nopObserver) RefreshReused()                     {}

// hashKindDummy is the kind reported for an unknown user's check against
// the dummy hash.
const hashKindDummy = "dummy"
