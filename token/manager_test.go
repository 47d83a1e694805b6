package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestManagerGeneratesAndReloads(t *testing.T) {
	ctx := context.Background()
	s := fileStorage(t)
	m := newTestManager(t, s, ManagerConfig{Algorithm: ES256}, nil)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ks := m.KeySet()
	active := ks.Active()
	if active == nil || active.Algorithm != ES256 {
		t.Fatalf("active = %+v", active)
	}
	if tp, _ := Thumbprint(active.Public); tp != active.ID {
		t.Errorf("kid %s is not the thumbprint %s", active.ID, tp)
	}
	if !s.Exists(ctx, pemKey(active.ID)) || !s.Exists(ctx, indexKey) {
		t.Error("key not in storage")
	}
	// A restart (a new Manager on the same storage) keeps the key.
	m2 := newTestManager(t, s, ManagerConfig{Algorithm: ES256}, nil)
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m2.KeySet().Active().ID; got != active.ID {
		t.Errorf("after restart kid %s, want %s", got, active.ID)
	}
	// Signing with the loaded key verifies with the key set.
	c := newClock()
	raw, err := m2.KeySet().Sign(validClaims(c.Now()), "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, LocalKeys(m), c, nil)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Error(err)
	}
}

func TestManagersSharingStorageAgree(t *testing.T) {
	for _, alg := range []string{RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			s := fileStorage(t)
			const n = 3
			var wg sync.WaitGroup
			managers := make([]*Manager, n)
			errs := make([]error, n)
			for i := range managers {
				managers[i] = newTestManager(t, s, ManagerConfig{Algorithm: alg}, nil)
				wg.Go(func() { errs[i] = managers[i].Load(context.Background()) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("manager %d: %v", i, err)
				}
			}
			kid := managers[0].KeySet().Active().ID
			for i, m := range managers[1:] {
				if got := m.KeySet().Active().ID; got != kid {
					t.Errorf("manager %d uses %s, manager 0 %s", i+1, got, kid)
				}
			}
			idx, err := loadIndex(context.Background(), s)
			if err != nil || len(idx.Keys) != 1 {
				t.Errorf("index = %+v, %v; want exactly one key", idx, err)
			}
		})
	}
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManagerKeyFile(t *testing.T) {
	rsaPriv := testKey(t, RS256).Private.(*rsa.PrivateKey)
	ecPriv := testKey(t, ES256).Private.(*ecdsa.PrivateKey)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, _ := x509.MarshalECPrivateKey(ecPriv)
	tests := []struct {
		name    string
		alg     string
		typ     string
		der     []byte
		wantAlg string // "" = error
		wantErr string
	}{
		{"PKCS#8 RSA", RS256, "PRIVATE KEY", pkcs8(rsaPriv), RS256, ""},
		{"PKCS#1 RSA", RS256, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaPriv), RS256, ""},
		{"SEC1 EC", ES256, "EC PRIVATE KEY", sec1, ES256, ""},
		{"PKCS#8 EC", ES256, "PRIVATE KEY", pkcs8(ecPriv), ES256, ""},
		{"PKCS#8 Ed25519", EdDSA, "PRIVATE KEY", pkcs8(testKey(t, EdDSA).Private), EdDSA, ""},
		{"algorithm from key type", "", "EC PRIVATE KEY", sec1, ES256, ""},
		{"RSA key with ES256", ES256, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaPriv), "", "cannot be used with ES256"},
		{"EC key with RS256", RS256, "EC PRIVATE KEY", sec1, "", "cannot be used with RS256"},
		{"Ed25519 key with ES256", ES256, "PRIVATE KEY", pkcs8(testKey(t, EdDSA).Private), "", "cannot be used with ES256"},
		{"public key only", RS256, "PUBLIC KEY", []byte{1, 2, 3}, "", "no private key"},
		{"garbage DER", RS256, "PRIVATE KEY", []byte{1, 2, 3}, "", "parsing PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, nil, ManagerConfig{Algorithm: tt.alg, File: writePEM(t, tt.typ, tt.der)}, nil)
			err := m.Load(context.Background())
			if tt.wantAlg == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k := m.KeySet().Active(); k.Algorithm != tt.wantAlg {
				t.Errorf("alg = %s, want %s", k.Algorithm, tt.wantAlg)
			}
		})
	}
}

func TestManagerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ManagerConfig
	}{
		{"unknown algorithm", ManagerConfig{Algorithm: "HS256"}},
		{"rotation too short", ManagerConfig{Rotation: time.Second}},
		{"rotation with file", ManagerConfig{Rotation: time.Hour, File: "/nonexistent"}},
		{"missing file", ManagerConfig{File: "/nonexistent/key.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := newTestManager(t, fileStorage(t), tt.cfg, nil).Load(context.Background()); err == nil {
				t.Error("no error")
			}
		})
	}
}
