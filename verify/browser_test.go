package verify

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/reports/q3?tab=1":             "/reports/q3?tab=1",
		"/":                             "/",
		"":                              "/",
		"https://evil.test/":            "/",
		"//evil.test/":                  "/",
		`/\evil.test/`:                  "/",
		"/a\\b":                         "/",
		"/a\r\nSet-Cookie: x=1":         "/",
		"javascript:alert(1)":           "/",
		"evil.test":                     "/",
		"/%2F%2Fevil.test":              "/%2F%2Fevil.test",
		"/" + strings.Repeat("a", 5000): "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNavigation(t *testing.T) {
	for _, c := range []struct {
		method, accept string
		want           bool
	}{
		{"GET", "text/html,application/xhtml+xml,*/*;q=0.8", true},
		{"HEAD", "text/html", true},
		{"GET", "application/json", false},
		{"GET", "*/*", false},
		{"POST", "text/html", false},
	} {
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("Accept", c.accept)
		if got := navigation(r); got != c.want {
			t.Errorf("%s Accept %q: navigation %v, want %v", c.method, c.accept, got, c.want)
		}
	}
}

func testCodec(client string) *cookieCodec {
	key := make([]byte, 32)
	key[0] = 7
	return &cookieCodec{client: client, key: func() []byte { return key }}
}

// cookiesOf turns a response's Set-Cookie lines into a request's cookies.
func requestWithCookies(t *testing.T, rec *httptest.ResponseRecorder) *http.Request {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// TestSessionCookieRoundTripAndSplit: a session fits one cookie or is split
// into numbered ones and reassembled; the cookies are __Host- style; a
// session sealed for another client does not open.
func TestSessionCookieRoundTripAndSplit(t *testing.T) {
	c := testCodec("app-one")
	for _, size := range []int{100, 3000, 9000} {
		sess := appSession{Access: strings.Repeat("a", size), Refresh: "r", Expires: 42}
		rec := httptest.NewRecorder()
		if err := c.setSession(rec, httptest.NewRequest("GET", "/", nil), sess, time.Hour); err != nil {
			t.Fatal(err)
		}
		cookies := rec.Result().Cookies()
		for _, ck := range cookies {
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" ||
				!strings.HasPrefix(ck.Name, "__Host-") || len(ck.Value) > maxCookieValue {
				t.Errorf("cookie %s: %+v", ck.Name, ck)
			}
		}
		if size > 3000 && len(cookies) < 2 {
			t.Errorf("a %d-byte token fits in %d cookie(s)", size, len(cookies))
		}
		r := requestWithCookies(t, rec)
		got, err := c.openSession(c.readSession(r))
		if err != nil || got != sess {
			t.Fatalf("size %d: round trip: %v", size, err)
		}
		if _, err := testCodec("app-two").openSession(c.readSession(r)); err == nil {
			t.Errorf("another client's codec opened the session")
		}
		// Replacing a split session with a small one deletes the chunks.
		rec2 := httptest.NewRecorder()
		if err := c.setSession(rec2, r, appSession{Access: "x", Refresh: "y", Expires: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if size > 3000 {
			cleared := 0
			for _, ck := range rec2.Result().Cookies() {
				if ck.MaxAge < 0 {
					cleared++
				}
			}
			if cleared != len(cookies) {
				t.Errorf("replacing %d chunks cleared %d", len(cookies), cleared)
			}
		}
	}
	rec := httptest.NewRecorder()
	err := c.setSession(rec, httptest.NewRequest("GET", "/", nil), appSession{Access: strings.Repeat("a", 40000), Refresh: "r"}, time.Hour)
	if err == nil {
		t.Error("a session too large for the cookies was set")
	}
}

func TestAuthStateCookie(t *testing.T) {
	c := testCodec("app-one")
	st := authState{State: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", Nonce: "n", Verifier: "v", Return: "/x", Created: time.Now().Unix()}
	rec := httptest.NewRecorder()
	if err := c.setAuthState(rec, st); err != nil {
		t.Fatal(err)
	}
	r := requestWithCookies(t, rec)
	if _, err := c.takeAuthState(httptest.NewRecorder(), r, st.State[:stateKeyLen]+"other-state-value-xxxxxxxxxxxxx"); err == nil {
		t.Error("a state with the same prefix was accepted")
	}
	if _, err := c.takeAuthState(httptest.NewRecorder(), r, ""); err == nil {
		t.Error("an empty state was accepted")
	}
	got, err := c.takeAuthState(httptest.NewRecorder(), r, st.State)
	if err != nil || got != st {
		t.Fatalf("takeAuthState: %+v, %v", got, err)
	}
	// A session cookie's value cannot stand in for a sign-in cookie.
	if err := c.open(aadSession, r.Header.Get("Cookie")[strings.Index(r.Header.Get("Cookie"), "=")+1:], &got); err == nil {
		t.Error("a sign-in cookie opened as a session")
	}
}

func TestStripSessionCookies(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; __Host-claimgate_app=sealed; b=2", "__Host-claimgate_app.1=x; __Host-claimgate_auth.abc=y"}}
	stripSessionCookies(h)
	if got := h["Cookie"]; len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("Cookie after stripping: %q", got)
	}
	h = http.Header{"Cookie": {"__Host-claimgate_app=sealed"}}
	stripSessionCookies(h)
	if _, ok := h["Cookie"]; ok {
		t.Errorf("an emptied Cookie header was kept")
	}
	h = http.Header{"Cookie": {"a=1"}}
	stripSessionCookies(h)
	if h.Get("Cookie") != "a=1" {
		t.Errorf("an unrelated Cookie header changed")
	}
}

type tempErr struct{}

func (tempErr) Error() string   { return "database down" }
func (tempErr) Temporary() bool { return true }

// TestRefreshGroup: concurrent requests carrying one refresh token renew
// once and share the outcome; a temporary failure is not shared with later
// requests.
func TestRefreshGroup(t *testing.T) {
	g := refreshGroup{calls: make(map[[32]byte]*refreshCall)}
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]appSession, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = g.do([32]byte{1}, func() (appSession, error) {
				calls.Add(1)
				<-release
				return appSession{Access: "new", Refresh: "rotated"}, nil
			})
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("%d refreshes for one token, want 1", calls.Load())
	}
	for _, r := range results {
		if r.Refresh != "rotated" {
			t.Errorf("a request got %+v", r)
		}
	}
	// Later requests with the old token within the window get the same.
	if r, _ := g.do([32]byte{1}, func() (appSession, error) { return appSession{}, errors.New("called again") }); r.Refresh != "rotated" {
		t.Errorf("a late request got %+v", r)
	}
	// A temporary failure is retried by the next request.
	_, err := g.do([32]byte{2}, func() (appSession, error) { return appSession{}, tempErr{} })
	if err == nil {
		t.Fatal("no error")
	}
	r, err := g.do([32]byte{2}, func() (appSession, error) { return appSession{Refresh: "ok"}, nil })
	if err != nil || r.Refresh != "ok" {
		t.Errorf("after a temporary failure: %+v, %v", r, err)
	}
}
