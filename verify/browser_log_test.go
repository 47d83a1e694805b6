package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/token"
)

// stubSessions is a BrowserSessions whose grants all fail; only the cookie
// key matters to the tests that use it.
type stubSessions struct{}

func (stubSessions) CheckBrowserClient(string, string) error { return nil }
func (stubSessions) BrowserCookieKey() []byte                { return make([]byte, 32) }
func (stubSessions) BrowserSessionTTL() time.Duration        { return time.Hour }
func (stubSessions) BrowserSessionScope() string             { return "openid" }
func (stubSessions) RedeemBrowserCode(context.Context, string, string, string, string, string) (string, string, error) {
	return "", "", errors.New("stub")
}
func (stubSessions) RefreshBrowserSession(context.Context, string, string) (string, string, error) {
	return "", "", errors.New("stub")
}
func (stubSessions) RevokeBrowserSession(context.Context, string, string) error { return nil }

// TestBrowserBadCookieLogVolume: a client sending an invalid app cookie on
// every request cannot set the INFO log volume — at most one INFO line a
// minute, the rest at DEBUG.
func TestBrowserBadCookieLogVolume(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	v := newTestVerify(t, &Verify{}, newTestKeys(t, token.ES256, "ec"))
	v.browser = newBrowserSession("web", v.Audience, testIssuer, stubSessions{}, zap.New(core))
	for range 100 {
		r := httptest.NewRequest(http.MethodGet, "https://app.example.test/", nil)
		r.AddCookie(&http.Cookie{Name: appCookie, Value: "not-a-sealed-session"})
		if err := v.ServeHTTP(httptest.NewRecorder(), r, new(recorder)); !isStatus(err, http.StatusUnauthorized) {
			t.Fatalf("ServeHTTP = %v, want a 401", err)
		}
	}
	over := logs.FilterMessageSnippet("browser session over")
	info := over.FilterLevelExact(zapcore.InfoLevel).Len()
	if info > 1 {
		t.Errorf("%d INFO lines for 100 bad cookies, want at most 1", info)
	}
	if over.Len() != 100 {
		t.Errorf("%d lines in all (INFO and DEBUG), want 100", over.Len())
	}
}
