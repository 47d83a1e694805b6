package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// forwardedHeader is a `header NAME CLAIM [json]` line prepared once in
// Provision.
type forwardedHeader struct {
	key   string // canonical header key set on the request
	claim string
	json  bool // the `json` format: the claim as compact JSON, whatever its type
	// warned has bit p set once a value was refused for valueProblem p:
	// each reason is logged once per header, not once per request, since
	// any user can put a control character in their own metadata and
	// would otherwise write a WARN line with every request.
	warned atomic.Uint32
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

// stripManaged deletes every client-sent copy of the managed headers, in
// every spelling, and removes their names from the Connection header so that
// reverse_proxy's hop-by-hop removal cannot delete the verified values
// (GHSA-w9mr-28mw-j8hg). It runs before anything else on every request, and
// reports whether a Trailer header names a managed header (the request must
// then be refused: see trailerNamesManaged). It does not allocate unless it
// has something to rewrite.
func stripManaged(h http.Header, m *nameSet) (trailerManaged bool) {
	if m == nil {
		return false
	}
	for key := range h {
		if m.contains(key) {
			delete(h, key) // deleting during range is safe in Go
			continue
		}
		switch {
		case len(key) == len("Connection") && strings.EqualFold(key, "Connection"):
			stripConnection(h, key, m)
		case len(key) == len("Trailer") && strings.EqualFold(key, "Trailer"):
			trailerManaged = trailerManaged || listNamesManaged(h[key], m)
		}
	}
	return trailerManaged
}

// listNamesManaged reports whether a comma-separated header list (Trailer,
// Connection) names a managed header.
func listNamesManaged(values []string, m *nameSet) bool {
	for _, line := range values {
		for tok := range strings.SplitSeq(line, ",") {
			if m.contains(textTrim(tok)) {
				return true
			}
		}
	}
	return false
}

// trailerNamesManaged reports whether the request announces a trailer field
// that is managed. Trailers arrive after the body, long after stripManaged
// ran, and reverse_proxy forwards them: `Trailer: X-User-Id` followed by
// `X-User-Id: 999` after the last chunk would reach the upstream next to the
// verified value. Go's servers move an announced Trailer header into
// r.Trailer (keys present, values nil until the body is read); a Trailer
// header left in r.Header (no chunked body) is checked by stripManaged.
func trailerNamesManaged(trailer http.Header, m *nameSet) bool {
	for key := range trailer {
		if m.contains(key) {
			return true
		}
	}
	return false
}

// trailerStripper deletes managed names from the request's trailers when
// the body reaches EOF, before anything forwards them.
//
// Announcing a managed trailer is refused (trailerNamesManaged), but Go's
// HTTP/1.1 server adds every field of the trailer section to a non-nil
// r.Trailer, announced or not, and reverse_proxy copies whatever r.Trailer
// holds at EOF to the upstream. So `Trailer: X-Checksum` followed by
// `X-User-Id: 999` would pass the announcement check. Go's server merges the
// trailer section into r.Trailer before its Body.Read returns io.EOF, and
// reverse_proxy reads r.Trailer right after that Read returns, so deleting
// here, in between, leaves nothing managed to forward. (When no trailer is
// announced r.Trailer is nil in every copy of the request that handlers
// see, and Go's server stores the section on its own copy only.)
type trailerStripper struct {
	io.ReadCloser
	trailer http.Header
	managed *nameSet
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		for key := range b.trailer {
			if b.managed.contains(key) {
				delete(b.trailer, key)
			}
		}
	}
	return n, err
}

// stripConnection rewrites the Connection header stored under key without the
// tokens that name a managed header; it leaves it untouched (and does not
// allocate) when no token does, and deletes it when no token remains.
func stripConnection(h http.Header, key string, m *nameSet) {
	values := h[key]
	if !listNamesManaged(values, m) {
		return
	}
	var kept []string
	for _, line := range values {
		for tok := range strings.SplitSeq(line, ",") {
			tok = textTrim(tok)
			if tok != "" && !m.contains(tok) {
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

// valueProblem is why a claim is not sent as a header.
type valueProblem uint8

const (
	valueOK valueProblem = iota
	// valueAbsent: the token lacks the claim, or it is null.
	valueAbsent
	// valueControl: a control character anywhere (CR and LF would split
	// headers in naive proxies; Go's client refuses the others).
	valueControl
	// valueListComma: a list element holds ',', so an upstream splitting
	// the joined list on commas would read an extra value (a role).
	valueListComma
)

// headerValue converts a verified claim to the value of its forwarded
// header, or says why it is not sent. With asJSON the claim is compact JSON
// whatever its type (a string keeps its quotes); otherwise as claimString
// converts it, except that a list with an element holding ',' is refused.
func headerValue(value any, asJSON bool) (string, valueProblem) {
	if value == nil {
		return "", valueAbsent
	}
	var s string
	if asJSON {
		s = compactJSON(value)
	} else {
		var ambiguous bool
		s, ambiguous = claimText(value)
		if ambiguous {
			return "", valueListComma
		}
	}
	// JSON escapes C0 controls but not DEL, so the json format is checked
	// too.
	if hasControlChar(s) {
		return "", valueControl
	}
	return s, valueOK
}

// claimString converts a verified claim value to the text offered as a
// placeholder: strings as they are, numbers as written in the token
// (json.Number, so an integer above 2^53 keeps every digit), booleans as
// true/false, lists of scalars joined with ",", objects (and lists holding
// objects or lists) as compact JSON. ok is false for null, which is treated
// as an absent claim.
func claimString(value any) (s string, ok bool) {
	if value == nil {
		return "", false
	}
	s, _ = claimText(value)
	return s, true
}

// claimText is claimString for a non-nil value; ambiguous reports a joined
// list with an element that itself holds ','.
func claimText(value any) (s string, ambiguous bool) {
	switch val := value.(type) {
	case string:
		return val, false
	case []any:
		return listString(val)
	case []string:
		for _, el := range val {
			if strings.Contains(el, ",") {
				ambiguous = true
			}
		}
		return strings.Join(val, ","), ambiguous
	}
	if s, ok := scalarString(value); ok {
		return s, false
	}
	return compactJSON(value), false
}

// scalarString converts a JSON scalar to its text: a string as it is,
// others as JSON. token.Verifier decodes numbers as json.Number, which keeps
// the token's own digits; the other number types are for claims built in Go
// (tests, other callers).
func scalarString(value any) (string, bool) {
	switch val := value.(type) {
	case string:
		return val, true
	case json.Number:
		return val.String(), true
	case bool:
		return strconv.FormatBool(val), true
	case int:
		return strconv.Itoa(val), true
	case int64:
		return strconv.FormatInt(val, 10), true
	case float64:
		// encoding/json's text (1700000000, not 1.7e+09).
		return compactJSON(val), true
	}
	return "", false
}

// listString joins a list of scalars with ","; a list holding anything else
// (objects, lists, null) becomes compact JSON instead, since joining would
// lose its structure. ambiguous reports a joined element holding ','.
func listString(list []any) (s string, ambiguous bool) {
	switch len(list) {
	case 0:
		return "", false
	case 1:
		if s, ok := scalarString(list[0]); ok {
			return s, strings.Contains(s, ",")
		}
		return compactJSON(list), false
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
			return compactJSON(list), false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
		if strings.IndexByte(s, ',') >= 0 {
			ambiguous = true
		}
	}
	return b.String(), ambiguous
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
