package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// case, as the command always has, so that `Embedded` gets the explanation
// below rather than a DSN parse error.
const embeddedDSN = "embedded"

func newUnblockCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unblock --user <user_id> [--ip <address>] | --ip <address>  [--config <file>] [--adapter <name>] [--dsn <dsn>]",
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
`,
		Args: noArgs,
	}
	cmd.Flags().String("user", "", "The user_id (or login name) to unblock")
	cmd.Flags().String("ip", "", "The client IP address to unblock")
	cmd.Flags().StringP("config", "c", "", "Configuration file holding the claimgate database block")
	cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
	cmd.Flags().String("dsn", "", "The database DSN (instead of --config)")
	cmd.RunE = caddyRunE(runUnblock)
	return cmd
}

func runUnblock(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	user, ip := fl.String("user"), fl.String("ip")
	if user == "" && ip == "" {
		return caddy.ExitCodeFailedStartup, errors.New("give --user, --ip or both")
	}
	dsn, err := unblockDSN(fl.String("dsn"), fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	db, err := store.OpenDB(dsn)
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("opening database: %w", err)
	}
	defer func() { _ = store.ReleaseDB(dsn) }()
	users, err := store.New(db, store.Config{UserQuery: nameKeyOnlyQuery, Timeout: unblockTimeout}, nil)
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("preparing the store: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), unblockTimeout)
	defer cancel()
	removed, err := unblock(ctx, users, store.NewState(db, unblockTimeout), user, ip)
	if err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "cleared %d block record(s)\n", removed)
	return caddy.ExitCodeSuccess, nil
}

// nameKeyOnlyQuery fills the store's required user_query: the command asks
// the store only for the key of a login name (LoginSubject), never for a
// user, and statements are prepared on first use, so it is never sent.
const nameKeyOnlyQuery = "SELECT NULL AS user_id, NULL AS password_hash FROM DUAL WHERE ? IS NULL"

// unblock clears every way a user may be counted, since the operator may
// know either: by user_id (a known user), and by login name (a name that
// matched nobody). A login name is counted under its weights in the
// database's collation, as the server computes it (Store.LoginSubject),
// and was counted lower-cased before that; both are cleared, so that
// blocks an older claimgate set go too.
func unblock(ctx context.Context, users *store.Store, st *store.State, user, ip string) (int64, error) {
	if user == "" {
		n, err := st.Unblock(ctx, "", ip)
		if err != nil {
			return 0, fmt.Errorf("clearing block: %w", err)
		}
		return n, nil
	}
	nameKey, err := users.LoginSubject(ctx, nil, user)
	if err != nil {
		return 0, fmt.Errorf("computing the login name's key: %w", err)
	}
	subjects := []string{store.LoginSubject(user, true, ""), nameKey}
	if legacy := store.LoginSubject("", false, user); legacy != nameKey {
		subjects = append(subjects, legacy)
	}
	var total int64
	for _, subject := range subjects {
		n, err := st.Unblock(ctx, subject, ip)
		if err != nil {
			return total, fmt.Errorf("clearing block: %w", err)
		}
		total += n
	}
	return total, nil
}

// unblockDSN finds the database: --dsn, else the claimgate app's dsn in the
// config (--config, or Caddy's default ./Caddyfile), with {env.*}
// placeholders replaced as at run time.
func unblockDSN(dsn, configFile, adapter string) (string, error) {
	if dsn == "" {
		cfgJSON, used, _, err := caddycmd.LoadConfig(configFile, adapter)
		if err != nil {
			return "", fmt.Errorf("loading config: %w", err)
		}
		if used == "" {
			// LoadConfig treats a missing ./Caddyfile as "no config",
			// not as an error; decoding nothing would fail as
			// "unexpected end of JSON input".
			return "", errors.New("no database to unblock in: pass --config <file> (the claimgate server's config) " +
				"or --dsn <dsn>; there is no Caddyfile in the current directory")
		}
		if used == "-" {
			used = "on stdin"
		}
		if dsn, err = dsnFromConfig(cfgJSON, used); err != nil {
			return "", err
		}
	}
	raw := dsn
	dsn = caddy.NewReplacer().ReplaceAll(dsn, "")
	switch {
	case dsn == "":
		// Only placeholders were there (a literal part would remain), so
		// quoting the DSN shows no secret.
		return "", fmt.Errorf("the database dsn %q is empty once its placeholders are replaced: is the variable set in this shell?", raw)
	case strings.EqualFold(dsn, embeddedDSN):
		return "", errors.New("the embedded demo database lives inside the running server, in its memory: " +
			"a command cannot reach it. Restarting the server clears every block (the demo data starts afresh)")
	}
	if _, named := store.LookupNamedDSN(dsn); named {
		// A named DSN starts its database in the process that opens it:
		// this command would clear blocks in a fresh copy of its own.
		return "", fmt.Errorf("the dsn %q names a database that the server starts inside its own process; "+
			"a command cannot reach it: restart the server, or use a MySQL dsn", dsn)
	}
	return dsn, nil
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
