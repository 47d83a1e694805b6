package login

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/grant"
)

// publicMaxAge is how long clients and CDNs may cache the JWKS and the
// discovery documents. Short, so that a rotated key is picked up soon
// (a retired key stays published for the token lifetime anyway).
const publicMaxAge = "public, max-age=300"

// discoveryDocument is RFC 8414 / OpenID Connect Discovery 1.0 metadata.
// response_types_supported is empty unless some client may use the code
// flow (browser sign-in), which adds the authorization endpoint.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	// Browser sign-in (authorize.go), when a client may use the
	// authorization_code grant.
	AuthorizationEndpoint         string   `json:"authorization_endpoint,omitempty"`
	EndSessionEndpoint            string   `json:"end_session_endpoint,omitempty"`
	ResponseModesSupported        []string `json:"response_modes_supported,omitempty"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
}

// endpointURL joins the issuer and an endpoint path without doubling the
// slash: "https://a.test/" and "https://a.test" both give
// "https://a.test/oauth/token".
func endpointURL(issuer, path string) string {
	return strings.TrimSuffix(issuer, "/") + path
}

// discovery builds the metadata from the current configuration and keys.
func (l *Login) discovery() discoveryDocument {
	a := l.app
	doc := discoveryDocument{
		Issuer:                 a.Issuer,
		TokenEndpoint:          endpointURL(a.Issuer, pathToken),
		JWKSURI:                endpointURL(a.Issuer, pathJWKS),
		UserinfoEndpoint:       endpointURL(a.Issuer, pathUserinfo),
		RevocationEndpoint:     endpointURL(a.Issuer, pathRevoke),
		GrantTypesSupported:    l.grantTypesSupported(),
		ResponseTypesSupported: []string{},
		SubjectTypesSupported:  []string{"public"},
		ScopesSupported:        l.scopesSupported(),
		ClaimsSupported:        l.claimsSupported(),
	}
	if l.codeFlowSupported() {
		doc.AuthorizationEndpoint = endpointURL(a.Issuer, pathAuthorize)
		doc.EndSessionEndpoint = endpointURL(a.Issuer, pathLogoutOIDC)
		doc.ResponseTypesSupported = []string{"code"}
		doc.ResponseModesSupported = []string{"query"}
		doc.CodeChallengeMethodsSupported = []string{"S256"}
	}
	doc.TokenEndpointAuthMethodsSupported = l.authMethodsSupported()
	doc.RevocationAuthMethodsSupported = doc.TokenEndpointAuthMethodsSupported
	doc.IDTokenSigningAlgValuesSupported = []string{}
	if ks := a.KeySet(); ks != nil {
		if algs := ks.Algorithms(); algs != nil {
			doc.IDTokenSigningAlgValuesSupported = algs
		}
	}
	return doc
}

// grantTypesSupported lists the grants some client may use.
func (l *Login) grantTypesSupported() []string {
	var password, refresh, machine bool
	for _, c := range l.app.ClientList() {
		password = password || c.HasGrant(grant.ClientGrantPassword)
		refresh = refresh || c.HasGrant(grant.ClientGrantRefresh)
		machine = machine || c.Allows(grant.TypeClientCredentials)
	}
	grants := []string{}
	if password {
		grants = append(grants, grant.TypePassword, grant.TypePasswordRealm)
	}
	if refresh && l.grants.RefreshTokensAvailable() {
		grants = append(grants, grant.TypeRefreshToken)
	}
	if l.codeFlowSupported() {
		grants = append(grants, grant.TypeAuthorizationCode)
	}
	if machine {
		grants = append(grants, grant.TypeClientCredentials)
	}
	return grants
}

// codeFlowSupported reports whether some client may use the
// authorization_code grant (browser sign-in).
func (l *Login) codeFlowSupported() bool {
	for _, c := range l.app.ClientList() {
		if c.HasGrant(grant.ClientGrantAuthorizationCode) {
			return true
		}
	}
	return false
}

// authMethodsSupported lists client_secret_basic and client_secret_post,
// and "none" when a public client exists.
func (l *Login) authMethodsSupported() []string {
	methods := []string{"client_secret_basic", "client_secret_post"}
	for _, c := range l.app.ClientList() {
		if !c.Confidential {
			return append(methods, "none")
		}
	}
	return methods
}

// scopesSupported lists the standard scopes and every client's own.
func (l *Login) scopesSupported() []string {
	scopes := []string{grant.ScopeOpenID, grant.ScopeProfile, grant.ScopeEmail}
	if l.grants.RefreshTokensAvailable() {
		scopes = append(scopes, grant.ScopeOfflineAccess)
	}
	var own []string
	for _, c := range l.app.ClientList() {
		own = append(own, c.Scopes()...)
	}
	slices.Sort(own)
	return append(scopes, slices.Compact(own)...)
}

// claimsSupported lists the registered claims claimgate sets and the
// custom claims of the rules.
func (l *Login) claimsSupported() []string {
	a := l.app
	claims := []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}
	if a.Database != nil && a.Database.PermissionsQuery != "" {
		claims = append(claims, "permissions")
	}
	if a.Database != nil && a.Database.OrganizationQuery != "" {
		claims = append(claims, "org_id", "org_name")
	}
	claims = append(claims, grant.ProfileClaims...)
	claims = append(claims, grant.EmailClaims...)
	seen := make(map[string]bool, len(claims)+len(a.Rules))
	for _, c := range claims {
		seen[c] = true
	}
	for _, r := range a.Rules {
		if (r.Kind == enrich.KindClaim || r.Kind == enrich.KindIDClaim) && !seen[r.Name] {
			seen[r.Name] = true
			claims = append(claims, r.Name)
		}
	}
	return claims
}

// serveDiscovery answers both discovery paths with the same document.
func (l *Login) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writePublicJSON(w, l.discovery())
}

// serveJWKS answers the public keys (RFC 7517).
func (l *Login) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	ks := l.app.KeySet()
	if ks == nil {
		l.answerError(w, r, errUnavailable("No signing key is available.", retryAfterUnavailable))
		return
	}
	writePublicBody(w, ks.JWKS())
}

// writePublicJSON answers v as cacheable JSON.
func writePublicJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeOAuthError(w, errServer("Cannot encode the document."))
		return
	}
	writePublicBody(w, body)
}

func writePublicBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", publicMaxAge)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
