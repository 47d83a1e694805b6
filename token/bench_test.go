package token

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSign measures minting a typical access token.
func BenchmarkSign(b *testing.B) {
	now := time.Now()
	for _, alg := range supportedAlgorithms {
		b.Run(alg, func(b *testing.B) {
			ks, err := newKeySet(testKey(b, alg), []*Key{testKey(b, alg)})
			if err != nil {
				b.Fatal(err)
			}
			claims := validClaims(now)
			claims["https://example.test/roles"] = []string{"admin", "user"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ks.Sign(claims, "at+jwt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures a first (uncached) and a repeated (cached)
// verification.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range supportedAlgorithms {
		k := testKey(b, alg)
		raw := mustSign(b, k, validClaims(time.Now()), "at+jwt")
		b.Run(alg+"/uncached", func(b *testing.B) {
			v := newTestVerifier(b, staticKeys{k}, nil, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			v := newTestVerifier(b, staticKeys{k}, nil, func(cfg *VerifierConfig) { cfg.CacheSize = 1000 })
			ctx := context.Background()
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, raw); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
