package token

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// craft builds a token with an arbitrary header, signed by sign (nil: no
// signature), so tests can forge what an attacker would send.
func craft(t testing.TB, hdr map[string]any, claims map[string]any, sign func(string) []byte) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + b64.EncodeToString(sig)
}

// signWith signs like golang-jwt would with method and key.
func signWith(t testing.TB, method jwt.SigningMethod, key any) func(string) []byte {
	return func(input string) []byte {
		sig, err := method.Sign(input, key)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func mustSign(t testing.TB, k *Key, claims map[string]any, typ string) string {
	t.Helper()
	ks, err := newKeySet(k, []*Key{k})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ks.Sign(claims, typ)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignVerifyRoundTrip(t *testing.T) {
	c := newClock()
	for _, alg := range supportedAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := testKey(t, alg)
			claims := validClaims(c.Now())
			claims["https://example.test/roles"] = []string{"admin", "user"}
			raw := mustSign(t, k, claims, "at+jwt")

			var hdr map[string]any
			seg, _ := b64.DecodeString(strings.Split(raw, ".")[0])
			if err := json.Unmarshal(seg, &hdr); err != nil {
				t.Fatal(err)
			}
			if hdr["alg"] != alg || hdr["kid"] != k.ID || hdr["typ"] != "at+jwt" || len(hdr) != 3 {
				t.Errorf("header = %v", hdr)
			}

			v := newTestVerifier(t, staticKeys{testKey(t, RS256), testKey(t, ES256), testKey(t, EdDSA)}, c, nil)
			got, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if got["sub"] != "42" || got["client_id"] != "web-backend" {
				t.Errorf("claims = %v", got)
			}
			if roles, _ := got["https://example.test/roles"].([]any); len(roles) != 2 {
				t.Errorf("custom claim = %v", got["https://example.test/roles"])
			}
		})
	}
}

func TestVerifyRefusesAttacks(t *testing.T) {
	c := newClock()
	now := c.Now()
	rsaKey, ecKey := testKey(t, RS256), testKey(t, ES256)
	keys := staticKeys{rsaKey, ecKey}
	v := newTestVerifier(t, keys, c, nil)

	hdr := func(alg, kid, typ string) map[string]any {
		return map[string]any{"alg": alg, "kid": kid, "typ": typ}
	}
	claimsWith := func(f func(map[string]any)) map[string]any {
		cl := validClaims(now)
		f(cl)
		return cl
	}
	rs := signWith(t, jwt.SigningMethodRS256, rsaKey.Private)
	pubDER, _ := x509.MarshalPKIXPublicKey(rsaKey.Public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), validClaims(now), rs)
	parts := strings.Split(good, ".")
	tampered := craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["sub"] = "1" }), nil)
	tampered = tampered[:strings.LastIndexByte(tampered, '.')+1] + parts[2]

	attacker, err := generateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	attackerJWK, _ := publicJWK(attacker.Public)

	garbage := make([]byte, 20<<10)
	rand.Read(garbage)
	garbageB64 := b64.EncodeToString(garbage)

	tests := []struct {
		name, raw string
	}{
		{"alg none", craft(t, hdr("none", rsaKey.ID, "at+jwt"), validClaims(now), nil)},
		{"alg none signed with nothing and no kid", craft(t, map[string]any{"alg": "none", "typ": "at+jwt"}, validClaims(now), nil)},
		{"HS256 with RSA public key PEM as secret", craft(t, hdr("HS256", rsaKey.ID, "at+jwt"), validClaims(now), signWith(t, jwt.SigningMethodHS256, pubPEM))},
		{"HS256 with RSA public key DER as secret", craft(t, hdr("HS256", rsaKey.ID, "at+jwt"), validClaims(now), signWith(t, jwt.SigningMethodHS256, pubDER))},
		{"tampered payload", tampered},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4]},
		{"expired", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() }), rs)},
		{"no exp", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { delete(m, "exp") }), rs)},
		{"not yet valid", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["nbf"] = now.Add(time.Hour).Unix() }), rs)},
		{"issued in the future", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["iat"] = now.Add(time.Hour).Unix() }), rs)},
		{"wrong iss", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["iss"] = "https://evil.test/" }), rs)},
		{"iss without trailing slash", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["iss"] = strings.TrimSuffix(testIssuer, "/") }), rs)},
		{"no iss", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { delete(m, "iss") }), rs)},
		{"wrong aud", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { m["aud"] = "https://other.test" }), rs)},
		{"no aud", craft(t, hdr(RS256, rsaKey.ID, "at+jwt"), claimsWith(func(m map[string]any) { delete(m, "aud") }), rs)},
		{"unknown kid", craft(t, hdr(RS256, "no-such-kid", "at+jwt"), validClaims(now), rs)},
		{"no kid with two keys", craft(t, map[string]any{"alg": RS256, "typ": "at+jwt"}, validClaims(now), rs)},
		{"kid not a string", craft(t, map[string]any{"alg": RS256, "kid": 7, "typ": "at+jwt"}, validClaims(now), rs)},
		{"wrong typ JWT (an ID token)", craft(t, hdr(RS256, rsaKey.ID, "JWT"), validClaims(now), rs)},
		{"no typ", craft(t, map[string]any{"alg": RS256, "kid": rsaKey.ID}, validClaims(now), rs)},
		{"ES256 key's kid on an RS256 token", craft(t, hdr(RS256, ecKey.ID, "at+jwt"), validClaims(now), rs)},
		{"RS256 key's kid on an ES256 token", craft(t, hdr(ES256, rsaKey.ID, "at+jwt"), validClaims(now), signWith(t, jwt.SigningMethodES256, ecKey.Private))},
		{"RS512 with the right key", craft(t, hdr("RS512", rsaKey.ID, "at+jwt"), validClaims(now), signWith(t, jwt.SigningMethodRS512, rsaKey.Private))},
		{"attacker key embedded in jwk header", craft(t, map[string]any{"alg": ES256, "kid": ecKey.ID, "typ": "at+jwt", "jwk": attackerJWK}, validClaims(now), signWith(t, jwt.SigningMethodES256, attacker.Private))},
		{"jku header pointing elsewhere", craft(t, map[string]any{"alg": ES256, "kid": ecKey.ID, "typ": "at+jwt", "jku": "https://evil.test/jwks.json"}, validClaims(now), signWith(t, jwt.SigningMethodES256, attacker.Private))},
		{"crit header", craft(t, map[string]any{"alg": RS256, "kid": rsaKey.ID, "typ": "at+jwt", "crit": []string{"exp"}}, validClaims(now), rs)},
		{"duplicate alg member, case variant", strings.Replace(good, parts[0], b64.EncodeToString([]byte(`{"alg":"RS256","kid":"`+rsaKey.ID+`","typ":"at+jwt","ALG":"HS256"}`)), 1)},
		{"20 KB garbage", string(garbage)},
		{"20 KB base64 garbage", garbageB64},
		{"20 KB garbage with dots", garbageB64[:10<<10] + "." + garbageB64[10<<10:15<<10] + "." + garbageB64[15<<10:]},
		{"over size limit", parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2]},
		{"four parts", good + ".x"},
		{"two parts", parts[0] + "." + parts[1]},
		{"empty", ""},
		{"padded signature", good + "=="},
		{"header not JSON", b64.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]},
		{"payload not JSON", parts[0] + "." + b64.EncodeToString([]byte("nope")) + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := v.Verify(context.Background(), tt.raw)
			if err == nil {
				t.Fatalf("accepted: %v", claims)
			}
			t.Log(err)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if len(tt.raw) > 20 && strings.Contains(err.Error(), tt.raw) {
				t.Errorf("error contains the token")
			}
		})
	}
	// The forgeries must not have been refused for an unrelated reason: the
	// genuine token passes.
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
}

