package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/claimgate/claimgate/store"
)

// unblockTimeout bounds the whole command, connecting included: an operator
// at a terminal should get an error, not a hang, when the database is away.
const unblockTimeout = 10 * time.Second

// embeddedDSN is the DSN of the demo database. Compared without regard to
// case, as the command always has, so that `Embedded` goes to the server
// (whose error then names the DSN) rather than failing as a MySQL DSN here.
const embeddedDSN = "embedded"

func newUnblockCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unblock --user <user_id> [--ip <address>] | --ip <address>  [--config <file>] [--adapter <name>] [--dsn <dsn> | --admin <address>]",
		Short: "Clears brute-force blocks in the shared database",
		Long: `
Clears the login blocks that brute-force protection set:

  --user U --ip IP   the block of user U from address IP
  --user U           every block and count of user U (all addresses)
  --ip IP            the per-address daily budget of IP

U is the user_id (the tokens' sub) or, for a name that matched no user,
the login name. The database is the one in the config's claimgate
database block (--config, default ./Caddyfile), or --dsn. Every instance
sharing that database sees the change at once.

A database that lives inside the server (dsn embedded, the demo database)
is out of this command's reach, so the running server clears the blocks:
the command asks its admin API, at the config's admin address (default
localhost:2019). --admin ADDRESS sends the request there instead, for any
database.
`,
		Args: noArgs,
	}
	cmd.Flags().String("user", "", "The user_id (or login name) to unblock")
	cmd.Flags().String("ip", "", "The client IP address to unblock")
	cmd.Flags().StringP("config", "c", "", "Configuration file holding the claimgate database block")
	cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
	cmd.Flags().String("dsn", "", "The database DSN (instead of --config)")
	cmd.Flags().String("admin", "", "Ask the running server's admin API at this address (instead of the database)")
	cmd.RunE = caddyRunE(runUnblock)
	return cmd
}

func runUnblock(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	user, ip := fl.String("user"), fl.String("ip")
	if user == "" && ip == "" {
		return caddy.ExitCodeFailedStartup, errors.New("give --user, --ip or both")
	}
	if fl.String("admin") != "" && fl.String("dsn") != "" {
		return caddy.ExitCodeFailedStartup, errors.New("give --dsn (clear blocks in that database) or --admin " +
			"(ask the server at that address), not both")
	}
	target, err := findUnblockTarget(fl.String("dsn"), fl.String("config"), fl.String("adapter"), fl.String("admin"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), unblockTimeout)
	defer cancel()
	var removed int64
	if target.admin != "" {
		removed, err = unblockThroughAdmin(ctx, target.admin, user, ip)
	} else {
		removed, err = unblockInDatabase(ctx, target.dsn, user, ip)
	}
	if err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "cleared %d block record(s)\n", removed)
	return caddy.ExitCodeSuccess, nil
}

// unblockInDatabase clears the blocks in the database at dsn, connecting
// to it directly: no server needs to run.
func unblockInDatabase(ctx context.Context, dsn, user, ip string) (int64, error) {
	db, err := store.NewDB(dsn)
	if err != nil {
		return 0, fmt.Errorf("opening database: %w", err)
	}
	defer db.Close()
	users, err := store.New(db, store.Config{UserQuery: nameKeyOnlyQuery, Timeout: unblockTimeout}, nil)
	if err != nil {
		return 0, fmt.Errorf("preparing the store: %w", err)
	}
	return store.ClearBlocks(ctx, users, store.NewState(db, unblockTimeout), user, ip)
}

// nameKeyOnlyQuery fills the store's required user_query: the command asks
// the store only for the key of a login name (LoginSubject), never for a
// user, and statements are prepared on first use, so it is never sent.
const nameKeyOnlyQuery = "SELECT NULL AS user_id, NULL AS password_hash FROM DUAL WHERE ? IS NULL"

// adminUnblockPath, adminUnblockRequest and adminUnblockResponse are the
// wire format of the server's admin route (app/admin.go), restated here so
// that the command does not import the app; the integration test runs both
// ends together.
const adminUnblockPath = "/claimgate/unblock"

