package caddyfile

import (
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/caddymodule"
)

// parsePositiveDuration reads one duration (Go syntax plus `d` for days).
func parsePositiveDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil {
		return 0, d.Errf("%s: invalid duration '%s': %v", name, arg, err)
	}
	if dur <= 0 {
		return 0, d.Errf("%s: duration must be positive, got '%s'", name, arg)
	}
	return caddy.Duration(dur), nil
}

// parseOnOff reads `on` or `off`.
func parseOnOff(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return false, err
	}
	switch arg {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, d.Errf("%s: expected on or off, got '%s'", name, arg)
}

// parseIntRange reads one integer in [lo, hi].
func parseIntRange(d *caddyfile.Dispenser, lo, hi int) (int, error) {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < lo || n > hi {
		return 0, d.Errf("%s: expected an integer from %d to %d, got '%s'", name, lo, hi, arg)
	}
	return n, nil
}

// signingAlgorithms are the algorithms claimgate signs with.
var signingAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// parseSigningKey reads `signing_key ALG [file PATH]`.
func parseSigningKey(d *caddyfile.Dispenser) (*caddymodule.SigningKeyConfig, error) {
	args := d.RemainingArgs()
	if len(args) != 1 && len(args) != 3 {
		return nil, d.ArgErr()
	}
	if err := noBlock(d); err != nil {
		return nil, err
	}
	key := &caddymodule.SigningKeyConfig{Algorithm: args[0]}
	if !slices.Contains(signingAlgorithms, key.Algorithm) {
		return nil, d.Errf("signing_key: unsupported algorithm '%s' (use RS256, ES256 or EdDSA)", key.Algorithm)
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
//	}
func parseProtection(d *caddyfile.Dispenser) (*caddymodule.ProtectionConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	pc := new(caddymodule.ProtectionConfig)
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
			pc.MaxFailures, err = parseIntRange(d, 1, maxCount)
		case "block_for":
			pc.BlockFor, err = parsePositiveDuration(d)
		case "ip_failures_per_day":
			pc.IPFailuresPerDay, err = parseIntRange(d, 1, maxCount)
		case "account_lockout":
			pc.AccountLockout, err = parseOnOff(d)
		case "max_concurrent_hashes":
			pc.MaxConcurrentHashes, err = parseIntRange(d, 0, maxCount)
		case "hash_queue_timeout":
			pc.HashQueueTimeout, err = parsePositiveDuration(d)
		default:
			return nil, d.Errf("unrecognized protection option '%s'", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return pc, nil
}

// maxCount bounds counters so that they fit comfortably in any column type.
const maxCount = 1 << 30
