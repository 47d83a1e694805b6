package grant

import (
	"strings"
	"testing"
)

// TestAccountingIP checks the keys of single addresses (ipv6Prefix 128,
// what the function computed before ipv6_prefix existed).
func TestAccountingIP(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":           "198.51.100.1",
		"::ffff:198.51.100.1":    "198.51.100.1",
		"2001:DB8::1":            "2001:db8::1",
		"fe80::1%eth0":           "fe80::1",
		"":                       "unknown", // never the account-wide key
		"@":                      "@",
		strings.Repeat("x", 100): strings.Repeat("x", 64),
	} {
		if got := AccountingIP(in, 128); got != want {
			t.Errorf("AccountingIP(%q, 128) = %q, want %q", in, got, want)
		}
	}
}
