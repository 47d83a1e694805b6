package verify

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/internal/metrics"
	"github.com/claimgate/claimgate/token"
)

// verifyMetrics is the handler's share of the config's metrics: the
// claimgate_verify_total series, resolved once at Provision, so that
// counting a request is one atomic add (no label lookup, no allocation).
type verifyMetrics struct {
	set     *metrics.Set
	counts  metrics.VerifyCounters
	release func()
}

// provisionMetrics acquires the config's metrics (shared with the app and
// every other claimgate_verify of the config: registered once).
func (v *Verify) provisionMetrics(ctx caddy.Context) error {
	set, release, err := metrics.Acquire(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	v.metrics = verifyMetrics{set: set, counts: set.VerifyCounters(), release: release}
	return nil
}

// fetchObserver reports another issuer's key-set fetches to the metrics.
func (v *Verify) fetchObserver() token.RemoteOption {
	return token.WithFetchObserver(v.metrics.set.JWKSFetch)
}

// ensureMetrics gives a handler provisioned without Provision (tests and
// benchmarks that call provision) counters of its own, registered nowhere,
// so that ServeHTTP always counts, at the cost it has in production.
func (v *Verify) ensureMetrics() {
	if v.metrics.counts[0] == nil {
		v.metrics.counts = (*metrics.Set)(nil).VerifyCounters()
	}
}

// count counts one request by its outcome: one atomic add.
func (v *Verify) count(o metrics.VerifyOutcome) { v.metrics.counts[o].Inc() }

// releaseMetrics gives the metrics back (Cleanup).
func (v *Verify) releaseMetrics() {
	if v.metrics.release != nil {
		v.metrics.release()
		v.metrics.release = nil
	}
}

// The outcomes ServeHTTP counts, by their names in claimgate_verify_total.
const (
	outcomeOK        = metrics.VerifyOK
	outcomeAnonymous = metrics.VerifyAnonymous
	outcomeMissing   = metrics.VerifyMissing
	outcomeInvalid   = metrics.VerifyInvalid
	outcomeForbidden = metrics.VerifyForbidden
)
