package examples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestQuickstartHasItsOwnStorage is issue 9 item 11's quickstart half: run
// from a checkout, the quickstart put its demo signing keys into the user's
// real Caddy storage (where a production config on the same machine then
// found them). It keeps them in a storage of its own, relative to where it
// runs, and says so in the file.
func TestQuickstartHasItsOwnStorage(t *testing.T) {
	data, err := os.ReadFile("quickstart/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": "quickstart/Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Storage struct {
			Module string `json:"module"`
			Root   string `json:"root"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Module != "file_system" || cfg.Storage.Root == "" || filepath.IsAbs(cfg.Storage.Root) {
		t.Fatalf("quickstart storage %+v, want a file_system storage of its own, relative to where it runs", cfg.Storage)
	}
	if !strings.Contains(string(data), cfg.Storage.Root) || !strings.Contains(string(data), "keys") {
		t.Errorf("the quickstart does not say that its keys live in %s", cfg.Storage.Root)
	}
}
