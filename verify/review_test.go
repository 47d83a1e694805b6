package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/token"
)

// isStatus reports a caddyhttp.Error with status.
func isStatus(err error, status int) bool {
	var he caddyhttp.HandlerError
	return errors.As(err, &he) && he.StatusCode == status
}

// A token for another audience is a configuration mistake more often than
// an attack: it is logged at INFO, once a minute (before, only at DEBUG,
// so an operator never saw why every request got 401).
func TestAudienceMismatchLoggedOncePerMinute(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	core, logs := observer.New(zapcore.InfoLevel)
	v := newTestVerify(t, &Verify{logger: zap.New(core)}, m)
	now := time.Now()
	v.audienceLog.SetClock(func() time.Time { return now })

	other := mint(t, m, func(c map[string]any) { c["aud"] = "https://other-api.example.test" })
	expired := mint(t, m, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	for range 3 {
		if _, _, _, err := serve(t, v, "Bearer "+other); !isStatus(err, http.StatusUnauthorized) {
			t.Fatalf("serve = %v, want a 401", err)
		}
	}
	serve(t, v, "Bearer "+expired) // not a configuration mistake: never at INFO
	if n := logs.FilterMessageSnippet("another audience").Len(); n != 1 {
		t.Fatalf("%d audience lines after 3 refusals in one minute, want 1", n)
	}
	now = now.Add(time.Minute + time.Second)
	serve(t, v, "Bearer "+other)
	if n := logs.FilterMessageSnippet("another audience").Len(); n != 2 {
		t.Errorf("%d audience lines a minute later, want 2", n)
	}
	if logs.Len() != 2 {
		t.Errorf("other INFO lines: %v", logs.All())
	}
}

// claimgate's cookies never reach the upstream, on the bearer path too:
// where claimgate_login shares the site, the sign-in session cookie could
// get codes for any client (before, only the browser path dropped its own
// app cookie).
func TestOwnCookiesNeverReachTheUpstream(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	v := newTestVerify(t, &Verify{}, m)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+mint(t, m, nil))
	r.Header.Set("Cookie", "theme=dark; __Host-claimgate_session=s3ssion; __Host-claimgate_app=sealed")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	rec := &recorder{}
	if err := v.ServeHTTP(httptest.NewRecorder(), r, rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.header.Get("Cookie"); got != "theme=dark" {
		t.Errorf("the upstream got Cookie %q, want only theme=dark", got)
	}
}
