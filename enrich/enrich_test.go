package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// specRules are the claim and deny lines of the README's example global option.
var specRules = []Rule{
	{Kind: KindClaim, Name: "https://example.test/roles", Expr: "roles"},
	{Kind: KindClaim, Name: "https://example.test/org_id", Expr: "app_metadata.org_id"},
	{Kind: KindClaim, Name: "https://example.test/city", Expr: "user_metadata.city"},
	{Kind: KindClaim, Name: "https://example.test/is_admin", Expr: `"admin" in roles`},
	{Kind: KindDeny, Expr: "has(app_metadata.blocked) && app_metadata.blocked", Message: "This account is blocked."},
}

// specInput is what the store hands over for a typical user: metadata
// decoded by encoding/json (numbers are float64).
func specInput() Input {
	return Input{
		User: map[string]any{
			"user_id": "42", "email": "alice@example.test", "email_verified": true,
			"name": "Alice", "department": "sales",
		},
		AppMetadata:  map[string]any{"org_id": "org_7", "plan": "pro", "level": 3.0, "blocked": false},
		UserMetadata: map[string]any{"city": "Lyon", "theme": "dark"},
		Roles:        []string{"admin", "editor"},
		Permissions:  []string{"read:orders", "write:orders"},
		Organization: map[string]any{"id": "org_7", "name": "acme"},
		ClientID:     "web-backend",
		Audience:     "https://api.example.test",
		Scope:        []string{"openid", "read:orders"},
		GrantType:    "password",
	}
}

