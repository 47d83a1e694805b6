package testkit

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Response is an HTTP answer with its body read: what a handler test
// records, or what a client received.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Recorded is the answer an httptest.ResponseRecorder holds.
func Recorded(w *httptest.ResponseRecorder) Response {
	return Response{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
}

// OAuthError is an RFC 6749 §5.2 error body.
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// DecodeError decodes body as an OAuth error. A body that is not JSON fails
// t (not fatally) and gives the zero OAuthError.
func DecodeError(t testing.TB, body []byte) OAuthError {
	t.Helper()
	var e OAuthError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("error body %q is not JSON: %v", Truncate(string(body), 200), err)
	}
	return e
}

// ExpectError checks an OAuth error answer — its status and error code
// (fatal when either differs) and the headers of every token endpoint
// answer (ExpectNoStore) — and returns its decoded body.
func ExpectError(t testing.TB, r Response, status int, code string) OAuthError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	var e OAuthError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	if e.Error != code {
		t.Fatalf("error = %q (%s), want %q", e.Error, e.Description, code)
	}
	ExpectNoStore(t, r.Header)
	return e
}

// ExpectNoStore checks the headers RFC 6749 §5.1 requires on token endpoint
// answers (Cache-Control no-store, Pragma no-cache) and the JSON content
// type.
func ExpectNoStore(t testing.TB, h http.Header) {
	t.Helper()
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := h.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

// TokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// DecodeToken decodes a token endpoint success body, and returns it also
// as raw JSON keys (to tell an absent member from an empty one). It fails t
// fatally unless the body is JSON with an access_token, token_type Bearer
// and a positive expires_in.
func DecodeToken(t testing.TB, body []byte) (TokenResponse, map[string]any) {
	t.Helper()
	var tr TokenResponse
	var raw map[string]any
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token response %q: %v", body, err)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("token response %q: %v", body, err)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("token response %s lacks access_token, token_type Bearer or expires_in", body)
	}
	return tr, raw
}

// ExpectToken checks a success answer (200 and ExpectNoStore's headers)
// and decodes it (DecodeToken).
func ExpectToken(t testing.TB, r Response) (TokenResponse, map[string]any) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.Status, r.Body)
	}
	ExpectNoStore(t, r.Header)
	return DecodeToken(t, r.Body)
}

// JWTParts decodes the header and the payload of a compact JWS without
// verifying anything; it fails t fatally when tok is not three parts whose
// first two are base64url JSON objects.
func JWTParts(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %.20q… has %d parts", tok, len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	return header, claims
}

// Truncate shortens s to n bytes and an ellipsis.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
