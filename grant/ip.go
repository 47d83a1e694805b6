package grant

import "net/netip"

// AccountingIP is the IP as the failure counters key it: IPv4-mapped IPv6
// as plain IPv4 (one client, one key); other IPv6 addresses as their
// network of ipv6Prefix bits (one subscriber gets a whole /64, so counting
// single addresses would multiply every per-IP limit by 2^64); never empty
// (the empty key is the account-wide counter), and never longer than the
// column. ipv6Prefix 0 or 128 counts single addresses.
func AccountingIP(ip string, ipv6Prefix int) string {
	if addr, err := netip.ParseAddr(ip); err == nil {
		addr = addr.Unmap().WithZone("")
		if addr.Is6() && ipv6Prefix > 0 && ipv6Prefix < 128 {
			if p, err := addr.Prefix(ipv6Prefix); err == nil {
				return p.String()
			}
		}
		return addr.String()
	}
	if ip == "" {
		return "unknown"
	}
	if len(ip) > 64 {
		return ip[:64]
	}
	return ip
}