func observed(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func mustCompile(t *testing.T, rules []Rule, logger *zap.Logger) *Program {
	t.Helper()
	if logger == nil {
		logger = zap.NewNop()
	}
	p, err := Compile(rules, logger)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func TestIsReserved(t *testing.T) {
	for _, name := range strings.Fields(`iss sub aud exp nbf iat jti client_id scope azp typ cty auth_time
		nonce acr amr at_hash c_hash sid cnf act may_act permissions org_id org_name gty`) {
		if !IsReserved(name) {
			t.Errorf("IsReserved(%q) = false", name)
		}
		for _, kind := range []string{KindClaim, KindIDClaim} {
			if err := CheckRule(Rule{Kind: kind, Name: name, Expr: "1"}); err == nil || !strings.Contains(err.Error(), "reserved") {
				t.Errorf("CheckRule(%s %s) = %v, want a reserved-name error", kind, name, err)
			}
		}
	}
	for _, name := range []string{"roles", "email", "ISS", "https://example.test/roles", "iss2"} {
		if IsReserved(name) {
			t.Errorf("IsReserved(%q) = true", name)
		}
	}
}

func TestReservedIDClaims(t *testing.T) {
	for _, name := range []string{"email", "email_verified", "name", "nickname", "picture", "updated_at"} {
		if err := CheckRule(Rule{Kind: KindIDClaim, Name: name, Expr: "user.email"}); err == nil {
			t.Errorf("id_claim %s accepted", name)
		}
		// The access token carries no profile claims: setting one is how
		// claimgate_verify gets an email to forward.
		if err := CheckRule(Rule{Kind: KindClaim, Name: name, Expr: "user.email"}); err != nil {
			t.Errorf("claim %s: %v", name, err)
		}
	}
}

func TestCheckRuleErrors(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string // substring of the error
	}{
		{"unknown variable", Rule{Kind: KindClaim, Name: "https://x/roles", Expr: "rolez"},
			`claim "https://x/roles": undeclared reference to 'rolez'`},
		{"unknown function", Rule{Kind: KindClaim, Name: "x", Expr: "frobnicate(roles)"},
			`claim "x": undeclared reference to 'frobnicate'`},
		{"syntax error", Rule{Kind: KindIDClaim, Name: "x", Expr: "roles +"}, `id_claim "x": Syntax error`},
		{"unclosed string", Rule{Kind: KindClaim, Name: "x", Expr: `"admin in roles`}, `claim "x": Syntax error`},
		{"type error", Rule{Kind: KindClaim, Name: "x", Expr: "roles + 1"}, `claim "x": found no matching overload`},
		{"reserved", Rule{Kind: KindClaim, Name: "sub", Expr: "user.email"}, `claim "sub": reserved claim name`},
		{"no name", Rule{Kind: KindClaim, Expr: "roles"}, "claim: missing claim name"},
		{"no id_claim name", Rule{Kind: KindIDClaim, Expr: "roles"}, "id_claim: missing claim name"},
		{"empty expression", Rule{Kind: KindClaim, Name: "x", Expr: "  "}, `claim "x": empty expression`},
		{"empty deny expression", Rule{Kind: KindDeny, Message: "no"}, "deny: empty expression"},
		{"claim with message", Rule{Kind: KindClaim, Name: "x", Expr: "roles", Message: "m"}, "only deny rules take a message"},
		{"deny without message", Rule{Kind: KindDeny, Expr: "true"}, `deny "true": missing message`},
		{"deny with name", Rule{Kind: KindDeny, Name: "x", Expr: "true", Message: "m"}, "deny rules take no claim name"},
		{"deny not bool", Rule{Kind: KindDeny, Expr: "roles", Message: "m"}, "expression is list(string), want bool"},
		{"unknown kind", Rule{Kind: "claims", Name: "x", Expr: "roles"}, `unknown rule kind "claims"`},
		{"empty kind", Rule{Name: "x", Expr: "roles"}, `unknown rule kind ""`},
		{"too long", Rule{Kind: KindClaim, Name: "x", Expr: strings.Repeat("1+", maxExprSize) + "1"}, `claim "x":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRule(tt.rule)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckRule = %v, want error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if _, err := Compile([]Rule{tt.rule}, zap.NewNop()); err == nil {
				t.Error("Compile accepted what CheckRule refused")
			}
		})
	}
}

func TestCheckRuleAccepts(t *testing.T) {
	for _, expr := range []string{
		"roles", `"admin" in roles`, "app_metadata.org_id", "has(app_metadata.x) ? app_metadata.x : 'none'",
		`app_metadata.?plan.orValue("free")`, "user.email.lowerAscii()", "user.email.split('@')[1]",
		"permissions.filter(p, p.startsWith('read:'))", "organization.name", "client_id + ' ' + audience",
		"scope.exists(s, s == 'openid')", "grant_type", "{'a': roles, 'b': [1, 2.5, true, null]}",
		"app_metadata.level > 2", "size(roles)",
	} {
		if err := CheckRule(Rule{Kind: KindClaim, Name: "x", Expr: expr}); err != nil {
			t.Errorf("CheckRule(%s): %v", expr, err)
		}
	}
	for _, expr := range []string{"app_metadata.blocked", "'admin' in roles", "has(app_metadata.blocked) && app_metadata.blocked"} {
		if err := CheckRule(Rule{Kind: KindDeny, Expr: expr, Message: "no"}); err != nil {
			t.Errorf("CheckRule(deny %s): %v", expr, err)
		}
	}
}

func TestVariables(t *testing.T) {
	for _, v := range Variables() {
		if err := CheckRule(Rule{Kind: KindClaim, Name: "x", Expr: v}); err != nil {
			t.Errorf("variable %s: %v", v, err)
		}
	}
	if len(Variables()) != 10 {
		t.Errorf("Variables() = %v", Variables())
	}
}

func TestCompileDuplicates(t *testing.T) {
	_, err := Compile([]Rule{
		{Kind: KindClaim, Name: "a", Expr: "roles"},
		{Kind: KindClaim, Name: "a", Expr: "permissions"},
		{Kind: KindIDClaim, Name: "b", Expr: "roles"},
		{Kind: KindIDClaim, Name: "b", Expr: "roles"},
	}, zap.NewNop())
	if err == nil {
		t.Fatal("duplicates accepted")
	}
	for _, want := range []string{`claim "a": duplicate claim name`, `id_claim "b": duplicate claim name`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The same name in both tokens is two different claims.
	mustCompile(t, []Rule{
		{Kind: KindClaim, Name: "a", Expr: "roles"},
		{Kind: KindIDClaim, Name: "a", Expr: "roles"},
		{Kind: KindDeny, Expr: "false", Message: "m"},
		{Kind: KindDeny, Expr: "false", Message: "m"},
	}, nil)
}

func TestCompileReportsEveryBadRule(t *testing.T) {
	_, err := Compile([]Rule{
		{Kind: KindClaim, Name: "good", Expr: "roles"},
		{Kind: KindClaim, Name: "bad1", Expr: "rolez"},
		{Kind: KindDeny, Expr: "true"},
	}, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`claim "bad1"`, `deny "true": missing message`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "good") {
		t.Errorf("error names a good rule: %q", err)
	}
}

func TestEvaluateValues(t *testing.T) {
	in := specInput()
	in.AppMetadata = map[string]any{
		"org_id": "org_7", "level": 3.0, "ratio": 0.25, "tags": []any{"a", "b"},
		"nested":  map[string]any{"x": []any{1.0, nil, map[string]any{"y": true}}},
		"nothing": nil,
	}
	tests := []struct {
		expr string
		want any
	}{
		{"'text'", "text"},
		{"user.email", "alice@example.test"},
		{"user.email_verified", true},
		{"1 + 1", int64(2)},
		{"-7", int64(-7)},
		{"42u", uint64(42)},
		{"2.5", 2.5},
		{"app_metadata.level", 3.0},
		{"int(app_metadata.level)", int64(3)},
		{"app_metadata.ratio", 0.25},
		{"b'abc'", "YWJj"},
		{"timestamp('2024-01-02T03:04:05Z')", "2024-01-02T03:04:05Z"},
		{"timestamp('2024-01-02T03:04:05.5+02:00')", "2024-01-02T01:04:05.5Z"},
		{"duration('90s')", "90s"},
		{"duration('1.5s')", "1.5s"},
		{"duration('-1ms')", "-0.001s"},
		{"roles", []any{"admin", "editor"}},
		{"permissions", []any{"read:orders", "write:orders"}},
		{"scope", []any{"openid", "read:orders"}},
		{"[] + roles.filter(r, r == 'nobody')", []any{}},
		{"app_metadata.tags", []any{"a", "b"}},
		{"app_metadata.nested", map[string]any{"x": []any{1.0, nil, map[string]any{"y": true}}}},
		{"{'a': 1, 'b': [true, null]}", map[string]any{"a": int64(1), "b": []any{true, nil}}},
		{"{1: 'one', true: 'yes', 2u: 'two'}", map[string]any{"1": "one", "true": "yes", "2": "two"}},
		{"organization", map[string]any{"id": "org_7", "name": "acme"}},
		{"organization.name", "acme"},
		{"client_id", "web-backend"},
		{"audience", "https://api.example.test"},
		{"grant_type", "password"},
		{`"admin" in roles`, true},
		{`"owner" in roles`, false},
		{`app_metadata.?org_id.orValue("none")`, "org_7"},
		{`app_metadata.?plan.orValue("free")`, "free"},
		{"optional.of([1])", []any{int64(1)}},
		{"[optional.none(), optional.of(1)]", []any{nil, int64(1)}},
		{"app_metadata.level > 2", true},
		{"user.email.split('@')[1]", "example.test"},
		{"user.department.upperAscii()", "SALES"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			logger, logs := observed(t)
			p := mustCompile(t, []Rule{
				{Kind: KindClaim, Name: "v", Expr: tt.expr},
				{Kind: KindIDClaim, Name: "v", Expr: tt.expr},
			}, logger)
			res, err := p.Evaluate(in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got, ok := res.AccessClaims["v"]; !ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("access claim = %#v (set %v), want %#v", got, ok, tt.want)
			}
			if got := res.IDClaims["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ID claim = %#v, want %#v", got, tt.want)
			}
			if _, err := json.Marshal(res.AccessClaims); err != nil {
				t.Errorf("marshal: %v", err)
			}
			if logs.Len() != 0 {
				t.Errorf("unexpected logs: %v", logs.All())
			}
		})
	}
}

// TestEvaluateOmits covers claims left out: silently for a missing key or a
// null, with one warning per rule for anything else.
func TestEvaluateOmits(t *testing.T) {
	tests := []struct {
		expr string
		warn string // "" = omitted silently; else a substring of the logged error
	}{
		{"app_metadata.missing", ""},
		{"app_metadata.nested.missing", ""},
		{"user_metadata.missing", ""},
		{"organization.id", ""}, // no organization requested
		{"null", ""},
		{"app_metadata.nothing", ""},
		{"app_metadata.?missing", ""},
		{"optional.none()", ""},
		{"roles[5]", "index out of bounds"},
		{"app_metadata.code + 1", "no such overload"},
		{"int(app_metadata.code)", "type conversion error"},
		{"timestamp(app_metadata.code)", `invalid RFC 3339 timestamp "…"`},
		{"1 / (size(roles) - size(roles))", "division by zero"},
		{"type(roles)", "unsupported result type"},
		{"app_metadata.level / 0.0", "not a finite number"},
		{"[1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, a+b+c+d))))",
			"cost limit exceeded"},
	}
	in := Input{
		AppMetadata: map[string]any{
			"code": "s3cret-value", "nothing": nil, "level": 1.0,
			"nested": map[string]any{"a": 1.0},
		},
		Roles: []string{"admin"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			logger, logs := observed(t)
			p := mustCompile(t, []Rule{
				{Kind: KindClaim, Name: "x", Expr: tt.expr},
				{Kind: KindClaim, Name: "kept", Expr: "'yes'"},
			}, logger)
			logs.TakeAll() // the load-time user_metadata warning is tested elsewhere
			for range 3 {
				res, err := p.Evaluate(in)
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				if v, ok := res.AccessClaims["x"]; ok {
					t.Fatalf("claim set to %#v, want it left out", v)
				}
				if res.AccessClaims["kept"] != "yes" {
					t.Fatalf("other claim lost: %v", res.AccessClaims)
				}
			}
			if tt.warn == "" {
				if logs.Len() != 0 {
					t.Errorf("logged %v, want silence", logs.All())
				}
				return
			}
			if logs.Len() != 1 {
				t.Fatalf("%d logs after 3 evaluations, want exactly 1: %v", logs.Len(), logs.All())
			}
			entry := logs.All()[0]
			if entry.Level != zapcore.WarnLevel {
				t.Errorf("level %v", entry.Level)
			}
			fields := entry.ContextMap()
			if fields["rule"] != `claim "x"` {
				t.Errorf("rule field = %v", fields["rule"])
			}
			msg, _ := fields["error"].(string)
			if !strings.Contains(msg, tt.warn) {
				t.Errorf("logged error %q lacks %q", msg, tt.warn)
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(entry.Message, "s3cret") {
				t.Errorf("log leaks a value: %q", msg)
			}
		})
	}
}

func TestEvaluateNilInput(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Kind: KindClaim, Name: "has_blocked", Expr: "has(app_metadata.blocked)"},
		{Kind: KindClaim, Name: "um", Expr: "size(user_metadata)"},
		{Kind: KindClaim, Name: "org", Expr: "organization"},
		{Kind: KindClaim, Name: "has_org", Expr: "has(organization.id)"},
		{Kind: KindClaim, Name: "roles", Expr: "roles"},
		{Kind: KindClaim, Name: "n", Expr: "size(permissions) + size(scope) + size(user)"},
		{Kind: KindClaim, Name: "s", Expr: "client_id + audience + grant_type"},
		{Kind: KindDeny, Expr: "has(app_metadata.blocked) && app_metadata.blocked", Message: "blocked"},
	}, nil)
	res, err := p.Evaluate(Input{})
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	want := map[string]any{
		"has_blocked": false, "um": int64(0), "org": map[string]any{}, "has_org": false,
		"roles": []any{}, "n": int64(0), "s": "",
	}
	if !reflect.DeepEqual(res.AccessClaims, want) {
		t.Errorf("claims = %#v, want %#v", res.AccessClaims, want)
	}
	if res.IDClaims != nil {
		t.Errorf("ID claims = %v, want nil", res.IDClaims)
	}
}

func TestDeny(t *testing.T) {
	const blocked = "This account is blocked."
	tests := []struct {
		name        string
		expr        string
		app         map[string]any
		wantDenied  bool
		wantCause   string // "" = the rule matched (no cause)
		wantMessage string
	}{
		{"blocked true", "has(app_metadata.blocked) && app_metadata.blocked", map[string]any{"blocked": true}, true, "", blocked},
		{"blocked false", "has(app_metadata.blocked) && app_metadata.blocked", map[string]any{"blocked": false}, false, "", ""},
		{"blocked absent", "has(app_metadata.blocked) && app_metadata.blocked", nil, false, "", ""},
		{"missing key fails closed", "app_metadata.blocked", nil, true, "no such key", FailedDenyMessage},
		{"non-bool fails closed", "app_metadata.blocked", map[string]any{"blocked": "yes"}, true, "result is string, not bool", FailedDenyMessage},
		{"error fails closed", "app_metadata.blocked == 1 / (size(roles) - 1)", map[string]any{"blocked": true}, true, "division by zero", FailedDenyMessage},
		{"role", `"banned" in roles`, nil, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, []Rule{
				{Kind: KindDeny, Expr: "false", Message: "never"},
				{Kind: KindDeny, Expr: tt.expr, Message: blocked},
				{Kind: KindClaim, Name: "c", Expr: "1"},
			}, nil)
			res, err := p.Evaluate(Input{AppMetadata: tt.app, Roles: []string{"admin"}})
			var denied *DeniedError
			if !tt.wantDenied {
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				if res.AccessClaims["c"] != int64(1) {
					t.Errorf("claims = %v", res.AccessClaims)
				}
				return
			}
			if !errors.As(err, &denied) {
				t.Fatalf("err = %v, want *DeniedError", err)
			}
			if denied.Message != tt.wantMessage {
				t.Errorf("Message = %q, want %q", denied.Message, tt.wantMessage)
			}
			if res.AccessClaims != nil || res.IDClaims != nil {
				t.Errorf("denied login got claims: %+v", res)
			}
			if tt.wantCause == "" {
				if denied.Cause != nil {
					t.Errorf("Cause = %v, want nil", denied.Cause)
				}
				return
			}
			if denied.Cause == nil || !strings.Contains(denied.Cause.Error(), tt.wantCause) {
				t.Fatalf("Cause = %v, want %q", denied.Cause, tt.wantCause)
			}
			if !strings.Contains(denied.Cause.Error(), "deny ") || !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("error does not name the rule: %v", err)
			}
		})
	}
}

func TestDenyBeforeClaims(t *testing.T) {
	logger, logs := observed(t)
	p := mustCompile(t, []Rule{
		{Kind: KindClaim, Name: "broken", Expr: "roles[3]"},
		{Kind: KindDeny, Expr: "true", Message: "no"},
	}, logger)
	_, err := p.Evaluate(Input{})
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Message != "no" {
		t.Fatalf("err = %v", err)
	}
	if logs.Len() != 0 {
		t.Errorf("claims were evaluated for a denied login: %v", logs.All())
	}
}

func TestSpecExample(t *testing.T) {
	logger, _ := observed(t)
	p := mustCompile(t, specRules, logger)
	res, err := p.Evaluate(specInput())
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	want := map[string]any{
		"https://example.test/roles":    []any{"admin", "editor"},
		"https://example.test/org_id":   "org_7",
		"https://example.test/city":     "Lyon",
		"https://example.test/is_admin": true,
	}
	if !reflect.DeepEqual(res.AccessClaims, want) {
		t.Errorf("claims = %#v, want %#v", res.AccessClaims, want)
	}

	// A user without metadata gets the claims that apply and no error.
	in := specInput()
	in.AppMetadata, in.UserMetadata, in.Roles = nil, nil, nil
	res, err = p.Evaluate(in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	want = map[string]any{"https://example.test/roles": []any{}, "https://example.test/is_admin": false}
	if !reflect.DeepEqual(res.AccessClaims, want) {
		t.Errorf("claims = %#v, want %#v", res.AccessClaims, want)
	}

	in = specInput()
	in.AppMetadata["blocked"] = true
	_, err = p.Evaluate(in)
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Message != "This account is blocked." || denied.Cause != nil {
		t.Errorf("blocked user: err = %v", err)
	}
}

func TestOrganization(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Kind: KindClaim, Name: "org", Expr: "has(organization.id) ? organization.name : 'none'"},
		{Kind: KindIDClaim, Name: "org_display", Expr: "organization.name"},
	}, nil)
	in := specInput()
	res, err := p.Evaluate(in)
	if err != nil || res.AccessClaims["org"] != "acme" || res.IDClaims["org_display"] != "acme" {
		t.Errorf("with organization: %+v, %v", res, err)
	}
	in.Organization = nil
	res, err = p.Evaluate(in)
	if err != nil || res.AccessClaims["org"] != "none" || res.IDClaims != nil {
		t.Errorf("without organization: %+v, %v", res, err)
	}
}

func TestUserMetadataWarning(t *testing.T) {
	tests := []struct {
		expr string
		warn bool
	}{
		{"user_metadata.city", true},
		{"has(user_metadata.city) ? 'x' : 'y'", true},
		{"user.user_metadata", true},
		{`user["user_metadata"]`, true},
		{"[1].map(x, user_metadata)", true},
		{"app_metadata.plan", false},
		{"'user_metadata'", false},
		{"app_metadata.user_metadata", false},
		{`user["email"]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			logger, logs := observed(t)
			mustCompile(t, []Rule{{Kind: KindClaim, Name: "https://x/city", Expr: tt.expr}}, logger)
			warnings := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("user_metadata")
			if got := warnings.Len() == 1; got != tt.warn {
				t.Fatalf("warned = %v (%v), want %v", got, logs.All(), tt.warn)
			}
			if tt.warn && warnings.All()[0].ContextMap()["rule"] != `claim "https://x/city"` {
				t.Errorf("warning does not name the claim: %v", warnings.All()[0].ContextMap())
			}
		})
	}
	logger, logs := observed(t)
	mustCompile(t, []Rule{{Kind: KindDeny, Expr: "!has(user_metadata.verified)", Message: "m"}}, logger)
	if logs.FilterMessageSnippet("user_metadata").Len() != 1 {
		t.Errorf("deny reading user_metadata not warned about: %v", logs.All())
	}
	// CheckRule (used by the Caddyfile parser) stays quiet: Compile warns once.
	if err := CheckRule(Rule{Kind: KindClaim, Name: "x", Expr: "user_metadata.city"}); err != nil {
		t.Fatal(err)
	}
}

