package command

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

// createTable finds the table names in CREATE TABLE statements.
var createTable = regexp.MustCompile(`CREATE TABLE IF NOT EXISTS (\w+)`)

// addColumn finds the table and column of an upgrade statement.
var addColumn = regexp.MustCompile(`^ALTER TABLE (\w+) ADD COLUMN (\w+) `)

// runPrinted runs printed SQL statement by statement, as the mysql client
// would; comment lines are the client's business, so they are dropped.
func runPrinted(t *testing.T, ctx context.Context, exec func(string) error, out string) {
	t.Helper()
	for _, stmt := range strings.Split(out, ";\n") {
		var lines []string
		for _, line := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(line, "--") {
				lines = append(lines, line)
			}
		}
		stmt = strings.TrimSpace(strings.Join(lines, "\n"))
		if stmt == "" {
			continue
		}
		if err := exec(stmt); err != nil {
			t.Fatalf("printed schema does not run: %v\n%s", err, stmt)
		}
	}
}

func TestSchemaPrintsEveryTable(t *testing.T) {
	out, err := execute(t, "claimgate", "", "claimgate", "schema")
	if err != nil {
		t.Fatal(err)
	}
	help, err := execute(t, "claimgate", "", "claimgate", "schema", "--help")
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	for _, stmt := range store.SchemaStatements() {
		for _, m := range createTable.FindAllStringSubmatch(stmt, -1) {
			tables++
			if !strings.Contains(out, "CREATE TABLE IF NOT EXISTS "+m[1]) {
				t.Errorf("schema output lacks %s", m[1])
			}
			if !strings.Contains(help, m[1]) {
				t.Errorf("schema help does not name %s", m[1])
			}
		}
	}
	if tables < 6 {
		t.Errorf("found %d tables in store.SchemaStatements, want at least 6", tables)
	}
	if strings.Contains(out, "ALTER TABLE") {
		t.Error("schema without --upgrade prints upgrade statements, which fail on new tables")
	}
	// What it prints must run as is (statement by statement) on a real
	// server, and leave a schema that `manage_schema off` accepts.
	ctx := context.Background()
	db := storetest.Open(t, storetest.NewDatabase(t))
	runPrinted(t, ctx, func(stmt string) error { _, err := db.ExecContext(ctx, stmt); return err }, out)
	if err := store.NewState(db, 0).CheckSchema(ctx); err != nil {
		t.Errorf("after the printed schema: %v", err)
	}
}

// TestSchemaUpgrade checks that --upgrade prints the statements that bring
// tables of an earlier claimgate up to date, under the SQL comment that
// says so, and that the whole output runs on such tables.
func TestSchemaUpgrade(t *testing.T) {
	out, err := execute(t, "claimgate", "", "claimgate", "schema", "--upgrade")
	if err != nil {
		t.Fatal(err)
	}
	upgrades := store.SchemaUpgradeStatements()
	if len(upgrades) == 0 {
		t.Fatal("store.SchemaUpgradeStatements is empty; nothing to test")
	}
	at := strings.Index(out, "-- When upgrading tables created by an earlier claimgate")
	if at < 0 {
		t.Fatalf("--upgrade output lacks the comment introducing the upgrade statements:\n%s", out)
	}
	for _, stmt := range store.SchemaStatements() {
		if i := strings.Index(out, stmt); i < 0 || i > at {
			t.Errorf("--upgrade output lacks, before the upgrade comment: %.60s", stmt)
		}
	}
	for _, stmt := range upgrades {
		if i := strings.Index(out, stmt+";"); i < at {
			t.Errorf("--upgrade output lacks, after the upgrade comment: %s", stmt)
		}
	}

	// Tables of an earlier claimgate: today's, without the upgrades'
	// columns.
	ctx := context.Background()
	db := storetest.Open(t, storetest.NewDatabase(t))
	exec := func(stmt string) error { _, err := db.ExecContext(ctx, stmt); return err }
	if err := storetest.Exec(ctx, db, store.SchemaStatements()...); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range upgrades {
		m := addColumn.FindStringSubmatch(stmt)
		if m == nil {
			t.Fatalf("cannot tell which column this upgrade adds: %s", stmt)
		}
		if err := exec("ALTER TABLE " + m[1] + " DROP COLUMN " + m[2]); err != nil {
			t.Fatal(err)
		}
	}
	state := store.NewState(db, 0)
	if err := state.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema accepts the old tables; the test does not set them up")
	}
	runPrinted(t, ctx, exec, out)
	if err := state.CheckSchema(ctx); err != nil {
		t.Errorf("after schema --upgrade: %v", err)
	}
}
