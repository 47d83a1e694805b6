package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/password"
)

// runMainEnv makes the test binary run main() instead of the tests, so that
// the tests can run the real command line in a child process.
const runMainEnv = "CLAIMGATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBinaryName(t *testing.T) {
	tests := []struct{ argv0, want string }{
		{"claimgate", "claimgate"},
		{"/usr/local/bin/claimgate", "claimgate"},
		{"./cg", "cg"},
		{"claimgate.exe", "claimgate"},
		{"", "claimgate"},
		{"/", "claimgate"},
	}
	for _, tt := range tests {
		if got := binaryName(tt.argv0); got != tt.want {
			t.Errorf("binaryName(%q) = %q, want %q", tt.argv0, got, tt.want)
		}
	}
}

// run runs this binary's main with argv (argv[0] included) in an empty
// directory and returns its stdout, stderr and exit code.
func run(t *testing.T, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Args = argv
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "HOME="+t.TempDir(), "XDG_CONFIG_HOME=", "XDG_DATA_HOME=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("running %q: %v", argv, err)
		}
		code = exit.ExitCode()
	}
	return out.String(), errOut.String(), code
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		argv       []string
		wantCode   int
		wantOut    []string
		notWantOut []string
		wantErr    []string
	}{
		{
			name:       "claimgate's hash-password help names this binary",
			argv:       []string{"claimgate", "claimgate", "hash-password", "--help"},
			wantOut:    []string{"claimgate claimgate hash-password [--algorithm argon2id|bcrypt]"},
			notWantOut: []string{"caddy claimgate", "hash-user-password"},
		},
		{
			name:    "a renamed binary",
			argv:    []string{"/opt/bin/cg", "claimgate", "schema", "--help"},
			wantOut: []string{"cg claimgate schema"},
		},
		{
			name:    "the root help lists the claimgate command",
			argv:    []string{"claimgate", "--help"},
			wantOut: []string{"claimgate [command]", "Operator commands of the claimgate plugin"},
		},
		{
			name:    "version",
			argv:    []string{"claimgate", "claimgate", "version"},
			wantOut: []string{"claimgate "},
		},
		{
			name:    "Caddy's own commands stay",
			argv:    []string{"claimgate", "validate", "--help"},
			wantOut: []string{"claimgate validate"},
		},
		{
			name:     "unblock without a config says what is missing",
			argv:     []string{"claimgate", "claimgate", "unblock", "--user", "42"},
			wantCode: 1,
			wantErr:  []string{"there is no Caddyfile in the current directory", "--dsn"},
		},
		{
			name:     "a mistyped subcommand fails",
			argv:     []string{"claimgate", "claimgate", "unblok"},
			wantCode: 1,
			wantErr:  []string{`unknown command "unblok"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.argv...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, nw := range tt.notWantOut {
				if strings.Contains(out, nw) {
					t.Errorf("stdout contains %q:\n%s", nw, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestHashPasswordCommandLine checks the hash the binary prints is one the
// users table can hold: it verifies with claimgate's password package.
func TestHashPasswordCommandLine(t *testing.T) {
	out, errOut, code := run(t, "claimgate", "claimgate", "hash-password", "--plaintext", "s3cret")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errOut)
	}
	hash := strings.TrimSuffix(out, "\n")
	if password.Kind(hash) != password.KindArgon2id {
		t.Errorf("printed %q, want an argon2id hash", out)
	}
	if err := password.Verify(hash, []byte("s3cret")); err != nil {
		t.Errorf("printed hash does not verify: %v", err)
	}
}
