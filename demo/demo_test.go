package demo_test

import (
	"bytes"
	"database/sql"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store"
)

// Importing demo makes `dsn embedded` open the demo server: shared while in
// use, stopped after the last release, started (fresh) by the next open.
func TestNamedDSNEmbedded(t *testing.T) {
	open, ok := store.LookupNamedDSN("embedded")
	if !ok {
		t.Fatal(`"embedded" is not registered`)
	}
	dsn1, release1, err := open()
	if err != nil {
		t.Fatal(err)
	}
	dsn2, release2, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if dsn1 != dsn2 {
		t.Errorf("second open: %q, want the first's %q", dsn2, dsn1)
	}
	db, err := sql.Open("mysql", dsn1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO roles (name) VALUES ('temporary')"); err != nil {
		t.Fatal(err)
	}
	// A release function counts once, however often it is called.
	for range 2 {
		if err := release1(); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n); err != nil || n != len(demo.DemoUsers) {
		t.Fatalf("still in use by the second opener: users = %d (%v), want %d", n, err, len(demo.DemoUsers))
	}
	db.Close()
	if err := release2(); err != nil {
		t.Fatal(err)
	}

	dsn3, release3, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer release3()
	db3, err := sql.Open("mysql", dsn3)
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	if err := db3.QueryRow("SELECT COUNT(*) FROM roles WHERE name = 'temporary'").Scan(&n); err != nil || n != 0 {
		t.Errorf("reopened server: temporary roles = %d (%v), want 0 (a fresh database)", n, err)
	}
}

// demo gives demodb's API under its own name.
func TestSameAsDemodb(t *testing.T) {
	if demo.DemoUserQuery != demodb.DemoUserQuery || demo.DatabaseName != demodb.DatabaseName ||
		len(demo.DemoUsers) != len(demodb.DemoUsers) || &demo.DemoUsers[0] != &demodb.DemoUsers[0] {
		t.Error("demo and demodb disagree")
	}
	if !slices.Equal(demo.DemoStatements(), demodb.DemoStatements()) {
		t.Error("DemoStatements differ")
	}
}

// TestProductionBuildHasNoDemoDatabase checks that the root package, which
// `xcaddy build --with github.com/claimgate/claimgate` compiles into Caddy,
// pulls in neither go-mysql-server nor the WebAssembly runtime it brings
// (wazero): only the claimgate command and tests import package demo.
func TestProductionBuildHasNoDemoDatabase(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "github.com/claimgate/claimgate")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/dolthub/go-mysql-server",
			"github.com/tetratelabs/wazero",
			"github.com/claimgate/claimgate/demo",
		} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("the root package depends on %s", pkg)
			}
		}
	}
}
