package token

import (
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"testing"
)

func TestThumbprintRFC7638(t *testing.T) {
	// The example of RFC 7638 §3.1.
	n, err := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	keys := []*Key{testKey(t, RS256), testKey(t, ES256), testKey(t, EdDSA)}
	ks, err := newKeySet(keys[0], keys)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(ks.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		RS256: {"kty", "kid", "alg", "use", "n", "e"},
		ES256: {"kty", "kid", "alg", "use", "crv", "x", "y"},
		EdDSA: {"kty", "kid", "alg", "use", "crv", "x"},
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("%d keys, want 3", len(doc.Keys))
	}
	for i, j := range doc.Keys {
		alg, _ := j["alg"].(string)
		if len(j) != len(want[alg]) {
			t.Errorf("key %d: members %v, want exactly %v (no private parts)", i, j, want[alg])
		}
		for _, m := range want[alg] {
			if _, ok := j[m]; !ok {
				t.Errorf("key %d (%s): missing %s", i, alg, m)
			}
		}
		if j["use"] != "sig" || j["kid"] != keys[i].ID {
			t.Errorf("key %d: use %v kid %v", i, j["use"], j["kid"])
		}
	}
	// What we publish, a remote verifier reads back as the same keys.
	parsed, skipped, err := parseJWKS(ks.JWKS())
	if err != nil || len(skipped) != 0 {
		t.Fatalf("parseJWKS: %v %v", err, skipped)
	}
	for _, k := range keys {
		p := parsed[k.ID]
		if p == nil || p.Algorithm != k.Algorithm || !samePublic(p.Public, k.Public) {
			t.Errorf("%s: parsed back as %+v", k.Algorithm, p)
		}
		if tp, _ := Thumbprint(p.Public); tp != k.ID {
			t.Errorf("%s: thumbprint of parsed key %s != kid %s", k.Algorithm, tp, k.ID)
		}
	}
	if got := ks.Algorithms(); len(got) != 3 {
		t.Errorf("Algorithms() = %v", got)
	}
}

func TestParseJWKSRefusals(t *testing.T) {
	rsaKey, _ := publicJWK(testKey(t, RS256).Public)
	ecKey, _ := publicJWK(testKey(t, ES256).Public)
	edKey, _ := publicJWK(testKey(t, EdDSA).Public)
	with := func(j jwk, f func(*jwk)) jwk { f(&j); return j }
	tests := []struct {
		name    string
		key     jwk
		wantAlg string // "" = refused
	}{
		{"rsa inferred", with(rsaKey, func(j *jwk) { j.Kid = "a" }), RS256},
		{"ec inferred", with(ecKey, func(j *jwk) { j.Kid = "a" }), ES256},
		{"okp inferred", with(edKey, func(j *jwk) { j.Kid = "a" }), EdDSA},
		{"rsa explicit alg", with(rsaKey, func(j *jwk) { j.Kid, j.Alg = "a", RS256 }), RS256},
		{"oct", jwk{Kty: "oct", Kid: "a", Alg: "HS256"}, ""},
		{"rsa with HS256", with(rsaKey, func(j *jwk) { j.Kid, j.Alg = "a", "HS256" }), ""},
		{"rsa with ES256", with(rsaKey, func(j *jwk) { j.Kid, j.Alg = "a", ES256 }), ""},
		{"rsa PS256 unsupported", with(rsaKey, func(j *jwk) { j.Kid, j.Alg = "a", "PS256" }), ""},
		{"encryption key", with(rsaKey, func(j *jwk) { j.Kid, j.Use = "a", "enc" }), ""},
		{"small rsa", with(rsaKey, func(j *jwk) { j.Kid, j.N = "a", b64.EncodeToString(make([]byte, 128)) }), ""},
		{"ec point off curve", with(ecKey, func(j *jwk) { j.Kid, j.Y = "a", j.X }), ""},
		{"P-384", with(ecKey, func(j *jwk) { j.Kid, j.Crv = "a", "P-384" }), ""},
		{"short okp", with(edKey, func(j *jwk) { j.Kid, j.X = "a", "AAAA" }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := json.Marshal(jwkSet{Keys: []jwk{tt.key}})
			keys, skipped, err := parseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			k := keys["a"]
			switch {
			case tt.wantAlg == "" && k != nil:
				t.Errorf("accepted as %s", k.Algorithm)
			case tt.wantAlg == "" && len(skipped) != 1:
				t.Errorf("skipped = %v", skipped)
			case tt.wantAlg != "" && (k == nil || k.Algorithm != tt.wantAlg):
				t.Errorf("got %+v (skipped %v), want %s", k, skipped, tt.wantAlg)
			}
		})
	}
}

func TestParseJWKSDuplicateKid(t *testing.T) {
	a, _ := publicJWK(testKey(t, ES256).Public)
	b, _ := publicJWK(testKey(t, EdDSA).Public)
	a.Kid, b.Kid = "same", "same"
	doc, _ := json.Marshal(jwkSet{Keys: []jwk{a, b, a}})
	keys, _, err := parseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["same"]; ok {
		t.Error("an ambiguous kid must not resolve to any key")
	}
}
