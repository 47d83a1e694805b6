package grant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/token"
)

// The client_credentials grant: a machine client —
// a backend, a cron job, Auth0's ManagementClient — signs in as itself with
// its own secret. There is no user: the token's sub is
// "<client_id>@clients" as Auth0 writes it, the claim and deny rules are not
// evaluated (they read a user), and neither an ID token nor a refresh token
// is issued (the client can always ask again with its secret).

// Errors of the client_credentials grant that other grants do not have.
var (
	// ErrMissingAudience is a client_credentials request without audience
	// from a client with several: which API the token is for is not
	// guessed.
	ErrMissingAudience = errors.New("audience required")
	// ErrInvalidTarget is an audience the client may not ask for.
	ErrInvalidTarget = errors.New("audience not allowed")
	// ErrUnauthorizedClient is a client that may not use the grant: a
	// public client (the configuration refuses it, and this guards the
	// flow all the same).
	ErrUnauthorizedClient = errors.New("client not allowed to use the grant")
)

// MachineSubjectSuffix is what follows the client_id in the sub of a
// client_credentials token, as Auth0 writes it.
const MachineSubjectSuffix = "@clients"

// GrantTypeClaimValue is the gty claim of a client_credentials token, as
// Auth0 writes it.
const GrantTypeClaimValue = "client-credentials"

// ClientCredentialsRequest is a client_credentials grant by an
// authenticated client.
type ClientCredentialsRequest struct {
	// Client is the authenticated (confidential) client.
	Client *Client
	// Audience is the request's audience; "" takes the client's only one.
	Audience string
	// Scope is the request's scope, space-separated; "" asks for every
	// scope the client has.
	Scope string
}

// MachineSubject is the sub of clientID's client_credentials tokens.
func MachineSubject(clientID string) string { return clientID + MachineSubjectSuffix }

// ClientCredentials checks the request's audience and scope and mints the
// access token. The client has authenticated already (and its attempt was
// counted against the IP's budget then).
func (s *Service) ClientCredentials(ctx context.Context, req *ClientCredentialsRequest) (*Tokens, error) {
	c := req.Client
	if c == nil || !c.Allows(TypeClientCredentials) {
		return nil, &Refusal{Err: ErrUnauthorizedClient, Description: "The client may not use this grant type."}
	}
	audience, err := machineAudience(c, req.Audience)
	if err != nil {
		return nil, err
	}
	scopes, err := machineScopes(c, req.Scope)
	if err != nil {
		return nil, err
	}
	toks, err := s.mintMachine(s.cfg.Now(), c, audience, scopes)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Debug("client credentials", zap.String("client_id", c.ID), zap.String("audience", audience))
	return toks, nil
}

// machineAudience is the token's audience: the one asked for, which must be
// the client's, or the client's only one when none is asked for.
func machineAudience(c *Client, requested string) (string, error) {
	if requested == "" {
		if len(c.Audiences) != 1 {
			return "", &Refusal{Err: ErrMissingAudience, Description: "Missing audience (the client has several)."}
		}
		return c.Audiences[0], nil
	}
	if !c.AllowsAudience(requested) {
		return "", &Refusal{Err: ErrInvalidTarget, Description: "The audience is not allowed for this client."}
	}
	return requested, nil
}

// machineScopes is the token's scope: the requested subset of the client's
// own scopes (in request order, without duplicates), or all of them, in
// configuration order, when none is asked for. The OIDC scopes are refused:
// they are about a user, and there is none.
func machineScopes(c *Client, requested string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return c.Scopes(), nil
	}
	granted := make([]string, 0, len(fields))
	for _, s := range fields {
		if !c.HasScope(s) {
			return nil, &Refusal{Err: ErrInvalidScope, Description: "A requested scope is not allowed."}
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

// mintMachine signs a client_credentials access token (RFC 9068, with
// Auth0's gty and azp).
func (s *Service) mintMachine(now time.Time, c *Client, audience string, scopes []string) (*Tokens, error) {
	ks := s.cfg.Keys.KeySet()
	if ks == nil || ks.Active() == nil {
		return nil, mintUnavailable("No signing key is available.", nil)
	}
	jti := token.NewID()
	ttl := s.cfg.AccessTokenTTL
	claims := map[string]any{
		"iss":       s.cfg.Issuer,
		"sub":       MachineSubject(c.ID),
		"aud":       audience,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       jti,
		"client_id": c.ID,
		"azp":       c.ID,
		"gty":       GrantTypeClaimValue,
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	at, err := ks.Sign(claims, token.TypeAccessToken)
	if err != nil {
		return nil, mintUnavailable("Cannot sign the token right now.", fmt.Errorf("signing the access token: %w", err))
	}
	return &Tokens{AccessToken: at, ExpiresIn: int64(ttl / time.Second), Scopes: scopes}, nil
}
