// Package enrich compiles claim rules (CEL expressions over a user's profile)
// at config load and evaluates them per login into token claims, the way Auth0
// Actions call api.accessToken.setCustomClaim and api.access.deny.
package enrich

import (
	"errors"

	"go.uber.org/zap"
)

// Rule kinds.
const (
	KindClaim   = "claim"    // access-token claim
	KindIDClaim = "id_claim" // ID-token claim
	KindDeny    = "deny"     // refuse the login when true
)

// Rule is one `claim NAME EXPR`, `id_claim NAME EXPR` or `deny EXPR MESSAGE`.
type Rule struct {
	// Kind is claim, id_claim or deny.
	Kind string `json:"kind"`
	// Name is the claim name (claim and id_claim only).
	Name string `json:"name,omitempty"`
	// Expr is the CEL expression.
	Expr string `json:"expr"`
	// Message is the deny rule's error_description.
	Message string `json:"message,omitempty"`
}

// MaxCustomClaimsSize bounds the JSON size of all custom claims of one token.
const MaxCustomClaimsSize = 16 * 1024

// ErrClaimsTooLarge means the custom claims exceed MaxCustomClaimsSize.
var ErrClaimsTooLarge = errors.New("custom claims exceed 16 KiB")

// DeniedError is returned when a deny rule matched (Cause nil) or failed to
// evaluate (Cause set: the login is refused all the same, fail closed).
type DeniedError struct {
	Message string
	Cause   error
}

func (e *DeniedError) Error() string { return "login denied: " + e.Message }

// IsReserved reports whether name is a claim no rule may set.
func IsReserved(name string) bool { return false }

// CheckRule compiles one rule alone (for the Caddyfile parser, which reports
// the line): reserved name, syntax error, unknown variable.
func CheckRule(r Rule) error { return errors.New("enrich.CheckRule: pending") }

// Input is what expressions see.
type Input struct {
	User         map[string]any
	AppMetadata  map[string]any
	UserMetadata map[string]any
	Roles        []string
	Permissions  []string
	Organization map[string]any // {id, name} or empty
	ClientID     string
	Audience     string
	Scope        []string
	GrantType    string
}

// Result holds the custom claims (JSON-ready values).
type Result struct {
	AccessClaims map[string]any
	IDClaims     map[string]any
}

// Program is a compiled, immutable rule set, safe for concurrent use.
type Program struct{}

// Compile type-checks every rule (duplicates included) and logs a warning for
// each claim that reads user_metadata.
func Compile(rules []Rule, logger *zap.Logger) (*Program, error) {
	return nil, errors.New("enrich.Compile: pending")
}

// Evaluate runs the deny rules, then the claims. It returns *DeniedError or
// an error wrapping ErrClaimsTooLarge; claim evaluation errors omit the claim
// (logged once per rule).
func (p *Program) Evaluate(in Input) (Result, error) {
	return Result{}, errors.New("enrich.Evaluate: pending")
}
