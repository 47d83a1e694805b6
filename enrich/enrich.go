// Package enrich compiles claim rules (CEL expressions over a user's profile)
// at config load and evaluates them per login into token claims, the way Auth0
// Actions call api.accessToken.setCustomClaim and api.access.deny.
//
// Expressions see the variables listed by Variables: user, app_metadata,
// user_metadata and organization are map(string, dyn) (empty, never absent,
// when the data is NULL or was not requested, so has(app_metadata.x) is
// always safe); roles, permissions and scope are list(string); client_id,
// audience and grant_type are strings. Besides standard CEL, optional
// values (app_metadata.?plan.orValue("free")) and the strings extension
// (lowerAscii, split, replace…) are available, and numbers of different
// types compare (JSON numbers arrive as doubles).
//
// At run time deny rules go first, in order: true refuses the login with the
// rule's message, an error or a non-bool result refuses it too (fail
// closed). Then each claim is evaluated; a null result or a missing key
// leaves the claim out silently, any other failure leaves it out and logs a
// warning once per rule. See toJSON for how values become JSON. Every rule
// runs under a cost limit, so no expression can stall a login.
package enrich

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
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

// FailedDenyMessage is DeniedError.Message when a deny rule failed to
// evaluate: the rule's own message would claim a reason that was not
// established.
const FailedDenyMessage = "Access denied."

// DeniedError is returned when a deny rule matched (Cause nil) or failed to
// evaluate (Cause set: the login is refused all the same, fail closed).
// Message is the rule's message when it matched and FailedDenyMessage when
// it failed; Cause names the rule and the kind of failure (never the user's
// values) and is meant for the log.
type DeniedError struct {
	Message string
	Cause   error
}

func (e *DeniedError) Error() string {
	if e.Cause != nil {
		return "login denied: " + e.Cause.Error()
	}
	return "login denied: " + e.Message
}

// Unwrap returns the evaluation failure, if any.
func (e *DeniedError) Unwrap() error { return e.Cause }

// reserved are the claims claimgate sets itself or that carry protocol
// meaning. Auth0 also restricts `roles`; claimgate does not, so a rule may
// set it (most migrated Actions do).
var reserved = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"client_id": true, "scope": true, "azp": true, "typ": true, "cty": true, "auth_time": true,
	"nonce": true, "acr": true, "amr": true, "at_hash": true, "c_hash": true, "sid": true,
	"cnf": true, "act": true, "may_act": true, "permissions": true, "org_id": true,
	"org_name": true, "gty": true,
}

// reservedID are the OIDC profile claims the ID token fills from the user's
// columns. An id_claim of the same name would silently fight with them, so
// it is refused at load: a user expects an error, not an override. Access
// tokens carry no profile claims, so `claim email user.email` stays allowed
// (claimgate_verify forwards it).
var reservedID = map[string]bool{
	"email": true, "email_verified": true, "name": true, "nickname": true,
	"picture": true, "updated_at": true,
}

// IsReserved reports whether name is a claim no rule may set.
func IsReserved(name string) bool { return reserved[name] }

func isReservedFor(kind, name string) bool {
	return reserved[name] || (kind == KindIDClaim && reservedID[name])
}

// CheckRule compiles one rule alone (for the Caddyfile parser, which reports
// the line): reserved name, syntax error, unknown variable.
func CheckRule(r Rule) error {
	env, err := celEnv()
	if err != nil {
		return fmt.Errorf("building CEL environment: %w", err)
	}
	_, err = compileRule(env, r)
	return err
}

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

// Result holds the custom claims (JSON-ready values). A map is nil when no
// claim of its token was set.
type Result struct {
	AccessClaims map[string]any
	IDClaims     map[string]any
}

// Program is a compiled, immutable rule set, safe for concurrent use.
type Program struct {
	denies, claims, idClaims []*compiled
	logger                   *zap.Logger
}

// compiled is one checked rule.
type compiled struct {
	rule   Rule
	label  string // how errors and logs name the rule
	prg    cel.Program
	source *celast.SourceInfo
	// warned is set by the first evaluation failure logged, so a broken rule
	// logs once, not once per login.
	warned atomic.Bool
}

