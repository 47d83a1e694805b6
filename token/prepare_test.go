package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Before Prepare existed, these were only found when the app started
// (`claimgate validate` accepted them).
func TestPrepareRefusesBadConfigWithoutWriting(t *testing.T) {
	dir := t.TempDir()
	storage := &certmagic.FileStorage{Path: dir}
	for _, tc := range []struct {
		name string
		cfg  ManagerConfig
		want string
	}{
		{"missing key file", ManagerConfig{Algorithm: ES256, File: filepath.Join(dir, "none.pem")}, "reading signing key"},
		{"rotation below the minimum", ManagerConfig{Algorithm: ES256, Rotation: time.Second}, "must be at least"},
		{"rotation with a key file", ManagerConfig{Algorithm: ES256, File: "k.pem", Rotation: time.Hour}, "generated key"},
		{"unknown algorithm", ManagerConfig{Algorithm: "HS256"}, "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewManager(storage, tc.cfg, zap.NewNop()).Prepare()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prepare = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := NewManager(storage, ManagerConfig{Algorithm: ES256}, zap.NewNop()).Prepare(); err != nil {
		t.Fatalf("Prepare of a generated key: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Prepare wrote to storage: %v", entries)
	}
}
