package app

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

// A load balancer asks /health/ready often, so the answer is read from
// memory: the user store keeps its status (store.Status, one atomic load),
// which query outcomes change as they happen (a broken connection, a
// refusal that means the query does not fit the schema), and a watcher
// goroutine keeps honest: it checks every configured query against the
// schema at start, pings the database every few seconds, and checks the
// queries again each time the database comes back (and while they are
// known not to fit, so that a fix is noticed without a restart). A health
// probe never costs a database round trip.

// defaultHealthInterval is how often the watcher pings the database (each
// ping is bounded by the database timeout).
const defaultHealthInterval = 5 * time.Second

// dbHealth is what the watcher keeps beside the store's own status.
type dbHealth struct {
	// interval is how often the watcher runs; set before Start.
	interval time.Duration
	// users is the store the watcher watches, set by Start: Health reads
	// it, never a.store, which Cleanup clears while a request may still
	// be asking.
	users atomic.Pointer[store.Store]
	// stateSchemaMissing: manage_schema is off and claimgate's own tables
	// (or a column of theirs) are missing, which the DBA must fix.
	stateSchemaMissing atomic.Bool
}

// Health is what /health and /health/ready report.
type Health struct {
	// Database is ok, unavailable or misconfigured.
	Database string
	// SigningKey is ok or missing.
	SigningKey string
}

// Ready reports whether logins can be served: the database is reachable
// and fits the queries, and a signing key is loaded.
func (h Health) Ready() bool { return h.Database == "ok" && h.SigningKey == "ok" }

// Health returns the app's health from memory, without touching the
// database. Before Start (and before the first check) the database is
// unavailable: an instance that has not reached it yet is not ready.
func (a *App) Health() Health {
	h := Health{Database: store.StatusUnknown.String(), SigningKey: "missing"}
	if a.health != nil {
		if users := a.health.users.Load(); users != nil {
			st := users.Status()
			if st == store.StatusOK && a.health.stateSchemaMissing.Load() {
				st = store.StatusMisconfigured
			}
			h.Database = st.String()
		}
	}
	if a.keys != nil && a.keys.KeySet().Active() != nil {
		h.SigningKey = "ok"
	}
	return h
}

// SetHealthInterval sets how often the database is pinged (tests; call it
// before Provision). Zero means the default, five seconds.
func (a *App) SetHealthInterval(d time.Duration) {
	if a.health == nil {
		a.health = new(dbHealth)
	}
	a.health.interval = d
}

// startHealthWatcher starts the goroutine that checks the queries at start
// and keeps the database's status current; it stops when ctx ends.
func (a *App) startHealthWatcher(ctx context.Context) {
	interval := a.health.interval
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	w := &dbWatch{app: a, users: a.store}
	a.health.users.Store(a.store)
	a.goWorker(func() {
		w.check(ctx)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				w.check(ctx)
			}
		}
	})
}

// dbWatch is the watcher's own state; only its goroutine uses it.
type dbWatch struct {
	app   *App
	users *store.Store
	// logged is the problems last logged, so that a lasting
	// misconfiguration is logged once, not at every check.
	logged string
	// down is set once an outage has been logged.
	down bool
}

// check pings the database while all is well, and runs the full check
// otherwise: at start, after an outage, and while something does not fit.
func (w *dbWatch) check(ctx context.Context) {
	if w.users.Status() == store.StatusOK && !w.app.health.stateSchemaMissing.Load() {
		if err := w.users.Ping(ctx); err != nil && ctx.Err() == nil {
			w.wentDown(err)
		}
		return
	}
	problems, err := w.users.Check(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.wentDown(err)
		}
		return
	}
	if w.down {
		w.down = false
		w.app.logger.Info("the user database is reachable again; its queries were checked")
	}
	w.checkStateSchema(ctx)
	w.report(problems)
}

// wentDown logs the start of an outage once. The problems found before it
// are logged again when the database is back and they remain.
func (w *dbWatch) wentDown(err error) {
	if w.down {
		return
	}
	w.down = true
	w.logged = ""
	// The error names the server's address at most, never the DSN's
	// password.
	w.app.logger.Warn("the user database is unreachable; /health/ready answers 503 and logins 503 until it is back",
		zap.Error(err))
}

// report logs each problem at ERROR, naming the directive and what to
// fix, when they differ from those last logged; and says so when they are
// gone.
func (w *dbWatch) report(problems []*store.QueryError) {
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Error()
	}
	all := strings.Join(msgs, "\n")
	switch {
	case all == w.logged:
	case len(problems) == 0:
		w.app.logger.Info("the configured queries fit the database now; logins are served again")
	default:
		for _, p := range problems {
			fields := []zap.Field{zap.String("directive", p.Directive),
				zap.String("effect", "logins answer 500 server_error and /health/ready 503 (misconfigured) until it is fixed")}
			if p.Column != "" {
				fields = append(fields, zap.String("column", p.Column))
			}
			w.app.logger.Error(p.Error(), fields...)
		}
	}
	w.logged = all
}

// checkStateSchema notes, with manage_schema off, whether claimgate's own
// tables are there: without them logins fail until the DBA creates them,
// so the instance is not ready. (The state worker logs which are missing.)
func (w *dbWatch) checkStateSchema(ctx context.Context) {
	a := w.app
	if a.schema != nil || a.state == nil {
		return // manage_schema on: the state worker creates them
	}
	err := a.state.CheckSchema(ctx)
	switch {
	case err == nil:
		a.health.stateSchemaMissing.Store(false)
	case errors.Is(err, store.ErrSchema):
		a.health.stateSchemaMissing.Store(true)
	}
}
