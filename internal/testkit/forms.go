package testkit

import (
	"encoding/base64"
	"net/url"
)

// Overrides applies name/value pairs to v and returns it: an empty value
// removes the parameter, any other replaces it.
func Overrides(v url.Values, extra ...string) url.Values {
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
			continue
		}
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// PasswordForm is a password grant for Alice by client, authenticated with
// client_secret_post (no secret for a public client: secret ""), with extra
// applied as Overrides.
func PasswordForm(client, secret string, extra ...string) url.Values {
	v := url.Values{
		"grant_type": {"password"},
		"username":   {Alice},
		"password":   {AlicePassword},
		"client_id":  {client},
	}
	if secret != "" {
		v.Set("client_secret", secret)
	}
	return Overrides(v, extra...)
}

// RefreshForm is a refresh grant of token by client (client_secret_post),
// with extra applied as Overrides.
func RefreshForm(client, secret, token string, extra ...string) url.Values {
	v := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {token},
		"client_id":     {client},
	}
	if secret != "" {
		v.Set("client_secret", secret)
	}
	return Overrides(v, extra...)
}

// RevokeForm is a revocation (RFC 7009) of token by client
// (client_secret_post).
func RevokeForm(client, secret, token string) url.Values {
	v := url.Values{"token": {token}, "client_id": {client}}
	if secret != "" {
		v.Set("client_secret", secret)
	}
	return v
}

// BasicAuth is the Authorization value of client_secret_basic: id and
// secret form-urlencoded, joined by a colon, then Base64 (RFC 6749 §2.3.1).
func BasicAuth(id, secret string) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}
