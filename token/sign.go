package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/claimgate/claimgate/internal/randtoken"
)

// header is the JOSE header claimgate writes: only what verifiers need.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// signingMethod returns golang-jwt's implementation of a pinned algorithm.
func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case RS256:
		return jwt.SigningMethodRS256, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// Sign mints a compact JWS of claims with ks's active key; typ is the
// header's typ (TypeAccessToken for access tokens, "JWT" for ID tokens). The
// caller sets every claim (iss, sub, aud, exp, iat, jti…); Sign adds none.
func (ks *KeySet) Sign(claims map[string]any, typ string) (string, error) {
	k := ks.Active()
	if k == nil || k.Private == nil {
		return "", errors.New("signing token: no active signing key")
	}
	if claims == nil {
		return "", errors.New("signing token: no claims")
	}
	return k.sign(claims, typ)
}

// sign builds header.payload in one buffer sized up front, has golang-jwt's
// method sign it, and appends the signature, so the only copies are the JSON
// encodings themselves.
func (k *Key) sign(claims map[string]any, typ string) (string, error) {
	method, err := signingMethod(k.Algorithm)
	if err != nil {
		return "", err
	}
	hdr, err := json.Marshal(header{Alg: k.Algorithm, Kid: k.ID, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("encoding token header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding token claims: %w", err)
	}
	var b strings.Builder
	b.Grow(b64.EncodedLen(len(hdr)) + b64.EncodedLen(len(payload)) + 2 + b64.EncodedLen(maxSignatureSize))
	var seg [512]byte // large enough for any header/signature we write
	writeSegment(&b, hdr, seg[:])
	b.WriteByte('.')
	writeSegment(&b, payload, seg[:])
	signingInput := b.String() // shares b's buffer; later writes do not change it
	sig, err := method.Sign(signingInput, k.Private)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	b.WriteByte('.')
	writeSegment(&b, sig, seg[:])
	return b.String(), nil
}

// maxSignatureSize is the largest signature of a supported key (RSA 4096).
const maxSignatureSize = 512

// writeSegment base64url-encodes src into b through the scratch buffer.
func writeSegment(b *strings.Builder, src, scratch []byte) {
	chunk := len(scratch) / 4 * 3
	for len(src) > 0 {
		n := min(len(src), chunk)
		out := scratch[:b64.EncodedLen(n)]
		b64.Encode(out, src[:n])
		b.Write(out)
		src = src[n:]
	}
}

// NewID returns 128 random bits, base64url-encoded: a jti or other opaque
// identifier.
func NewID() string { return randtoken.ID() }
