package command

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// refusedURL is an http URL on a loopback port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/health/ready"
}

func TestHealth(t *testing.T) {
	respond := func(status int, body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				t.Errorf("method %s, want GET", r.Method)
			}
			if r.URL.Path == "/elsewhere" {
				w.WriteHeader(http.StatusOK)
				return
			}
			if status/100 == 3 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	// stalled answers only once the client has given up (or the test ends).
	stalled := func() *httptest.Server {
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}))
		t.Cleanup(func() { close(done); srv.Close() })
		return srv
	}
	ready := `{"status":"ok","database":"ok","signing_key":"ok"}`
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		timeout string
		// wantErr lists what the one line on stderr must say; empty for a
		// healthy answer.
		wantErr []string
	}{
		{name: "200", url: func(t *testing.T) string { return respond(200, ready).URL + "/health/ready" }},
		{name: "204", url: func(t *testing.T) string { return respond(204, "").URL + "/health" }},
		{
			name: "503 with the body on one line",
			url: func(t *testing.T) string {
				return respond(503, "{\"status\":\"ok\",\n\"database\":\"unavailable\"}\n").URL + "/health/ready"
			},
			wantErr: []string{"503 Service Unavailable", `{"status":"ok", "database":"unavailable"}`},
		},
		{
			name:    "500",
			url:     func(t *testing.T) string { return respond(500, "").URL },
			wantErr: []string{"500 Internal Server Error"},
		},
		{
			name:    "a redirect is not followed",
			url:     func(t *testing.T) string { return respond(302, "").URL + "/health" },
			wantErr: []string{"302 Found"},
		},
		{
			name:    "connection refused",
			url:     refusedURL,
			wantErr: []string{"connection refused"},
		},
		{
			name:    "timeout",
			url:     func(t *testing.T) string { return stalled().URL },
			timeout: "200ms",
			wantErr: []string{"Client.Timeout exceeded"},
		},
		{
			name:    "no url",
			url:     func(t *testing.T) string { return "" },
			wantErr: []string{"no --url"},
		},
		{
			name:    "not an http url",
			url:     func(t *testing.T) string { return "127.0.0.1:8080/health" },
			wantErr: []string{"want an http:// or https:// URL"},
		},
		{
			name:    "non-positive timeout",
			url:     func(t *testing.T) string { return respond(200, ready).URL },
			timeout: "0s",
			wantErr: []string{"--timeout 0s: must be positive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"claimgate", "health", "--url", tt.url(t)}
			if tt.timeout != "" {
				args = append(args, "--timeout", tt.timeout)
			}
			start := time.Now()
			out, errOut, err := executeStreams(t, "claimgate", "", args...)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %s", elapsed)
			}
			if out != "" {
				t.Errorf("printed %q on stdout", out)
			}
			if len(tt.wantErr) == 0 {
				if err != nil || errOut != "" {
					t.Fatalf("error %v, stderr %q; want a healthy exit", err, errOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error (exit status 0); stderr %q", errOut)
			}
			if !strings.HasPrefix(errOut, "unhealthy: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Errorf("stderr %q, want one line starting with \"unhealthy: \"", errOut)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"ok":                 "ok",
		" a\r\nb\t c\x00d\n": "a b c d",
		"\xff\xfe":           "",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
