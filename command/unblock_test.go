package command

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	// The Caddyfile adapter, so that an adjacent ./Caddyfile is read as in
	// a real binary.
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

const blockedIP = "192.0.2.7"

// blockedState returns the state tables of a fresh database in which user
// 42 is blocked from blockedIP, and the database's DSN.
func blockedState(t *testing.T) (*store.State, string) {
	t.Helper()
	dsn := storetest.NewDatabase(t)
	st := store.NewState(storetest.Open(t, dsn), 5*time.Second)
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Protection{MaxFailures: 1, BlockFor: time.Hour}
	if err := st.RecordFailure(ctx, store.LoginSubject("42", true, ""), blockedIP, time.Now(), p); err != nil {
		t.Fatal(err)
	}
	if !isBlocked(t, st, store.LoginSubject("42", true, "")) {
		t.Fatal("setup: user 42 not blocked")
	}
	return st, dsn
}

func isBlocked(t *testing.T, st *store.State, subject string) bool {
	t.Helper()
	b, err := st.CheckBlocked(context.Background(), subject, blockedIP, time.Now(), store.Protection{MaxFailures: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b.Blocked
}

// writeConfig writes a JSON config whose claimgate database has dsn and
// returns its path.
func writeConfig(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"apps": map[string]any{"claimgate": map[string]any{"database": map[string]any{"dsn": dsn}}}})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "caddy.json", string(cfg))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var clearedLine = regexp.MustCompile(`^cleared [1-9][0-9]* block record\(s\)\n$`)

// TestUnblockCommand clears a real block through the command, with the
// database found each way the command finds it.
func TestUnblockCommand(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T, dsn string) []string
	}{
		{"--dsn", func(t *testing.T, dsn string) []string {
			return []string{"--dsn", dsn}
		}},
		{"--config", func(t *testing.T, dsn string) []string {
			return []string{"--config", writeConfig(t, dsn)}
		}},
		{"--config with an env placeholder", func(t *testing.T, dsn string) []string {
			t.Setenv("CG_COMMAND_TEST_DSN", dsn)
			return []string{"-c", writeConfig(t, "{env.CG_COMMAND_TEST_DSN}")}
		}},
		{"--dsn with an env placeholder", func(t *testing.T, dsn string) []string {
			t.Setenv("CG_COMMAND_TEST_DSN", dsn)
			return []string{"--dsn", "{env.CG_COMMAND_TEST_DSN}"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, dsn := blockedState(t)
			args := append([]string{"claimgate", "unblock", "--user", "42", "--ip", blockedIP}, tt.args(t, dsn)...)
			out, err := execute(t, "claimgate", "", args...)
			if err != nil {
				t.Fatal(err)
			}
			if !clearedLine.MatchString(out) {
				t.Errorf("printed %q", out)
			}
			if isBlocked(t, st, store.LoginSubject("42", true, "")) {
				t.Error("user 42 still blocked")
			}
		})
	}
}