// Compile type-checks every rule (duplicates included) and logs a warning for
// each claim that reads user_metadata. Deny rules that read it are warned
// about too: a user who edits user_metadata can switch such a rule off.
func Compile(rules []Rule, logger *zap.Logger) (*Program, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("building CEL environment: %w", err)
	}
	p := &Program{logger: logger}
	seen := map[string]map[string]bool{KindClaim: {}, KindIDClaim: {}}
	var errs []error
	for _, r := range rules {
		c, err := compileRule(env, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Kind != KindDeny {
			if seen[r.Kind][r.Name] {
				errs = append(errs, fmt.Errorf("%s: duplicate claim name", c.label))
				continue
			}
			seen[r.Kind][r.Name] = true
		}
		if readsUserMetadata(c.checked) {
			logger.Warn("rule reads user_metadata, which users can edit themselves: do not let it drive authorization",
				zap.String("rule", c.label))
		}
		c.checked = nil // only needed at load
		switch r.Kind {
		case KindDeny:
			p.denies = append(p.denies, c.compiled)
		case KindClaim:
			p.claims = append(p.claims, c.compiled)
		case KindIDClaim:
			p.idClaims = append(p.idClaims, c.compiled)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// checkedRule is a compiled rule with its checked AST, kept while loading.
type checkedRule struct {
	*compiled
	checked *celast.AST
}

func compileRule(env *cel.Env, r Rule) (checkedRule, error) {
	label, err := validateRule(r)
	if err != nil {
		return checkedRule{}, err
	}
	ast, iss := env.Compile(r.Expr)
	if iss.Err() != nil {
		return checkedRule{}, fmt.Errorf("%s: %s", label, formatIssues(iss))
	}
	if r.Kind == KindDeny {
		if k := ast.OutputType().Kind(); k != types.BoolKind && k != types.DynKind {
			return checkedRule{}, fmt.Errorf("%s: expression is %s, want bool", label, ast.OutputType())
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return checkedRule{}, fmt.Errorf("%s: %w", label, err)
	}
	native := ast.NativeRep()
	return checkedRule{
		compiled: &compiled{rule: r, label: label, prg: prg, source: native.SourceInfo()},
		checked:  native,
	}, nil
}

// validateRule checks the rule's shape before its expression and returns
// the label that names it in errors.
func validateRule(r Rule) (string, error) {
	switch r.Kind {
	case KindClaim, KindIDClaim:
		label := fmt.Sprintf("%s %q", r.Kind, r.Name)
		switch {
		case r.Name == "":
			return "", fmt.Errorf("%s: missing claim name", r.Kind)
		case isReservedFor(r.Kind, r.Name):
			return "", fmt.Errorf("%s: reserved claim name", label)
		case r.Message != "":
			return "", fmt.Errorf("%s: only deny rules take a message", label)
		case strings.TrimSpace(r.Expr) == "":
			return "", fmt.Errorf("%s: empty expression", label)
		}
		return label, nil
	case KindDeny:
		label := fmt.Sprintf("deny %q", shorten(r.Expr, 48))
		switch {
		case strings.TrimSpace(r.Expr) == "":
			return "", errors.New("deny: empty expression")
		case r.Message == "":
			return "", fmt.Errorf("%s: missing message", label)
		case r.Name != "":
			return "", fmt.Errorf("%s: deny rules take no claim name", label)
		}
		return label, nil
	}
	return "", fmt.Errorf("unknown rule kind %q (want %s, %s or %s)", r.Kind, KindClaim, KindIDClaim, KindDeny)
}

func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// formatIssues renders CEL's issues on one line each, with the column, and
// without CEL's multi-line source snippet (the Caddyfile parser adds the line).
func formatIssues(iss *cel.Issues) string {
	var msgs []string
	for _, e := range iss.Errors() {
		msg := strings.TrimSuffix(e.Message, " (in container '')")
		if loc := e.Location; loc != nil && loc.Line() > 0 {
			if loc.Line() > 1 {
				msg += fmt.Sprintf(" (line %d, column %d)", loc.Line(), loc.Column()+1)
			} else {
				msg += fmt.Sprintf(" (column %d)", loc.Column()+1)
			}
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return iss.String()
	}
	return strings.Join(msgs, "; ")
}

// readsUserMetadata reports whether a checked expression reads the
// user_metadata variable (or a user_metadata column through user). It walks
// the checker's references, so a string literal or a key that merely
// contains the word does not count.
func readsUserMetadata(a *celast.AST) bool {
	refs := a.ReferenceMap()
	found := false
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if ref, ok := refs[e.ID()]; ok && ref.Name == varUserMetadata {
				found = true
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			if sel.FieldName() == varUserMetadata && isUserIdent(sel.Operand(), refs) {
				found = true
			}
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() == "_[_]" && len(call.Args()) == 2 && isUserIdent(call.Args()[0], refs) {
				if k := call.Args()[1]; k.Kind() == celast.LiteralKind && k.AsLiteral() == types.String(varUserMetadata) {
					found = true
				}
			}
		}
	}))
	return found
}

func isUserIdent(e celast.Expr, refs map[int64]*celast.ReferenceInfo) bool {
	if e.Kind() != celast.IdentKind {
		return false
	}
	ref, ok := refs[e.ID()]
	return ok && ref.Name == varUser
}

// Evaluate runs the deny rules, then the claims. It returns *DeniedError or
// an error wrapping ErrClaimsTooLarge; claim evaluation errors omit the claim
// (logged once per rule).
func (p *Program) Evaluate(in Input) (Result, error) {
	if p == nil {
		return Result{}, nil
	}
	act := &activation{in: &in}
	for _, c := range p.denies {
		if err := c.deny(act); err != nil {
			return Result{}, err
		}
	}
	var res Result
	var err error
	if res.AccessClaims, err = p.evalClaims(p.claims, act); err != nil {
		return Result{}, fmt.Errorf("access token: %w", err)
	}
	if res.IDClaims, err = p.evalClaims(p.idClaims, act); err != nil {
		return Result{}, fmt.Errorf("ID token: %w", err)
	}
	return res, nil
}

// deny returns a *DeniedError when the rule is true or fails.
func (c *compiled) deny(act *activation) error {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return &DeniedError{Message: FailedDenyMessage, Cause: c.evalError(err)}
	}
	matched, ok := out.(types.Bool)
	if !ok {
		return &DeniedError{Message: FailedDenyMessage,
			Cause: fmt.Errorf("%s: result is %s, not bool", c.label, typeName(out))}
	}
	if matched {
		return &DeniedError{Message: c.rule.Message}
	}
	return nil
}

func (p *Program) evalClaims(rules []*compiled, act *activation) (map[string]any, error) {
	var out map[string]any
	for _, c := range rules {
		v, ok := p.evalClaim(c, act)
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(rules))
		}
		out[c.rule.Name] = v
	}
	if out == nil {
		return nil, nil
	}
	if n := jsonSize(out); n > MaxCustomClaimsSize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrClaimsTooLarge, n)
	}
	return out, nil
}