func TestClaimsTooLarge(t *testing.T) {
	big := strings.Repeat("x", MaxCustomClaimsSize)
	small := strings.Repeat("x", MaxCustomClaimsSize-100)
	for _, kind := range []string{KindClaim, KindIDClaim} {
		t.Run(kind, func(t *testing.T) {
			p := mustCompile(t, []Rule{{Kind: kind, Name: "blob", Expr: "app_metadata.blob"}}, nil)
			_, err := p.Evaluate(Input{AppMetadata: map[string]any{"blob": big}})
			if !errors.Is(err, ErrClaimsTooLarge) {
				t.Fatalf("err = %v, want ErrClaimsTooLarge", err)
			}
			wantToken := map[string]string{KindClaim: "access token", KindIDClaim: "ID token"}[kind]
			if !strings.HasPrefix(err.Error(), wantToken) {
				t.Errorf("err = %q, want it to name the %s", err, wantToken)
			}
			if strings.Contains(err.Error(), "xxxx") {
				t.Errorf("error quotes the value")
			}
			res, err := p.Evaluate(Input{AppMetadata: map[string]any{"blob": small}})
			if err != nil || len(res.AccessClaims)+len(res.IDClaims) != 1 {
				t.Fatalf("just under the limit: %v", err)
			}
		})
	}
	// The limit is per token: two claims just under it in each token pass.
	p := mustCompile(t, []Rule{
		{Kind: KindClaim, Name: "blob", Expr: "app_metadata.blob"},
		{Kind: KindIDClaim, Name: "blob", Expr: "app_metadata.blob"},
	}, nil)
	if _, err := p.Evaluate(Input{AppMetadata: map[string]any{"blob": small}}); err != nil {
		t.Errorf("per-token limit: %v", err)
	}
}

