package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid token")

// Input bounds, checked before anything is decoded.
const (
	// MaxTokenSize bounds a token's length. claimgate's own tokens carry at
	// most 16 KiB of custom claims, about 22 KiB once base64-encoded with the
	// standard claims and an RSA signature; 32 KiB leaves room for other
	// issuers' tokens while staying far below what is expensive to process.
	MaxTokenSize = 32 << 10
	// maxHeaderSegment bounds the encoded JOSE header, which is decoded
	// before the key is known (ours are under 150 bytes).
	maxHeaderSegment = 2 << 10
	// MaxLeeway is the largest accepted VerifierConfig.Leeway.
	MaxLeeway = 60 * time.Second
	// DefaultLeeway is used when VerifierConfig.Leeway is 0. Every other
	// check of exp/nbf/iat on claimgate's tokens (userinfo, claimgate_verify)
	// should use it too, so that one token is not valid in one place and
	// expired in another.
	DefaultLeeway = 30 * time.Second
)

// KeySource finds the verification key for a kid.
type KeySource interface {
	// VerificationKey returns the key for kid (with its pinned algorithm),
	// or an error when there is none. An empty kid asks for the only key of
	// a source that has exactly one (tokens without a kid are accepted only
	// when there is no ambiguity about the key).
	VerificationKey(ctx context.Context, kid string) (*Key, error)
}

// VerifierConfig configures a Verifier; the parser is built once from it.
type VerifierConfig struct {
	Issuer      string        // exact match of iss (required)
	Audience    string        // aud must contain it (required unless AnyAudience)
	RequireType string        // header typ that must match (TypeAccessToken), or "" for any
	Leeway      time.Duration // for exp/nbf/iat; 0 means DefaultLeeway, negative none; at most 60 s
	Keys        KeySource
	CacheSize   int // verified-token cache entries; 0 disables

	// AnyAudience skips the aud check. Only for endpoints that serve every
	// audience of the issuer (such as userinfo); Audience must then be "".
	AnyAudience bool
}

// Verifier checks bearer tokens. It is safe for concurrent use.
//
// Order of checks: size and shape; the cache; the JOSE header (no crit, typ,
// alg on the allow-list); the key by kid, and the token's alg must be the
// key's pinned algorithm; then golang-jwt checks the signature and the
// claims (iss exact, aud contains, exp required, nbf and iat with leeway).
// jku, x5u, jwk and x5c headers are never read.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	cache  *cache
	// now is the clock; tests replace it.
	now func() time.Time
}

