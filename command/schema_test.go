package command

import (
	"strings"
	"testing"

	"github.com/claimgate/claimgate/store/storetest"
)

func TestSchemaPrintsEveryTable(t *testing.T) {
	out, err := execute(t, "claimgate", "", "claimgate", "schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"claimgate_login_failures", "claimgate_ip_failures", "claimgate_refresh_tokens"} {
		if !strings.Contains(out, "CREATE TABLE IF NOT EXISTS "+table) {
			t.Errorf("schema output lacks %s", table)
		}
	}
	// What it prints must run as is (statement by statement) on a real server.
	db := storetest.Open(t, storetest.NewDatabase(t))
	for _, stmt := range strings.Split(out, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("printed schema does not run: %v", err)
		}
	}
}
