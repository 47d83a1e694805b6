package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// misconfiguredTemplate is a Caddyfile whose user_query does not return
// password_hash: a mistake claimgate must report at start, not at the first
// login, and not as an outage.
var misconfiguredTemplate = template.Must(template.New("Caddyfile").Parse(`{
	skip_install_trust
	admin {{.Admin}}
	http_port {{.HTTPPort}}
	https_port {{.HTTPSPort}}
	grace_period 1ns
	storage file_system {
		root "{{.Storage}}"
	}
	log {
		output file "{{.LogFile}}"
		level INFO
	}
	claimgate {
		issuer http://localhost:{{.HTTPPort}}/
		database {
			dsn "{{.DSN}}"
			user_query "SELECT id AS user_id, email, password_hash AS password FROM users WHERE email = ?"
		}
		signing_key ES256
		client web-backend {
			secret web-secret
			audience https://api.example.test
			grant password
		}
	}
}

http://localhost:{{.HTTPPort}} {
	claimgate_login
}
`))

// TestMisconfiguredUserQuery: a Caddyfile with a user_query that lacks
// password_hash starts; the ERROR naming the directive is logged at start,
// /health/ready answers 503 "misconfigured" (/health stays 200), and a
// login answers 500 server_error, not the 503 of an outage.
func TestMisconfiguredUserQuery(t *testing.T) {
	ports := freePorts(t, 2)
	e := &env{
		t:       t,
		tester:  newTester(t),
		base:    fmt.Sprintf("http://localhost:%d", ports[0]),
		dsn:     storetest.NewDemoDatabase(t),
		logFile: filepath.Join(t.TempDir(), "caddy.log"),
	}
	var cfg bytes.Buffer
	if err := misconfiguredTemplate.Execute(&cfg, map[string]any{
		"Admin": adminAddr, "HTTPPort": ports[0], "HTTPSPort": ports[1],
		"Storage": t.TempDir(), "LogFile": e.logFile, "DSN": e.dsn,
	}); err != nil {
		t.Fatal(err)
	}
	e.load(cfg.String())

	// The check runs as the app starts, in the background: the status is
	// "unavailable" until it has run.
	var ready response
	for deadline := time.Now().Add(30 * time.Second); ; {
		ready = e.do(e.base, request{path: "/health/ready"})
		if ready.status != http.StatusServiceUnavailable || !strings.Contains(string(ready.body), `"unavailable"`) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	const wantReady = `{"status":"ok","database":"misconfigured","signing_key":"ok"}`
	if ready.status != http.StatusServiceUnavailable || strings.TrimSpace(string(ready.body)) != wantReady {
		t.Errorf("/health/ready: %s, want 503 %s", ready, wantReady)
	}
	if live := e.do(e.base, request{path: "/health"}); live.status != http.StatusOK ||
		!strings.Contains(string(live.body), `"database":"misconfigured"`) {
		t.Errorf("/health: %s", live)
	}

	login := e.postForm(form("grant_type", "password", "client_id", webClient, "client_secret", webSecret,
		"username", testkit.Alice, "password", testkit.AlicePassword))
	if login.status != http.StatusInternalServerError {
		t.Errorf("login: %s, want 500", login)
	} else if oe := login.oauthError(t); oe.Error != "server_error" || oe.Description != "The user store is misconfigured." {
		t.Errorf("login: %+v", oe)
	}
	wantNoStore(t, login)

	log, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	const wantMsg = `user_query returns no password_hash column; alias it, e.g. "password AS password_hash"`
	var found int
	for _, line := range testkit.LogLines(log) {
		var entry struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			Directive string `json:"directive"`
			Column    string `json:"column"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		if entry.Level == "error" && entry.Msg == wantMsg && entry.Directive == "user_query" && entry.Column == "password_hash" {
			found++
		}
	}
	if found != 1 {
		t.Errorf("%d ERROR entries %q, want 1; log:\n%s", found, wantMsg, testkit.Truncate(string(log), 4000))
	}
	testkit.AssertNoSecretsLogged(t, "Caddy's log", testkit.LogLines(log), testkit.Secrets())
}
