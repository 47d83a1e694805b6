package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store/storetest"
)

func TestValidateDSN(t *testing.T) {
	tests := []struct {
		dsn     string
		wantErr string
	}{
		{"root@tcp(127.0.0.1:3306)/app", ""},
		{"user:secret@tcp(db.internal:3306)/app?tls=true&timeout=2s", ""},
		{"user:p@ss@unix(/run/mysqld/mysqld.sock)/app", ""},
		{"", "dsn is required"},
		{"root@tcp(127.0.0.1:3306)", "parsing dsn: invalid DSN: missing the slash separating the database name"},
		{"root@tcp(127.0.0.1:3306/app", "parsing dsn: invalid DSN: network address not terminated (missing closing brace)"},
		{"root:hunter2@tcp(127.0.0.1)/app?parseTime=maybe", "parsing dsn: invalid bool value: maybe"},
		{"root@tcp(127.0.0.1)/app?interpolateParams=true&collation=gbk_chinese_ci",
			"parsing dsn: invalid DSN: interpolateParams can not be used with unsafe collations"},
	}
	for _, tt := range tests {
		err := ValidateDSN(tt.dsn)
		if tt.wantErr == "" && err != nil {
			t.Errorf("ValidateDSN(%q): %v", tt.dsn, err)
		}
		if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("ValidateDSN(%q) = %v, want %q", tt.dsn, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ValidateDSN(%q) leaks the password: %v", tt.dsn, err)
		}
	}
}

func TestParseDSNDefaults(t *testing.T) {
	cfg, err := parseDSN("root@tcp(127.0.0.1)/app?multiStatements=true&readTimeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MultiStatements || cfg.Timeout != defaultDialTimeout || cfg.ReadTimeout != time.Second ||
		cfg.WriteTimeout != defaultIOTimeout {
		t.Errorf("cfg: multiStatements %v, timeout %v, read %v, write %v",
			cfg.MultiStatements, cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
	}
}

// TestPoolSharing checks that one DSN gets one *sql.DB, open until its last
// release, and a fresh one after that.
func TestPoolSharing(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("OpenDB returned two pools for one DSN")
	}
	if st := a.Stats(); st.MaxOpenConnections != maxOpenConns() {
		t.Errorf("MaxOpenConnections = %d, want %d", st.MaxOpenConnections, maxOpenConns())
	}
	if err := ReleaseDB(dsn); err != nil {
		t.Fatal(err)
	}
	if err := a.PingContext(ctx); err != nil {
		t.Fatalf("pool closed while still in use: %v", err)
	}
	if err := ReleaseDB(dsn); err != nil {
		t.Fatal(err)
	}
	if err := a.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Fatalf("Ping after the last release = %v, want database is closed", err)
	}
	if err := ReleaseDB(dsn); err != nil {
		t.Fatalf("releasing an unknown DSN: %v", err)
	}

	c, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseDB(dsn)
	if c == a {
		t.Fatal("OpenDB returned the closed pool")
	}
	if err := c.PingContext(ctx); err != nil {
		t.Fatalf("Ping on the new pool: %v", err)
	}
}

func TestOpenDBInvalid(t *testing.T) {
	if _, err := OpenDB("not a dsn"); err == nil {
		t.Fatal("OpenDB accepted an invalid DSN")
	}
	if _, ok := dbPool.References("not a dsn"); ok {
		t.Fatal("a failed OpenDB left an entry in the pool")
	}
}
