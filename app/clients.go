package app

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/grant"
)

// resolveClients replaces placeholders in the secrets ({env.X} and the
// like) and indexes the clients by ID.
func resolveClients(configs []*ClientConfig, repl *caddy.Replacer) (map[string]*grant.Client, error) {
	clients := make(map[string]*grant.Client, len(configs))
	for _, cc := range configs {
		var secret string
		if cc.Secret != "" {
			var err error
			if secret, err = repl.ReplaceOrErr(cc.Secret, false, true); err != nil {
				return nil, fmt.Errorf("client %q: secret: %w", cc.ID, err)
			}
			if secret == "" {
				// A secret that resolves to nothing must not quietly turn
				// a confidential client into a public one.
				return nil, fmt.Errorf("client %q: secret is empty after replacing placeholders (is the environment variable set?)", cc.ID)
			}
		}
		c := grant.NewClient(cc.ID, secret, cc.Audiences, cc.Grants, cc.Scopes, cc.TrustForwardedFor)
		c.RedirectURIs, c.LogoutRedirectURIs = cc.RedirectURIs, cc.LogoutRedirectURIs
		c.Signup = cc.Signup
		clients[cc.ID] = c
	}
	return clients, nil
}
