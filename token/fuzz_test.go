package token

import (
	"context"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary strings to a Verifier: it must never panic,
// and must accept nothing but the tokens that were really signed (the
// signing input of an accepted string must be that of a genuine token).
func FuzzVerify(f *testing.F) {
	c := newClock()
	keys := staticKeys{testKey(f, RS256), testKey(f, ES256), testKey(f, EdDSA)}
	genuine := map[string]bool{}
	for _, k := range keys {
		raw := mustSign(f, k, validClaims(c.Now()), "at+jwt")
		genuine[raw[:strings.LastIndexByte(raw, '.')]] = true
		f.Add(raw)
		f.Add(raw[:len(raw)-1])
		f.Add(strings.Replace(raw, ".", "..", 1))
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AAAA")

	v := newTestVerifier(f, keys, c, func(cfg *VerifierConfig) { cfg.CacheSize = 16 })
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := v.Verify(context.Background(), raw)
		if err != nil {
			return
		}
		dot := strings.LastIndexByte(raw, '.')
		if dot < 0 || !genuine[raw[:dot]] {
			t.Fatalf("accepted a token nobody signed: %q (%v)", raw, claims)
		}
	})
}
