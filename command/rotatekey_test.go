package command

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	// The file_system storage module the configs below name.
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	// The claimgate global option, for the Caddyfile case.
	_ "github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/token"
)

// rotateSetup is a storage directory holding the key an instance generated
// at its first start, and a JSON config naming that storage.
type rotateSetup struct {
	dir    string
	config string
	first  string // the instance's kid
}

func newRotateSetup(t *testing.T, app map[string]any) rotateSetup {
	t.Helper()
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{
		"storage": map[string]any{"module": "file_system", "root": dir},
		"apps":    map[string]any{"claimgate": app},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := loadKeys(t, dir, token.ManagerConfig{Algorithm: token.ES256})
	return rotateSetup{dir: dir, config: writeFile(t, "caddy.json", string(cfg)), first: m.KeySet().Active().ID}
}

// loadKeys starts a key Manager on the file storage in dir, as an instance
// starting on that storage does.
func loadKeys(t *testing.T, dir string, cfg token.ManagerConfig) *token.Manager {
	t.Helper()
	m := token.NewManager(&certmagic.FileStorage{Path: dir}, cfg, nil)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// published lists the kids an instance on dir publishes.
func published(m *token.Manager) map[string]bool {
	kids := map[string]bool{}
	for _, k := range m.KeySet().Keys() {
		kids[k.ID] = true
	}
	return kids
}

var newKeyLine = regexp.MustCompile(`(?m)^new signing key ([A-Za-z0-9_-]{43}) \((\w+)\) is published now$`)

// rotate runs rotate-key with args and returns the new kid and the output.
func rotate(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, err := execute(t, "claimgate", "", append([]string{"claimgate", "rotate-key"}, args...)...)
	if err != nil {
		t.Fatalf("rotate-key %q: %v", args, err)
	}
	m := newKeyLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output lacks the new key:\n%s", out)
	}
	return m[1], out
}

func TestRotateKeyCommand(t *testing.T) {
	es256 := map[string]any{"signing_key": map[string]any{"algorithm": "ES256"}, "access_token_ttl": "15m"}

	t.Run("default: pre-published for the scheduled window", func(t *testing.T) {
		s := newRotateSetup(t, es256)
		kid, out := rotate(t, "--config", s.config)
		if !strings.Contains(out, "(in 5m0s)") || !strings.Contains(out, "within 1m0s") {
			t.Errorf("output does not say when it signs and when instances see it:\n%s", out)
		}
		// An instance (re)starting now publishes the new key but still
		// signs with the first.
		m := loadKeys(t, s.dir, token.ManagerConfig{Algorithm: token.ES256, MaxTokenLifetime: 15 * time.Minute})
		if got := m.KeySet().Active().ID; got != s.first {
			t.Errorf("signs with %s during the window, want the first key %s", got, s.first)
		}
		if !published(m)[kid] {
			t.Errorf("new key %s not published during the window", kid)
		}
	})

	t.Run("--activate-in 0: signs at once, the old key stays published", func(t *testing.T) {
		s := newRotateSetup(t, es256)
		kid, out := rotate(t, "--config", s.config, "--activate-in", "0")
		if !strings.Contains(out, "it signs from now on") || !strings.Contains(out, "key "+s.first+" stays published until") {
			t.Errorf("output:\n%s", out)
		}
		m := loadKeys(t, s.dir, token.ManagerConfig{Algorithm: token.ES256})
		if got := m.KeySet().Active(); got.ID != kid || got.Algorithm != token.ES256 {
			t.Errorf("signs with %s %s, want the new ES256 key %s", got.ID, got.Algorithm, kid)
		}
		if !published(m)[s.first] {
			t.Error("the old key was unpublished: tokens it signed would stop verifying")
		}
		if !fileExists(s.dir, s.first) {
			t.Error("the old key's PEM is gone")
		}
		// The old key stays for the config's 15m token lifetime plus the
		// margin, not the 1h default.
		retire := regexp.MustCompile(`stays published until (\S+),`).FindStringSubmatch(out)
		if retire == nil {
			t.Fatalf("no retirement time in:\n%s", out)
		}
		at, err := time.Parse(time.RFC3339, retire[1])
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(at); d < 15*time.Minute || d > 20*time.Minute {
			t.Errorf("old key retires in %s, want access_token_ttl (15m) plus a small margin", d)
		}
	})

	t.Run("--retire-old: the old key stops verifying at once", func(t *testing.T) {
		s := newRotateSetup(t, es256)
		kid, out := rotate(t, "--config", s.config, "--retire-old")
		if !strings.Contains(out, "key "+s.first+" removed from storage") || !strings.Contains(out, "it signs from now on") {
			t.Errorf("output:\n%s", out)
		}
		m := loadKeys(t, s.dir, token.ManagerConfig{Algorithm: token.ES256})
		if got := m.KeySet().Active().ID; got != kid {
			t.Errorf("signs with %s, want %s", got, kid)
		}
		if kids := published(m); kids[s.first] || len(kids) != 1 {
			t.Errorf("publishes %v, want only the new key", kids)
		}
		if fileExists(s.dir, s.first) {
			t.Error("the retired key's PEM is still in storage")
		}
	})

	t.Run("--retire-old --activate-in 10m: the old key signs until then", func(t *testing.T) {
		s := newRotateSetup(t, es256)
		kid, out := rotate(t, "--config", s.config, "--retire-old", "--activate-in", "10m")
		if !strings.Contains(out, "key "+s.first+" stops verifying at") {
			t.Errorf("output:\n%s", out)
		}
		m := loadKeys(t, s.dir, token.ManagerConfig{Algorithm: token.ES256})
		if got := m.KeySet().Active().ID; got != s.first || !published(m)[kid] {
			t.Errorf("signs with %s (want %s) and publishes %v (want %s too)", got, s.first, published(m), kid)
		}
	})

	t.Run("a Caddyfile with storage and key settings", func(t *testing.T) {
		dir := t.TempDir()
		first := loadKeys(t, dir, token.ManagerConfig{Algorithm: token.EdDSA}).KeySet().Active().ID
		caddyfile := writeFile(t, "Caddyfile", fmt.Sprintf(`{
	storage file_system %q
	claimgate {
		issuer https://auth.example.test/
		database {
			dsn {env.CLAIMGATE_ROTATE_TEST_UNSET_DSN}
			user_query "SELECT id AS user_id, password_hash FROM users WHERE email = ?"
		}
		signing_key EdDSA
		key_rotation 720h
		client app {
			audience https://api.example.test
			grant password
		}
	}
}
:8080 {
	respond "a site"
}
`, dir))
		kid, out := rotate(t, "--config", caddyfile)
		// key_rotation 720h: the scheduled window is 1h.
		if !strings.Contains(out, "(EdDSA)") || !strings.Contains(out, "(in 1h0m0s)") {
			t.Errorf("output:\n%s", out)
		}
		m := loadKeys(t, dir, token.ManagerConfig{Algorithm: token.EdDSA})
		if !published(m)[kid] || m.KeySet().Active().ID != first {
			t.Errorf("publishes %v with %s active; want %s published and %s still signing", published(m), m.KeySet().Active().ID, kid, first)
		}
	})
}

func fileExists(dir, kid string) bool {
	_, err := os.Stat(filepath.Join(dir, "claimgate", "keys", kid+".pem"))
	return err == nil
}

func TestRotateKeyRefuses(t *testing.T) {
	keyFile := map[string]any{"signing_key": map[string]any{"algorithm": "ES256", "file": "/etc/claimgate/key.pem"}}
	tests := []struct {
		name string
		args func(t *testing.T) []string
		want string
	}{
		{
			name: "no config",
			args: func(t *testing.T) []string { t.Chdir(t.TempDir()); return nil },
			want: "no config to find the signing keys by",
		},
		{
			name: "no claimgate app",
			args: func(t *testing.T) []string {
				return []string{"--config", writeFile(t, "caddy.json", `{"apps":{"http":{}}}`)}
			},
			want: "has no claimgate app",
		},
		{
			name: "a key file",
			args: func(t *testing.T) []string { return []string{"--config", newRotateSetup(t, keyFile).config} },
			want: "replacing the file",
		},
		{
			name: "a bad delay",
			args: func(t *testing.T) []string {
				return []string{"--config", newRotateSetup(t, map[string]any{}).config, "--activate-in", "soon"}
			},
			want: "--activate-in",
		},
		{
			name: "a negative delay",
			args: func(t *testing.T) []string {
				return []string{"--config", newRotateSetup(t, map[string]any{}).config, "--activate-in", "-1m"}
			},
			want: "must not be negative",
		},
		{
			name: "arguments",
			args: func(t *testing.T) []string { return []string{"now"} },
			want: "takes no arguments",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"claimgate", "rotate-key"}, tt.args(t)...)
			out, err := execute(t, "claimgate", "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q; output %q", err, tt.want, out)
			}
		})
	}
}
