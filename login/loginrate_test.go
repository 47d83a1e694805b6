package login

import (
	"net/http"
	"os"
	"slices"
	"testing"
	"time"
)

// TestMeasureLoginRate compares the logins per second the hosted login page
// serves (GET /authorize, then the form post, answered by a redirect with a
// code) with the password grant's (POST /oauth/token), on one harness, one
// user (alice: bcrypt at the demo's cost), one database, in interleaved
// rounds so that drift on a shared machine hits both alike. Issue 11 asks
// that the page be no slower than the grant by more than the HTML it sends.
// It only reports (go test -v); set CLAIMGATE_MEASURE=1 to run it.
func TestMeasureLoginRate(t *testing.T) {
	if os.Getenv("CLAIMGATE_MEASURE") == "" {
		t.Skip("a measurement: set CLAIMGATE_MEASURE=1 to run it")
	}
	h := newHarness(t, browserApp)
	const rounds, perRound = 7, 10
	var page, grantRate []float64
	var pageBytes int
	for round := range rounds {
		var pageTime, grantTime time.Duration
		for i := range 2 * perRound {
			// Alternate which goes first, so neither always follows the other.
			if (i+round)%2 == 0 {
				start := time.Now()
				b := newBrowser(h) // a new browser each time: no SSO session, the form every time
				w := b.signIn(t, authorizeQuery(), alice, alicePassword)
				pageTime += time.Since(start)
				if w.Code != http.StatusSeeOther {
					t.Fatalf("login page: status %d", w.Code)
				}
			} else {
				start := time.Now()
				w := h.form(passwordForm())
				grantTime += time.Since(start)
				if w.Code != http.StatusOK {
					t.Fatalf("password grant: status %d: %s", w.Code, w.Body)
				}
			}
		}
		page = append(page, perRound/pageTime.Seconds())
		grantRate = append(grantRate, perRound/grantTime.Seconds())
	}
	pageBytes = len(newBrowser(h).do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode(), "").Body.Bytes())
	p, g := middle(page), middle(grantRate)
	t.Logf("login page (GET /authorize + POST /login → 303 with a code): %.1f logins/s (median of %d rounds of %d; rounds %v)",
		p, rounds, perRound, rounded(page))
	t.Logf("password grant (POST /oauth/token → 200 with tokens):       %.1f logins/s (rounds %v)", g, rounded(grantRate))
	t.Logf("page/grant = %.2f; the page sends %d bytes of HTML", p/g, pageBytes)
}

// middle is the median of xs, without changing xs.
func middle(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func rounded(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}
