package caddymodule

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

func TestWriteSchemaPrintsEveryTable(t *testing.T) {
	var out bytes.Buffer
	if err := writeSchema(&out); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"claimgate_login_failures", "claimgate_ip_failures", "claimgate_refresh_tokens"} {
		if !strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS "+table) {
			t.Errorf("schema output lacks %s", table)
		}
	}
	// What it prints must run as is (statement by statement) on a real server.
	db := storetest.Open(t, storetest.NewDatabase(t))
	for _, stmt := range strings.Split(out.String(), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("printed schema does not run: %v", err)
		}
	}
}

func TestUnblockClearsUserAndIP(t *testing.T) {
	db := storetest.Open(t, storetest.NewDatabase(t))
	st := store.NewState(db, 5*time.Second)
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Protection{MaxFailures: 1, BlockFor: time.Hour, IPFailuresPerDay: 1}
	now := time.Now()
	known := store.LoginSubject("42", true, "")
	unknown := store.LoginSubject("", false, "Nobody@example.test")
	for _, subject := range []string{known, unknown} {
		if err := st.RecordFailure(ctx, subject, "192.0.2.7", now, p); err != nil {
			t.Fatal(err)
		}
	}
	blocked := func(subject string) bool {
		b, err := st.CheckBlocked(ctx, subject, "192.0.2.7", now, store.Protection{MaxFailures: 1})
		if err != nil {
			t.Fatal(err)
		}
		return b.Blocked
	}
	if !blocked(known) || !blocked(unknown) {
		t.Fatal("setup: subjects not blocked")
	}
	if _, err := unblock(ctx, st, "42", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if blocked(known) {
		t.Fatal("user_id still blocked")
	}
	if _, err := unblock(ctx, st, "nobody@example.test", ""); err != nil {
		t.Fatal(err)
	}
	if blocked(unknown) {
		t.Fatal("login name still blocked")
	}
	if b, _ := st.CheckBlocked(ctx, known, "192.0.2.7", now, p); !b.Blocked || b.Reason != "ip" {
		t.Fatalf("setup: IP budget not spent: %+v", b)
	}
	if _, err := unblock(ctx, st, "", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.CheckBlocked(ctx, known, "192.0.2.7", now, p); b.Blocked {
		t.Fatalf("IP still blocked: %+v", b)
	}
}

func TestDSNFromConfig(t *testing.T) {
	tests := []struct {
		name, config, want string
		wantErr            bool
	}{
		{"dsn present", `{"apps":{"claimgate":{"database":{"dsn":"root@tcp(db:3306)/app"}}}}`, "root@tcp(db:3306)/app", false},
		{"no claimgate app", `{"apps":{}}`, "", true},
		{"no database", `{"apps":{"claimgate":{}}}`, "", true},
		{"not JSON", `{`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dsnFromConfig([]byte(tt.config))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("dsnFromConfig = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := unblockDSN("embedded", "", ""); err == nil {
		t.Fatal("the embedded DSN was accepted for unblock")
	}
	t.Setenv("CG_TEST_DSN", "u@tcp(h:1)/d")
	if got, err := unblockDSN("{env.CG_TEST_DSN}", "", ""); err != nil || got != "u@tcp(h:1)/d" {
		t.Fatalf("placeholder DSN = %q, %v", got, err)
	}
}
