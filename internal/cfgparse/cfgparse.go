// Package cfgparse holds the small Caddyfile reading helpers that every
// claimgate module's parser shares: argument counts, values, and errors that
// point at a line read earlier. Validation of what the values mean lives with
// each module's type, not here.
package cfgparse

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// MaxCount bounds counters so that they fit comfortably in any column type.
const MaxCount = 1 << 30

// SingleArg reads exactly one argument and makes sure nothing follows it on
// the line (no more arguments, no block).
func SingleArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	val := d.Val()
	if err := EndOfLine(d); err != nil {
		return "", err
	}
	return val, nil
}

// AtLeastOneArg reads the rest of the line, which must not be empty.
func AtLeastOneArg(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	if err := NoBlock(d); err != nil {
		return nil, err
	}
	return args, nil
}

// ExactArgs reads exactly n arguments.
func ExactArgs(d *caddyfile.Dispenser, n int) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) != n {
		return nil, d.ArgErr()
	}
	if err := NoBlock(d); err != nil {
		return nil, err
	}
	return args, nil
}

// EndOfLine fails when more arguments or a block follow.
func EndOfLine(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return NoBlock(d)
}

// NoBlock fails when a block follows a directive that takes none; without
// this check its contents would be read as sibling subdirectives.
func NoBlock(d *caddyfile.Dispenser) error {
	last, line := d.Val(), d.Line() // the block opens on this line
	if d.NextBlock(d.Nesting()) {
		return ErrAt(d, line, fmt.Errorf("unexpected block after '%s'", last))
	}
	return nil
}

// ErrAt reports err at a line read earlier, in the dispenser's format
// ("..., at Caddyfile:7"), for checks that can only run once a block is
// complete.
func ErrAt(d *caddyfile.Dispenser, line int, err error) error {
	return fmt.Errorf("%w, at %s:%d", err, d.File(), line)
}

// Errf reports err, which comes from a module's validator, at the current
// token's line, prefixed with the subdirective's name.
func Errf(d *caddyfile.Dispenser, name string, err error) error {
	return d.Errf("%s: %v", name, err)
}

// PositiveDuration reads one duration (Go syntax plus `d` for days) that
// must be above zero.
func PositiveDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	return duration(d, func(dur time.Duration) bool { return dur > 0 }, "positive")
}

// Duration reads one duration that may be zero (but not negative).
func Duration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	return duration(d, func(dur time.Duration) bool { return dur >= 0 }, "zero or more")
}

// duration reads one duration and checks it with ok, naming the rule as want.
func duration(d *caddyfile.Dispenser, ok func(time.Duration) bool, want string) (caddy.Duration, error) {
	name := d.Val()
	arg, err := SingleArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil {
		return 0, d.Errf("%s: invalid duration '%s': %v", name, arg, err)
	}
	if !ok(dur) {
		return 0, d.Errf("%s: duration must be %s, got '%s'", name, want, arg)
	}
	return caddy.Duration(dur), nil
}

// OnOff reads `on` or `off`.
func OnOff(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	arg, err := SingleArg(d)
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

// IntRange reads one integer in [lo, hi].
func IntRange(d *caddyfile.Dispenser, lo, hi int) (int, error) {
	name := d.Val()
	arg, err := SingleArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < lo || n > hi {
		return 0, d.Errf("%s: expected an integer from %d to %d, got '%s'", name, lo, hi, arg)
	}
	return n, nil
}
