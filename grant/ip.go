package grant

import "net/netip"

// AccountingIP is the IP as the failure counters key it: IPv4-mapped IPv6
// as plain IPv4 (one client, one key), never empty (the empty key is the
// account-wide counter), and never longer than the column.
func AccountingIP(ip string) string {
	if addr, err := netip.ParseAddr(ip); err == nil {
		return addr.Unmap().WithZone("").String()
	}
	if ip == "" {
		return "unknown"
	}
	if len(ip) > 64 {
		return ip[:64]
	}
	return ip
}
