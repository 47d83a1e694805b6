package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/claimgate/claimgate/internal/testkit"
)

// eventsLogTemplate is the global `log` block that routes the events to a
// file, as examples/production/Caddyfile shows it.
const eventsLogTemplate = `{
	log claimgate_events {
		include claimgate.events
		output file %q
		format json
	}
}
`

// metricsUA is the User-Agent of this test's token requests, which the
// events must carry.
const metricsUA = "claimgate-metrics-test/1.0"

// TestMetricsAndEvents runs the standard test configuration (its many
// claimgate_verify handlers share one metrics set with the app), reloads it
// with the events routed to a file by a Caddyfile `log` block, then logs in,
// fails, gets blocked, reuses a refresh token, revokes one and verifies
// tokens, and reads it all back: the metrics from the admin endpoint's
// /metrics, the events from their file. A second reload must leave the
// metrics working, registered once.
func TestMetricsAndEvents(t *testing.T) {
	e := start(t, options{MaxFailures: 2})
	eventsFile := filepath.Join(t.TempDir(), "events.log")

	// A reload (a new config, so a new metrics registry): the events go to
	// their own file from now on.
	e.reloadWith(t, fmt.Sprintf(eventsLogTemplate, eventsFile))

	ua := []string{"User-Agent", metricsUA}
	post := func(kv ...string) response { return e.postForm(form(kv...), ua...) }
	password := func(user, pw string, extra ...string) response {
		return post(append([]string{"grant_type", "password", "client_id", webClient, "client_secret", webSecret,
			"username", user, "password", pw}, extra...)...)
	}
	var secrets []string // every token issued, for the scan
	want := func(what string, r response, status int) response {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %s, want %d", what, r, status)
		}
		if status == http.StatusOK && len(r.body) > 0 && r.body[0] == '{' {
			tr := decodeToken(t, r)
			secrets = append(secrets, tr.AccessToken, tr.IDToken, tr.RefreshToken)
		}
		return r
	}

	// Token requests, with the event each must log.
	wantEvents := []string{}
	login := decodeToken(t, want("login", password(alice, testkit.AlicePassword, "scope", "openid offline_access"), http.StatusOK))
	wantEvents = append(wantEvents, "s")
	want("wrong password", password(alice, "not-her-password"), http.StatusBadRequest)
	wantEvents = append(wantEvents, "fp")
	want("unknown user", password("nobody@example.test", "whatever-they-typed"), http.StatusBadRequest)
	wantEvents = append(wantEvents, "fu")
	for i := range 2 { // max_failures 2: two failures, then a block
		want(fmt.Sprintf("carol's failure %d", i+1), password(carol, "wrong-guess-for-carol"), http.StatusBadRequest)
		wantEvents = append(wantEvents, "fp")
	}
	want("carol blocked", password(carol, testkit.CarolPassword), http.StatusTooManyRequests)
	wantEvents = append(wantEvents, "limit_wc")
	rotated := decodeToken(t, want("refresh", post("grant_type", "refresh_token", "client_id", webClient,
		"client_secret", webSecret, "refresh_token", login.RefreshToken), http.StatusOK))
	wantEvents = append(wantEvents, "sertft")
	want("refresh reuse", post("grant_type", "refresh_token", "client_id", webClient, "client_secret", webSecret,
		"refresh_token", login.RefreshToken), http.StatusBadRequest)
	wantEvents = append(wantEvents, "ferrt")
	want("revocation", e.do(e.base, request{method: http.MethodPost, path: "/oauth/revoke",
		body:   form("client_id", webClient, "client_secret", webSecret, "token", rotated.RefreshToken),
		header: headers("Content-Type", "application/x-www-form-urlencoded", "User-Agent", metricsUA)}), http.StatusOK)
	wantEvents = append(wantEvents, "srrt")
	bobToken := decodeToken(t, want("bob's login", password(bob, testkit.BobPassword), http.StatusOK)).AccessToken
	wantEvents = append(wantEvents, "s")

	// Verifications: no event, one count each.
	want("verified", e.get(e.base, "/api/orders", login.AccessToken), http.StatusOK)
	want("no token", e.get(e.base, "/api/orders", ""), http.StatusUnauthorized)
	want("forged token", e.get(e.base, "/api/orders", login.AccessToken+"x"), http.StatusUnauthorized)
	want("not an admin", e.get(e.base, "/admin/users", bobToken), http.StatusForbidden)
	want("anonymous", e.get(e.base, "/optional/x", ""), http.StatusOK)

	m := e.scrapeMetrics(t)
	for _, c := range []struct {
		series string
		min    float64
	}{
		{`claimgate_logins_total{grant="password",outcome="success"}`, 2},
		{`claimgate_logins_total{grant="password",outcome="wrong_credentials"}`, 4},
		{`claimgate_logins_total{grant="password",outcome="blocked"}`, 1},
		{`claimgate_logins_total{grant="refresh_token",outcome="success"}`, 1},
		{`claimgate_logins_total{grant="refresh_token",outcome="wrong_credentials"}`, 1},
		{`claimgate_blocks_total{kind="user_ip"}`, 1},
		{`claimgate_refresh_reuse_total`, 1},
		{`claimgate_verify_total{outcome="ok"}`, 1},
		{`claimgate_verify_total{outcome="missing"}`, 1},
		{`claimgate_verify_total{outcome="invalid"}`, 1},
		{`claimgate_verify_total{outcome="forbidden"}`, 1},
		{`claimgate_verify_total{outcome="anonymous"}`, 1},
		{`claimgate_password_hash_seconds_count{format="bcrypt"}`, 3},
		{`claimgate_password_hash_seconds_count{format="argon2id"}`, 1},
		{`claimgate_password_hash_seconds_count{format="dummy"}`, 1},
		{`claimgate_hash_queue_wait_seconds_count`, 5},
		{`claimgate_database_query_seconds_count{query="user"}`, 1},
		{`claimgate_database_query_seconds_count{query="roles"}`, 1},
		{`claimgate_database_query_seconds_count{query="state"}`, 1},
		{`claimgate_database_up`, 1},
		{`claimgate_signing_keys{state="active"}`, 1},
		{`claimgate_remote_jwks_fetches_total{outcome="ok"}`, 1},
	} {
		if got, ok := m[c.series]; !ok {
			t.Errorf("%s is not in /metrics", c.series)
		} else if got < c.min {
			t.Errorf("%s = %v, want at least %v", c.series, got, c.min)
		}
	}
	for _, series := range []string{
		`claimgate_blocks_total{kind="ip"}`, `claimgate_blocks_total{kind="account"}`,
		`claimgate_signing_keys{state="pending"}`, `claimgate_signing_keys{state="retired"}`,
		`claimgate_remote_jwks_fetches_total{outcome="failed"}`,
	} {
		if _, ok := m[series]; !ok {
			t.Errorf("%s is not in /metrics (every series exists from the start)", series)
		}
	}
	for series := range m {
		if strings.Contains(series, "@") || strings.Contains(series, "127.0.0.1") || strings.Contains(series, testkit.JWTPrefix) {
			t.Errorf("a label carries a user, an IP or a token: %s", series)
		}
	}

	// Another reload: the new config registers its metrics on its own
	// registry, once, and they count from there.
	e.reloadWith(t, fmt.Sprintf(eventsLogTemplate, eventsFile))
	want("login after the reload", password(alice, testkit.AlicePassword), http.StatusOK)
	wantEvents = append(wantEvents, "s")
	want("verified after the reload", e.get(e.base, "/api/orders", login.AccessToken), http.StatusOK)
	m = e.scrapeMetrics(t)
	for series, value := range map[string]float64{
		`claimgate_logins_total{grant="password",outcome="success"}`: 1,
		`claimgate_verify_total{outcome="ok"}`:                       1,
		`claimgate_database_up`:                                      1,
		`claimgate_signing_keys{state="active"}`:                     1,
	} {
		if got, ok := m[series]; !ok || got != value {
			t.Errorf("after the reload, %s = %v (present %v), want %v", series, got, ok, value)
		}
	}
	e.assertNoDuplicateRegistration(t)

	e.checkEvents(t, eventsFile, wantEvents, append(secrets,
		testkit.AlicePassword, testkit.BobPassword, testkit.CarolPassword,
		"not-her-password", "nobody@example.test", "whatever-they-typed", "wrong-guess-for-carol"))
}

