package events

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestEmitFields: one INFO entry on claimgate.events with exactly the
// contract's fields; user_id only when known.
func TestEmitFields(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := New(zap.New(core).Named("claimgate"), "Username-Password-Authentication")
	e.Emit(Event{Type: TypeWrongPassword, Description: "Wrong password.", ClientID: "web", UserID: "42",
		IP: "192.0.2.1", UserAgent: "curl/8"})
	e.Emit(Event{Type: TypeUnknownUser, Description: "Unknown user.", ClientID: "web", IP: "192.0.2.1"})

	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	for i, entry := range entries {
		if entry.LoggerName != "claimgate.events" {
			t.Errorf("logger %q, want claimgate.events", entry.LoggerName)
		}
		if entry.Level != zapcore.InfoLevel {
			t.Errorf("level %s, want info", entry.Level)
		}
		var names []string
		for _, f := range entry.Context {
			names = append(names, f.Key)
		}
		want := "type,description,client_id,user_id,ip,user_agent,connection"
		if i == 1 {
			want = "type,description,client_id,ip,user_agent,connection"
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("fields %s, want %s", got, want)
		}
	}
	m := entries[0].ContextMap()
	if m["type"] != "fp" || m["user_id"] != "42" || m["connection"] != "Username-Password-Authentication" {
		t.Errorf("fields %v", m)
	}
}

// TestUserAgentBounded: a long user agent is cut, on a rune boundary.
func TestUserAgentBounded(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	e := New(zap.New(core), "db")
	e.Emit(Event{Type: TypeSuccessLogin, UserAgent: strings.Repeat("é", maxUserAgent)})
	ua := logs.AllUntimed()[0].ContextMap()["user_agent"].(string)
	if len(ua) > maxUserAgent || !strings.HasPrefix(strings.Repeat("é", maxUserAgent), ua) {
		t.Errorf("user agent of %d bytes, want at most %d whole runes", len(ua), maxUserAgent)
	}
}

// TestNilEmitter: a nil emitter writes nothing and does not panic.
func TestNilEmitter(t *testing.T) {
	var e *Emitter
	e.Emit(Event{Type: TypeSuccessLogin})
}
