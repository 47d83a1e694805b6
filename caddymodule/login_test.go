package caddymodule

import (
	"testing"
	"time"
)

func TestPasswordGrant(t *testing.T) {
	h := newHarness(t, nil)
	before := time.Now().Unix()
	body, raw := expectToken(t, h.form(passwordForm("scope", "read:orders")))

	if body.ExpiresIn != 3600 {
		t.Errorf("expires_in = %d, want 3600", body.ExpiresIn)
	}
	if body.Scope != "read:orders" {
		t.Errorf("scope = %q", body.Scope)
	}
	for _, absent := range []string{"id_token", "refresh_token"} {
		if _, ok := raw[absent]; ok {
			t.Errorf("%s present without its scope", absent)
		}
	}

	header, claims := h.parseJWT(body.AccessToken)
	if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
		t.Errorf("header = %v", header)
	}
	want := map[string]any{
		"iss": loginIssuer, "sub": "1", "aud": loginAPI, "client_id": webClient, "scope": "read:orders",
		cityClaim: "Lisbon",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if got := claims[rolesClaim]; !sameStrings(got, []string{"admin", "editor"}) {
		t.Errorf("roles = %v", got)
	}
	if got := claims["permissions"]; !sameStrings(got, []string{"delete:orders", "read:orders", "read:reports", "write:orders"}) {
		t.Errorf("permissions = %v", got)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if int64(iat) < before || exp-iat != 3600 {
		t.Errorf("iat %v exp %v", iat, exp)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 16 {
		t.Errorf("jti = %q", jti)
	}
	for _, absent := range []string{"org_id", "org_name", idNicknameName, "email"} {
		if _, ok := claims[absent]; ok {
			t.Errorf("claim %s present", absent)
		}
	}

	// A second token has a different jti.
	body2, _ := expectToken(t, h.form(passwordForm()))
	_, claims2 := h.parseJWT(body2.AccessToken)
	if claims2["jti"] == claims["jti"] {
		t.Error("jti repeated")
	}
	if _, ok := claims2["scope"]; ok {
		t.Error("scope claim present though no scope was granted")
	}
}

func sameStrings(got any, want []string) bool {
	list, ok := got.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, v := range list {
		if v != want[i] {
			return false
		}
	}
	return true
}
