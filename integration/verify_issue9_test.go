package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issue9Config runs claimgate_verify for another issuer's tokens (no
// claimgate app, no database) in front of a recording upstream that reads
// the body and records the trailers, as an app would see them. The server
// speaks HTTP/1.1 and h2c.
var issue9Config = template.Must(template.New("Caddyfile").Parse(`{
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
	servers {
		protocols h1 h2c
		# Caddy drops header names with '_' or '.' unless allowed: allow
		# two, to show that claimgate_verify deletes those spellings too.
		expected_underscore_headers x_big
		expected_dot_headers x.meta
	}
}

http://localhost:{{.HTTPPort}} {
	handle /api/* {
		claimgate_verify {
			issuer {{.Issuer}}
			jwks_url {{.JWKS}}
			audience https://api.example.test
			header X-User-Id sub
			header X-User-Roles https://example.test/roles
			header X-Big big
			header X-Meta https://example.test/meta json
			header X-City https://example.test/city
		}
		reverse_proxy {{.Upstream}} {
			header_up X-Org {http.auth.user.org_id}
		}
	}
	handle /id-only/* {
		claimgate_verify {
			issuer {{.Issuer}}
			jwks_url {{.JWKS}}
			audience https://api.example.test
			header X-User-Id sub
			strip X-Debug-User
		}
		reverse_proxy {{.Upstream}}
	}
	handle /optional/* {
		claimgate_verify {
			issuer {{.Issuer}}
			jwks_url {{.JWKS}}
			audience https://api.example.test
			header X-User-Id sub
			optional
		}
		reverse_proxy {{.Upstream}} {
			header_up X-Anon-Id {http.auth.user.id}
		}
	}
}
`))

// issue9Upstream is the app behind reverse_proxy: it reads each body to
// the end and records headers, trailers and body.
type issue9Upstream struct {
	srv *httptest.Server

	mu      sync.Mutex
	calls   int
	header  http.Header
	trailer http.Header
	body    string
}

