package login

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxRequestBody bounds the token and revocation request bodies.
const maxRequestBody = 16 << 10

// Parse errors of a token or revocation request body; every one is answered
// 400 invalid_request.
var (
	errUnsupportedMediaType = errors.New("unsupported content type")
	errDuplicateParam       = errors.New("parameter given more than once")
	errMalformedBody        = errors.New("malformed body")
	errNotUTF8              = errors.New("body is not valid UTF-8")
	errBodyTooLarge         = errors.New("body too large")
)

// readRequestBody reads at most maxRequestBody bytes of r's body; a larger
// body yields errBodyTooLarge (413).
func readRequestBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxRequestBody {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedBody, err)
	}
	return body, nil
}

// parseTokenRequest parses a token (or revocation) request body of the
// given Content-Type: application/x-www-form-urlencoded or application/json
// (a charset parameter, when present, must be UTF-8). Only the body counts;
// query parameters are ignored, so credentials in a URL (and so in logs)
// are never used.
//
// Every parameter must appear at most once (RFC 6749 §3.2), JSON values must
// be strings, and everything must be valid UTF-8. Parameters with an empty
// value are dropped: RFC 6749 §3.1 treats them as omitted.
func parseTokenRequest(contentType string, body []byte) (map[string]string, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !isUTF8Charset(cs) {
		return nil, errUnsupportedMediaType
	}
	var values map[string]string
	switch mediaType {
	case "application/x-www-form-urlencoded":
		values, err = parseFormBody(body)
	case "application/json":
		values, err = parseJSONBody(body)
	default:
		return nil, errUnsupportedMediaType
	}
	if err != nil {
		return nil, err
	}
	for k, v := range values {
		if v == "" {
			delete(values, k)
		}
	}
	return values, nil
}

// isUTF8Charset accepts UTF-8 and its subset US-ASCII.
func isUTF8Charset(cs string) bool {
	switch strings.ToLower(cs) {
	case "utf-8", "utf8", "us-ascii":
		return true
	}
	return false
}

func parseFormBody(body []byte) (map[string]string, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errMalformedBody
	}
	values := make(map[string]string, len(form))
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, errDuplicateParam
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, errNotUTF8
		}
		values[k] = vs[0]
	}
	return values, nil
}

// parseJSONBody reads one flat JSON object of string values, token by token
// so that a repeated key is seen (json.Unmarshal keeps the last one).
func parseJSONBody(body []byte) (map[string]string, error) {
	// encoding/json would silently replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(body) {
		return nil, errNotUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errMalformedBody
	}
	values := make(map[string]string)
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, errMalformedBody
		}
		key, ok := keyTok.(string)
		if !ok {
			return nil, errMalformedBody
		}
		valTok, err := dec.Token()
		if err != nil {
			return nil, errMalformedBody
		}
		val, ok := valTok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: parameter values must be strings", errMalformedBody)
		}
		if _, dup := values[key]; dup {
			return nil, errDuplicateParam
		}
		values[key] = val
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errMalformedBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", errMalformedBody)
	}
	return values, nil
}

// bodyError maps a read or parse error to its OAuth answer.
func bodyError(err error) *oauthError {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return newOAuthError(http.StatusRequestEntityTooLarge, codeInvalidRequest, "The request body is too large.")
	case errors.Is(err, errUnsupportedMediaType):
		return errInvalidRequest("Send application/x-www-form-urlencoded or application/json.")
	case errors.Is(err, errDuplicateParam):
		return errInvalidRequest("A parameter was given more than once.")
	case errors.Is(err, errNotUTF8):
		return errInvalidRequest("The request body is not valid UTF-8.")
	default:
		return errInvalidRequest("The request body is malformed.")
	}
}
