package verify

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeHeaderName(t *testing.T) {
	for _, name := range []string{"X-User-Id", "x-user-id", "X_User_Id", "X-USER-ID", "X_user-Id", "x_USER_id", "X.User.Id", "x.user_ID"} {
		if got := normalizeHeaderName(name); got != "x-user-id" {
			t.Errorf("normalizeHeaderName(%q) = %q, want x-user-id", name, got)
		}
		if !sameHeader(name, "x-user-id") {
			t.Errorf("sameHeader(%q, x-user-id) = false", name)
		}
	}
	for _, name := range []string{"X-User-Ids", "X-User", "X-User-Ie", "X:User:Id", ""} {
		if sameHeader(name, "x-user-id") {
			t.Errorf("sameHeader(%q, x-user-id) = true", name)
		}
	}
}

func TestStripForwarded(t *testing.T) {
	v := &Verify{headers: []forwardedHeader{
		{key: "X-User-Id", normalized: "x-user-id", claim: "sub"},
		{key: "X-User-Roles", normalized: "x-user-roles", claim: "roles"},
	}}
	tests := []struct {
		name           string
		in             http.Header
		wantKeys       []string // remaining keys, sorted
		wantConnection []string
	}{
		{
			name: "every spelling",
			in: http.Header{
				"X-User-Id": {"a"}, "x-user-id": {"b"}, "X_User_Id": {"c"}, "X-USER-ID": {"d"},
				"X_user-Id": {"e"}, "X-User-Roles": {"admin"}, "x_user_roles": {"admin"},
				"Accept": {"*/*"}, "X-User-Idx": {"kept"},
			},
			wantKeys: []string{"Accept", "X-User-Idx"},
		},
		{
			name:           "connection names a forwarded header",
			in:             http.Header{"Connection": {"keep-alive, X-User-Id"}, "Accept": {"*/*"}},
			wantKeys:       []string{"Accept", "Connection"},
			wantConnection: []string{"keep-alive"},
		},
		{
			name:     "connection names only forwarded headers, in other spellings",
			in:       http.Header{"Connection": {"x_user_id", " X-USER-ROLES ,x-user-id"}},
			wantKeys: nil,
		},
		{
			name:           "several connection lines merged",
			in:             http.Header{"Connection": {"close", "X_User_Id, Upgrade"}},
			wantKeys:       []string{"Connection"},
			wantConnection: []string{"close, Upgrade"},
		},
		{
			name:           "connection without forwarded names untouched",
			in:             http.Header{"Connection": {"keep-alive,  foo"}},
			wantKeys:       []string{"Connection"},
			wantConnection: []string{"keep-alive,  foo"},
		},
		{
			name:     "non-canonical connection key",
			in:       http.Header{"connection": {"x-user-id"}},
			wantKeys: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.stripForwarded(tt.in)
			var keys []string
			for k := range tt.in {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("keys = %q, want %q", keys, tt.wantKeys)
			}
			if got := tt.in["Connection"]; !slices.Equal(got, tt.wantConnection) {
				t.Errorf("Connection = %q, want %q", got, tt.wantConnection)
			}
		})
	}
}

