package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

// claimgate's own state (failure counters, refresh tokens) lives in
// claimgate_ tables of the customer's database. claimgate must
// start with that database down, so the tables are never created in
// Provision: with manage_schema on, the first request that needs them
// creates them (schemaGuard), and a worker tied to the config's context
// tries at start and again until it succeeds, so that they exist as soon as
// the database is back even without traffic. The same worker purges stale
// rows every hour.

// State maintenance timings.
const (
	// purgeInterval is how often each instance deletes stale state rows.
	// The deletes are idempotent, so instances need not coordinate.
	purgeInterval = time.Hour
	// purgeKeep is how long idle failure counters and expired refresh-token
	// families are kept: long enough that a slow attacker's consecutive
	// failures still add up (the per-IP budget bounds the rate anyway).
	purgeKeep = 7 * 24 * time.Hour
	// schemaRetryMin and schemaRetryMax bound the worker's backoff while
	// the database is unreachable at start.
	schemaRetryMin = time.Second
	schemaRetryMax = time.Minute
)

// stateTables are the tables SchemaStatements creates, checked at start
// when manage_schema is off.
var stateTables = []string{"claimgate_login_failures", "claimgate_ip_failures", "claimgate_refresh_tokens"}

// schemaGuard runs EnsureSchema until it has succeeded once. Callers that
// arrive while an attempt is in flight wait for it (bounded by the database
// timeout) instead of starting their own, so an outage cannot pile up DDL
// statements or goroutines; after a failure the next caller tries again.
type schemaGuard struct {
	state   *store.State
	timeout time.Duration // how long a caller waits for another's attempt

	done    atomic.Bool
	mu      sync.Mutex
	running chan struct{} // closed when the attempt in flight ends; nil when none
	lastErr error
}

func newSchemaGuard(state *store.State, timeout time.Duration) *schemaGuard {
	return &schemaGuard{state: state, timeout: timeout}
}

// ensure returns nil once the tables exist, or an error wrapping
// store.ErrUnavailable.
func (g *schemaGuard) ensure(ctx context.Context) error {
	if g.done.Load() {
		return nil
	}
	g.mu.Lock()
	if g.done.Load() {
		g.mu.Unlock()
		return nil
	}
	if ch := g.running; ch != nil {
		g.mu.Unlock()
		return g.wait(ctx, ch)
	}
	ch := make(chan struct{})
	g.running = ch
	g.mu.Unlock()

	err := g.state.EnsureSchema(ctx)

	g.mu.Lock()
	g.running, g.lastErr = nil, err
	if err == nil {
		g.done.Store(true)
	}
	g.mu.Unlock()
	close(ch)
	return err
}

// wait waits for another caller's attempt and returns its outcome.
func (g *schemaGuard) wait(ctx context.Context, ch <-chan struct{}) error {
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for the claimgate tables: %v", store.ErrUnavailable, ctx.Err())
	case <-timer.C:
		return fmt.Errorf("%w: timed out waiting for the claimgate tables", store.ErrUnavailable)
	}
	if g.done.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastErr == nil {
		// Cannot happen (a successful attempt sets done first), but an
		// unknown outcome must not pass for success.
		return fmt.Errorf("%w: claimgate tables not ready", store.ErrUnavailable)
	}
	return g.lastErr
}

// stateReady makes sure claimgate's tables exist before they are used
// (manage_schema on); with manage_schema off it trusts the DBA, and a
// missing table shows up as the statement's own error (503).
func (a *App) stateReady(ctx context.Context) error {
	if a.schema == nil {
		return nil
	}
	return a.schema.ensure(ctx)
}

// startStateWorker starts the goroutine that creates the tables at start
// (manage_schema on) or checks they exist (off), then purges stale rows
// every purgeInterval. It stops when wctx ends (the config's context, or
// Cleanup).
func (a *App) startStateWorker(wctx context.Context) {
	a.goWorker(func() {
		if a.schema != nil {
			if !a.createTables(wctx) {
				return
			}
		} else {
			a.checkTables(wctx)
		}
		ticker := time.NewTicker(purgeInterval)
		defer ticker.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-ticker.C:
				a.purgeState(wctx)
			}
		}
	})
}

// createTables retries the schema guard with backoff until the tables exist
// (true) or ctx ends (false). The first failure is logged as an error: that
// is the operator's signal that logins answer 503 until the database is
// back.
func (a *App) createTables(ctx context.Context) bool {
	delay := schemaRetryMin
	for attempt := 1; ; attempt++ {
		err := a.schema.ensure(ctx)
		if err == nil {
			if attempt > 1 {
				a.logger.Info("created claimgate tables; the database is back", zap.Int("attempts", attempt))
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt == 1 {
			a.logger.Error("cannot create claimgate tables; logins, refreshes and revocations answer 503 "+
				"until the database is reachable (retrying)", zap.Error(err))
		} else {
			a.logger.Debug("creating claimgate tables failed again", zap.Int("attempt", attempt), zap.Error(err))
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
		delay = min(2*delay, schemaRetryMax)
	}
}

// checkTables logs an error when manage_schema is off and claimgate's
// tables are missing, so that the DBA learns why logins answer 503. It runs
// no DDL.
func (a *App) checkTables(ctx context.Context) {
	var missing []string
	for _, table := range stateTables {
		err := a.probeTable(ctx, table)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrUnavailable) {
			a.logger.Warn("cannot check claimgate tables (manage_schema off)", zap.Error(err))
			return
		}
		missing = append(missing, table)
	}
	if len(missing) > 0 {
		a.logger.Error("claimgate tables are missing and manage_schema is off: logins, refreshes and "+
			"revocations answer 503 until they are created (run the SQL that `claimgate schema` prints)",
			zap.Strings("missing", missing))
	}
}

// probeTable reads nothing from table. A "no such table" error is returned
// as is; a connection failure wraps store.ErrUnavailable.
func (a *App) probeTable(ctx context.Context, table string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.Database.Timeout))
	defer cancel()
	// table is one of our constants, never input.
	rows, err := a.db.QueryContext(ctx, "SELECT 1 FROM "+table+" WHERE 1 = 0")
	if err != nil {
		if isMissingTable(err) {
			return err
		}
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return rows.Close()
}

// isMissingTable recognises MySQL's ER_NO_SUCH_TABLE (1146), which
// MariaDB and the embedded server also answer.
func isMissingTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}

// purgeState deletes stale rows; a failure only logs (the next hour tries
// again).
func (a *App) purgeState(ctx context.Context) {
	if err := a.stateReady(ctx); err != nil {
		a.logger.Debug("skipping the claimgate state purge", zap.Error(err))
		return
	}
	if err := a.state.Purge(ctx, time.Now(), max(purgeKeep, time.Duration(a.Protection.BlockFor))); err != nil {
		a.logger.Warn("purging stale claimgate state failed", zap.Error(err))
	}
}

// protection is the store's view of the protection block.
func (a *App) protection() store.Protection {
	p := a.Protection
	return store.Protection{
		MaxFailures:      p.MaxFailures,
		BlockFor:         time.Duration(p.BlockFor),
		IPFailuresPerDay: p.IPFailuresPerDay,
		AccountLockout:   p.AccountLockout,
	}
}
