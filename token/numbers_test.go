package token

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestVerifyKeepsNumbersExact: numbers reach the caller as json.Number with
// the token's own digits, so 9007199254740993 (2^53+1, which float64 rounds
// to …992) survives verification — on the first, uncached verification and
// when the claims come from the cache.
func TestVerifyKeepsNumbersExact(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	tests := []struct {
		name  string
		value any // as signed
		want  any // as Verify returns it
	}{
		{"2^53+1", int64(9007199254740993), json.Number("9007199254740993")},
		{"-(2^53+1)", int64(-9007199254740993), json.Number("-9007199254740993")},
		{"max uint64", uint64(18446744073709551615), json.Number("18446744073709551615")},
		{"written with an exponent", json.Number("1.0e2"), json.Number("1.0e2")},
		{"beyond float64", json.Number("1e400"), json.Number("1e400")},
		{"fraction", 0.1, json.Number("0.1")},
		{"zero", 0, json.Number("0")},
		{"in a list", []any{int64(9007199254740993), "admin"}, []any{json.Number("9007199254740993"), "admin"}},
		{"in an object", map[string]any{"id": int64(9007199254740993)}, map[string]any{"id": json.Number("9007199254740993")}},
		{"not a number", "9007199254740993", "9007199254740993"},
	}
	for _, cacheSize := range []int{0, 10} {
		v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.CacheSize = cacheSize })
		for _, tt := range tests {
			t.Run(tt.name+"/cache "+strconv.Itoa(cacheSize), func(t *testing.T) {
				claims := validClaims(c.Now())
				claims["https://example.test/n"] = tt.value
				raw := mustSign(t, k, claims, TypeAccessToken)
				for range 2 { // the second is a cache hit when the cache is on
					got, err := v.Verify(context.Background(), raw)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got["https://example.test/n"], tt.want) {
						t.Fatalf("claim = %#v, want %#v", got["https://example.test/n"], tt.want)
					}
					if _, ok := got["exp"].(json.Number); !ok {
						t.Fatalf("exp is %T, want json.Number", got["exp"])
					}
				}
			})
		}
	}
}

// TestVerifyNumericDatesFromJSONNumber: exp, nbf and iat are still checked
// now that they decode to json.Number, in every spelling JSON allows, and a
// value that is no time is refused rather than read as ±Inf.
func TestVerifyNumericDatesFromJSONNumber(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	v := newTestVerifier(t, staticKeys{k}, c, nil)
	now := c.Now().Unix()
	num := func(f float64, format byte) json.Number {
		return json.Number(strconv.FormatFloat(f, format, -1, 64))
	}
	hour := float64(time.Hour / time.Second)
	tests := []struct {
		name  string
		claim string
		value any
		ok    bool
	}{
		{"exp with a fraction", "exp", num(float64(now)+hour+0.5, 'f'), true},
		{"exp with an exponent", "exp", num(float64(now)+hour, 'e'), true},
		{"exp past, with an exponent", "exp", num(float64(now)-hour, 'e'), false},
		{"exp just past, within leeway", "exp", num(float64(now)-1.5, 'f'), true},
		{"exp beyond float64", "exp", json.Number("1e400"), false},
		{"exp a string", "exp", strconv.FormatInt(now+3600, 10), false},
		{"nbf past", "nbf", num(float64(now)-hour, 'e'), true},
		{"nbf future", "nbf", num(float64(now)+hour, 'e'), false},
		{"nbf beyond float64", "nbf", json.Number("1e400"), false},
		{"nbf beyond int64", "nbf", json.Number("1e300"), false},
		{"nbf below int64", "nbf", json.Number("-1e300"), false},
		{"iat future", "iat", num(float64(now)+hour, 'f'), false},
		{"iat beyond float64", "iat", json.Number("1e400"), false},
		{"iat beyond int64", "iat", json.Number("9.3e18"), false},
		{"iat exact integer", "iat", json.Number(strconv.FormatInt(now, 10)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := validClaims(c.Now())
			claims[tt.claim] = tt.value
			_, err := v.Verify(context.Background(), mustSign(t, k, claims, TypeAccessToken))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

// TestVerifyCachedAllocs pins the hot path: a cache hit allocates nothing,
// whatever the claims hold.
func TestVerifyCachedAllocs(t *testing.T) {
	k := testKey(t, ES256)
	v := newTestVerifier(t, staticKeys{k}, nil, func(cfg *VerifierConfig) { cfg.CacheSize = 10 })
	claims := validClaims(time.Now())
	claims["https://example.test/n"] = int64(9007199254740993)
	raw := mustSign(t, k, claims, TypeAccessToken)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = v.Verify(ctx, raw) }); n != 0 {
		t.Errorf("cached Verify allocates %v times", n)
	}
}
