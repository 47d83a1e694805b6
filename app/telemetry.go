package app

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/metrics"
	"github.com/claimgate/claimgate/store"
)

// telemetry is what the app offers an operator beyond its answers: the
// metrics on the config's registry and the authentication events.
type telemetry struct {
	// metrics is the config's Set, shared with the claimgate_verify
	// handlers of the same config (nil before Provision: it counts
	// nothing).
	metrics *metrics.Set
	// release gives metrics back (Cleanup).
	release func()
	// events writes to the `claimgate.events` logger.
	events *events.Emitter
}

// provisionTelemetry acquires the config's metrics and prepares the event
// emitter, before anything that reports to them is built.
func (a *App) provisionTelemetry(ctx caddy.Context) error {
	set, release, err := metrics.Acquire(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	a.telemetry = telemetry{metrics: set, release: release, events: events.New(a.logger, a.Database.Name)}
	return nil
}

// watchTelemetry points the metrics read at scrape time at what they read
// (the user store's status, the signing keys) and makes claimgate's own
// tables report their statements' durations. It runs at the end of
// Provision, once those exist, before anything runs a statement.
func (a *App) watchTelemetry() {
	m := a.telemetry.metrics
	a.state.SetObserver(m.DatabaseQuery)
	// Captured, not read through a: Cleanup clears a.store while a scrape
	// of the old config's registry may still be running.
	users, keys := a.store, a.keys
	m.WatchDatabase(func() bool {
		// Misconfigured is reachable: the server answered.
		st := users.Status()
		return st == store.StatusOK || st == store.StatusMisconfigured
	})
	m.WatchSigningKeys(func() metrics.KeyCounts {
		n := keys.KeySet().Counts()
		return metrics.KeyCounts{Pending: n.Pending, Active: n.Active, Retired: n.Retired}
	})
}

// releaseTelemetry gives the metrics back; the config's last module to do
// so forgets them (Cleanup).
func (a *App) releaseTelemetry() {
	if a.telemetry.release != nil {
		a.telemetry.release()
		a.telemetry.release = nil
	}
}

// Metrics returns the config's metrics, for the login handler.
func (a *App) Metrics() *metrics.Set { return a.telemetry.metrics }

// Events returns the authentication-event emitter, for the login handler.
func (a *App) Events() *events.Emitter { return a.telemetry.events }
