// Package httpurl holds the URL rules that issuers, key-set URLs and
// redirect targets share, written once.
package httpurl

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckAbsolute accepts an absolute http(s) URL with a host and without a
// query or fragment: what an issuer or a key-set URL must be.
func CheckAbsolute(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("'%s' is not a URL: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("'%s' is not an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("'%s' must not have a query or fragment", raw)
	}
	return nil
}

// IsLoopbackHost reports whether host is localhost, a *.localhost name
// (RFC 6761 reserves them for loopback) or a loopback IP.
func IsLoopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Insecure reports a plain-HTTP URL whose host is not loopback: its
// contents (tokens, keys) can be read or changed in transit.
func Insecure(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return !IsLoopbackHost(u.Hostname())
}
