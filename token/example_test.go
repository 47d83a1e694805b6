package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"

	"github.com/claimgate/claimgate/token"
)

// issue mints an access token the way claimgate_login does and returns it
// with the JWKS document served at /.well-known/jwks.json.
func issue() (raw string, jwks []byte) {
	dir, err := os.MkdirTemp("", "claimgate-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	m := token.NewManager(&certmagic.FileStorage{Path: dir}, token.ManagerConfig{Algorithm: token.ES256}, nil)
	if err := m.Load(context.Background()); err != nil {
		panic(err)
	}
	now := time.Now()
	raw, err = m.KeySet().Sign(map[string]any{
		"iss":                        "https://auth.example.test/",
		"sub":                        "42",
		"aud":                        []string{"https://api.example.test"},
		"iat":                        now.Unix(),
		"exp":                        now.Add(time.Hour).Unix(),
		"jti":                        token.NewID(),
		"client_id":                  "web-backend",
		"https://example.test/roles": []string{"admin"},
	}, "at+jwt")
	if err != nil {
		panic(err)
	}
	return raw, m.KeySet().JWKS()
}

// A third party (an API behind no claimgate_verify) checks a claimgate access
// token with golang-jwt and the published JWKS alone: the key is found by
// kid, and its alg is the only one allowed for it.
func Example_thirdPartyVerification() {
	raw, jwksDoc := issue()

	// What the API fetched from https://auth.example.test/.well-known/jwks.json.
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwksDoc, &set); err != nil {
		panic(err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" {
			continue // this API only expects ES256 keys
		}
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		y, _ := base64.RawURLEncoding.DecodeString(k.Y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			continue
		}
		keys[k.Kid] = pub
	}

	parsed, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
			return nil, fmt.Errorf("not an access token: typ %q", typ)
		}
		kid, _ := t.Header["kid"].(string)
		if pub, ok := keys[kid]; ok {
			return pub, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	},
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer("https://auth.example.test/"),
		jwt.WithAudience("https://api.example.test"),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	sub, _ := parsed.Claims.GetSubject()
	fmt.Println("valid:", parsed.Valid, "sub:", sub)
	// Output: valid: true sub: 42
}

// A Verifier checks tokens against a KeySource: LocalKeys for claimgate's
// own keys, NewRemoteJWKS for another issuer's.
func ExampleVerifier() {
	dir, _ := os.MkdirTemp("", "claimgate-example")
	defer os.RemoveAll(dir)
	m := token.NewManager(&certmagic.FileStorage{Path: dir}, token.ManagerConfig{Algorithm: token.EdDSA}, nil)
	if err := m.Load(context.Background()); err != nil {
		panic(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer:      "https://auth.example.test/",
		Audience:    "https://api.example.test",
		RequireType: token.TypeAccessToken,
		Keys:        token.LocalKeys(m),
		CacheSize:   10000,
	})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	raw, _ := m.KeySet().Sign(map[string]any{
		"iss": "https://auth.example.test/", "sub": "42", "aud": "https://api.example.test",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}, "at+jwt")

	claims, err := v.Verify(context.Background(), raw)
	fmt.Println(claims["sub"], err)
	_, err = v.Verify(context.Background(), raw+"x")
	fmt.Println(err != nil)
	// Output:
	// 42 <nil>
	// true
}