func TestUnblockClearsUserAndIP(t *testing.T) {
	db := storetest.Open(t, storetest.NewDatabase(t))
	st := store.NewState(db, 5*time.Second)
	users, err := store.New(db, store.Config{UserQuery: nameKeyOnlyQuery}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Protection{MaxFailures: 1, BlockFor: time.Hour, IPFailuresPerDay: 1}
	now := time.Now()
	known := store.LoginSubject("42", true, "")
	// A name that matched nobody, counted as the server counts it.
	unknown, err := users.LoginSubject(ctx, nil, "Nobody@example.test")
	if err != nil {
		t.Fatal(err)
	}
	// A name counted lower-cased, as claimgate did before it keyed names
	// by their collation weights.
	legacy := store.LoginSubject("", false, "Old@example.test")
	for _, subject := range []string{known, unknown, legacy} {
		if err := st.RecordFailure(ctx, subject, blockedIP, now, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, subject := range []string{known, unknown, legacy} {
		if !isBlocked(t, st, subject) {
			t.Fatal("setup: subjects not blocked")
		}
	}
	steps := []struct {
		name, user, ip, subject string
	}{
		{"user_id and IP", "42", blockedIP, known},
		{"login name, every IP", "nobody@example.test", "", unknown},
		{"legacy login name", "old@example.test", blockedIP, legacy},
	}
	for _, step := range steps {
		if _, err := unblock(ctx, users, st, step.user, step.ip); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if isBlocked(t, st, step.subject) {
			t.Fatalf("%s: still blocked", step.name)
		}
	}
	if b, _ := st.CheckBlocked(ctx, known, blockedIP, now, p); !b.Blocked || b.Reason != "ip" {
		t.Fatalf("setup: IP budget not spent: %+v", b)
	}
	if _, err := unblock(ctx, users, st, "", blockedIP); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.CheckBlocked(ctx, known, blockedIP, now, p); b.Blocked {
		t.Fatalf("IP still blocked: %+v", b)
	}
}

// TestUnblockSaysWhatIsMissing checks that each way of not finding the
// database is named, never reported as a JSON decoding error.
func TestUnblockSaysWhatIsMissing(t *testing.T) {
	store.RegisterNamedDSN("cgtest-command-named", func() (string, func() error, error) {
		return "", nil, errors.New("a named DSN must not be opened by unblock")
	})
	tests := []struct {
		name      string
		caddyfile string // written to the working directory when set
		args      []string
		want      []string
	}{
		{
			name: "neither --user nor --ip",
			args: []string{"--dsn", "root@tcp(127.0.0.1:1)/x"},
			want: []string{"give --user, --ip or both"},
		},
		{
			name: "no flags and no ./Caddyfile",
			args: []string{"--user", "42"},
			want: []string{"--config", "--dsn", "there is no Caddyfile in the current directory"},
		},
		{
			name:      "an adjacent Caddyfile without the claimgate option",
			caddyfile: "{\n\tadmin off\n}\n",
			args:      []string{"--user", "42"},
			want:      []string{"the config Caddyfile has no claimgate app", "--dsn"},
		},
		{
			name: "an empty config file",
			args: []string{"--user", "42", "--config", writeFile(t, "empty.json", "")},
			want: []string{"empty.json is empty", "--dsn"},
		},
		{
			name: "a config without the claimgate app",
			args: []string{"--user", "42", "--config", writeFile(t, "other.json", `{"apps":{"http":{}}}`)},
			want: []string{"other.json has no claimgate app"},
		},
		{
			name: "a claimgate app without a database",
			args: []string{"--user", "42", "--config", writeFile(t, "nodb.json", `{"apps":{"claimgate":{}}}`)},
			want: []string{"the claimgate app in", "nodb.json has no database dsn"},
		},
		{
			name: "a config file that does not exist",
			args: []string{"--user", "42", "--config", filepath.Join(t.TempDir(), "nope.json")},
			want: []string{"loading config: reading config from file", "nope.json"},
		},
		{
			name: "an unset variable",
			args: []string{"--user", "42", "--dsn", "{env.CG_COMMAND_TEST_UNSET}"},
			want: []string{`"{env.CG_COMMAND_TEST_UNSET}" is empty once its placeholders are replaced`},
		},
		{
			name: "the embedded demo database",
			args: []string{"--user", "42", "--dsn", "embedded"},
			want: []string{"the embedded demo database lives inside the running server"},
		},
		{
			name: "the embedded demo database in a config",
			args: []string{"--ip", blockedIP, "--config", writeConfig(t, "Embedded")},
			want: []string{"the embedded demo database lives inside the running server"},
		},
		{
			name: "another named database",
			args: []string{"--user", "42", "--dsn", "cgtest-command-named"},
			want: []string{"starts inside its own process"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tt.caddyfile != "" {
				if err := os.WriteFile("Caddyfile", []byte(tt.caddyfile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := execute(t, "claimgate", "", append([]string{"claimgate", "unblock"}, tt.args...)...)
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "JSON input") {
				t.Errorf("error %q is about JSON, not what is missing", err)
			}
		})
	}
}

func TestDSNFromConfig(t *testing.T) {
	tests := []struct {
		name, config, want string
		wantErr            bool
	}{
		{"dsn present", `{"apps":{"claimgate":{"database":{"dsn":"root@tcp(db:3306)/app"}}}}`, "root@tcp(db:3306)/app", false},
		{"no apps", `{}`, "", true},
		{"no claimgate app", `{"apps":{}}`, "", true},
		{"no database", `{"apps":{"claimgate":{}}}`, "", true},
		{"empty dsn", `{"apps":{"claimgate":{"database":{"dsn":""}}}}`, "", true},
		{"empty", ``, "", true},
		{"not JSON", `{`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dsnFromConfig([]byte(tt.config), "test.json")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("dsnFromConfig = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "test.json") {
				t.Errorf("error %q does not name the config", err)
			}
		})
	}
}
