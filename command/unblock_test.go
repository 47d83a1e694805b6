package command

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

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
	return writeConfigAdmin(t, dsn, nil)
}

// writeConfigAdmin is writeConfig with the config's admin object (none
// when nil).
func writeConfigAdmin(t *testing.T, dsn string, admin map[string]any) string {
	t.Helper()
	cfg := map[string]any{"apps": map[string]any{"claimgate": map[string]any{"database": map[string]any{"dsn": dsn}}}}
	if admin != nil {
		cfg["admin"] = admin
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "caddy.json", string(b))
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

// TestUnblockSaysWhatIsMissing checks that each way of not finding the
// database is named, never reported as a JSON decoding error.
func TestUnblockSaysWhatIsMissing(t *testing.T) {
	down := closedAddr(t)
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
			name: "--dsn and --admin",
			args: []string{"--user", "42", "--dsn", "root@tcp(127.0.0.1:1)/x", "--admin", "localhost:1"},
			want: []string{"--dsn", "--admin", "not both"},
		},
		{
			name: "the embedded database with the admin API off",
			args: []string{"--user", "42", "--config", writeConfigAdmin(t, "embedded", map[string]any{"disabled": true})},
			want: []string{"turns the admin API off", "restart the server"},
		},
		{
			name: "nothing answers at the admin address",
			args: []string{"--user", "42", "--config", writeConfigAdmin(t, "embedded", map[string]any{"listen": down})},
			want: []string{"asking the server's admin API at " + down, "connection refused"},
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

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestUnblockTarget checks where each way of calling the command clears
// blocks: in a database it opens, or through the admin API of the server
// the database lives in, at the address Caddy's own commands would use.
func TestUnblockTarget(t *testing.T) {
	store.RegisterNamedDSN("cgtest-command-named", func() (string, func() error, error) {
		return "", nil, errors.New("a named DSN must not be opened by unblock")
	})
	const mysqlDSN = "root@tcp(db:3306)/app"
	t.Setenv("CG_COMMAND_TEST_NAMED", "embedded")
	tests := []struct {
		name               string
		dsn, config, admin string
		caddyfile          string // written to the working directory when set
		wantDSN, wantAdmin string
	}{
		{name: "a MySQL dsn", dsn: mysqlDSN, wantDSN: mysqlDSN},
		{name: "a MySQL dsn in a config", config: writeConfigAdmin(t, mysqlDSN, map[string]any{"listen": "localhost:2999"}), wantDSN: mysqlDSN},
		{name: "--dsn embedded", dsn: "embedded", wantAdmin: caddy.DefaultAdminListen},
		{name: "--dsn Embedded", dsn: "Embedded", wantAdmin: caddy.DefaultAdminListen},
		{name: "--dsn from a placeholder", dsn: "{env.CG_COMMAND_TEST_NAMED}", wantAdmin: caddy.DefaultAdminListen},
		{name: "a registered named dsn", dsn: "cgtest-command-named", wantAdmin: caddy.DefaultAdminListen},
		{name: "embedded in a config without admin", config: writeConfig(t, "embedded"), wantAdmin: caddy.DefaultAdminListen},
		{name: "embedded in a config with admin", config: writeConfigAdmin(t, "embedded", map[string]any{"listen": "localhost:2999"}),
			wantAdmin: "localhost:2999"},
		{name: "--dsn embedded with a config's admin", dsn: "embedded",
			config: writeConfigAdmin(t, mysqlDSN, map[string]any{"listen": "unix//run/caddy-admin.sock"}), wantAdmin: "unix//run/caddy-admin.sock"},
		{name: "an adjacent Caddyfile's admin", caddyfile: "{\n\tadmin localhost:2998\n}\n", dsn: "embedded",
			wantAdmin: caddy.DefaultAdminListen}, // as `caddy stop`: only --config is read for the address
		{name: "--admin", admin: "localhost:3000", wantAdmin: "localhost:3000"},
		{name: "--admin needs no config", admin: "localhost:3000", config: filepath.Join(t.TempDir(), "nope.json"),
			wantAdmin: "localhost:3000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tt.caddyfile != "" {
				if err := os.WriteFile("Caddyfile", []byte(tt.caddyfile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := findUnblockTarget(tt.dsn, tt.config, "", tt.admin)
			if err != nil {
				t.Fatal(err)
			}
			if got.dsn != tt.wantDSN || got.admin != tt.wantAdmin {
				t.Errorf("target %+v, want dsn %q admin %q", got, tt.wantDSN, tt.wantAdmin)
			}
		})
	}
}

// fakeAdmin is an admin endpoint that answers the unblock route with
// status and body, recording the request it got.
type fakeAdmin struct {
	srv *httptest.Server

	mu                   sync.Mutex
	method, path, origin string
	body                 adminUnblockRequest
}

func newFakeAdmin(t *testing.T, status int, body string) *fakeAdmin {
	t.Helper()
	f := new(fakeAdmin)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.method, f.path, f.origin = r.Method, r.URL.Path, r.Header.Get("Origin")
		err := json.NewDecoder(r.Body).Decode(&f.body)
		f.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAdmin) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// TestUnblockThroughAdmin runs the command against a stand-in admin API:
// the request it sends, and what it makes of the answers.
func TestUnblockThroughAdmin(t *testing.T) {
	t.Run("--admin", func(t *testing.T) {
		f := newFakeAdmin(t, http.StatusOK, `{"cleared":3}`)
		out, err := execute(t, "claimgate", "", "claimgate", "unblock", "--user", "alice@example.test", "--ip", blockedIP,
			"--admin", f.addr())
		if err != nil {
			t.Fatal(err)
		}
		if out != "cleared 3 block record(s)\n" {
			t.Errorf("printed %q", out)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.method != http.MethodPost || f.path != "/claimgate/unblock" {
			t.Errorf("request %s %s, want POST /claimgate/unblock", f.method, f.path)
		}
		// The admin endpoint checks the Origin of requests that carry one.
		if f.origin != "http://"+f.addr() {
			t.Errorf("Origin %q", f.origin)
		}
		if f.body != (adminUnblockRequest{User: "alice@example.test", IP: blockedIP}) {
			t.Errorf("body %+v", f.body)
		}
	})
	t.Run("embedded database in the config", func(t *testing.T) {
		f := newFakeAdmin(t, http.StatusOK, `{"cleared":0}`)
		out, err := execute(t, "claimgate", "", "claimgate", "unblock", "--ip", blockedIP,
			"--config", writeConfigAdmin(t, "embedded", map[string]any{"listen": f.addr()}))
		if err != nil {
			t.Fatal(err)
		}
		if out != "cleared 0 block record(s)\n" {
			t.Errorf("printed %q", out)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.body != (adminUnblockRequest{IP: blockedIP}) {
			t.Errorf("body %+v", f.body)
		}
	})
	for _, tt := range []struct {
		name, body string
		status     int
		want       []string
	}{
		{"no claimgate app", `{"error":"no claimgate app is running"}`, http.StatusConflict,
			[]string{"HTTP 409", "no claimgate app is running"}},
		{"not claimgate's route", `{}`, http.StatusOK, []string{"without a count", "is it a claimgate server?"}},
		{"not JSON", `cleared`, http.StatusOK, []string{"reading the admin API's answer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, tt.status, tt.body)
			out, err := execute(t, "claimgate", "", "claimgate", "unblock", "--user", "42", "--admin", f.addr())
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			for _, w := range append(tt.want, f.addr()) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
