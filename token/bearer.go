package token

import (
	"errors"
	"net/http"
	"strings"
)

// BearerFromHeader extracts the token of an `Authorization: Bearer` header
// (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1). present
// is false when there is no Authorization header, it is empty, or it uses
// another scheme; more than one Authorization header, or a Bearer scheme
// without a token, is an error. Every endpoint that reads bearer tokens
// uses it, so they all agree on what a token is.
func BearerFromHeader(h http.Header) (raw string, present bool, err error) {
	values := h["Authorization"]
	switch {
	case len(values) == 0:
		return "", false, nil
	case len(values) > 1:
		return "", false, errors.New("more than one Authorization header")
	}
	value := strings.Trim(values[0], " \t")
	if value == "" {
		return "", false, nil
	}
	scheme, rest, _ := strings.Cut(value, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	raw = strings.TrimLeft(rest, " ")
	if raw == "" {
		return "", false, errors.New("bearer scheme without a token")
	}
	return raw, true, nil
}
