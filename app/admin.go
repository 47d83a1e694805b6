package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// unblockPath is the admin API route that clears brute-force blocks in the
// running app's database. `claimgate unblock` uses it for a database that
// lives inside the server (the embedded demo database), which no other
// process can reach.
const unblockPath = "/claimgate/unblock"

// maxUnblockBody bounds the request body: a user and an IP are a few hundred
// bytes at most, and the admin server reads bodies without a limit of its own.
const maxUnblockBody = 64 << 10

// unblockRequest is the body of POST /claimgate/unblock, with the CLI's
// semantics: user and ip, user alone (every IP), or ip alone (its daily
// budget). User is the user_id or, for a name that matched no user, the
// login name. They travel in the body, not the query, because Caddy logs
// every admin request's URI and a login name is personal data.
type unblockRequest struct {
	User string `json:"user"`
	IP   string `json:"ip"`
}

// unblockResponse is the answer: how many counter rows were removed.
type unblockResponse struct {
	Cleared int64 `json:"cleared"`
}

// adminAPI adds claimgate's routes to Caddy's admin endpoint, which every
// Caddy runs (localhost:2019 unless the config's admin option says
// otherwise). Caddy loads it once per config, before the apps; it finds the
// running claimgate app per request instead, so a route never serves an
// app that a reload has replaced.
//
// Security: the routes change brute-force state, so they are exactly as
// protected as the rest of the admin API, no more and no less. By default
// that is a loopback (or unix socket) listener with Caddy's Host and Origin
// checks, which stop browsers and DNS rebinding; anyone who can reach it can
// already POST /load a whole config, with any database, clients and rules,
// so clearing a block grants nothing new. An operator who exposes the admin
// API (admin 0.0.0.0:2019, or remote admin) exposes this route with it.
type adminAPI struct {
	// running returns the claimgate app of the running config; nil means
	// runningApp. Tests set it to an app they provisioned.
	running func() (*App, error)
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.claimgate",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns claimgate's admin routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: unblockPath, Handler: caddy.AdminHandlerFunc(a.handleUnblock)},
	}
}

// handleUnblock clears blocks in the running app's database, through the
// app's own pool: it works on any database the server uses, the embedded
// one included.
func (a *adminAPI) handleUnblock(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return caddy.APIError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        fmt.Errorf("method not allowed: %s (use POST)", r.Method),
		}
	}
	req, err := decodeUnblockRequest(w, r)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	running := a.running
	if running == nil {
		running = runningApp
	}
	app, err := running()
	if err != nil {
		return err
	}
	cleared, err := app.unblock(r.Context(), req.User, req.IP)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf("clearing blocks: %w", err)}
	}
	// The user is not logged: it may be a login name, and what an
	// operator types there may be a password pasted into the wrong field.
	app.logger.Info("brute-force blocks cleared through the admin API",
		zap.Bool("by_user", req.User != ""), zap.String("ip", req.IP), zap.Int64("cleared", cleared))

	body, err := json.Marshal(unblockResponse{Cleared: cleared})
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("encoding the answer: %w", err)}
	}
	w.Header().Set("Content-Type", "application/json")
	// The blocks are cleared by now; a client that went away cannot be
	// told anything else.
	_, _ = w.Write(body)
	return nil
}

// decodeUnblockRequest reads one JSON object with user, ip or both, and
// nothing else: a misspelt field would otherwise clear less than asked
// (an ip alone clears only the IP's budget, not the user's block).
func decodeUnblockRequest(w http.ResponseWriter, r *http.Request) (unblockRequest, error) {
	var req unblockRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUnblockBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf(`decoding the request body (want {"user":"…","ip":"…"}): %w`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New("decoding the request body: more than one JSON value")
	}
	if req.User == "" && req.IP == "" {
		return req, errors.New("give user, ip or both")
	}
	return req, nil
}

// runningApp returns the claimgate app of the config Caddy is running.
// AppIfConfigured, not App: App would make and provision a fresh claimgate
// app for a config that has none.
func runningApp() (*App, error) {
	mod, err := caddy.ActiveContext().AppIfConfigured("claimgate")
	if errors.Is(err, caddy.ErrNotConfigured) {
		// 409: the route exists, but the server's state does not allow the
		// request (no config, a config without claimgate, or one still
		// loading).
		return nil, caddy.APIError{
			HTTPStatus: http.StatusConflict,
			Err:        errors.New("no claimgate app is running: the server's running config has no claimgate global option"),
		}
	}
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("finding the claimgate app: %w", err)}
	}
	app, ok := mod.(*App)
	if !ok {
		return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("the claimgate app is a %T", mod)}
	}
	return app, nil
}

// unblock clears brute-force blocks (store.ClearBlocks) with the app's own
// user store and state tables, once the tables exist: on a fresh database
// the first request may come before the state worker has created them.
func (a *App) unblock(ctx context.Context, user, ip string) (int64, error) {
	if a.store == nil || a.state == nil {
		// Cleanup has run: a reload replaced this app while the
		// request was on its way.
		return 0, fmt.Errorf("%w: the claimgate app has stopped; retry", store.ErrUnavailable)
	}
	if err := a.stateReady(ctx); err != nil {
		return 0, fmt.Errorf("creating the state tables: %w", err)
	}
	return store.ClearBlocks(ctx, a.store, a.state, user, ip)
}

// Interface guards
var (
	_ caddy.Module      = (*adminAPI)(nil)
	_ caddy.AdminRouter = (*adminAPI)(nil)
)
