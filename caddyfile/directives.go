package caddyfile

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/claimgate/claimgate/caddymodule"
)

// parseLogin parses the claimgate_login directive, which takes no arguments
// and no block: everything it serves is configured by the global option.
//
//	claimgate_login
func parseLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if err := endOfLine(h.Dispenser); err != nil {
		return nil, err
	}
	return new(caddymodule.Login), nil
}

// parseVerify parses the claimgate_verify directive:
//
//	claimgate_verify {
//	    audience <aud>
//	    header <name> <claim>
//	    require <claim> <value>
//	    issuer <url>
//	    jwks_url <url>
//	    optional
//	    cache_size <n>
//	}
func parseVerify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	dirLine := h.Line()

	v := new(caddymodule.Verify)
	seen := make(map[string]bool)
	headers := make(map[string]bool)
	var issuerLine int
	for h.NextBlock(0) {
		name := h.Val()
		if name != "header" && name != "require" {
			if seen[name] {
				return nil, h.Errf("claimgate_verify option '%s' is given twice", name)
			}
			seen[name] = true
		}
		if name == "issuer" || (name == "jwks_url" && issuerLine == 0) {
			issuerLine = h.Line()
		}
		if err := verifyOption(h, v, headers); err != nil {
			return nil, err
		}
	}

	if v.Audience == "" {
		return nil, errAt(h.Dispenser, dirLine, errors.New("claimgate_verify: missing audience (tokens are checked for it)"))
	}
	if (v.Issuer == "") != (v.JWKSURL == "") {
		// Without both, either the keys or the expected iss are unknown.
		return nil, errAt(h.Dispenser, issuerLine, errors.New("claimgate_verify: issuer and jwks_url go together (another issuer's tokens need both)"))
	}
	return v, nil
}

// verifyOption parses one subdirective of claimgate_verify. headers holds
// the canonical header names already used.
func verifyOption(h httpcaddyfile.Helper, v *caddymodule.Verify, headers map[string]bool) error {
	d := h.Dispenser
	var err error
	switch h.Val() {
	case "audience":
		v.Audience, err = singleArg(d)
	case "header":
		var args []string
		if args, err = exactArgs(d, 2); err != nil {
			return err
		}
		if !validHeaderName(args[0]) {
			return h.Errf("header: '%s' is not a valid header name", args[0])
		}
		if reservedHeader(args[0]) {
			return h.Errf("header: '%s' cannot carry a claim", args[0])
		}
		// Header names are compared like the verify handler strips them:
		// case-insensitively and with _ and - treated alike.
		key := strings.ReplaceAll(strings.ToLower(args[0]), "_", "-")
		if headers[key] {
			return h.Errf("header '%s' is set twice", args[0])
		}
		headers[key] = true
		v.Headers = append(v.Headers, caddymodule.HeaderClaim{Name: args[0], Claim: args[1]})
	case "require":
		var args []string
		if args, err = exactArgs(d, 2); err != nil {
			return err
		}
		v.Require = append(v.Require, caddymodule.Requirement{Claim: args[0], Value: args[1]})
	case "issuer":
		v.Issuer, err = parseIssuer(d)
	case "jwks_url":
		v.JWKSURL, err = singleArg(d)
		if err == nil {
			if uerr := checkHTTPURL(v.JWKSURL); uerr != nil {
				err = h.Errf("jwks_url: %v", uerr)
			}
		}
	case "optional":
		v.Optional = true
		err = endOfLine(d)
	case "cache_size":
		var n int
		n, err = parseIntRange(d, 0, maxCount)
		v.CacheSize = &n
	default:
		return h.Errf("unrecognized claimgate_verify option '%s'", h.Val())
	}
	return err
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c > 0x7e || !isTokenChar(byte(c)) {
			return false
		}
	}
	return true
}

// reservedHeader reports whether name is a header a claim must not replace:
// hop-by-hop headers would be dropped by reverse_proxy, and the others would
// clobber the request's own framing or credentials.
func reservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-")) {
	case "Authorization", "Cookie", "Connection", "Host", "Content-Length", "Content-Type",
		"Transfer-Encoding", "Te", "Trailer", "Upgrade", "Keep-Alive",
		"Proxy-Authorization", "Proxy-Connection":
		return true
	}
	return false
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