func TestClaimString(t *testing.T) {
	var decoded map[string]any
	if err := json.Unmarshal([]byte(`{"int":42,"neg":-7,"iat":1700000000,"float":1.5,"big":1e21,"tiny":1e-7,
		"t":true,"f":false,"null":null,"s":"a,b","list":["admin","user"],"numlist":[1,2.5,true],
		"one":["solo"],"empty":[],"obj":{"b":"<x>","a":1},"objlist":[{"a":1},"x"],"nested":[[1,2]],
		"esc":{"k":"line\nbreak"}}`), &decoded); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		claim  string
		want   string
		wantOK bool
	}{
		{"int", "42", true},
		{"neg", "-7", true},
		{"iat", "1700000000", true},
		{"float", "1.5", true},
		{"big", "1e+21", true},
		{"tiny", "1e-7", true},
		{"t", "true", true},
		{"f", "false", true},
		{"null", "", false},
		{"absent", "", false},
		{"s", "a,b", true},
		{"list", "admin,user", true},
		{"numlist", "1,2.5,true", true},
		{"one", "solo", true},
		{"empty", "", true},
		{"obj", `{"a":1,"b":"<x>"}`, true},
		{"objlist", `[{"a":1},"x"]`, true},
		{"nested", `[[1,2]]`, true},
		{"esc", `{"k":"line\nbreak"}`, true},
	}
	for _, tt := range tests {
		got, ok := claimString(decoded[tt.claim])
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("claimString(%s) = %q, %v; want %q, %v", tt.claim, got, ok, tt.want, tt.wantOK)
		}
	}
	// Values that did not come through encoding/json (a decoder using
	// json.Number, or typed Go values) convert the same way.
	for _, tt := range []struct {
		in   any
		want string
	}{
		{json.Number("1700000000"), "1700000000"},
		{int64(5), "5"},
		{[]string{"a", "b"}, "a,b"},
		{float64(3), "3"},
	} {
		if got, _ := claimString(tt.in); got != tt.want {
			t.Errorf("claimString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHasControlChar(t *testing.T) {
	for s, want := range map[string]bool{
		"plain": false, "ünïcödé": false, "a b": false,
		"a\r\nX-Evil: 1": true, "a\nb": true, "a\x00b": true, "a\tb": true, "a\x7fb": true, "\x1b[31m": true,
	} {
		if got := hasControlChar(s); got != want {
			t.Errorf("hasControlChar(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestClaimContains(t *testing.T) {
	tests := []struct {
		claim string
		value any
		want  string
		ok    bool
	}{
		{"roles", []any{"admin", "user"}, "admin", true},
		{"roles", []any{"user"}, "admin", false},
		{"roles", []any{}, "admin", false},
		{"roles", "admin", "admin", true},
		{"roles", "administrator", "admin", false},
		{"roles", nil, "admin", false},
		{"level", float64(3), "3", true},
		{"level", float64(3), "3.0", false},
		{"ids", []any{float64(7), float64(8)}, "8", true},
		{"admin", true, "true", true},
		{"admin", false, "true", false},
		{"scope", "read:orders write:orders", "write:orders", true},
		{"scope", "read:orders write:orders", "write", false},
		{"other", "read:orders write:orders", "write:orders", false},
		{"obj", map[string]any{"a": "admin"}, "admin", false},
	}
	for _, tt := range tests {
		if got := claimContains(tt.claim, tt.value, tt.want); got != tt.ok {
			t.Errorf("claimContains(%s, %#v, %q) = %v, want %v", tt.claim, tt.value, tt.want, got, tt.ok)
		}
	}
}

func TestVerifyValidate(t *testing.T) {
	neg := -1
	zero := 0
	tests := []struct {
		name    string
		v       Verify
		wantErr string
	}{
		{"minimal", Verify{Audience: "https://api.example.test"}, ""},
		{"full external", Verify{
			Audience: "https://api.example.test", Issuer: "https://tenant.auth0.com/",
			JWKSURL: "https://tenant.auth0.com/.well-known/jwks.json", CacheSize: &zero,
			Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}, {Name: "X_Org", Claim: "org_id"}},
			Require: []Requirement{{"roles", "admin"}},
		}, ""},
		{"no audience", Verify{}, "audience is required"},
		{"bad header name", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "X-User:Id", Claim: "sub"}}}, "not a valid HTTP header name"},
		{"header with CRLF", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "X-User\r\nX-Evil", Claim: "sub"}}}, "not a valid HTTP header name"},
		{"header with space", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "X User", Claim: "sub"}}}, "not a valid HTTP header name"},
		{"empty header name", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "", Claim: "sub"}}}, "not a valid HTTP header name"},
		{"authorization header", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "authorization", Claim: "sub"}}}, "cannot carry a claim"},
		{"connection header", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "Connection", Claim: "sub"}}}, "cannot carry a claim"},
		{"empty claim", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "X-User-Id", Claim: ""}}}, "claim name is empty"},
		{"duplicate header", Verify{Audience: "a", Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}, {Name: "x_user_id", Claim: "email"}}}, "configured twice"},
		{"empty require", Verify{Audience: "a", Require: []Requirement{{"roles", ""}}}, "require needs"},
		{"issuer alone", Verify{Audience: "a", Issuer: "https://i.test/"}, "go together"},
		{"jwks alone", Verify{Audience: "a", JWKSURL: "https://i.test/jwks"}, "go together"},
		{"relative issuer", Verify{Audience: "a", Issuer: "i.test", JWKSURL: "https://i.test/jwks"}, "not an absolute"},
		{"ftp jwks", Verify{Audience: "a", Issuer: "https://i.test/", JWKSURL: "ftp://i.test/jwks"}, "not an absolute"},
		{"negative cache", Verify{Audience: "a", CacheSize: &neg}, "cache_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestQuoteEscape(t *testing.T) {
	if got := quoteEscape(`api "x" \ y`); got != `api \"x\" \\ y` {
		t.Errorf("quoteEscape = %s", got)
	}
}

// FuzzVerifyHeaders checks the stripping against a plain reference: after
// stripForwarded no key and no Connection token normalises to a forwarded
// name, and every other header is kept.
func FuzzVerifyHeaders(f *testing.F) {
	f.Add("X_User_Id", "x-user-id", "keep-alive, X_USER_ID")
	f.Add("X-USER-ID", "Accept", "x-user-roles,close")
	f.Add("x-user-id\x00", "X-User-Idd", " , ,")
	f.Fuzz(func(t *testing.T, k1, k2, conn string) {
		v := &Verify{headers: []forwardedHeader{
			{key: "X-User-Id", normalized: "x-user-id"},
			{key: "X-User-Roles", normalized: "x-user-roles"},
		}}
		forwarded := func(s string) bool {
			n := strings.ReplaceAll(strings.ToLower(s), "_", "-")
			return n == "x-user-id" || n == "x-user-roles"
		}
		h := http.Header{k1: {"v1"}, k2: {"v2"}, "Connection": {conn}}
		v.stripForwarded(h)
		for _, k := range []string{k1, k2} {
			if strings.EqualFold(k, "Connection") {
				continue // rewritten or deleted with its tokens
			}
			_, kept := h[k]
			if forwarded(k) == kept {
				t.Fatalf("header %q: kept = %v", k, kept)
			}
		}
		for _, line := range h["Connection"] {
			for tok := range strings.SplitSeq(line, ",") {
				if forwarded(strings.Trim(tok, " \t")) {
					t.Fatalf("Connection still names %q: %q", tok, h["Connection"])
				}
			}
		}
	})
}