func newIssue9Upstream(t *testing.T) *issue9Upstream {
	u := new(issue9Upstream)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.calls++
		u.header, u.trailer, u.body = r.Header.Clone(), r.Trailer.Clone(), string(body)
		u.mu.Unlock()
		fmt.Fprint(w, upstreamBody)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// take returns what the upstream recorded since the last take, and forgets it.
func (u *issue9Upstream) take() (calls int, header, trailer http.Header, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	calls, header, trailer, body = u.calls, u.header, u.trailer, u.body
	u.calls, u.header, u.trailer, u.body = 0, nil, nil, ""
	return calls, header, trailer, body
}

type issue9Env struct {
	base     string
	addr     string // host:port of the site
	logFile  string
	upstream *issue9Upstream
	external *externalIssuer
}

func startIssue9(t *testing.T) *issue9Env {
	t.Helper()
	ports := freePorts(t, 2)
	e := &issue9Env{
		base:     fmt.Sprintf("http://localhost:%d", ports[0]),
		addr:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		logFile:  filepath.Join(t.TempDir(), "caddy.log"),
		upstream: newIssue9Upstream(t),
		external: newExternalIssuer(t),
	}
	var cfg bytes.Buffer
	if err := issue9Config.Execute(&cfg, map[string]any{
		"Admin":     adminAddr,
		"HTTPPort":  ports[0],
		"HTTPSPort": ports[1],
		"Storage":   t.TempDir(),
		"LogFile":   e.logFile,
		"Issuer":    e.external.issuer(),
		"JWKS":      e.external.jwksURL(),
		"Upstream":  strings.TrimPrefix(e.upstream.srv.URL, "http://"),
	}); err != nil {
		t.Fatal(err)
	}
	tester := newTester(t)
	tester.InitServer(cfg.String(), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { unload(t) })
	return e
}

// token signs claims of the external issuer for the API, with changes
// applied (a nil value deletes the claim).
func (e *issue9Env) token(t *testing.T, changes map[string]any) string {
	now := time.Now().Unix()
	c := jwt.MapClaims{
		"iss": e.external.issuer(), "sub": "auth0|42", "aud": apiAudience, "iat": now, "exp": now + 600,
		"https://example.test/roles": []string{"admin", "billing"},
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return e.external.sign(t, c)
}

// chunked sends a chunked HTTP/1.1 POST to path over a fresh connection:
// head holds extra header lines ("Name: value\r\n"…), trailer the fields
// sent after the last chunk. It returns the status code.
func (e *issue9Env) chunked(t *testing.T, path, head, trailer string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	req := "POST " + path + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.base, "http://") + "\r\n" +
		"Transfer-Encoding: chunked\r\nConnection: close\r\n" + head + "\r\n" +
		"7\r\npayload\r\n0\r\n" + trailer + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// get sends GET path with a bearer token (when not empty) and headers given
// as name/value pairs, names verbatim.
func (e *issue9Env) get(t *testing.T, path, tok string, kv ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header[kv[i]] = append(req.Header[kv[i]], kv[i+1])
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestVerifyIssue9 covers issue 9's claimgate_verify items with a real Caddy
// and upstream: trailers cannot carry identity headers (item 3), the
// managed set spans every claimgate_verify plus strip (item 4), and values
// and placeholders (item 9).
func TestVerifyIssue9(t *testing.T) {
	e := startIssue9(t)
	tok := e.token(t, nil)
	auth := "Authorization: Bearer " + tok + "\r\n"

	t.Run("trailers", func(t *testing.T) {
		refused := []struct {
			name, path, head, trailer string
		}{
			{"announced X-User-Id", "/api/orders", auth + "Trailer: X-User-Id\r\n", "X-User-Id: 999\r\n"},
			{"underscore spelling", "/api/orders", auth + "Trailer: x_user_id\r\n", "x_user_id: 999\r\n"},
			{"dot spelling", "/api/orders", auth + "Trailer: X.User.Id\r\n", "X.User.Id: 999\r\n"},
			{"among others", "/api/orders", auth + "Trailer: X-Checksum, X-USER-ROLES\r\n", "X-Checksum: abc\r\nX-User-Roles: root\r\n"},
			{"another route's header", "/id-only/orders", auth + "Trailer: X-User-Roles\r\n", "X-User-Roles: root\r\n"},
			{"strip name", "/id-only/orders", auth + "Trailer: X-Debug-User\r\n", "X-Debug-User: root\r\n"},
			{"optional, anonymous", "/optional/feed", "Trailer: X-User-Id\r\n", "X-User-Id: 999\r\n"},
			{"optional, with a token", "/optional/feed", auth + "Trailer: X-User-Id\r\n", "X-User-Id: 999\r\n"},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				e.upstream.take()
				status := e.chunked(t, tt.path, tt.head, tt.trailer)
				calls, _, trailer, _ := e.upstream.take()
				if status != http.StatusBadRequest || calls != 0 {
					t.Errorf("got %d after %d upstream calls (trailers there: %v), want 400 and none", status, calls, trailer)
				}
			})
		}

		// Undeclared fields behind an announced harmless trailer: Go's
		// HTTP/1.1 server keeps every field of the trailer section, and
		// reverse_proxy forwards them.
		for _, path := range []string{"/api/orders", "/optional/feed"} {
			t.Run("undeclared behind X-Checksum "+path, func(t *testing.T) {
				e.upstream.take()
				status := e.chunked(t, path, auth+"Trailer: X-Checksum\r\n",
					"X-Checksum: abc\r\nX-User-Id: 999\r\nx_user_id: 998\r\nX-User-Roles: root\r\n")
				calls, header, trailer, body := e.upstream.take()
				if status != http.StatusOK || calls != 1 {
					t.Fatalf("got %d after %d upstream calls", status, calls)
				}
				if body != "payload" {
					t.Errorf("upstream body %q", body)
				}
				if len(trailer) != 1 || trailer.Get("X-Checksum") != "abc" {
					t.Errorf("upstream trailers = %v, want only X-Checksum: abc", trailer)
				}
				if v := header.Values("X-User-Id"); len(v) != 1 || v[0] != "auth0|42" {
					t.Errorf("upstream X-User-Id = %q", v)
				}
			})
		}

		t.Run("h2c", func(t *testing.T) {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: time.Minute}
			for _, name := range []string{"X-User-Id", "x_user_id", "X-User-Roles"} {
				e.upstream.take()
				req, err := http.NewRequest(http.MethodPost, e.base+"/api/orders", io.NopCloser(strings.NewReader("payload")))
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = -1
				// Lets the transport resend the request when the connection
				// it picked gets a GOAWAY (a server of the previous config
				// closing down); the request is refused either way.
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Trailer = http.Header{name: {"999"}}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				calls, _, trailer, _ := e.upstream.take()
				if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusBadRequest || calls != 0 {
					t.Errorf("trailer %s: got %s %d after %d upstream calls (trailers there: %v), want HTTP/2 400 and none",
						name, resp.Proto, resp.StatusCode, calls, trailer)
				}
			}
		})
	})

	t.Run("managed set", func(t *testing.T) {
		e.upstream.take()
		// /id-only sets only X-User-Id; /api sets X-User-Roles for the
		// same app, so a forged copy must not reach it through /id-only.
		status := e.get(t, "/id-only/orders", tok, "X-User-Roles", forged, "X_Big", forged, "x.meta", forged,
			"X-Debug-User", forged)
		calls, header, _, _ := e.upstream.take()
		if status != http.StatusOK || calls != 1 {
			t.Fatalf("got %d after %d upstream calls", status, calls)
		}
		if f := forgedHeaders(header); len(f) > 0 {
			t.Errorf("forged headers reached the upstream through /id-only: %v", f)
		}
		if v := header.Values("X-User-Id"); len(v) != 1 || v[0] != "auth0|42" {
			t.Errorf("upstream X-User-Id = %q", v)
		}
		// strip names are the route's own.
		e.get(t, "/api/orders", tok, "X-Debug-User", "client value")
		_, header, _, _ = e.upstream.take()
		if got := header.Get("X-Debug-User"); got != "client value" {
			t.Errorf("/api: X-Debug-User = %q; strip is /id-only's", got)
		}
	})

	t.Run("values", func(t *testing.T) {
		e.upstream.take()
		big := e.token(t, map[string]any{
			"big":                        int64(9007199254740993),
			"https://example.test/meta":  map[string]any{"plan": "pro", "seats": 5},
			"https://example.test/roles": []string{"user", "user,admin"},
			"https://example.test/city":  "Lisbon\r\nX-Admin: true",
		})
		for i := range 3 {
			if status := e.get(t, "/api/orders", big, "X-User-Roles", forged, "X-City", forged); status != http.StatusOK {
				t.Fatalf("request %d: got %d", i, status)
			}
		}
		_, header, _, _ := e.upstream.take()
		for name, want := range map[string]string{
			"X-Big":  "9007199254740993",
			"X-Meta": `{"plan":"pro","seats":5}`,
			"X-Org":  "", // placeholder of an absent claim
		} {
			if v := header.Values(name); len(v) != 1 || v[0] != want {
				t.Errorf("upstream %s = %q, want [%q]", name, v, want)
			}
		}
		for _, name := range []string{"X-User-Roles", "X-City", "X-Admin"} {
			if v, has := header[name]; has {
				t.Errorf("upstream %s = %q, want it left out", name, v)
			}
		}

		e.get(t, "/optional/feed", "")
		_, header, _, _ = e.upstream.take()
		if v := header.Values("X-Anon-Id"); len(v) > 1 || (len(v) == 1 && v[0] != "") {
			t.Errorf("anonymous: upstream X-Anon-Id = %q, want empty", v)
		}

		// One WARN per refused header, not one per request.
		log, err := os.ReadFile(e.logFile)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "header not sent") {
				for _, h := range []string{"X-City", "X-User-Roles"} {
					if strings.Contains(line, `"`+h+`"`) {
						counts[h]++
					}
				}
			}
		}
		if counts["X-City"] != 1 || counts["X-User-Roles"] != 1 {
			t.Errorf("warnings after 3 requests: %v, want one per header", counts)
		}
	})
}