// evalClaim returns the claim's value, or false when the claim is left out:
// a null result or a missing map key silently, any other failure with a
// warning the first time.
func (p *Program) evalClaim(c *compiled, act *activation) (any, bool) {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		if !isMissingKey(err) {
			p.warnOnce(c, c.evalError(err))
		}
		return nil, false
	}
	v, err := toJSON(out)
	if err != nil {
		if !errors.Is(err, errNoValue) {
			p.warnOnce(c, fmt.Errorf("%s: %w", c.label, err))
		}
		return nil, false
	}
	return v, true
}

func (p *Program) warnOnce(c *compiled, err error) {
	if c.warned.CompareAndSwap(false, true) {
		p.logger.Warn("claim rule failed; the claim is left out of tokens (logged once per rule)",
			zap.String("rule", c.label), zap.Error(err))
	}
}

// isMissingKey reports CEL's "no such key" (app_metadata.plan when the user
// has no plan), which means "omit the claim".
func isMissingKey(err error) bool {
	return strings.HasPrefix(err.Error(), "no such key")
}

// ruleError is an evaluation failure as logs show it: the rule, the kind of
// failure and where in the expression. CEL's full message can quote the
// user's data (a key, a string that failed to convert), so it is kept only
// for errors.Is/As, never printed.
type ruleError struct {
	label, kind, where string
	err                error
}

func (e *ruleError) Error() string {
	s := e.label + ": " + e.kind
	if e.where != "" {
		s += " (" + e.where + ")"
	}
	return s
}

func (e *ruleError) Unwrap() error { return e.err }

// errorKind keeps the kind of a CEL error message and drops the data it may
// quote: the text after the first colon ("no such key: <key>") and any
// double-quoted part (`invalid RFC 3339 timestamp "<value>"`).
func errorKind(msg string) string {
	if i := strings.IndexByte(msg, ':'); i >= 0 {
		msg = msg[:i]
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '"')
		if i < 0 {
			b.WriteString(msg)
			break
		}
		b.WriteString(msg[:i])
		b.WriteString(`"…"`)
		j := strings.IndexByte(msg[i+1:], '"')
		if j < 0 {
			break
		}
		msg = msg[i+1+j+1:]
	}
	return shorten(b.String(), 80)
}

func (c *compiled) evalError(err error) error {
	re := &ruleError{label: c.label, err: err}
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) {
		re.kind = cancelled.Error() // "operation cancelled: actual cost limit exceeded"
		return re
	}
	re.kind = errorKind(err.Error())
	var celErr *types.Err
	if errors.As(err, &celErr) && celErr.NodeID() != 0 && c.source != nil {
		if loc := c.source.GetStartLocation(celErr.NodeID()); loc.Line() > 0 {
			re.where = fmt.Sprintf("column %d", loc.Column()+1)
			if loc.Line() > 1 {
				re.where = fmt.Sprintf("line %d, column %d", loc.Line(), loc.Column()+1)
			}
		}
	}
	return re
}
