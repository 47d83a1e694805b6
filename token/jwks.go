package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// jwk is the public part of one key as RFC 7517/7518 write it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

var b64 = base64.RawURLEncoding

// publicJWK returns the public members of pub (kty, n, e | crv, x[, y]).
func publicJWK(pub crypto.PublicKey) (jwk, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return jwk{
			Kty: "RSA",
			N:   b64.EncodeToString(p.N.Bytes()),
			E:   b64.EncodeToString(big.NewInt(int64(p.E)).Bytes()),
		}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return jwk{}, errors.New("unsupported EC curve (only P-256)")
		}
		raw, err := p.Bytes() // 0x04 || X || Y, each padded to 32 bytes
		if err != nil {
			return jwk{}, fmt.Errorf("encoding EC key: %w", err)
		}
		return jwk{
			Kty: "EC",
			Crv: "P-256",
			X:   b64.EncodeToString(raw[1:33]),
			Y:   b64.EncodeToString(raw[33:]),
		}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p)}, nil
	default:
		return jwk{}, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: base64url SHA-256
// of the JSON object holding only the required members, in lexicographic
// order, without whitespace. claimgate uses it as the kid.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	// The members are base64url or fixed names, so no JSON escaping is
	// needed and the canonical form can be written directly (RFC 7638 §3.3).
	var canon string
	switch j.Kty {
	case "RSA":
		canon = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		canon = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		canon = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

// marshalJWKS writes the public document for keys.
func marshalJWKS(keys []*Key) ([]byte, error) {
	set := jwkSet{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		j, err := publicJWK(k.Public)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		j.Kid, j.Alg, j.Use = k.ID, k.Algorithm, "sig"
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// keyFromJWK turns one JWK of a remote issuer into a verification key with a
// pinned algorithm: the JWK's alg when given, else the only one claimgate
// supports for that key type. Symmetric (oct) keys, other algorithms,
// encryption keys and RSA keys under 2048 bits are refused.
func keyFromJWK(j jwk) (*Key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	var pub crypto.PublicKey
	var alg string
	switch j.Kty {
	case "RSA":
		p, err := rsaFromJWK(j)
		if err != nil {
			return nil, err
		}
		pub, alg = p, RS256
	case "EC":
		if j.Crv != "P-256" {
			return nil, fmt.Errorf("unsupported EC curve %q", j.Crv)
		}
		x, errX := decodeFixed(j.X, 32)
		y, errY := decodeFixed(j.Y, 32)
		if err := errors.Join(errX, errY); err != nil {
			return nil, fmt.Errorf("EC coordinates: %w", err)
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		pub, alg = p, ES256
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", j.Crv)
		}
		x, err := decodeFixed(j.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("Ed25519 key: %w", err)
		}
		pub, alg = ed25519.PublicKey(x), EdDSA
	case "oct":
		return nil, errors.New("symmetric (oct) keys are never accepted")
	default:
		return nil, fmt.Errorf("unsupported key type %q", j.Kty)
	}
	if j.Alg != "" && j.Alg != alg {
		return nil, fmt.Errorf("algorithm %q is not supported for a %s key", j.Alg, j.Kty)
	}
	return &Key{ID: j.Kid, Algorithm: alg, Public: pub}, nil
}

func rsaFromJWK(j jwk) (*rsa.PublicKey, error) {
	n, errN := b64.DecodeString(j.N)
	e, errE := b64.DecodeString(j.E)
	if err := errors.Join(errN, errE); err != nil {
		return nil, fmt.Errorf("RSA members: %w", err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("RSA exponent out of range")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	mod := new(big.Int).SetBytes(n)
	if mod.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits is too small (minimum 2048)", mod.BitLen())
	}
	if mod.BitLen() > 8192 {
		return nil, fmt.Errorf("RSA key of %d bits is too large", mod.BitLen())
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	return &rsa.PublicKey{N: mod, E: exp}, nil
}

func decodeFixed(s string, size int) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}

// parseJWKS reads a remote key set. Keys that cannot be used are skipped and
// reported in skipped (a set with only some unusable keys is still useful).
func parseJWKS(doc []byte) (keys map[string]*Key, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	keys = make(map[string]*Key, len(set.Keys))
	dups := map[string]bool{}
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		k, err := keyFromJWK(j)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %.64q): %w", i, j.Kid, err))
			continue
		}
		if _, dup := keys[k.ID]; dup || dups[k.ID] {
			// Two keys under one kid would make the lookup ambiguous: use neither.
			skipped = append(skipped, fmt.Errorf("key %d: duplicate kid %.64q", i, j.Kid))
			delete(keys, k.ID)
			dups[k.ID] = true
			continue
		}
		keys[k.ID] = k
	}
	return keys, skipped, nil
}
