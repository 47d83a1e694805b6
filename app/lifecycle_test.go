package app

// Issue 9 items 11 (no side effects outside a running app), 13 (Cleanup
// waits for the background goroutines) and 12, 1, 5, 6 (the new settings
// are checked at load).

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// storedFiles lists the files under a storage directory.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// expectNoSideEffects fails t when the storage directory holds a file or
// the database a claimgate_ table.
func expectNoSideEffects(t *testing.T, step, dir, dsn string) {
	t.Helper()
	if files := storedFiles(t, dir); len(files) != 0 {
		t.Errorf("%s wrote to storage: %v", step, files)
	}
	if tables := testkit.ClaimgateTables(t, storetest.Open(t, dsn)); len(tables) != 0 {
		t.Errorf("%s created tables: %v", step, tables)
	}
}

// TestNothingWrittenBeforeStart is issue 9 item 11: `claimgate validate`
// created and rotated signing keys in storage (quickstart → production →
// quickstart on one storage left four keys). Provision and Validate — what
// validate runs, and what runs before a config fails to load — write
// nothing to storage or the database; Start creates the keys, the log key
// and the tables. Before the fix Provision loaded (and so created) the
// signing key.
func TestNothingWrittenBeforeStart(t *testing.T) {
	t.Run("provision, validate, then start", func(t *testing.T) {
		dsn := storetest.NewDemoDatabase(t)
		dir := t.TempDir()
		a := testApp(dsn)
		a.KeyRotation = caddy.Duration(24 * time.Hour)
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		t.Cleanup(func() { _ = a.Cleanup() })
		if err := a.ProvisionWith(ctx, &certmagic.FileStorage{Path: dir}, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		expectNoSideEffects(t, "provision and validate", dir, dsn)

		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		files := storedFiles(t, dir)
		if !containsPrefix(files, "claimgate/") || !containsPrefix(files, filepath.FromSlash(logKeyPath)) {
			t.Errorf("after Start storage holds %v, want the signing key and %s", files, logKeyPath)
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(testkit.ClaimgateTables(t, storetest.Open(t, dsn))) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if len(testkit.ClaimgateTables(t, storetest.Open(t, dsn))) == 0 {
			t.Error("Start did not create claimgate's tables")
		}
	})

	t.Run("failed load", func(t *testing.T) {
		dsn := storetest.NewDemoDatabase(t)
		tests := []struct {
			name   string
			change func(*App)
		}{
			{"bad rule", func(a *App) {
				a.Rules = append(a.Rules, enrich.Rule{Kind: enrich.KindClaim, Name: "x", Expr: "no_such_variable"})
			}},
			{"unset secret variable", func(a *App) { a.Clients[0].Secret = "{env.CLAIMGATE_TEST_UNSET_VARIABLE}" }},
			{"dummy_hash_cost 17", func(a *App) { a.Database.DummyHashCost = 17 }},
			{"rehash_query with two parameters", func(a *App) {
				a.Database.RehashQuery = "UPDATE users SET password_hash = ? WHERE id = ?"
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				a := testApp(dsn)
				tt.change(a)
				ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
				defer cancel()
				err := a.ProvisionWith(ctx, &certmagic.FileStorage{Path: dir}, zap.NewNop())
				if cerr := a.Cleanup(); cerr != nil {
					t.Errorf("cleanup: %v", cerr)
				}
				if err == nil {
					t.Fatal("the config loaded")
				}
				expectNoSideEffects(t, "a failed load", dir, dsn)
			})
		}
	})

	// What `claimgate validate` runs: caddy.Validate provisions every
	// module, validates and cleans up, without starting anything. Twice on
	// one storage, as the issue's quickstart → production → quickstart.
	t.Run("caddy.Validate", func(t *testing.T) {
		dsn := storetest.NewDemoDatabase(t)
		dir := t.TempDir()
		a := testApp(dsn)
		a.KeyRotation = caddy.Duration(24 * time.Hour)
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			cfg := &caddy.Config{
				Admin:      &caddy.AdminConfig{Disabled: true},
				AppsRaw:    caddy.ModuleMap{"claimgate": raw},
				StorageRaw: caddyconfig.JSONModuleObject(map[string]string{"root": dir}, "module", "file_system", nil),
			}
			if err := caddy.Validate(cfg); err != nil {
				t.Fatalf("validate: %v", err)
			}
			expectNoSideEffects(t, "caddy.Validate", dir, dsn)
		}
	})
}

// containsPrefix reports whether some path in paths starts with prefix.
func containsPrefix(paths []string, prefix string) bool {
	for _, p := range paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// goroutinesIn counts the goroutines whose stack holds a function whose
// name contains fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// TestCleanupWaitsForWorkers is issue 9 item 13's second half: the
// key-maintenance goroutine was started on the config's context and never
// waited for, so it outlived Cleanup (after a reload, two of them worked on
// one storage). When Cleanup returns, no background goroutine of the app
// runs: neither the key maintenance nor the state worker. Before the fix
// `go a.keys.Run(ctx)` was still running after Cleanup.
func TestCleanupWaitsForWorkers(t *testing.T) {
	const (
		keyWorker = "token.(*Manager).Run("
		anyWorker = "created by github.com/claimgate/claimgate/app.(*App).goWorker"
	)
	keysBefore, workersBefore := goroutinesIn(keyWorker), goroutinesIn(anyWorker)
	h := newHarness(t, func(a *App) { a.KeyRotation = caddy.Duration(24 * time.Hour) })
	// A goroutine just started may not have entered its function yet.
	for deadline := time.Now().Add(10 * time.Second); goroutinesIn(keyWorker) != keysBefore+1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := goroutinesIn(keyWorker); n != keysBefore+1 {
		t.Fatalf("%d key-maintenance goroutines after Start, want %d (the test cannot see the worker)", n, keysBefore+1)
	}
	if n := goroutinesIn(anyWorker); n < workersBefore+2 {
		t.Fatalf("%d app workers after Start, want at least %d (keys and state)", n, workersBefore+2)
	}
	if err := h.app.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := goroutinesIn(keyWorker); n != keysBefore {
		t.Errorf("%d key-maintenance goroutines right after Cleanup, want %d: Cleanup did not wait for it", n, keysBefore)
	}
	if n := goroutinesIn(anyWorker); n != workersBefore {
		t.Errorf("%d app workers right after Cleanup, want %d", n, workersBefore)
	}
}

// TestIssue9SettingsCheckedAtLoad: the settings issue 9 added or changed
// are refused at load when they cannot work, never clamped or ignored.
// Before the fix dummy_hash_cost 17..31 was accepted and silently clamped
// to 16 (item 12), and rehash_query took two parameters (item 1).
func TestIssue9SettingsCheckedAtLoad(t *testing.T) {
	tests := []validateCase{
		{"dummy_hash_cost 4", func(a *App) { a.Database.DummyHashCost = 4 }, ""},
		{"dummy_hash_cost 16", func(a *App) { a.Database.DummyHashCost = 16 }, ""},
		{"dummy_hash_cost 17", func(a *App) { a.Database.DummyHashCost = 17 }, "dummy_hash_cost"},
		{"dummy_hash_cost 31", func(a *App) { a.Database.DummyHashCost = 31 }, "dummy_hash_cost"},
		{"dummy_hash_cost 3", func(a *App) { a.Database.DummyHashCost = 3 }, "dummy_hash_cost"},
		{"rehash_query, three parameters", func(a *App) { a.Database.RehashQuery = demo.DemoRehashQuery }, ""},
		{"rehash_query, two parameters", func(a *App) {
			a.Database.RehashQuery = "UPDATE users SET password_hash = ? WHERE id = ?"
		}, "rehash_query"},
		{"rehash_query, four parameters", func(a *App) {
			a.Database.RehashQuery = demo.DemoRehashQuery + " AND email = ?"
		}, "rehash_query"},
		{"user_id_query", func(a *App) {
			a.Database.UserIDQuery = strings.Replace(demo.DemoUserQuery, "WHERE email = ?", "WHERE id = ?", 1)
		}, ""},
		{"user_id_query without parameter", func(a *App) {
			a.Database.UserIDQuery = "SELECT id AS user_id, password_hash FROM users"
		}, "user_id_query"},
		{"ipv6_prefix 48", func(a *App) { a.Protection = &ProtectionConfig{IPv6Prefix: 48} }, ""},
		{"ipv6_prefix 128", func(a *App) { a.Protection = &ProtectionConfig{IPv6Prefix: 128} }, ""},
		{"ipv6_prefix 129", func(a *App) { a.Protection = &ProtectionConfig{IPv6Prefix: 129} }, "ipv6_prefix"},
		{"ipv6_prefix -1", func(a *App) { a.Protection = &ProtectionConfig{IPv6Prefix: -1} }, "ipv6_prefix"},
		{"min_failure_time", func(a *App) { a.Protection = &ProtectionConfig{MinFailureTime: caddy.Duration(time.Second)} }, ""},
		{"negative min_failure_time", func(a *App) { a.Protection = &ProtectionConfig{MinFailureTime: -1} }, "negative"},
		{"subject_prefix", func(a *App) { a.SubjectPrefix = "auth0|" }, ""},
	}
	checkValidate(t, tests)
}

// TestLogKeyKeptInStorage is issue 9 item 10's per-install secret: it is
// created once in Caddy storage and read back by every later start (and
// every instance of a fleet on that storage), so fingerprints correlate
// across restarts; another storage gets another key.
func TestLogKeyKeptInStorage(t *testing.T) {
	ctx := context.Background()
	shared := &certmagic.FileStorage{Path: t.TempDir()}
	first, err := loadLogKey(ctx, shared)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadLogKey(ctx, &certmagic.FileStorage{Path: shared.Path})
	if err != nil {
		t.Fatal(err)
	}
	other, err := loadLogKey(ctx, &certmagic.FileStorage{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 32 || string(first) != string(again) {
		t.Errorf("the log key was not kept: %d bytes, then another (%v)", len(first), string(first) == string(again))
	}
	if string(first) == string(other) {
		t.Error("two storages share one log key")
	}
}
