package app

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/internal/cfgparse"
)

// parseSigningKey reads `signing_key ALG [file PATH]`.
func parseSigningKey(d *caddyfile.Dispenser) (*SigningKeyConfig, error) {
	args := d.RemainingArgs()
	if len(args) != 1 && len(args) != 3 {
		return nil, d.ArgErr()
	}
	if err := cfgparse.NoBlock(d); err != nil {
		return nil, err
	}
	key := &SigningKeyConfig{Algorithm: args[0]}
	if err := validateSigningAlgorithm(key.Algorithm); err != nil {
		return nil, d.Errf("signing_key: %v", err)
	}
	if len(args) == 3 {
		if args[1] != "file" {
			return nil, d.Errf("signing_key: expected 'file PATH' after the algorithm, got '%s'", args[1])
		}
		key.File = args[2]
	}
	return key, nil
}

// parseProtection parses the protection block:
//
//	protection {
//	    max_failures <n>
//	    block_for <duration>
//	    ip_failures_per_day <n>
//	    account_lockout on|off
//	    max_concurrent_hashes <n>
//	    hash_queue_timeout <duration>
//	    ipv6_prefix <bits>
//	    min_failure_time <duration>
//	}
func parseProtection(d *caddyfile.Dispenser) (*ProtectionConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	pc := new(ProtectionConfig)
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("protection option '%s' is given twice", name)
		}
		seen[name] = true

		var err error
		switch name {
		case "max_failures":
			pc.MaxFailures, err = cfgparse.IntRange(d, 1, cfgparse.MaxCount)
		case "block_for":
			pc.BlockFor, err = cfgparse.PositiveDuration(d)
		case "ip_failures_per_day":
			pc.IPFailuresPerDay, err = cfgparse.IntRange(d, 1, cfgparse.MaxCount)
		case "account_lockout":
			pc.AccountLockout, err = cfgparse.OnOff(d)
		case "max_concurrent_hashes":
			pc.MaxConcurrentHashes, err = cfgparse.IntRange(d, 0, cfgparse.MaxCount)
		case "hash_queue_timeout":
			pc.HashQueueTimeout, err = cfgparse.PositiveDuration(d)
		case "ipv6_prefix":
			if pc.IPv6Prefix, err = cfgparse.IntRange(d, 0, cfgparse.MaxCount); err == nil {
				if verr := validateIPv6Prefix(pc.IPv6Prefix); verr != nil {
					err = d.Errf("%v", verr)
				}
			}
		case "min_failure_time":
			pc.MinFailureTime, err = cfgparse.PositiveDuration(d)
		default:
			return nil, d.Errf("unrecognized protection option '%s'", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return pc, nil
}
