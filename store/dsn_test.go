package store

import (
	"strings"
	"testing"
	"time"
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

// NewDB configures the pool for claimgate's short point lookups.
func TestNewDBSettings(t *testing.T) {
	db, err := NewDB("root@tcp(127.0.0.1:1)/app")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st := db.Stats(); st.MaxOpenConnections != maxOpenConns() {
		t.Errorf("MaxOpenConnections = %d, want %d", st.MaxOpenConnections, maxOpenConns())
	}
	if _, err := NewDB("not a dsn"); err == nil {
		t.Error("NewDB accepted an invalid DSN")
	}
}
