package verify

import (
	"errors"
	"net/http"
	"testing"
	"time"

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
