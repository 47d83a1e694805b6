package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/claimgate/claimgate/internal/metrics"
	"github.com/claimgate/claimgate/token"
)

// counted returns the handler's claimgate_verify_total values by outcome.
func counted(t *testing.T, v *Verify) map[metrics.VerifyOutcome]float64 {
	t.Helper()
	out := map[metrics.VerifyOutcome]float64{}
	for o, c := range v.metrics.counts {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		out[metrics.VerifyOutcome(o)] = m.GetCounter().GetValue()
	}
	return out
}

// TestCountsOutcomes: every request is counted once, by its outcome.
func TestCountsOutcomes(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	v := newTestVerify(t, &Verify{Require: []Requirement{{Claim: "https://example.test/roles", Value: "admin"}}}, m)
	optional := newTestVerify(t, &Verify{Optional: true}, m)

	admin := "Bearer " + mint(t, m, nil)
	notAdmin := "Bearer " + mint(t, m, func(c map[string]any) { c["https://example.test/roles"] = []any{"billing"} })
	for _, auth := range []string{admin, admin, notAdmin, "", "Bearer not.a.token", "Basic eDp5"} {
		_, _, _, _ = serve(t, v, auth)
	}
	_, _, _, _ = serve(t, optional, "")

	want := map[metrics.VerifyOutcome]float64{
		metrics.VerifyOK:        2,
		metrics.VerifyForbidden: 1,
		metrics.VerifyMissing:   2, // no header, and another scheme: no bearer token
		metrics.VerifyInvalid:   1,
	}
	got := counted(t, v)
	for o := range metrics.VerifyOutcome(5) {
		if got[o] != want[o] {
			t.Errorf("%s: %v, want %v", o, got[o], want[o])
		}
	}
	if n := counted(t, optional)[metrics.VerifyAnonymous]; n != 1 {
		t.Errorf("anonymous: %v, want 1", n)
	}
}

// TestProvisionSharesTheConfigMetrics: two handlers of one config count on
// the config's registry, registered once, and a remote key set reports its
// fetches there.
func TestProvisionSharesTheConfigMetrics(t *testing.T) {
	m := newTestKeys(t, token.ES256, "ec")
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(m.KeySet().JWKS())
	}))
	defer jwks.Close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	var handlers []*Verify
	for range 2 {
		v := &Verify{Audience: testAudience, Issuer: testIssuer, JWKSURL: jwks.URL}
		if err := v.Provision(ctx); err != nil {
			t.Fatalf("Provision: %v", err)
		}
		defer v.Cleanup()
		handlers = append(handlers, v)
	}
	if handlers[0].metrics.set != handlers[1].metrics.set {
		t.Error("two handlers of one config have different metrics sets")
	}
	_, _, _, _ = serve(t, handlers[0], "")
	_, _, _, _ = serve(t, handlers[1], "")

	mfs, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, metric := range mf.Metric {
			name := mf.GetName()
			for _, lp := range metric.Label {
				name += "/" + lp.GetValue()
			}
			values[name] = metric.GetCounter().GetValue()
		}
	}
	if got := values["claimgate_verify_total/missing"]; got != 2 {
		t.Errorf("claimgate_verify_total{outcome=missing} = %v, want 2", got)
	}
	if got := values["claimgate_remote_jwks_fetches_total/ok"]; got != 2 {
		t.Errorf("claimgate_remote_jwks_fetches_total{outcome=ok} = %v, want 2 (one per handler)", got)
	}
}

// TestCountingAllocatesNothing: the verify path pays one atomic add.
func TestCountingAllocatesNothing(t *testing.T) {
	v := newTestVerify(t, &Verify{}, newTestKeys(t, token.ES256, "ec"))
	if n := testing.AllocsPerRun(1000, func() { v.count(outcomeOK) }); n != 0 {
		t.Errorf("counting allocates %v times", n)
	}
}
