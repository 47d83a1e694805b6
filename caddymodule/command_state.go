package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/claimgate/claimgate/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "schema",
		Short: "Prints the SQL of claimgate's own tables",
		Long: `
Prints the CREATE TABLE statements of claimgate's own claimgate_ tables
(login-failure counters, per-IP budgets, refresh tokens), for DBAs who
forbid runtime DDL: run them once, then set 'manage_schema off'.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.RunE = func(cmd *cobra.Command, _ []string) error {
				return writeSchema(cmd.OutOrStdout())
			}
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "unblock",
		Usage: "--user <user_id> [--ip <address>] | --ip <address>  [--config <file>] [--adapter <name>] [--dsn <dsn>]",
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
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("user", "", "The user_id (or login name) to unblock")
			cmd.Flags().String("ip", "", "The client IP address to unblock")
			cmd.Flags().StringP("config", "c", "", "Configuration file holding the claimgate database block")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.Flags().String("dsn", "", "The database DSN (instead of --config)")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdUnblock)
		},
	})
}

func writeSchema(w io.Writer) error {
	for _, stmt := range store.SchemaStatements() {
		if _, err := fmt.Fprintf(w, "%s;\n\n", stmt); err != nil {
			return err
		}
	}
	return nil
}

func cmdUnblock(fl caddycmd.Flags) (int, error) {
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
	defer store.ReleaseDB(dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	removed, err := unblock(ctx, store.NewState(db, 10*time.Second), user, ip)
	if err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	fmt.Printf("cleared %d block record(s)\n", removed)
	return caddy.ExitCodeSuccess, nil
}

// unblock clears both ways a user may be counted: by user_id (known user)
// and by login name (a name that matched nobody), since the operator may
// know either.
func unblock(ctx context.Context, st *store.State, user, ip string) (int64, error) {
	if user == "" {
		return st.Unblock(ctx, "", ip)
	}
	var total int64
	for _, subject := range []string{store.LoginSubject(user, true, ""), store.LoginSubject("", false, user)} {
		n, err := st.Unblock(ctx, subject, ip)
		if err != nil {
			return total, fmt.Errorf("clearing block: %w", err)
		}
		total += n
	}
	return total, nil
}

// unblockDSN finds the database: --dsn, else the claimgate app's dsn in the
// config file (with {env.*} placeholders replaced, as at run time).
func unblockDSN(dsn, configFile, adapter string) (string, error) {
	if dsn == "" {
		cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, adapter)
		if err != nil {
			return "", fmt.Errorf("loading config: %w", err)
		}
		if dsn, err = dsnFromConfig(cfgJSON); err != nil {
			return "", err
		}
	}
	dsn = caddy.NewReplacer().ReplaceAll(dsn, "")
	if strings.EqualFold(dsn, "embedded") {
		return "", errors.New("the embedded demo database lives inside the running server; restart it to clear blocks")
	}
	return dsn, nil
}

func dsnFromConfig(cfgJSON []byte) (string, error) {
	var cfg struct {
		Apps struct {
			Claimgate *App `json:"claimgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return "", fmt.Errorf("decoding config: %w", err)
	}
	app := cfg.Apps.Claimgate
	if app == nil || app.Database == nil || app.Database.DSN == "" {
		return "", errors.New("the config has no claimgate database dsn; pass --dsn")
	}
	return app.Database.DSN, nil
}
