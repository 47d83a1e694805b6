package verify

import (
	"encoding/json"
	"io"
	"maps"
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

// testManaged is X-User-Id and X-User-Roles, as one handler's own names.
func testManaged() *nameSet {
	return newNameSet([]string{"X-User-Id", "X-User-Roles"})
}

func TestStripManaged(t *testing.T) {
	tests := []struct {
		name           string
		in             http.Header
		wantKeys       []string // remaining keys, sorted
		wantConnection []string
		wantTrailer    bool
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
		{
			name:     "dots fold like underscores",
			in:       http.Header{"X.User.Id": {"a"}, "x.user_roles": {"b"}, "X.User.Idx": {"kept"}},
			wantKeys: []string{"X.User.Idx"},
		},
		{
			name:        "Trailer names a managed header",
			in:          http.Header{"Trailer": {"X-Checksum, x.user.id"}},
			wantKeys:    []string{"Trailer"},
			wantTrailer: true,
		},
		{
			name:        "non-canonical Trailer key",
			in:          http.Header{"trailer": {"X_USER_ROLES"}},
			wantKeys:    []string{"trailer"},
			wantTrailer: true,
		},
		{
			name:     "Trailer names other headers",
			in:       http.Header{"Trailer": {"X-Checksum", "X-User-Idx"}},
			wantKeys: []string{"Trailer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stripManaged(tt.in, testManaged()); got != tt.wantTrailer {
				t.Errorf("stripManaged = %v, want %v (Trailer names a managed header)", got, tt.wantTrailer)
			}
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

// decodeClaims decodes a JSON object as token.Verifier does: numbers as
// json.Number.
func decodeClaims(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var decoded map[string]any
	if err := dec.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	return decoded
}

func TestClaimString(t *testing.T) {
	decoded := decodeClaims(t, `{"int":42,"neg":-7,"iat":1700000000,"float":1.5,"big":1e21,"tiny":1e-7,
		"t":true,"f":false,"null":null,"s":"a,b","list":["admin","user"],"numlist":[1,2.5,true],
		"one":["solo"],"empty":[],"obj":{"b":"<x>","a":1},"objlist":[{"a":1},"x"],"nested":[[1,2]],
		"esc":{"k":"line\nbreak"},"2^53+1":9007199254740993,"u64max":18446744073709551615,
		"exp":1.0e2,"bignested":{"id":9007199254740993},"biglist":[9007199254740993,1],"comma":["a,b","c"]}`)
	tests := []struct {
		claim  string
		want   string
		wantOK bool
	}{
		{"int", "42", true},
		{"neg", "-7", true},
		{"iat", "1700000000", true},
		{"float", "1.5", true},
		{"big", "1e21", true}, // as written
		{"tiny", "1e-7", true},
		{"2^53+1", "9007199254740993", true},
		{"u64max", "18446744073709551615", true},
		{"exp", "1.0e2", true},
		{"bignested", `{"id":9007199254740993}`, true},
		{"biglist", "9007199254740993,1", true},
		{"comma", "a,b,c", true}, // placeholders join as they are; headers refuse it
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
	// Values built in Go convert the same way; float64 as encoding/json
	// prints it.
	for _, tt := range []struct {
		in   any
		want string
	}{
		{int64(5), "5"},
		{5, "5"},
		{[]string{"a", "b"}, "a,b"},
		{float64(3), "3"},
		{float64(1700000000), "1700000000"},
		{1e21, "1e+21"},
		{1e-7, "1e-7"},
		{[]any{float64(1), 2.5}, "1,2.5"},
	} {
		if got, _ := claimString(tt.in); got != tt.want {
			t.Errorf("claimString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	decoded := decodeClaims(t, `{"s":"São Paulo","big":9007199254740993,"t":true,"list":["admin","billing"],
		"comma":["admin","user,admin"],"one_comma":["a,b"],"str_comma":"a,b","obj":{"b":[1,"x"],"a":"<&>"},
		"objlist":[{"a":"x,y"}],"crlf":"ada\r\nX-Admin: true","nul":"a\u0000","del":"a\u007f",
		"crlf_list":["a","b\nc"],"crlf_obj":{"k":"a\r\nb"},"del_obj":{"k":"a\u007f"},"null":null,"empty":[]}`)
	tests := []struct {
		claim   string
		json    bool
		want    string
		problem valueProblem
	}{
		{"s", false, "São Paulo", valueOK},
		{"big", false, "9007199254740993", valueOK},
		{"t", false, "true", valueOK},
		{"list", false, "admin,billing", valueOK},
		{"empty", false, "", valueOK},
		{"str_comma", false, "a,b", valueOK}, // a string is sent as it is
		{"comma", false, "", valueListComma},
		{"one_comma", false, "", valueListComma},
		{"objlist", false, `[{"a":"x,y"}]`, valueOK}, // JSON: unambiguous
		{"obj", false, `{"a":"<&>","b":[1,"x"]}`, valueOK},
		{"crlf", false, "", valueControl},
		{"nul", false, "", valueControl},
		{"del", false, "", valueControl},
		{"crlf_list", false, "", valueControl},
		{"crlf_obj", false, `{"k":"a\r\nb"}`, valueOK}, // escaped by JSON
		{"null", false, "", valueAbsent},
		{"absent", false, "", valueAbsent},

		{"s", true, `"São Paulo"`, valueOK},
		{"big", true, "9007199254740993", valueOK},
		{"t", true, "true", valueOK},
		{"list", true, `["admin","billing"]`, valueOK},
		{"comma", true, `["admin","user,admin"]`, valueOK},
		{"str_comma", true, `"a,b"`, valueOK},
		{"obj", true, `{"a":"<&>","b":[1,"x"]}`, valueOK},
		{"empty", true, `[]`, valueOK},
		{"crlf", true, `"ada\r\nX-Admin: true"`, valueOK}, // escaped by JSON
		{"del", true, "", valueControl},                   // JSON does not escape DEL
		{"del_obj", true, "", valueControl},
		{"null", true, "", valueAbsent},
		{"absent", true, "", valueAbsent},
	}
	for _, tt := range tests {
		got, problem := headerValue(decoded[tt.claim], tt.json)
		if got != tt.want || problem != tt.problem {
			t.Errorf("headerValue(%s, json=%v) = %q, %d; want %q, %d", tt.claim, tt.json, got, problem, tt.want, tt.problem)
		}
	}
	for _, tt := range []struct {
		in      any
		problem valueProblem
	}{
		{[]string{"a", "b,c"}, valueListComma},
		{[]string{"a", "b"}, valueOK},
	} {
		if _, problem := headerValue(tt.in, false); problem != tt.problem {
			t.Errorf("headerValue(%#v) problem = %d, want %d", tt.in, problem, tt.problem)
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
		{"no audience", Verify{}, "missing audience"},
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

func TestNameRegistry(t *testing.T) {
	r := newNameRegistry()
	if r.snapshot().contains("X-User-Id") {
		t.Fatal("empty registry contains X-User-Id")
	}
	long := "X-" + strings.Repeat("Long-", 20) + "Name" // ≥ 63 bytes share one length bit
	a := []string{"x-user-id", normalizeHeaderName(long)}
	b := []string{"x-user-id", "x-user-roles"}
	r.add(a)
	before := r.snapshot()
	r.add(b)
	for _, name := range []string{"X_USER_ID", "x.user.roles", strings.ToUpper(long)} {
		if !r.snapshot().contains(name) {
			t.Errorf("after add(a, b): %s not managed", name)
		}
	}
	if before.contains("X-User-Roles") {
		t.Error("a published snapshot changed after a later add")
	}
	if r.snapshot().contains(long + "x") {
		t.Error("a longer name with the same length bit matched")
	}
	r.remove(b)
	if !r.snapshot().contains("X-User-Id") {
		t.Error("X-User-Id gone while a still sets it")
	}
	if r.snapshot().contains("X-User-Roles") {
		t.Error("X-User-Roles still managed after the only handler setting it left")
	}
	r.remove(a)
	if s := r.snapshot(); s != nil {
		t.Errorf("registry not empty after removing everything: %q", s.names)
	}
}

// TestVerifyManaged: a handler's set is every registered header name plus
// its own header and strip names, and follows the registry's changes.
func TestVerifyManaged(t *testing.T) {
	reg := newNameRegistry()
	other := []string{"x-user-id", "x-user-roles"}
	reg.add(other)
	v := &Verify{registry: reg, Headers: []HeaderClaim{{Name: "X-User-Id", Claim: "sub"}}, Strip: []string{"X-Debug-User"}}
	v.register()
	check := func(when string, want map[string]bool) {
		t.Helper()
		m := v.managed()
		if m2 := v.managed(); m2 != m {
			t.Errorf("%s: the set is rebuilt on every request", when)
		}
		for name, w := range want {
			if got := m.contains(name); got != w {
				t.Errorf("%s: contains(%q) = %v, want %v", when, name, got, w)
			}
		}
	}
	check("registered", map[string]bool{
		"x_user_roles": true, // another handler's header
		"X.Debug.User": true, // own strip name
		"X-User-Id":    true,
		"X-Org-Id":     false,
		"X-Debug":      false,
		"X-User-Rolez": false,
		"":             false,
	})
	reg.add([]string{"x-org-id"})
	check("after another load", map[string]bool{"X_Org_Id": true, "X-User-Roles": true})
	reg.remove(other)
	reg.remove([]string{"x-org-id"})
	check("after the others' Cleanup", map[string]bool{"X-User-Id": true, "X-Debug-User": true, "X-User-Roles": false, "X-Org-Id": false})
	v.unregister()
	check("after its own Cleanup", map[string]bool{"X-User-Id": true, "X-Debug-User": true})
	if (*nameSet)(nil).contains("X-User-Id") {
		t.Error("the nil set contains X-User-Id")
	}
}

func TestTrailerNamesManaged(t *testing.T) {
	m := testManaged()
	for _, tt := range []struct {
		trailer http.Header
		want    bool
	}{
		{http.Header{"X-User-Id": nil}, true},
		{http.Header{"X_user_id": nil}, true}, // as CanonicalHeaderKey leaves it
		{http.Header{"X.User.Roles": nil, "X-Checksum": nil}, true},
		{http.Header{"X-Checksum": nil}, false},
		{http.Header{}, false},
	} {
		if got := trailerNamesManaged(tt.trailer, m); got != tt.want {
			t.Errorf("trailerNamesManaged(%v) = %v, want %v", tt.trailer, got, tt.want)
		}
	}
}

// eofFiller is a request body that, like Go's HTTP/1.1 server, merges the
// trailer section into the request's trailers just before returning EOF.
type eofFiller struct {
	io.Reader
	trailer, section http.Header
}

func (b *eofFiller) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		maps.Copy(b.trailer, b.section)
	}
	return n, err
}

func (b *eofFiller) Close() error { return nil }

func TestTrailerStripper(t *testing.T) {
	trailer := http.Header{"X-Checksum": nil} // announced
	section := http.Header{"X-Checksum": {"abc"}, "X-User-Id": {"999"}, "X_user_roles": {"admin"}}
	body := &trailerStripper{
		ReadCloser: &eofFiller{Reader: strings.NewReader("payload"), trailer: trailer, section: section},
		trailer:    trailer,
		managed:    testManaged(),
	}
	got, err := io.ReadAll(body)
	if err != nil || string(got) != "payload" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if want := (http.Header{"X-Checksum": {"abc"}}); !maps.EqualFunc(trailer, want, slices.Equal) {
		t.Errorf("trailers after EOF = %v, want %v", trailer, want)
	}
}

// FuzzVerifyHeaders checks the stripping against a plain reference: after
// stripManaged no key and no Connection token normalises to a managed name
// (another handler's header, or a strip name), every other header is kept,
// and a Trailer header or announced trailer naming a managed header is
// reported.
func FuzzVerifyHeaders(f *testing.F) {
	f.Add("X_User_Id", "x-user-id", "keep-alive, X_USER_ID", "X-Checksum", "X.Debug.User")
	f.Add("X-USER-ID", "Accept", "x-user-roles,close", "x_user_roles", "x-checksum")
	f.Add("x-user-id\x00", "X-User-Idd", " , ,", ",,", "X-User.Id")
	f.Add("X.User.Roles", "Trailer", "x.debug.user", "X-Debug-User", "X-Other")
	f.Fuzz(func(t *testing.T, k1, k2, conn, trailerHeader, announced string) {
		m := union(newNameSet([]string{"X-User-Id", "X-User-Roles"}), newNameSet([]string{"X-User-Id", "X-Debug-User"}))
		managed := func(s string) bool {
			n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(s))
			return n == "x-user-id" || n == "x-user-roles" || n == "x-debug-user"
		}
		namesManaged := func(list string) bool {
			for tok := range strings.SplitSeq(list, ",") {
				if managed(strings.Trim(tok, " \t")) {
					return true
				}
			}
			return false
		}
		h := http.Header{k1: {"v1"}, k2: {"v2"}, "Connection": {conn}, "Trailer": {trailerHeader}}
		wantTrailer := namesManaged(trailerHeader)
		for _, k := range []string{k1, k2} {
			if !managed(k) && strings.EqualFold(k, "Trailer") {
				wantTrailer = wantTrailer || namesManaged(h[k][0])
			}
		}
		gotTrailer := stripManaged(h, m)
		if gotTrailer != wantTrailer {
			t.Fatalf("stripManaged = %v, want %v (Trailer %q)", gotTrailer, wantTrailer, trailerHeader)
		}
		for _, k := range []string{k1, k2} {
			if strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Trailer") {
				continue // rewritten or deleted with its tokens, or checked above
			}
			_, kept := h[k]
			if managed(k) == kept {
				t.Fatalf("header %q: kept = %v", k, kept)
			}
		}
		for _, line := range h["Connection"] {
			for tok := range strings.SplitSeq(line, ",") {
				if managed(strings.Trim(tok, " \t")) {
					t.Fatalf("Connection still names %q: %q", tok, h["Connection"])
				}
			}
		}
		if got := trailerNamesManaged(http.Header{announced: nil}, m); got != managed(announced) {
			t.Fatalf("trailerNamesManaged(%q) = %v", announced, got)
		}
	})
}
