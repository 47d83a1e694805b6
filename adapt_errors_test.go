package claimgate_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// errLine is the marker comment on the line an error must be reported at.
const errLine = "# <- error"

// global wraps claimgate subdirectives in a global options block after a
// valid database, so each case only writes what it is about.
func global(lines ...string) string {
	return withoutIssuer(append([]string{"issuer https://auth.example.test/"}, lines...)...)
}

// withoutIssuer is global without the issuer line.
func withoutIssuer(lines ...string) string {
	return "{\n\tclaimgate {\n\t\tdatabase {\n\t\t\tdsn embedded\n\t\t\tuser_query \"SELECT id AS user_id, password_hash FROM users WHERE email = ?\"\n\t\t}\n\t\t" +
		strings.Join(lines, "\n\t\t") + "\n\t}\n}\n"
}

// withDatabase wraps database subdirectives in a claimgate block.
func withDatabase(lines ...string) string {
	return "{\n\tclaimgate {\n\t\tissuer https://auth.example.test/\n\t\tdatabase {\n\t\t\t" +
		strings.Join(lines, "\n\t\t\t") + "\n\t\t}\n\t}\n}\n"
}

// site is one site block holding lines, after a valid global option.
func site(lines ...string) string {
	return global("client c {", "\taudience https://api.example.test", "}") +
		"\nexample.test {\n\t" + strings.Join(lines, "\n\t") + "\n}\n"
}

var lineRE = regexp.MustCompile(`at Caddyfile:(\d+)`)

