package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/claimgate/claimgate/internal/testkit"
)

// TestVerifyLocalKeyFile loads `signing_key ES256 file PATH` with a key the
// test holds, so it can sign tokens that are genuine but wrong in one claim
// or header each: claimgate_verify must refuse every one.
func TestVerifyLocalKeyFile(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, options{SigningKey: `signing_key ES256 file "` + path + `"`})

	set := e.fetchJWKS(t)
	var kid string
	for _, k := range set.Keys {
		pub, err := k.publicKey()
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := pub.(*ecdsa.PublicKey); ok && p.Equal(&key.PublicKey) {
			kid = k.Kid
		}
	}
	if kid == "" {
		t.Fatalf("the JWKS does not serve the key file's public key: %+v", set.Keys)
	}

	// Logins are signed with the file's key.
	tr := e.login(t, alice, testkit.DemoUser(t, alice).Password)
	if _, err := jwt.Parse(tr.AccessToken, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Errorf("login token does not verify with the key file: %v", err)
	}

	now := time.Now().Unix()
	claims := func(changes map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": e.issuer, "sub": "99", "aud": apiAudience, "iat": now, "exp": now + 600,
			"jti": "test-" + itoa(now), "client_id": webClient,
		}
		for k, v := range changes {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	sign := func(c jwt.MapClaims, header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["typ"] = "at+jwt"
		tok.Header["kid"] = kid
		for k, v := range header {
			if v == nil {
				delete(tok.Header, k)
				continue
			}
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	good := map[string]string{
		"well-formed":              sign(claims(nil), nil),
		"aud list with ours":       sign(claims(map[string]any{"aud": []string{reportsAudience, apiAudience}}), nil),
		"expired within leeway":    sign(claims(map[string]any{"exp": now - 5}), nil),
		"nbf in the past":          sign(claims(map[string]any{"nbf": now - 60}), nil),
		"numeric claims as floats": sign(claims(map[string]any{"exp": float64(now) + 600.5}), nil),
	}
	for name, tok := range good {
		t.Run("accepts "+name, func(t *testing.T) {
			resp, calls, got := e.call(e.base, "/api/orders", tok, "X-User-Id", forged)
			if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "99" {
				t.Errorf("got %s, upstream X-User-Id %q", resp, got.Get("X-User-Id"))
			}
		})
	}

	x := e.external
	xPub := x.key.PublicKey
	attackerJWK := map[string]any{
		"kty": "RSA", "kid": x.kid, "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(xPub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(xPub.E)).Bytes()),
	}
	signRS := func(header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
		tok.Header["typ"] = "at+jwt"
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(x.key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	bad := map[string]string{
		"expired":                            sign(claims(map[string]any{"exp": now - 300}), nil),
		"not yet valid":                      sign(claims(map[string]any{"nbf": now + 300}), nil),
		"without exp":                        sign(claims(map[string]any{"exp": nil}), nil),
		"exp as a string":                    sign(claims(map[string]any{"exp": itoa(now + 600)}), nil),
		"iss without the slash":              sign(claims(map[string]any{"iss": strings.TrimSuffix(e.issuer, "/")}), nil),
		"iss of another host":                sign(claims(map[string]any{"iss": "http://evil.example.test/"}), nil),
		"without iss":                        sign(claims(map[string]any{"iss": nil}), nil),
		"wrong aud":                          sign(claims(map[string]any{"aud": reportsAudience}), nil),
		"aud prefix of ours":                 sign(claims(map[string]any{"aud": apiAudience + ".evil"}), nil),
		"without aud":                        sign(claims(map[string]any{"aud": nil}), nil),
		"typ JWT":                            sign(claims(nil), map[string]any{"typ": "JWT"}),
		"without typ":                        sign(claims(nil), map[string]any{"typ": nil}),
		"typ id_token-like":                  sign(claims(nil), map[string]any{"typ": "id+jwt"}),
		"unknown kid":                        sign(claims(nil), map[string]any{"kid": "other"}),
		"jku to the attacker's set":          signRS(map[string]any{"jku": x.jwksURL(), "kid": x.kid}),
		"jwk header with the attacker's key": signRS(map[string]any{"jwk": attackerJWK, "kid": x.kid}),
		"attacker's key under our kid":       signRS(map[string]any{"kid": kid}),
	}
	for name, tok := range bad {
		t.Run("refuses "+name, func(t *testing.T) {
			resp, calls, _ := e.call(e.base, "/api/orders", tok, "X-User-Id", forged)
			wantUnauthorized(t, resp, calls, "invalid_token")
		})
	}
}
