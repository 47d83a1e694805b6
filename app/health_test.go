package app

import "testing"

// TestHealthBeforeStart: an app that has not started (or whose database
// has not been reached yet) is not ready: no signing key, database
// unavailable.
func TestHealthBeforeStart(t *testing.T) {
	var a App
	h := a.Health()
	if h != (Health{Database: "unavailable", SigningKey: "missing"}) || h.Ready() {
		t.Errorf("Health() = %+v, ready %v", h, h.Ready())
	}
	if !(Health{Database: "ok", SigningKey: "ok"}).Ready() {
		t.Error("ok/ok is not ready")
	}
	for _, h := range []Health{{"misconfigured", "ok"}, {"unavailable", "ok"}, {"ok", "missing"}} {
		if h.Ready() {
			t.Errorf("%+v is ready", h)
		}
	}
}