// NewVerifier builds a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.Keys == nil:
		return nil, errors.New("verifier: no key source")
	case cfg.Issuer == "":
		return nil, errors.New("verifier: issuer is required")
	case cfg.Audience == "" && !cfg.AnyAudience:
		return nil, errors.New("verifier: audience is required")
	case cfg.Audience != "" && cfg.AnyAudience:
		return nil, errors.New("verifier: audience given with AnyAudience")
	case cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("verifier: leeway %s exceeds %s", cfg.Leeway, MaxLeeway)
	case cfg.CacheSize < 0:
		return nil, errors.New("verifier: negative cache size")
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	v := &Verifier{cfg: cfg, now: time.Now}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(supportedAlgorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(), // one encoding per token: no malleable trailing bits
		// Numbers stay json.Number, as written in the token: a float64
		// would turn a claim of 9007199254740993 into …992 before any
		// header or rule saw it. golang-jwt reads exp/nbf/iat from
		// json.Number too (see checkNumericDates for the one gap).
		jwt.WithJSONNumber(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	}
	if !cfg.AnyAudience {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	if cfg.CacheSize > 0 {
		v.cache = newCache(cfg.CacheSize)
	}
	return v, nil
}

// invalid wraps ErrInvalid with a reason for the logs. Reasons never
// contain the token; attacker-chosen header values are quoted and truncated.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Verify returns the token's claims, or an error wrapping ErrInvalid.
//
// Claims are as encoding/json decodes them into any, except that every
// number — at the top level and inside lists and objects — is a
// json.Number holding the digits exactly as the token wrote them, never a
// float64: an integer above 2^53 keeps every digit. Read one with its
// String (to pass it on verbatim), Int64 or Float64 method. (Before
// json.Number, numbers were float64; callers that type-switch on claim
// values must handle json.Number.) exp, nbf and iat have been checked
// already; their jwt.MapClaims getters accept json.Number.
//
// The returned map may be shared with other callers (it comes from the
// cache): treat it as read-only.
func (v *Verifier) Verify(ctx context.Context, raw string) (map[string]any, error) {
	if err := checkShape(raw); err != nil {
		return nil, err
	}
	if v.cache == nil {
		claims, _, _, err := v.verify(ctx, raw)
		return claims, err
	}
	sum := hashToken(raw)
	if e := v.cache.get(&sum, v.now()); e != nil {
		// The key must still be trusted: a key removed from the source (a
		// rotated-out or revoked remote key) ends its cached tokens too.
		if k, err := v.cfg.Keys.VerificationKey(ctx, e.kid); err == nil && k == e.key {
			return e.claims, nil
		}
		v.cache.remove(&sum)
	}
	claims, key, kid, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil && exp.After(now) {
		v.cache.put(&sum, &entry{claims: claims, key: key, kid: kid, exp: exp.Unix()}, now)
	}
	return claims, nil
}

// checkShape refuses oversized input and anything but three segments before
// a single byte is decoded.
func checkShape(raw string) error {
	if len(raw) > MaxTokenSize {
		return invalid("token of %d bytes exceeds %d", len(raw), MaxTokenSize)
	}
	if strings.Count(raw, ".") != 2 {
		return invalid("not a compact JWS (want three dot-separated parts)")
	}
	if i := strings.IndexByte(raw, '.'); i > maxHeaderSegment {
		return invalid("header of %d bytes is too long", i)
	}
	return nil
}

// verify does the full check of an uncached token.
func (v *Verifier) verify(ctx context.Context, raw string) (jwt.MapClaims, *Key, string, error) {
	key, kid, err := v.keyFor(ctx, raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return nil, nil, "", err
	}
	claims := jwt.MapClaims{}
	_, err = v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// golang-jwt decoded the header itself; it must agree with what
		// keyFor checked.
		if t.Method.Alg() != key.Algorithm {
			return nil, fmt.Errorf("alg %q is not the key's algorithm %s", t.Method.Alg(), key.Algorithm)
		}
		if k, _ := t.Header["kid"].(string); k != kid {
			return nil, errors.New("kid changed between checks")
		}
		return key.Public, nil
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkNumericDates(claims); err != nil {
		return nil, nil, "", err
	}
	return claims, key, kid, nil
}

// numericDates are the claims golang-jwt reads as times.
var numericDates = [...]string{"exp", "nbf", "iat"}

// checkNumericDates refuses an exp, nbf or iat that JSON allows but that is
// no time: beyond float64 (1e400) or beyond int64 seconds (1e300).
// golang-jwt ignores json.Number's conversion error (reading 1e400 as ±Inf)
// and converts the seconds to int64, which Go leaves implementation-defined
// for values out of range (on amd64: the most negative time), so an nbf or
// iat "at infinity" would pass as the distant past. Decoding to float64
// used to refuse the first kind as malformed JSON and let the second
// through; now both are refused here. Other types are left to
// golang-jwt, which refuses them as ErrInvalidType. No allocation: this
// runs on every uncached verification.
func checkNumericDates(claims jwt.MapClaims) error {
	for _, name := range numericDates {
		n, ok := claims[name].(json.Number)
		if !ok {
			continue
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.Abs(f) >= math.MaxInt64 {
			return invalid("%s is not a time in range", name)
		}
	}
	return nil
}

// keyFor decodes the JOSE header only and finds the key, so that a token
// with a wrong typ, an unknown kid or a mismatched alg is refused before its
// payload is decoded.
func (v *Verifier) keyFor(ctx context.Context, segment string) (key *Key, kid string, err error) {
	data, err := b64.Strict().DecodeString(segment)
	if err != nil {
		return nil, "", invalid("header is not base64url")
	}
	// A map, as golang-jwt decodes it: a struct would match member names
	// case-insensitively and could read a different "alg" than the library.
	var hdr map[string]any
	if err := json.Unmarshal(data, &hdr); err != nil {
		return nil, "", invalid("header is not a JSON object")
	}
	if _, ok := hdr["crit"]; ok {
		// RFC 7515 §4.1.11: we understand no extension, so must refuse.
		return nil, "", invalid("crit header is not supported")
	}
	alg, _ := hdr["alg"].(string)
	if alg == "" {
		return nil, "", invalid("no alg")
	}
	if !isSupported(alg) {
		return nil, "", invalid("alg %.16q is not allowed", alg)
	}
	if v.cfg.RequireType != "" {
		typ, _ := hdr["typ"].(string)
		if !typeMatches(typ, v.cfg.RequireType) {
			return nil, "", invalid("typ %.32q, want %q", typ, v.cfg.RequireType)
		}
	}
	kidVal, present := hdr["kid"]
	kid, isString := kidVal.(string)
	if present && !isString {
		return nil, "", invalid("kid is not a string")
	}
	key, err = v.cfg.Keys.VerificationKey(ctx, kid)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if key.Algorithm != alg {
		// RFC 8725 §3.1: the key decides the algorithm, never the token.
		return nil, "", invalid("alg %s does not match key %.64q (pinned to %s)", alg, key.ID, key.Algorithm)
	}
	return key, kid, nil
}

func isSupported(alg string) bool { return slices.Contains(supportedAlgorithms, alg) }

// typeMatches compares media types as RFC 7515 §4.1.9 and RFC 9068 §4 ask:
// case-insensitively, with the "application/" prefix optional.
func typeMatches(got, want string) bool {
	trim := func(s string) string {
		if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
			return s[len("application/"):]
		}
		return s
	}
	return strings.EqualFold(trim(got), trim(want))
}
