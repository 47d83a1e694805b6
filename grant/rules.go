package grant

import (
	"errors"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store"
)

// evaluateRules runs the claim and deny rules. A matched deny rule is a
// DeniedError with its message; one that failed to evaluate is a
// DeniedError with a Cause (fail closed). Claims over the size limit are
// ErrClaimsTooLarge.
func (s *Service) evaluateRules(in enrich.Input) (enrich.Result, error) {
	result, err := s.cfg.Rules.Evaluate(in)
	if err == nil {
		return result, nil
	}
	var denied *enrich.DeniedError
	switch {
	case errors.As(err, &denied) && denied.Cause == nil:
		return result, &DeniedError{Message: denied.Message}
	case errors.Is(err, enrich.ErrClaimsTooLarge):
		return result, err
	default:
		return result, &DeniedError{Cause: err}
	}
}

// ruleInput is what the CEL rules see for one grant.
func ruleInput(clientID, audience, grantType string, scopes []string, user *store.User, grants store.Grants) enrich.Input {
	in := enrich.Input{
		User:         user.Attributes,
		AppMetadata:  user.AppMetadata,
		UserMetadata: user.UserMetadata,
		Roles:        grants.Roles,
		Permissions:  grants.Permissions,
		Organization: map[string]any{},
		ClientID:     clientID,
		Audience:     audience,
		Scope:        scopes,
		GrantType:    grantType,
	}
	if in.Roles == nil {
		in.Roles = []string{}
	}
	if in.Permissions == nil {
		in.Permissions = []string{}
	}
	if org := grants.Organization; org != nil {
		in.Organization = map[string]any{"id": org.ID, "name": org.Name}
	}
	return in
}
