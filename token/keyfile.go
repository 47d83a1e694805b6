package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// rsaKeyBits is the size of generated RSA keys.
const rsaKeyBits = 2048

// generateKey makes a new private key for alg and names it.
func generateKey(alg string) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	return newKey(priv, alg)
}

// newKey checks that priv fits alg and names it by its thumbprint.
func newKey(priv crypto.Signer, alg string) (*Key, error) {
	if err := checkFits(priv, alg); err != nil {
		return nil, err
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{ID: kid, Algorithm: alg, Private: priv, Public: priv.Public()}, nil
}

// algorithmFor returns the one algorithm claimgate uses with priv's type.
func algorithmFor(priv crypto.Signer) (string, error) {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		return RS256, nil
	case *ecdsa.PrivateKey:
		if p.Curve == elliptic.P256() {
			return ES256, nil
		}
		return "", errors.New("EC keys must use the P-256 curve")
	case ed25519.PrivateKey:
		return EdDSA, nil
	default:
		return "", fmt.Errorf("unsupported private key type %T", priv)
	}
}

// checkFits enforces one algorithm per key type (RFC 8725 §3.1): an RSA key
// with ES256 is a configuration error, not something to guess around.
func checkFits(priv crypto.Signer, alg string) error {
	want, err := algorithmFor(priv)
	if err != nil {
		return err
	}
	if want != alg {
		return fmt.Errorf("a %s key cannot be used with %s (it fits %s)", keyTypeName(priv), alg, want)
	}
	if p, ok := priv.(*rsa.PrivateKey); ok && p.N.BitLen() < 2048 {
		return fmt.Errorf("RSA key of %d bits is too small (minimum 2048)", p.N.BitLen())
	}
	return nil
}

func keyTypeName(priv crypto.Signer) string {
	switch priv.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "EC"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", priv)
}

// parsePrivateKeyPEM reads the first private key in data: PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY").
// Other blocks (such as the "EC PARAMETERS" openssl writes first) are skipped.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no private key found in PEM data")
		}
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("encrypted PEM keys are not supported")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PEM keys are not supported")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
}

// marshalPrivateKeyPEM writes priv as PKCS#8 PEM (what generated keys are
// stored as).
func marshalPrivateKeyPEM(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