// reloadWith loads the running config again with the `log` blocks of the
// Caddyfile globals merged in: adapted by Caddy's own Caddyfile adapter,
// as an operator's Caddyfile would be. A load is a new config, with a new
// metrics registry; the request is forced, so that loading the same config
// twice reloads too.
func (e *env) reloadWith(t *testing.T, globals string) {
	t.Helper()
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(globals), nil)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("adapting %q: %v %v", globals, err, warnings)
	}
	var extra struct {
		Logging struct {
			Logs map[string]map[string]any `json:"logs"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(adapted, &extra); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get("http://" + adminAddr + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the running config: %v", err)
	}
	logging, _ := cfg["logging"].(map[string]any)
	if logging == nil {
		logging = map[string]any{}
		cfg["logging"] = logging
	}
	logs, _ := logging["logs"].(map[string]any)
	if logs == nil {
		logs = map[string]any{}
		logging["logs"] = logs
	}
	for name, l := range extra.Logging.Logs {
		old, _ := logs[name].(map[string]any)
		if name != "default" || old == nil {
			logs[name] = l
			continue
		}
		// The adapter excludes the routed loggers from the default log;
		// keep the running default log's writer and level.
		exclude, _ := old["exclude"].([]any)
		for _, x := range l["exclude"].([]any) {
			if !slices.Contains(exclude, x) {
				exclude = append(exclude, x)
			}
		}
		old["exclude"] = exclude
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+adminAddr+"/load", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cache-Control", "must-revalidate") // reload even if unchanged
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("reloading: %s: %s", resp.Status, msg)
	}
}

// scrapeMetrics reads the admin endpoint's /metrics and returns every
// claimgate sample by its series (name and labels as exposed).
func (e *env) scrapeMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	// The key-set gauge and the database status are read at scrape time;
	// the database status needs the app's first check, which runs as it
	// starts: wait for it rather than race it.
	var out map[string]float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out = scrape(t)
		if out["claimgate_database_up"] == 1 || time.Now().After(deadline) {
			return out
		}
	}
}

func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "claimgate_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNoDuplicateRegistration fails when Caddy's log reports a metrics
// registration that collided (a config that registered twice, or on the
// previous config's registry).
func (e *env) assertNoDuplicateRegistration(t *testing.T) {
	t.Helper()
	log, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range testkit.LogLines(log) {
		if strings.Contains(line, "registering claimgate metrics") || strings.Contains(line, "duplicate metrics collector") ||
			strings.Contains(line, "already registered") {
			t.Errorf("Caddy's log: %s", testkit.Truncate(line, 400))
		}
	}
}

// checkEvents reads the routed events: exactly the events of want, in
// order, each with exactly the contract's fields, none holding a secret.
func (e *env) checkEvents(t *testing.T, file string, want, secrets []string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the events file: %v", err)
	}
	lines := slices.DeleteFunc(testkit.LogLines(raw), func(s string) bool { return s == "" })
	var types []string
	for _, line := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("not a JSON event: %s", line)
			continue
		}
		typ, _ := ev["type"].(string)
		types = append(types, typ)
		if ev["logger"] != "claimgate.events" || ev["level"] != "info" {
			t.Errorf("event from logger %v at %v: %s", ev["logger"], ev["level"], line)
		}
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fields := strings.Join(keys, ",")
		wantFields := "client_id,connection,description,ip,level,logger,msg,ts,type,user_agent"
		if _, ok := ev["user_id"]; ok {
			wantFields = "client_id,connection,description,ip,level,logger,msg,ts,type,user_agent,user_id"
		}
		if fields != wantFields {
			t.Errorf("event fields %s, want %s", fields, wantFields)
		}
		if ev["client_id"] != webClient || ev["ip"] != "127.0.0.1" || ev["user_agent"] != metricsUA ||
			ev["connection"] != "Username-Password-Authentication" {
			t.Errorf("event %s: %s", typ, line)
		}
		switch typ {
		case "s", "fp", "sertft", "ferrt", "limit_wc":
			if ev["user_id"] == nil || ev["user_id"] == "" {
				t.Errorf("event %s names no user: %s", typ, line)
			}
		case "fu":
			if d, _ := ev["description"].(string); !strings.Contains(d, "fingerprint") {
				t.Errorf("unknown user's event without the name's fingerprint: %s", line)
			}
		}
	}
	if !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	testkit.AssertNoSecretsLogged(t, "the events", lines, testkit.Secrets(secrets...))

	// The default log leaves them out: they are routed, not duplicated.
	main, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(main, []byte(`"logger":"claimgate.events"`)) {
		t.Error("Caddy's main log holds events although they are routed to their own file")
	}
}