func TestVerifyTypeVariants(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	v := newTestVerifier(t, staticKeys{k}, c, nil)
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"} {
		if _, err := v.Verify(context.Background(), mustSign(t, k, validClaims(c.Now()), typ)); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	for _, typ := range []string{"JWT", "jwt", "application/jwt", "at+jwt ", "application/", ""} {
		if _, err := v.Verify(context.Background(), mustSign(t, k, validClaims(c.Now()), typ)); !errors.Is(err, ErrInvalid) {
			t.Errorf("typ %q accepted (%v)", typ, err)
		}
	}
	// With no required type, an ID token's JWT is fine.
	any := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.RequireType = "" })
	if _, err := any.Verify(context.Background(), mustSign(t, k, validClaims(c.Now()), "JWT")); err != nil {
		t.Error(err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	c := newClock()
	k := testKey(t, EdDSA)
	v := newTestVerifier(t, staticKeys{k}, c, func(cfg *VerifierConfig) { cfg.Leeway = 30 * time.Second })
	tests := []struct {
		name  string
		claim string
		at    time.Duration // relative to now
		ok    bool
	}{
		{"exp 20s ago", "exp", -20 * time.Second, true},
		{"exp 40s ago", "exp", -40 * time.Second, false},
		{"nbf in 20s", "nbf", 20 * time.Second, true},
		{"nbf in 40s", "nbf", 40 * time.Second, false},
		{"iat in 20s", "iat", 20 * time.Second, true},
		{"iat in 40s", "iat", 40 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := validClaims(c.Now())
			cl[tt.claim] = c.Now().Add(tt.at).Unix()
			_, err := v.Verify(context.Background(), mustSign(t, k, cl, "at+jwt"))
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestVerifyKidlessToken(t *testing.T) {
	c := newClock()
	k := testKey(t, ES256)
	raw := craft(t, map[string]any{"alg": ES256, "typ": "at+jwt"}, validClaims(c.Now()), signWith(t, jwt.SigningMethodES256, k.Private))
	one := newTestVerifier(t, staticKeys{k}, c, nil)
	if _, err := one.Verify(context.Background(), raw); err != nil {
		t.Errorf("single key: %v", err)
	}
	two := newTestVerifier(t, staticKeys{k, testKey(t, EdDSA)}, c, nil)
	if _, err := two.Verify(context.Background(), raw); !errors.Is(err, ErrInvalid) {
		t.Errorf("two keys: accepted (%v)", err)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	keys := staticKeys{}
	tests := []struct {
		name string
		cfg  VerifierConfig
		ok   bool
	}{
		{"complete", VerifierConfig{Issuer: "i", Audience: "a", Keys: keys}, true},
		{"no issuer", VerifierConfig{Audience: "a", Keys: keys}, false},
		{"no audience", VerifierConfig{Issuer: "i", Keys: keys}, false},
		{"any audience", VerifierConfig{Issuer: "i", AnyAudience: true, Keys: keys}, true},
		{"audience and any audience", VerifierConfig{Issuer: "i", Audience: "a", AnyAudience: true, Keys: keys}, false},
		{"no keys", VerifierConfig{Issuer: "i", Audience: "a"}, false},
		{"leeway 60s", VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, Leeway: time.Minute}, true},
		{"leeway 61s", VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, Leeway: 61 * time.Second}, false},
		{"negative cache", VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, CacheSize: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