type adminUnblockRequest struct {
	User string `json:"user,omitempty"`
	IP   string `json:"ip,omitempty"`
}

type adminUnblockResponse struct {
	Cleared *int64 `json:"cleared"`
}

// unblockThroughAdmin asks the server whose admin API listens at addr to
// clear the blocks, with its own pool on its own database.
func unblockThroughAdmin(ctx context.Context, addr, user, ip string) (int64, error) {
	body, err := json.Marshal(adminUnblockRequest{User: user, IP: ip})
	if err != nil {
		return 0, fmt.Errorf("encoding the request: %w", err)
	}
	// Caddy's own helper, as `caddy reload` and `caddy stop` use: it
	// speaks every admin address form (tcp, unix socket, fd) and sends
	// the Origin header the admin endpoint checks. It takes no context,
	// so the deadline is kept here; on timeout the request is abandoned
	// with the process that made it.
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := caddycmd.AdminAPIRequest(addr, http.MethodPost, adminUnblockPath, nil, bytes.NewReader(body))
		done <- result{resp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("asking the server's admin API at %s to unblock: %w", addr, ctx.Err())
	}
	if res.err != nil {
		// The hint says where the address came from, which matters most
		// when nothing answers there.
		return 0, fmt.Errorf("asking the server's admin API at %s to unblock (the address is the config's admin "+
			"option, or --admin): %w", addr, res.err)
	}
	defer res.resp.Body.Close()
	var answer adminUnblockResponse
	if err := json.NewDecoder(io.LimitReader(res.resp.Body, 1<<20)).Decode(&answer); err != nil {
		return 0, fmt.Errorf("reading the admin API's answer from %s: %w", addr, err)
	}
	if answer.Cleared == nil {
		// Not claimgate's route: another server answered 200 on that path.
		return 0, fmt.Errorf("the admin API at %s answered without a count of cleared blocks: is it a claimgate server?", addr)
	}
	return *answer.Cleared, nil
}

// unblockTarget is where blocks are cleared: in the database at dsn, or by
// the server whose admin API listens at admin.
type unblockTarget struct {
	dsn, admin string
}

// findUnblockTarget picks the target: --admin when given; otherwise the
// database (unblockDSN), unless it is a named one such as the embedded
// demo database, which lives in the server's memory: then the server's
// admin API, at the config's admin address as Caddy's own commands find
// it (DetermineAdminAPIAddress: the config's admin listen address, or
// localhost:2019).
func findUnblockTarget(dsnFlag, configFile, adapter, adminFlag string) (unblockTarget, error) {
	if adminFlag != "" {
		return unblockTarget{admin: adminFlag}, nil
	}
	dsn, cfg, err := unblockDSN(dsnFlag, configFile, adapter)
	if err != nil {
		return unblockTarget{}, err
	}
	if !inServerDSN(dsn) {
		return unblockTarget{dsn: dsn}, nil
	}
	if cfg.file == "" && configFile != "" {
		// --dsn named the database; --config still says where the
		// server's admin API is.
		if cfg, err = loadServerConfig(configFile, adapter); err != nil {
			return unblockTarget{}, err
		}
	}
	if err := adminEnabled(cfg); err != nil {
		return unblockTarget{}, err
	}
	addr, err := caddycmd.DetermineAdminAPIAddress("", cfg.json, cfg.file, adapter)
	if err != nil {
		return unblockTarget{}, fmt.Errorf("finding the server's admin address: %w", err)
	}
	return unblockTarget{admin: addr}, nil
}

// inServerDSN reports a database that a command cannot open itself: a named
// DSN starts its database in the process that opens it (the demo database
// registers "embedded"), so opening it here would clear blocks in a fresh
// copy of this command's own. "embedded" counts even in a build without
// the demo database, whose command may be pointed at a server that has it,
// and without regard to case, as the command has always compared it.
func inServerDSN(dsn string) bool {
	if _, registered := store.LookupNamedDSN(dsn); registered {
		return true
	}
	return strings.EqualFold(dsn, embeddedDSN)
}

