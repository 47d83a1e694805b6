package testkit

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/demo/demodb"
)

// JWTPrefix is how every JWT claimgate issues begins (base64url of `{"`):
// a log line holding it holds a token.
const JWTPrefix = "eyJ"

// Secrets lists what no log may ever hold: every demo user's password,
// the fixture client secrets, JWTPrefix, and extra (the test's own
// passwords and tokens; empty strings are skipped).
func Secrets(extra ...string) []string {
	secrets := []string{WebSecret, OddSecret, M2MSecret, JWTPrefix}
	for _, u := range demodb.DemoUsers {
		secrets = append(secrets, u.Password)
	}
	for _, s := range extra {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	return secrets
}

// AssertNoSecretsLogged fails t for every line of a log (name says which,
// in the messages) that contains one of secrets. Passwords, client secrets
// and tokens must never be logged: a username at most as a keyed hash.
func AssertNoSecretsLogged(t testing.TB, name string, lines []string, secrets []string) {
	t.Helper()
	for _, line := range lines {
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("%s has a secret (%.3s…): %s", name, s, Truncate(line, 400))
			}
		}
	}
}

// LogLines splits a log file's text into lines.
func LogLines(log []byte) []string {
	return strings.Split(string(log), "\n")
}

// EntryLines renders recorded zap entries as one line each: the message
// and every field.
func EntryLines(entries []observer.LoggedEntry) []string {
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		lines = append(lines, e.Level.String()+" "+e.Message+" "+fmt.Sprint(e.ContextMap()))
	}
	return lines
}
