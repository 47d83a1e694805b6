// Package command adds claimgate's operator commands to the Caddy binary it
// is built into, as subcommands of one `claimgate` command:
//
//	caddy claimgate hash-password   hash a password for the users table
//	caddy claimgate unblock         clear brute-force blocks in the database
//	caddy claimgate rotate-key      replace the signing key now, fleet-wide
//	caddy claimgate health          check a health endpoint (container HEALTHCHECK)
//	caddy claimgate schema          print the SQL of claimgate's own tables
//	caddy claimgate version         print which claimgate is built in
//
// A plugin's commands sit beside Caddy's and every other plugin's, so they
// are grouped under the plugin's name: `schema` or `unblock` alone would not
// say whose they are, and `hash-password` is taken by Caddy's caddyauth
// (RegisterCommand refuses a second command of a name). Caddy's own
// `storage export|import` is built the same way.
//
// Help and usage lines come from cobra's CommandPath, so they name the
// binary as its root command does: `caddy claimgate ...` in an xcaddy build,
// `claimgate claimgate ...` in cmd/claimgate, which names its root after the
// name it was called by.
package command

import (
	"fmt"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// groupName is the top-level command claimgate registers with Caddy.
const groupName = "claimgate"

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  groupName,
		Short: "Operator commands of the claimgate plugin",
		Long: `
Operator commands of the claimgate plugin: hashing passwords for the users
table, clearing brute-force blocks, rotating the signing key now across
the fleet, checking a health endpoint (for container health checks),
printing the SQL of claimgate's own tables, and the version of claimgate
in this binary.
`,
		CobraFunc: setUpGroup,
	})
}

// setUpGroup adds the subcommands to the claimgate command.
func setUpGroup(cmd *cobra.Command) {
	// Runnable so that a mistyped subcommand is an error (exit status 1)
	// rather than the help text with status 0, which is what cobra does for
	// a group without RunE; a script calling `unblok` must notice.
	cmd.RunE = runGroup
	// caddycmd builds Use from Name and Usage; with no Usage it ends in a
	// space that would show in the usage line.
	cmd.Use = groupName
	cmd.Args = cobra.ArbitraryArgs
	// Flags meant for the mistyped subcommand would otherwise fail first,
	// with a message about the flag instead of the command's name.
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.DisableFlagsInUseLine = true
	// What cobra uses for its own "did you mean" (it sets it only there).
	cmd.SuggestionsMinimumDistance = 2
	cmd.AddCommand(
		newHashPasswordCommand(),
		newUnblockCommand(),
		newRotateKeyCommand(),
		newHealthCommand(),
		newSchemaCommand(),
		newVersionCommand(),
	)
}

// runGroup prints the group's help when called without a subcommand and
// refuses an unknown one.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
}

// noArgs refuses positional arguments without quoting them: cobra.NoArgs
// would echo the first one, and the likeliest stray argument is a password
// typed after hash-password.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, only flags (got %d; see --help)", cmd.CommandPath(), len(args))
	}
	return nil
}

// runFunc is a subcommand's body: like a caddycmd.CommandFunc, but with the
// command, so that it reads and writes through cobra's streams (which tests
// replace) and names itself by its CommandPath.
type runFunc func(cmd *cobra.Command, fl caddycmd.Flags) (int, error)

// caddyRunE runs f the way Caddy runs its own commands: the error goes
// through Caddy's logger and an exit status above 1 reaches the process.
func caddyRunE(f runFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			return f(cmd, fl)
		})(cmd, args)
	}
}