func TestHostileDenyFailsClosed(t *testing.T) {
	p := mustCompile(t, []Rule{{Kind: KindDeny, Message: "m",
		Expr: "permissions.all(a, permissions.all(b, permissions.all(c, a + b + c != '')))"}}, nil)
	perms := make([]string, 200)
	for i := range perms {
		perms[i] = "perm"
	}
	_, err := p.Evaluate(Input{Permissions: perms})
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Cause == nil || !strings.Contains(denied.Cause.Error(), "cost limit") {
		t.Fatalf("err = %v, want a denial caused by the cost limit", err)
	}
}

// TestCostLimitFitsRealRules guards against a limit so low that a plain
// rule over a large permission list fails.
func TestCostLimitFitsRealRules(t *testing.T) {
	perms := make([]string, 3000)
	for i := range perms {
		perms[i] = fmt.Sprintf("read:thing%d", i)
	}
	p := mustCompile(t, []Rule{{Kind: KindClaim, Name: "n", Expr: "size(permissions.filter(p, p.startsWith('read:')))"}}, nil)
	res, err := p.Evaluate(Input{Permissions: perms})
	if err != nil || res.AccessClaims["n"] != int64(3000) {
		t.Errorf("claims = %v, err = %v", res.AccessClaims, err)
	}
}

