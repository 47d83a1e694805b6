package command

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// execute runs args under a root command named root, with the claimgate
// command built from its registration the way caddycmd builds it (see
// caddyCmdToCobra), and returns what it printed on stdout.
func execute(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	out, _, err := executeStreams(t, root, stdin, args...)
	return out, err
}

// executeStreams is execute returning what was printed on stderr too.
func executeStreams(t *testing.T, root, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	reg, ok := caddycmd.Commands()[groupName]
	if !ok {
		t.Fatalf("command %q not registered", groupName)
	}
	group := &cobra.Command{Use: reg.Name + " " + reg.Usage, Short: reg.Short, Long: reg.Long}
	reg.CobraFunc(group)
	rootCmd := &cobra.Command{Use: root, SilenceUsage: true, SilenceErrors: true}
	rootCmd.AddCommand(group)
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetIn(strings.NewReader(stdin))
	rootCmd.SetArgs(args)
	_, err = rootCmd.ExecuteC()
	return out.String(), errOut.String(), err
}

// TestRegisteredAsOneGroup checks that the plugin adds one top-level
// command and none of the generic names it used to add to every Caddy.
func TestRegisteredAsOneGroup(t *testing.T) {
	cmds := caddycmd.Commands()
	reg, ok := cmds[groupName]
	if !ok {
		t.Fatalf("command %q not registered", groupName)
	}
	if reg.CobraFunc == nil || reg.Short == "" {
		t.Error("command has no cobra func or short description")
	}
	for _, name := range []string{"schema", "unblock", "hash-user-password"} {
		if _, ok := cmds[name]; ok {
			t.Errorf("top-level command %q is registered", name)
		}
	}
	group := &cobra.Command{Use: groupName}
	reg.CobraFunc(group)
	var subs []string
	for _, c := range group.Commands() {
		subs = append(subs, c.Name())
	}
	want := []string{"hash-password", "health", "rotate-key", "schema", "unblock", "version"}
	if !slices.Equal(subs, want) {
		t.Errorf("subcommands %q, want %q", subs, want)
	}
}

func TestHelpUsesTheCalledName(t *testing.T) {
	tests := []struct {
		name    string
		root    string
		args    []string
		want    []string
		notWant []string
	}{
		{
			name:    "hash-password in the claimgate binary",
			root:    "claimgate",
			args:    []string{"claimgate", "hash-password", "--help"},
			want:    []string{"claimgate claimgate hash-password [--algorithm argon2id|bcrypt]", "--plaintext", "4 to 16; default 12"},
			notWant: []string{"caddy", "hash-user-password"},
		},
		{
			name: "hash-password in a caddy build",
			root: "caddy",
			args: []string{"claimgate", "hash-password", "-h"},
			want: []string{"caddy claimgate hash-password [--algorithm"},
		},
		{
			name:    "unblock",
			root:    "claimgate",
			args:    []string{"claimgate", "unblock", "--help"},
			want:    []string{"claimgate claimgate unblock --user <user_id>", "--dsn"},
			notWant: []string{"caddy claimgate"},
		},
		{
			name: "schema under a renamed binary",
			root: "cg",
			args: []string{"claimgate", "schema", "--help"},
			want: []string{"cg claimgate schema", "manage_schema off"},
		},
		{
			name:    "rotate-key",
			root:    "claimgate",
			args:    []string{"claimgate", "rotate-key", "--help"},
			want:    []string{"claimgate claimgate rotate-key [--config <file>]", "--retire-old", "--activate-in", "a key that leaked"},
			notWant: []string{"caddy claimgate"},
		},
		{
			name: "health",
			root: "claimgate",
			args: []string{"claimgate", "health", "--help"},
			want: []string{"claimgate claimgate health --url <url>", "--timeout duration", "(default 3s)", "/health/ready"},
		},
		{
			name: "version",
			root: "caddy",
			args: []string{"claimgate", "version", "--help"},
			want: []string{"caddy claimgate version"},
		},
		{
			name:    "the group lists its subcommands",
			root:    "claimgate",
			args:    []string{"claimgate", "--help"},
			want:    []string{"claimgate claimgate [command]", "hash-password", "unblock", "rotate-key", "health", "schema", "version"},
			notWant: []string{"caddy claimgate"},
		},
		{
			name: "the group without a subcommand prints its help",
			root: "caddy",
			args: []string{"claimgate"},
			want: []string{"caddy claimgate [command]", "hash-password", "unblock", "schema", "version"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := execute(t, tt.root, "", tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(out, nw) {
					t.Errorf("help contains %q:\n%s", nw, out)
				}
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{
			name: "unknown subcommand",
			args: []string{"claimgate", "unblok", "--user", "42"},
			want: []string{`unknown command "unblok" for "claimgate claimgate"`, "did you mean unblock?"},
		},
		{
			name:    "a password as an argument is refused without being quoted",
			args:    []string{"claimgate", "hash-password", "s3cret"},
			want:    []string{"claimgate claimgate hash-password takes no arguments"},
			notWant: []string{"s3cret"},
		},
		{
			name: "unknown algorithm",
			args: []string{"claimgate", "hash-password", "--algorithm", "md5", "--plaintext", "pw"},
			want: []string{`unknown algorithm "md5"`},
		},
		{
			name: "schema takes no arguments",
			args: []string{"claimgate", "schema", "extra"},
			want: []string{"claimgate claimgate schema takes no arguments"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := execute(t, "claimgate", "", tt.args...)
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(err.Error(), nw) || strings.Contains(out, nw) {
					t.Errorf("error %q or output %q contains %q", err, out, nw)
				}
			}
			if out != "" {
				t.Errorf("printed %q despite the error", out)
			}
		})
	}
}