// adminEnabled refuses a config that turns the admin API off: the server
// then has no way to take the request.
func adminEnabled(cfg serverConfig) error {
	if len(cfg.json) == 0 {
		return nil
	}
	var c struct {
		Admin *caddy.AdminConfig `json:"admin"`
	}
	if err := json.Unmarshal(cfg.json, &c); err != nil {
		return fmt.Errorf("decoding config %s: %w", cfg.source, err)
	}
	if c.Admin != nil && c.Admin.Disabled {
		return fmt.Errorf("the config %s turns the admin API off (admin off), and its database lives inside the "+
			"server, which this command reaches only through that API: turn it on, or restart the server "+
			"(the embedded demo database starts afresh, without blocks)", cfg.source)
	}
	return nil
}

// serverConfig is the server's config as the command loaded it.
type serverConfig struct {
	json   []byte // Caddy JSON
	file   string // the file it came from ("-" for stdin); "" when none was loaded
	source string // how messages name it
}

// loadServerConfig loads the config (--config, or Caddy's default
// ./Caddyfile) as Caddy JSON.
func loadServerConfig(configFile, adapter string) (serverConfig, error) {
	cfgJSON, used, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return serverConfig{}, fmt.Errorf("loading config: %w", err)
	}
	if used == "" {
		// LoadConfig treats a missing ./Caddyfile as "no config",
		// not as an error; decoding nothing would fail as
		// "unexpected end of JSON input".
		return serverConfig{}, errors.New("no database to unblock in: pass --config <file> (the claimgate server's config) " +
			"or --dsn <dsn>; there is no Caddyfile in the current directory")
	}
	source := used
	if used == "-" {
		source = "on stdin"
	}
	return serverConfig{json: cfgJSON, file: used, source: source}, nil
}

// unblockDSN finds the database: --dsn, else the claimgate app's dsn in the
// config (--config, or Caddy's default ./Caddyfile), with {env.*}
// placeholders replaced as at run time. It returns the config it loaded,
// if any, which also says where the server's admin API is.
func unblockDSN(dsn, configFile, adapter string) (string, serverConfig, error) {
	var cfg serverConfig
	if dsn == "" {
		var err error
		if cfg, err = loadServerConfig(configFile, adapter); err != nil {
			return "", cfg, err
		}
		if dsn, err = dsnFromConfig(cfg.json, cfg.source); err != nil {
			return "", cfg, err
		}
	}
	raw := dsn
	dsn = caddy.NewReplacer().ReplaceAll(dsn, "")
	if dsn == "" {
		// Only placeholders were there (a literal part would remain), so
		// quoting the DSN shows no secret.
		return "", cfg, fmt.Errorf("the database dsn %q is empty once its placeholders are replaced: is the variable set in this shell?", raw)
	}
	return dsn, cfg, nil
}

// dsnFromConfig reads the dsn of the claimgate app's database block from a
// JSON config; source names the config in messages. It decodes only the
// path it needs rather than the app's own type, so that the command does
// not depend on the app package (nor the app on the command).
func dsnFromConfig(cfgJSON []byte, source string) (string, error) {
	if len(cfgJSON) == 0 {
		return "", fmt.Errorf("the config %s is empty: it has no claimgate database to unblock in; pass --dsn <dsn>", source)
	}
	var cfg struct {
		Apps struct {
			Claimgate *struct {
				Database *struct {
					DSN string `json:"dsn"`
				} `json:"database"`
			} `json:"claimgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return "", fmt.Errorf("decoding config %s: %w", source, err)
	}
	app := cfg.Apps.Claimgate
	switch {
	case app == nil:
		return "", fmt.Errorf("the config %s has no claimgate app (no claimgate global option in a Caddyfile); "+
			"pass the claimgate server's config, or --dsn <dsn>", source)
	case app.Database == nil || app.Database.DSN == "":
		return "", fmt.Errorf("the claimgate app in %s has no database dsn; pass --dsn <dsn>", source)
	}
	return app.Database.DSN, nil
}
