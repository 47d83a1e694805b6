package command

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/claimgate/claimgate/store"
)

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Prints the SQL of claimgate's own tables",
		Long: `
Prints the CREATE TABLE statements of claimgate's own claimgate_ tables
(login-failure counters, per-IP budgets, refresh tokens), for DBAs who
forbid runtime DDL: run them once, then set 'manage_schema off'.
`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeSchema(cmd.OutOrStdout())
		},
	}
}

// writeSchema prints every statement followed by ";" and a blank line, so
// that the output runs as is in the mysql client.
func writeSchema(w io.Writer) error {
	for _, stmt := range store.SchemaStatements() {
		if _, err := fmt.Fprintf(w, "%s;\n\n", stmt); err != nil {
			return fmt.Errorf("writing schema: %w", err)
		}
	}
	return nil
}
