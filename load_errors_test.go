package claimgate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// loadCaddyfile adapts a Caddyfile and loads it the way `claimgate
// validate` does (caddy.Validate provisions and validates every module,
// starts nothing), with storage in a temporary directory. The error is the
// adapter's or the load's.
func loadCaddyfile(t *testing.T, caddyfile string) error {
	t.Helper()
	out, _, err := adapt(t, caddyfile)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Admin = &caddy.AdminConfig{Disabled: true}
	cfg.StorageRaw = caddyconfig.JSONModuleObject(map[string]string{"root": t.TempDir()}, "module", "file_system", nil)
	return caddy.Validate(&cfg)
}

// TestLoadRefusesIssue9Settings: settings issue 9 made invalid are refused
// by `claimgate validate` (by the adapter, at their line, or when the
// config loads), with an error that names them; each case's control line
// loads. Before the fix
// every refused line loaded: optional with require let an anonymous
// request further than a valid token without the claim (item 9),
// dummy_hash_cost 17..31 was clamped to 16 (item 12), a two-parameter
// rehash_query overwrote changed passwords (item 1).
func TestLoadRefusesIssue9Settings(t *testing.T) {
	// A claimgate_verify for another issuer, so that no claimgate app (and
	// no database) is needed; nothing listens on the loopback port.
	verifySite := func(lines ...string) string {
		return "http://127.0.0.1:9/ {\n\tclaimgate_verify {\n\t\taudience https://api.example.test\n" +
			"\t\tissuer http://127.0.0.1:9/\n\t\tjwks_url http://127.0.0.1:9/jwks.json\n\t\t" +
			strings.Join(lines, "\n\t\t") + "\n\t}\n\trespond 204\n}\n"
	}
	// A claimgate app whose database is never contacted while loading.
	database := func(lines ...string) string {
		return "{\n\tclaimgate {\n\t\tissuer https://auth.example.test/\n\t\tdatabase {\n\t\t\tdsn \"root@tcp(127.0.0.1:9)/claimgate\"\n" +
			"\t\t\tuser_query \"SELECT id AS user_id, password_hash FROM users WHERE email = ?\"\n\t\t\t" +
			strings.Join(lines, "\n\t\t\t") + "\n\t\t}\n\t}\n}\n"
	}
	protection := func(lines ...string) string {
		return "{\n\tclaimgate {\n\t\tissuer https://auth.example.test/\n\t\tdatabase {\n\t\t\tdsn \"root@tcp(127.0.0.1:9)/claimgate\"\n" +
			"\t\t\tuser_query \"SELECT id AS user_id, password_hash FROM users WHERE email = ?\"\n\t\t}\n\t\tprotection {\n\t\t\t" +
			strings.Join(lines, "\n\t\t\t") + "\n\t\t}\n\t}\n}\n"
	}
	tests := []struct {
		name             string
		refused, control string
		wantErr          string
	}{
		{"optional with require", verifySite("optional", "require roles admin"), verifySite("optional"), "optional and require"},
		{"dummy_hash_cost 17", database("dummy_hash_cost 17"), database("dummy_hash_cost 12"), "dummy_hash_cost"},
		{"rehash_query with two parameters",
			database(`rehash_query "UPDATE users SET password_hash = ? WHERE id = ?"`),
			database(`rehash_query "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"`), "rehash_query"},
		{"user_id_query without parameter",
			database(`user_id_query "SELECT id AS user_id, password_hash FROM users"`),
			database(`user_id_query "SELECT id AS user_id, password_hash FROM users WHERE id = ?"`), "user_id_query"},
		{"ipv6_prefix 129", protection("ipv6_prefix 129"), protection("ipv6_prefix 56"), "ipv6_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := loadCaddyfile(t, tt.control); err != nil {
				t.Fatalf("the control config does not load: %v", err)
			}
			err := loadCaddyfile(t, tt.refused)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("loading: %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}
