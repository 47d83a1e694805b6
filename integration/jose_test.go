package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// This file verifies claimgate's tokens the way a third-party resource server
// would: only from what discovery and the JWKS serve, parsed here by hand
// (no claimgate code), with golang-jwt doing the signature checks.

// jwk is one RFC 7517 key as served.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d,omitempty"` // must never be served
	P   string `json:"p,omitempty"`
	Q   string `json:"q,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// publicKey builds the Go public key a JWK describes.
func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64(k.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() > 1<<31 {
			return nil, fmt.Errorf("e too large")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("unexpected curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64(k.Y)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("P-256 coordinates must be 32 bytes, got %d and %d", len(x), len(y))
		}
		// The uncompressed point encoding, parsed with the curve check.
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, err
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unexpected curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x: bad Ed25519 key (%v)", err)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unexpected kty %q", k.Kty)
}

// keyfunc picks the served key named by the token's kid and accepts only
// that key's own alg (RFC 8725 §3.1).
func (s jwkSet) keyfunc(t testing.TB) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range s.Keys {
			if k.Kid != kid {
				continue
			}
			if tok.Method.Alg() != k.Alg {
				return nil, fmt.Errorf("token alg %s, key %s is %s", tok.Method.Alg(), kid, k.Alg)
			}
			return k.publicKey()
		}
		return nil, fmt.Errorf("no key with kid %q", kid)
	}
}

// checkJWKS checks every served key's shape: kid, alg, use sig, and no
// private parts.
func checkJWKS(t testing.TB, set jwkSet) {
	t.Helper()
	if len(set.Keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	for _, k := range set.Keys {
		if k.Kid == "" || k.Alg == "" || k.Use != "sig" {
			t.Errorf("key %+v: want kid, alg and use sig", k)
		}
		if k.D != "" || k.P != "" || k.Q != "" {
			t.Errorf("key %s publishes private key material", k.Kid)
		}
		if _, err := k.publicKey(); err != nil {
			t.Errorf("key %s: %v", k.Kid, err)
		}
	}
}

// encodeSegment is base64url(JSON(v)).
func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// externalIssuer is another issuer (think Auth0) with its own RS256 key,
// serving its JWKS from an httptest server the test controls.
type externalIssuer struct {
	srv *httptest.Server
	kid string
	key *rsa.PrivateKey
}

var (
	externalKeyOnce sync.Once
	externalKey     *rsa.PrivateKey
)

// rsaTestKey is a 2048-bit key generated once per test binary (key
// generation is slow on a loaded machine).
func rsaTestKey(t testing.TB) *rsa.PrivateKey {
	externalKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		externalKey = k
	})
	return externalKey
}

func newExternalIssuer(t testing.TB) *externalIssuer {
	x := &externalIssuer{kid: "external-key-1", key: rsaTestKey(t)}
	x.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		pub := x.key.PublicKey
		set := jwkSet{Keys: []jwk{{
			Kty: "RSA", Kid: x.kid, Alg: "RS256", Use: "sig",
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(x.srv.Close)
	return x
}

// issuer is the external issuer's iss; like Auth0's it ends in a slash.
func (x *externalIssuer) issuer() string  { return x.srv.URL + "/" }
func (x *externalIssuer) jwksURL() string { return x.srv.URL + "/.well-known/jwks.json" }

// sign signs claims with the external key, with Auth0's header shape.
func (x *externalIssuer) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = x.kid
	s, err := tok.SignedString(x.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	attackerKeyOnce sync.Once
	attackerKey     *rsa.PrivateKey
)

// mustRSAKey is a second 2048-bit key, trusted by nobody.
func mustRSAKey(t testing.TB) *rsa.PrivateKey {
	attackerKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		attackerKey = k
	})
	return attackerKey
}