func TestNilProgram(t *testing.T) {
	var p *Program
	res, err := p.Evaluate(specInput())
	if err != nil || res.AccessClaims != nil || res.IDClaims != nil {
		t.Errorf("nil program: %+v, %v", res, err)
	}
	p = mustCompile(t, nil, nil)
	if res, err := p.Evaluate(specInput()); err != nil || res.AccessClaims != nil {
		t.Errorf("empty program: %+v, %v", res, err)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	p := mustCompile(t, specRules, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := specInput()
			in.Roles = []string{"editor"}
			if i%2 == 0 {
				in.Roles = append(in.Roles, "admin")
			}
			for range 50 {
				res, err := p.Evaluate(in)
				if err != nil {
					errs <- err
					return
				}
				if res.AccessClaims["https://example.test/is_admin"] != (i%2 == 0) {
					errs <- errors.New("claims of another login")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrorKind(t *testing.T) {
	for in, want := range map[string]string{
		"no such key: secret":                          "no such key",
		`invalid RFC 3339 timestamp "secret"`:          `invalid RFC 3339 timestamp "…"`,
		`a "x" b "y" c`:                                `a "…" b "…" c`,
		`unterminated "secret`:                         `unterminated "…"`,
		"type conversion error from 'string' to 'int'": "type conversion error from 'string' to 'int'",
	} {
		if got := errorKind(in); got != want {
			t.Errorf("errorKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONSize(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "plain", `quote" back\\ slash`, "\n\r\t\b\f\x00\x1f", "<a href='x'>&amp;</a>",
		"\u2028\u2029", "héllo wörld ✓ 🎉", "bad \xff\xfe utf8", int64(0), int64(-42), uint64(1 << 63),
		0.0, -0.0, 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.123, -2.5e-10, 3e100, 5e-324,
		[]any{}, []any{1.0, "x", nil, []any{true}}, map[string]any{}, map[string]any{"a<": 1.0, "b": map[string]any{"c": []any{}}},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonSize(v); got != len(b) {
			t.Errorf("jsonSize(%#v) = %d, want %d (%s)", v, got, len(b), b)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, r := range specRules {
		f.Add(r.Expr)
	}
	for _, s := range []string{"roles[", "{'a': 1}", "1/0", "user.email.split('@')", "dyn(1) + dyn('a')",
		"app_metadata.?x.y", "timestamp('x')", "[1,2].map(x, x*x)", "\"\\u0000\"", "b'\\xff'"} {
		f.Add(s)
	}
	in := specInput()
	f.Fuzz(func(t *testing.T, expr string) {
		err := CheckRule(Rule{Kind: KindClaim, Name: "x", Expr: expr})
		if err != nil {
			return
		}
		p, err := Compile([]Rule{{Kind: KindClaim, Name: "x", Expr: expr}, {Kind: KindIDClaim, Name: "x", Expr: expr}}, zap.NewNop())
		if err != nil {
			t.Fatalf("CheckRule accepted what Compile refused: %v", err)
		}
		res, err := p.Evaluate(in)
		if err != nil {
			if !errors.Is(err, ErrClaimsTooLarge) {
				t.Fatalf("Evaluate: %v", err)
			}
			return
		}
		b, err := json.Marshal(res.AccessClaims)
		if err != nil {
			t.Fatalf("claims do not marshal: %v", err)
		}
		if res.AccessClaims != nil && jsonSize(res.AccessClaims) != len(b) {
			t.Fatalf("jsonSize = %d, encoded %d bytes", jsonSize(res.AccessClaims), len(b))
		}
	})
}

// FuzzEvaluate feeds arbitrary JSON metadata (what a user can put in
// user_metadata) to the example rules and a few that reshape it.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"city":"Lyon"}`, `{"org_id":"o","blocked":false}`)
	f.Add(`{"city":{"a":[1,2,{"b":null}]}}`, `{"blocked":"yes"}`)
	f.Add(`{}`, `{"blocked":true,"org_id":1e308}`)
	f.Add(`{"city":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"org_id":-0.0}`)
	rules := append([]Rule{
		{Kind: KindClaim, Name: "all", Expr: "user_metadata"},
		{Kind: KindIDClaim, Name: "keys", Expr: "app_metadata.map(k, k)"},
		{Kind: KindIDClaim, Name: "str", Expr: "string(app_metadata.org_id)"},
	}, specRules...)
	p, err := Compile(rules, zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, userJSON, appJSON string) {
		var um, am map[string]any
		if json.Unmarshal([]byte(userJSON), &um) != nil || json.Unmarshal([]byte(appJSON), &am) != nil {
			return
		}
		in := specInput()
		in.UserMetadata, in.AppMetadata = um, am
		res, err := p.Evaluate(in)
		var denied *DeniedError
		switch {
		case errors.As(err, &denied), errors.Is(err, ErrClaimsTooLarge):
			return
		case err != nil:
			t.Fatalf("Evaluate: %v", err)
		}
		for _, claims := range []map[string]any{res.AccessClaims, res.IDClaims} {
			b, err := json.Marshal(claims)
			if err != nil {
				t.Fatalf("claims do not marshal: %v", err)
			}
			if len(b) > MaxCustomClaimsSize {
				t.Fatalf("claims of %d bytes passed", len(b))
			}
			if claims != nil && jsonSize(claims) != len(b) {
				t.Fatalf("jsonSize = %d, encoded %d bytes", jsonSize(claims), len(b))
			}
		}
	})
}

func BenchmarkEvaluateSpecRules(b *testing.B) {
	p, err := Compile(specRules, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	in := specInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Evaluate(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCostLimit shows the worst a hostile rule can cost one login.
func BenchmarkCostLimit(b *testing.B) {
	p, err := Compile([]Rule{{Kind: KindClaim, Name: "x",
		Expr: "permissions.map(a, permissions.map(b, permissions.map(c, a + b + c)))"}}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	perms := make([]string, 200)
	for i := range perms {
		perms[i] = "perm"
	}
	in := Input{Permissions: perms}
	for b.Loop() {
		if res, _ := p.Evaluate(in); res.AccessClaims != nil {
			b.Fatal("cost limit not hit")
		}
	}
}
