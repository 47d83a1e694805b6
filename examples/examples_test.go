// Package examples holds the example Caddyfiles and the docker-compose demo.
// Its tests keep them in step with the embedded demo database; the
// Caddyfiles themselves are adapted by the caddyfile package's tests.
package examples

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/claimgate/claimgate"
	"github.com/claimgate/claimgate/demo"
)

var update = flag.Bool("update", false, "regenerate docker/seed.sql from the demo statements")

const seedFile = "docker/seed.sql"

// seedSQL renders the demo statements as a script for MySQL's
// /docker-entrypoint-initdb.d, which runs it in MYSQL_DATABASE.
func seedSQL() string {
	var b strings.Builder
	b.WriteString("-- claimgate demo schema and users, for examples/docker-compose.yml.\n")
	b.WriteString("-- Generated from demo.DemoStatements by\n")
	b.WriteString("--   go test ./examples -run TestSeedSQL -update\n")
	b.WriteString("-- The demo passwords are listed in demo/demodb/demo.go and the README.\n\n")
	for _, stmt := range demo.DemoStatements() {
		b.WriteString(stmt)
		b.WriteString(";\n\n")
	}
	return b.String()
}

func TestSeedSQL(t *testing.T) {
	want := seedSQL()
	if *update {
		if err := os.WriteFile(seedFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with the demo statements; run: go test ./examples -run TestSeedSQL -update", seedFile)
	}
}

// TestDemoQueries checks that the Caddyfiles running on the demo data use
// the queries that fit the demo schema.
func TestDemoQueries(t *testing.T) {
	want := map[string]string{
		"user_query":         demo.DemoUserQuery,
		"roles_query":        demo.DemoRolesQuery,
		"permissions_query":  demo.DemoPermissionsQuery,
		"organization_query": demo.DemoOrganizationQuery,
	}
	for _, file := range []string{"quickstart/Caddyfile", "docker/Caddyfile"} {
		t.Run(file, func(t *testing.T) {
			db := adaptedDatabase(t, file)
			for field, query := range want {
				if db[field] != query {
					t.Errorf("%s: %s is\n  %q\nwant the demo schema's\n  %q", file, field, db[field], query)
				}
			}
		})
	}
}

// adaptedDatabase adapts file and returns the claimgate app's database
// settings.
func adaptedDatabase(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": file})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			Claimgate struct {
				Database map[string]any `json:"database"`
			} `json:"claimgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	db := make(map[string]string)
	for k, v := range cfg.Apps.Claimgate.Database {
		if s, ok := v.(string); ok {
			db[k] = s
		}
	}
	return db
}
