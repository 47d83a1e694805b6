package claimgate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/claimgate/claimgate"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of testdata/*.caddyfiletest")

// goldenSeparator splits a .caddyfiletest into its Caddyfile and the JSON
// the Caddyfile adapter must produce, as in Caddy's caddyfile_adapt tests.
const goldenSeparator = "----------"

// adapt runs the real Caddyfile adapter, as `claimgate adapt` does.
func adapt(t *testing.T, caddyfile string) ([]byte, []caddyconfig.Warning, error) {
	t.Helper()
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
}

// indentJSON normalises JSON for comparison and for the golden files.
func indentJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "\t"); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, raw)
	}
	return buf.String()
}

// setGoldenEnv fixes the environment the golden files were written with:
// {$VAR} is replaced while the Caddyfile is read, {env.VAR} is not.
func setGoldenEnv(t *testing.T) {
	t.Setenv("CLAIMGATE_TEST_WEB_SECRET", "s3cret-from-env")
	for _, name := range []string{"DEMO_CLIENT_SECRET", "CLAIMGATE_DSN", "WEB_BACKEND_SECRET"} {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
}

func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfiletest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.caddyfiletest")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			setGoldenEnv(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, ok := strings.Cut(string(data), goldenSeparator)
			if !ok {
				t.Fatalf("%s: no %s separator", file, goldenSeparator)
			}
			input = strings.TrimSpace(input) + "\n"

			got, warnings, err := adapt(t, input)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				// The README's example global option is kept verbatim, aligned comments and
				// all, which `caddy fmt` would reflow; that warning is
				// cosmetic. Any other warning is a bug.
				if !strings.Contains(w.Message, "not formatted") {
					t.Errorf("warning: %s", w.String())
				}
			}
			gotJSON := indentJSON(t, got)
			if *update {
				out := input + goldenSeparator + "\n" + gotJSON + "\n"
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := indentJSON(t, []byte(expected)); gotJSON != want {
				t.Errorf("adapted JSON differs\n--- got:\n%s\n--- want:\n%s", gotJSON, want)
			}
		})
	}
}

// TestAdaptExamples adapts every Caddyfile under examples/, as a user
// following the README would.
func TestAdaptExamples(t *testing.T) {
	var files []string
	err := filepath.WalkDir("examples", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "Caddyfile" {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example Caddyfiles, want at least quickstart, production, auth0-migration: %v", len(files), files)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			setGoldenEnv(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": file})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s", w.String())
			}
			var cfg struct {
				Apps map[string]json.RawMessage `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if _, ok := cfg.Apps["http"]; !ok {
				t.Errorf("no http app in %s", out)
			}
		})
	}
}
