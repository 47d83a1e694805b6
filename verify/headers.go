package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// forwardedHeader is a `header NAME CLAIM` line prepared once in Provision.
type forwardedHeader struct {
	key        string // canonical header key set on the request
	normalized string // lowercase, '_' → '-': the form every spelling is compared in
	claim      string
}

// normalizeHeaderName returns name lowercased with '_' and '.' turned into '-', the
// form in which `X_User_Id`, `x-user-id`, `X.User.Id` and `X-USER-ID` are all the same
// header (WSGI, PHP, FastCGI and CGI upstreams merge them: CVE-2025-64484;
// Caddy's expected_dot_headers and FastCGI turn '.' into '_')
func normalizeHeaderName(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = normalizeHeaderByte(c)
	}
	return string(b)
}

func normalizeHeaderByte(c byte) byte {
	switch {
	case c == '_' || c == '.':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	}
	return c
}

// sameHeader reports whether name, normalised, equals the already
// normalised norm. It does not allocate: it runs for every request header.
func sameHeader(name, norm string) bool {
	if len(name) != len(norm) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if normalizeHeaderByte(name[i]) != norm[i] {
			return false
		}
	}
	return true
}

// isForwarded reports whether name is, in any spelling, a header this
// handler sets.
func (v *Verify) isForwarded(name string) bool {
	for i := range v.headers {
		if sameHeader(name, v.headers[i].normalized) {
			return true
		}
	}
	return false
}

// stripForwarded deletes every client-sent copy of the headers this handler
// sets, in every spelling, and removes their names from the Connection header
// so that reverse_proxy's hop-by-hop removal cannot delete the verified values
// (GHSA-w9mr-28mw-j8hg). It runs before anything else on every request.
func (v *Verify) stripForwarded(h http.Header) {
	if len(v.headers) == 0 {
		return
	}
	for key := range h {
		if v.isForwarded(key) {
			delete(h, key) // deleting during range is safe in Go
			continue
		}
		if len(key) == len("Connection") && strings.EqualFold(key, "Connection") {
			v.stripConnection(h, key)
		}
	}
}

// stripConnection rewrites the Connection header stored under key without the
// tokens that name a forwarded header; it leaves it untouched (and does not
// allocate) when no token does, and deletes it when no token remains.
func (v *Verify) stripConnection(h http.Header, key string) {
	values := h[key]
	found := false
	for _, line := range values {
		for tok := range strings.SplitSeq(line, ",") {
			if v.isForwarded(textTrim(tok)) {
				found = true
				break
			}
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, line := range values {
		for tok := range strings.SplitSeq(line, ",") {
			tok = textTrim(tok)
			if tok != "" && !v.isForwarded(tok) {
				kept = append(kept, tok)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, key)
		return
	}
	h[key] = []string{strings.Join(kept, ", ")}
}

// textTrim trims the optional whitespace (SP / HTAB) around a list element.
func textTrim(s string) string {
	return strings.Trim(s, " \t")
}

// validHeaderName reports whether name may be configured in a `header` line:
// an RFC 9110 token that is not a header the handler needs to read (the
// token itself) or that the proxy would not forward anyway.
func validHeaderName(name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("header name %q is not a valid HTTP header name", name)
	}
	switch normalizeHeaderName(name) {
	case "authorization", "host", "content-length", "content-type", "cookie",
		"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"proxy-connection", "te", "trailer", "transfer-encoding", "upgrade":
		return fmt.Errorf("header %q cannot carry a claim", name)
	}
	return nil
}

// claimString converts a verified claim value to the text that is forwarded
// and offered as a placeholder: strings as they are, numbers and booleans as
// JSON text, lists of scalars joined with ",", objects (and lists holding
// objects or lists) as compact JSON. ok is false for null, which is treated
// as an absent claim.
func claimString(value any) (s string, ok bool) {
	switch val := value.(type) {
	case nil:
		return "", false
	case string:
		return val, true
	case []any:
		return listString(val), true
	case []string:
		return strings.Join(val, ","), true
	}
	if s, ok := scalarString(value); ok {
		return s, true
	}
	return compactJSON(value), true
}

// scalarString converts a non-string JSON scalar to its JSON text.
func scalarString(value any) (string, bool) {
	switch val := value.(type) {
	case string:
		return val, true
	case bool:
		return strconv.FormatBool(val), true
	case float64:
		return formatFloat(val), true
	case float32:
		return formatFloat(float64(val)), true
	case json.Number:
		return val.String(), true
	case int:
		return strconv.Itoa(val), true
	case int64:
		return strconv.FormatInt(val, 10), true
	case int32:
		return strconv.FormatInt(int64(val), 10), true
	case uint64:
		return strconv.FormatUint(val, 10), true
	}
	return "", false
}

// listString joins a list of scalars with ","; a list holding anything else
// (objects, lists, null) becomes compact JSON instead, since joining would
// lose its structure.
func listString(list []any) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		if s, ok := scalarString(list[0]); ok {
			return s
		}
		return compactJSON(list)
	}
	// Lists of strings (roles, permissions) are the common case: size the
	// result once so the join allocates once.
	size := len(list) - 1
	for _, el := range list {
		s, ok := el.(string)
		if !ok {
			size = 0
			break
		}
		size += len(s)
	}
	var b strings.Builder
	b.Grow(size)
	for i, el := range list {
		s, ok := scalarString(el)
		if !ok {
			return compactJSON(list)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

// formatFloat prints f as encoding/json does: integral values without a
// decimal point (1700000000, not 1.7e+09), exponents only when very large or
// small. NaN and infinities cannot come from JSON; they print as Go would.
func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Like encoding/json: e-07 → e-7.
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:]
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// compactJSON marshals value without HTML escaping (the text goes into a
// header, not a page). JSON escapes control characters in strings, so the
// result never contains a raw one.
func compactJSON(value any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		// Values come from a decoded JSON token, so this cannot happen;
		// fmt keeps the conversion total anyway.
		return fmt.Sprint(value)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// hasControlChar reports whether s holds a byte no header value may carry:
// CR and LF would split headers in naive proxies, NUL and the other C0
// controls and DEL are refused by Go's HTTP client.
func hasControlChar(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// claimContains reports whether a `require CLAIM VALUE` line holds for the
// claim's value: a list must contain value, a scalar must equal it in its
// string form. The OAuth `scope` claim is a space-separated list (RFC 9068),
// so a scope string must contain value as one of its words.
func claimContains(claim string, value any, want string) bool {
	switch val := value.(type) {
	case nil:
		return false
	case []any:
		for _, el := range val {
			if s, ok := scalarString(el); ok && s == want {
				return true
			}
		}
		return false
	case []string:
		for _, s := range val {
			if s == want {
				return true
			}
		}
		return false
	case string:
		if claim == "scope" {
			for word := range strings.FieldsSeq(val) {
				if word == want {
					return true
				}
			}
			return false
		}
		return val == want
	}
	s, ok := claimString(value)
	return ok && s == want
}