func TestAdaptErrors(t *testing.T) {
	const goodUserQuery = `user_query "SELECT id AS user_id, password_hash FROM users WHERE email = ?"`
	tests := []struct {
		name     string
		input    string
		wantErr  string
		notInErr string // e.g. a secret that must not leak into the error
	}{
		{
			name:    "unknown subdirective",
			input:   global("foo bar " + errLine),
			wantErr: "unrecognized claimgate option 'foo'",
		},
		{
			name:    "option given twice",
			input:   withoutIssuer("issuer https://a.example.test/", "issuer https://b.example.test/ "+errLine),
			wantErr: "claimgate option 'issuer' is given twice",
		},
		{
			name: "global option given twice",
			input: "{\n\tclaimgate {\n\t\tissuer https://auth.example.test/\n\t\tdatabase {\n\t\t\tdsn embedded\n\t\t\t" + goodUserQuery + "\n\t\t}\n\t}\n" +
				"\tclaimgate { " + errLine + "\n\t\tissuer https://auth.example.test/\n\t}\n}\n",
			wantErr: "the claimgate option is given twice",
		},
		{
			name:    "arguments after claimgate",
			input:   "{\n\tclaimgate extra { " + errLine + "\n\t}\n}\n",
			wantErr: "wrong argument count",
		},
		{
			name:    "missing issuer",
			input:   "{\n\tclaimgate { " + errLine + "\n\t\tdatabase {\n\t\t\tdsn embedded\n\t\t\t" + goodUserQuery + "\n\t\t}\n\t}\n}\n",
			wantErr: "claimgate: missing issuer",
		},
		{
			name:    "issuer as a runtime placeholder",
			input:   withoutIssuer("issuer {env.ISSUER} " + errLine),
			wantErr: "issuer: '{env.ISSUER}' is not an absolute http(s) URL",
		},
		{
			name:    "missing database",
			input:   "{\n\tclaimgate { " + errLine + "\n\t\tissuer https://auth.example.test/\n\t}\n}\n",
			wantErr: "missing database block",
		},
		{
			name:    "missing user_query",
			input:   "{\n\tclaimgate {\n\t\tdatabase { " + errLine + "\n\t\t\tdsn embedded\n\t\t}\n\t}\n}\n",
			wantErr: "missing user_query",
		},
		{
			name:    "missing dsn",
			input:   "{\n\tclaimgate {\n\t\tdatabase { " + errLine + "\n\t\t\t" + goodUserQuery + "\n\t\t}\n\t}\n}\n",
			wantErr: "missing dsn",
		},
		{
			name:    "user_query with two placeholders",
			input:   withDatabase("dsn embedded", `user_query "SELECT id AS user_id, password_hash FROM users WHERE email = ? OR username = ?" `+errLine),
			wantErr: "user_query",
		},
		{
			name:    "user_query without placeholder",
			input:   withDatabase(`user_query "SELECT id AS user_id, password_hash FROM users" `+errLine, "dsn embedded"),
			wantErr: "user_query",
		},
		{
			name: "roles_query without placeholder",
			input: withDatabase("dsn embedded", goodUserQuery,
				`roles_query "SELECT name FROM roles" `+errLine),
			wantErr: "roles_query",
		},
		{
			name: "organization_query with one placeholder",
			input: withDatabase("dsn embedded", goodUserQuery,
				`organization_query "SELECT id AS org_id FROM orgs WHERE id = ?" `+errLine),
			wantErr: "organization_query",
		},
		{
			name:     "DSN that does not parse",
			input:    withDatabase("dsn \"app:hunter2@tcp(db:3306\" "+errLine, goodUserQuery),
			wantErr:  "dsn: not a valid go-sql-driver DSN",
			notInErr: "hunter2",
		},
		{
			name:    "unknown database option",
			input:   withDatabase("dsn embedded", goodUserQuery, "pool_size 3 "+errLine),
			wantErr: "unrecognized database option 'pool_size'",
		},
		{
			name:    "database option twice",
			input:   withDatabase("dsn embedded", goodUserQuery, "dsn embedded "+errLine),
			wantErr: "database option 'dsn' is given twice",
		},
		{
			name:    "bad timeout",
			input:   withDatabase("dsn embedded", goodUserQuery, "timeout soon "+errLine),
			wantErr: "timeout: invalid duration 'soon'",
		},
		{
			name:    "negative timeout",
			input:   withDatabase("dsn embedded", goodUserQuery, "timeout -1s "+errLine),
			wantErr: "timeout: duration must be positive",
		},
		{
			name:    "manage_schema not on or off",
			input:   withDatabase("dsn embedded", goodUserQuery, "manage_schema yes "+errLine),
			wantErr: "manage_schema: expected on or off",
		},
		{
			name:    "dummy_hash_cost out of range",
			input:   withDatabase("dsn embedded", goodUserQuery, "dummy_hash_cost 40 "+errLine),
			wantErr: "dummy_hash_cost: bcrypt dummy cost 40 is outside 4..16",
		},
		{
			name:    "client without audience",
			input:   global("client web { "+errLine, "\tsecret x", "\tgrant password", "}"),
			wantErr: "client 'web': missing audience",
		},
		{
			name:    "client without a block",
			input:   global("client web " + errLine),
			wantErr: "client 'web': missing audience",
		},
		{
			name:    "client without a name",
			input:   global("client { "+errLine, "\taudience https://api.example.test", "}"),
			wantErr: "wrong argument count",
		},
		{
			name: "client declared twice",
			input: global("client web {", "\taudience https://api.example.test", "}",
				"client web { "+errLine, "\taudience https://api.example.test", "}"),
			wantErr: "client 'web' is declared twice",
		},
		{
			name:    "unknown grant",
			input:   global("client web {", "\taudience https://api.example.test", "\tgrant password implicit "+errLine, "}"),
			wantErr: "unknown grant 'implicit'",
		},
		{
			name:    "empty audience",
			input:   global("client web {", "\taudience \"\" "+errLine, "}"),
			wantErr: "client 'web': empty audience",
		},
		{
			name:    "invalid scope",
			input:   global("client web {", "\taudience https://api.example.test", "\tscope read:orders \"write orders\" "+errLine, "}"),
			wantErr: "client 'web': invalid scope 'write orders'",
		},
		{
			name:    "unknown client option",
			input:   global("client web {", "\taudience https://api.example.test", "\tcallback_url https://x.test/ "+errLine, "}"),
			wantErr: "unrecognized client option 'callback_url'",
		},
		{
			name:    "trust_forwarded_for on a public client",
			input:   global("client spa {", "\taudience https://api.example.test", "\ttrust_forwarded_for x-real-ip "+errLine, "}"),
			wantErr: "trust_forwarded_for needs a secret",
		},
		{
			name:    "client_credentials on a public client",
			input:   global("client spa {", "\taudience https://api.example.test", "\tgrant client_credentials "+errLine, "}"),
			wantErr: "client_credentials grant needs a secret",
		},
		{
			name:    "signup neither on nor off",
			input:   global("client spa {", "\taudience https://api.example.test", "\tsignup yes "+errLine, "}"),
			wantErr: "signup: expected on or off, got 'yes'",
		},
		{
			name:    "trust_forwarded_for with a bad header name",
			input:   global("client web {", "\tsecret s", "\taudience https://api.example.test", "\ttrust_forwarded_for x:ip "+errLine, "}"),
			wantErr: "not a valid header name",
		},
		{
			name:    "reserved claim name",
			input:   global("claim sub user.email " + errLine),
			wantErr: `claim "sub": reserved`,
		},
		{
			name:    "reserved claim name permissions",
			input:   global("claim permissions roles " + errLine),
			wantErr: `claim "permissions": reserved`,
		},
		{
			name:    "CEL syntax error",
			input:   global(`claim https://example.test/x "roles[" ` + errLine),
			wantErr: `claim "https://example.test/x": Syntax error`,
		},
		{
			name:    "unknown CEL variable",
			input:   global("claim https://example.test/x profile.city " + errLine),
			wantErr: "undeclared reference to 'profile'",
		},
		{
			name:    "deny with a syntax error",
			input:   global(`deny "app_metadata.blocked &&" "Blocked." ` + errLine),
			wantErr: "Syntax error",
		},
		{
			name:    "deny without a message",
			input:   global("deny app_metadata.blocked " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "two rules for the same claim",
			input:   global("claim https://example.test/city user_metadata.city", "claim https://example.test/city app_metadata.city "+errLine),
			wantErr: "claim 'https://example.test/city' is declared twice",
		},
		{
			name:    "two id_claim rules for the same claim",
			input:   global("id_claim https://example.test/city user_metadata.city", "claim https://example.test/city user_metadata.city", "id_claim https://example.test/city app_metadata.city "+errLine),
			wantErr: "id_claim 'https://example.test/city' is declared twice",
		},
		{
			name:    "bad algorithm",
			input:   global("signing_key HS256 " + errLine),
			wantErr: "unsupported algorithm 'HS256'",
		},
		{
			name:    "algorithm none",
			input:   global("signing_key none " + errLine),
			wantErr: "unsupported algorithm 'none'",
		},
		{
			name:    "signing_key with a path but no file keyword",
			input:   global("signing_key ES256 /etc/key.pem " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "signing_key with another keyword",
			input:   global("signing_key ES256 path /etc/key.pem " + errLine),
			wantErr: "expected 'file PATH'",
		},
		{
			name:    "bad issuer",
			input:   withoutIssuer("issuer auth.example.test " + errLine),
			wantErr: "issuer: 'auth.example.test' is not an absolute http(s) URL",
		},
		{
			name:    "issuer with two arguments",
			input:   withoutIssuer("issuer https://a.example.test/ https://b.example.test/ " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "issuer with a block",
			input:   withoutIssuer("issuer https://a.example.test/ { "+errLine, "\tdsn embedded", "}"),
			wantErr: "unexpected block",
		},
		{
			name:    "bad duration",
			input:   global("access_token_ttl 1 hour " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "unparsable duration",
			input:   global("refresh_token_ttl forever " + errLine),
			wantErr: "refresh_token_ttl: invalid duration 'forever'",
		},
		{
			name:    "refresh_token_idle_ttl without a value",
			input:   global("refresh_token_idle_ttl " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "negative refresh_token_idle_ttl",
			input:   global("refresh_token_idle_ttl -1h " + errLine),
			wantErr: "refresh_token_idle_ttl: duration must be positive",
		},
		{
			name:    "refresh_token_idle_ttl given twice",
			input:   global("refresh_token_idle_ttl 1h", "refresh_token_idle_ttl 2h "+errLine),
			wantErr: "claimgate option 'refresh_token_idle_ttl' is given twice",
		},
		{
			name:    "zero key_rotation",
			input:   global("key_rotation 0s " + errLine),
			wantErr: "key_rotation: duration must be positive",
		},
		{
			name:    "unknown protection option",
			input:   global("protection {", "\tcaptcha on "+errLine, "}"),
			wantErr: "unrecognized protection option 'captcha'",
		},
		{
			name:    "max_failures zero",
			input:   global("protection {", "\tmax_failures 0 "+errLine, "}"),
			wantErr: "max_failures: expected an integer from 1",
		},
		{
			name:    "account_lockout not on or off",
			input:   global("protection {", "\taccount_lockout true "+errLine, "}"),
			wantErr: "account_lockout: expected on or off",
		},
		{
			name:    "negative max_concurrent_hashes",
			input:   global("protection {", "\tmax_concurrent_hashes -1 "+errLine, "}"),
			wantErr: "max_concurrent_hashes: expected an integer from 0",
		},
		{
			name:    "unknown errors mode",
			input:   global("errors okta " + errLine),
			wantErr: "errors: unknown mode 'okta'",
		},
		{
			name:    "claimgate_login with an argument",
			input:   site("claimgate_login oauth " + errLine),
			wantErr: "wrong argument count",
		},
		{
			name:    "claimgate_login with a block",
			input:   site("claimgate_login { "+errLine, "\tissuer https://x.test/", "}"),
			wantErr: "unexpected block",
		},
		{
			name:    "claimgate_verify without audience",
			input:   site("claimgate_verify { "+errLine, "\theader X-User-Id sub", "}"),
			wantErr: "claimgate_verify: missing audience",
		},
		{
			name:    "claimgate_verify without a block",
			input:   site("claimgate_verify " + errLine),
			wantErr: "claimgate_verify: missing audience",
		},
		{
			name:    "claimgate_verify with an argument",
			input:   site("claimgate_verify https://api.example.test { "+errLine, "}"),
			wantErr: "wrong argument count",
		},
		{
			name:    "claimgate_verify unknown option",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\tscope read "+errLine, "}"),
			wantErr: "unrecognized claimgate_verify option 'scope'",
		},
		{
			name:    "claimgate_verify issuer without jwks_url",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\tissuer https://tenant.auth0.com/ "+errLine, "}"),
			wantErr: "issuer and jwks_url go together",
		},
		{
			name:    "claimgate_verify jwks_url without issuer",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\tjwks_url https://tenant.auth0.com/.well-known/jwks.json "+errLine, "}"),
			wantErr: "issuer and jwks_url go together",
		},
		{
			name:    "claimgate_verify bad jwks_url",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\tissuer https://tenant.auth0.com/", "\tjwks_url tenant.auth0.com/jwks "+errLine, "}"),
			wantErr: "jwks_url: 'tenant.auth0.com/jwks' is not an absolute http(s) URL",
		},
		{
			name:    "claimgate_verify header with one argument",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\theader X-User-Id "+errLine, "}"),
			wantErr: "wrong argument count",
		},
		{
			name:    "claimgate_verify invalid header name",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\theader \"X User\" sub "+errLine, "}"),
			wantErr: "\"X User\" is not a valid HTTP header name",
		},
		{
			name:    "claimgate_verify header that must not carry a claim",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\theader authorization sub "+errLine, "}"),
			wantErr: "\"authorization\" cannot carry a claim",
		},
		{
			name:    "claimgate_verify same header twice in another spelling",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\theader X-User-Id sub", "\theader x_user_id email "+errLine, "}"),
			wantErr: "x_user_id is configured twice",
		},
		{
			name:    "claimgate_verify require with one argument",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\trequire roles "+errLine, "}"),
			wantErr: "wrong argument count",
		},
		{
			name:    "claimgate_verify negative cache_size",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\tcache_size -1 "+errLine, "}"),
			wantErr: "cache_size: expected an integer from 0",
		},
		{
			name:    "claimgate_verify optional with an argument",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\toptional yes "+errLine, "}"),
			wantErr: "wrong argument count",
		},
		{
			name:    "claimgate_verify option twice",
			input:   site("claimgate_verify {", "\taudience https://api.example.test", "\taudience https://other.example.test "+errLine, "}"),
			wantErr: "claimgate_verify option 'audience' is given twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLine := markedLine(t, tt.input)
			_, _, err := adapt(t, tt.input)
			if err == nil {
				t.Fatalf("adapting succeeded, want an error containing %q\n%s", tt.wantErr, tt.input)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantErr)
			}
			// The first position in the message is the innermost one: the
			// line of the offending token, not of an enclosing block.
			m := lineRE.FindStringSubmatch(msg)
			if m == nil || m[1] != fmt.Sprint(wantLine) {
				t.Errorf("error %q: want it reported at Caddyfile:%d\n%s", msg, wantLine, numbered(tt.input))
			}
			if tt.notInErr != "" && strings.Contains(msg, tt.notInErr) {
				t.Errorf("error %q leaks %q", msg, tt.notInErr)
			}
		})
	}
}

// markedLine returns the 1-based line holding the errLine marker.
func markedLine(t *testing.T, input string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(input, "\n") {
		if strings.Contains(l, errLine) {
			if line != 0 {
				t.Fatal("two error markers")
			}
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("no %q marker in\n%s", errLine, input)
	}
	return line
}

func numbered(input string) string {
	var b strings.Builder
	for i, l := range strings.Split(input, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}

// TestAdaptErrorLineIsExact pins one line number literally, so the marker
// helper itself cannot hide an off-by-one.
func TestAdaptErrorLineIsExact(t *testing.T) {
	input := `{
	claimgate {
		database {
			dsn embedded
			user_query "SELECT id AS user_id, password_hash FROM users WHERE email = ?"
		}
		foo bar
	}
}
`
	_, _, err := adapt(t, input)
	if err == nil || !strings.Contains(err.Error(), "unrecognized claimgate option 'foo', at Caddyfile:7") {
		t.Fatalf("got %v, want unrecognized claimgate option 'foo', at Caddyfile:7", err)
	}
}
