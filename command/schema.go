package command

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/claimgate/claimgate/store"
)

func newSchemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema [--upgrade]",
		Short: "Prints the SQL of claimgate's own tables",
		Long: `
Prints the CREATE TABLE IF NOT EXISTS statements of claimgate's own
claimgate_ tables, for DBAs who forbid runtime DDL: run them once, then
set 'manage_schema off'. The tables are:

  claimgate_login_failures      brute-force counters and blocks per user and address
  claimgate_ip_failures         the per-address daily budget of failed logins
  claimgate_refresh_tokens      refresh tokens and their families
  claimgate_password_rehashes   claimgate's own password rehashes (refresh tokens survive them)
  claimgate_auth_codes          authorization codes of browser sign-in
  claimgate_sessions            browser sign-in sessions

The output runs as is in the mysql client, on a new database or on one
whose claimgate_ tables are up to date (existing tables are left alone).

--upgrade adds, after them and under a SQL comment, the ALTER TABLE
statements that bring tables created by an earlier claimgate up to date:
print with --upgrade when upgrading claimgate. MySQL has no ADD COLUMN IF
NOT EXISTS, so each ALTER must run once: one that fails with "Duplicate
column name" (error 1060) found its column already there, and the rest
still has to run (mysql --force carries on past it). With 'manage_schema
off', until they have run claimgate answers logins with 503, reports the
database as misconfigured at /health/ready, and logs the missing table
or column.
`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			upgrade, err := cmd.Flags().GetBool("upgrade")
			if err != nil {
				return err
			}
			return writeSchema(cmd.OutOrStdout(), upgrade)
		},
	}
	cmd.Flags().Bool("upgrade", false, "Also print the statements that upgrade tables created by an earlier claimgate")
	return cmd
}

// upgradeComment introduces the upgrade statements in the output.
const upgradeComment = `-- When upgrading tables created by an earlier claimgate: each statement
-- below adds a column that such tables lack. Run each once; one that fails
-- with "Duplicate column name" (error 1060) found its column already there.
`

// writeSchema prints every statement followed by ";" and a blank line, so
// that the output runs as is in the mysql client; with upgrade, the
// upgrade statements follow under upgradeComment.
func writeSchema(w io.Writer, upgrade bool) error {
	stmts := store.SchemaStatements()
	if upgrade {
		stmts = append(stmts, store.SchemaUpgradeStatements()...)
	}
	creates := len(store.SchemaStatements())
	for i, stmt := range stmts {
		if i == creates {
			if _, err := io.WriteString(w, upgradeComment); err != nil {
				return fmt.Errorf("writing schema: %w", err)
			}
		}
		if _, err := fmt.Fprintf(w, "%s;\n\n", stmt); err != nil {
			return fmt.Errorf("writing schema: %w", err)
		}
	}
	return nil
}
