package login

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage" // caddy.storage.file_system

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// caddyConfig is a whole Caddy JSON config: the claimgate app (when a is
// not nil) and one HTTP server with claimgate_login in front of a static
// response.
func caddyConfig(t *testing.T, addr string, a *app.App) []byte {
	t.Helper()
	apps := map[string]any{
		"http": map[string]any{"servers": map[string]any{"srv0": map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{
				map[string]any{"handler": "claimgate_login"},
				map[string]any{"handler": "static_response", "body": "next handler"},
			}}},
		}}},
	}
	if a != nil {
		apps["claimgate"] = a
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"storage": map[string]any{"module": "file_system", "root": t.TempDir()},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps":    apps,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCaddyConfig runs claimgate inside Caddy from a JSON config: the
// handler finds the app with ctx.App, keys live in the configured storage.
func TestCaddyConfig(t *testing.T) {
	addr := closedPort(t)
	a := loginTestApp(storetest.NewDemoDatabase(t))
	if err := caddy.Load(caddyConfig(t, addr, a), true); err != nil {
		t.Fatalf("loading the config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	base := "http://" + addr

	resp, err := http.PostForm(base+pathToken, passwordForm("scope", "openid"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id_token"`) {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var tok testkit.TokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodGet, base+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"sub":"1"`) {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
	}

	resp, err = http.Get(base + "/somewhere/else")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "next handler" {
		t.Errorf("other path: %d %q", resp.StatusCode, body)
	}

	// A wrong client secret through the real server: 401 with the Basic
	// challenge when Basic was used.
	req, _ = http.NewRequest(http.MethodPost, base+pathToken, strings.NewReader(url.Values{
		"grant_type": {"password"}, "username": {alice}, "password": {alicePassword}}.Encode()))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(webClient, "wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="claimgate"` {
		t.Errorf("bad client: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestCaddyConfigWithoutApp: claimgate_login without the global option
// fails to load with a message that says what is missing.
func TestCaddyConfigWithoutApp(t *testing.T) {
	err := caddy.Load(caddyConfig(t, closedPort(t), nil), true)
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("config without the claimgate app loaded")
	}
	if !strings.Contains(err.Error(), "claimgate global option") {
		t.Errorf("error %q does not name claimgate", err)
	}
}
