package enrich

import (
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Variable names, as expressions see them.
const (
	varUser         = "user"
	varAppMetadata  = "app_metadata"
	varUserMetadata = "user_metadata"
	varRoles        = "roles"
	varPermissions  = "permissions"
	varOrganization = "organization"
	varClientID     = "client_id"
	varAudience     = "audience"
	varGrantType    = "grant_type"
	varScope        = "scope"
)

// Limits that keep a hostile or careless expression from stalling a login.
const (
	// costLimit bounds the runtime cost of one rule (about one unit per
	// operation, more for string and list work that scales with size). The
	// README's example rules cost 1 to 4 units; permissions.filter(p, p.startsWith(…))
	// costs 15 per permission, so a few thousand permissions still fit. A
	// rule that hits the limit has spent a few milliseconds of CPU.
	costLimit = 50_000
	// maxExprSize bounds an expression's length in code points.
	maxExprSize = 8 * 1024
)

// Variables lists the names an expression can read, in the order the
// README documents them.
func Variables() []string {
	return []string{varUser, varAppMetadata, varUserMetadata, varRoles, varPermissions,
		varOrganization, varClientID, varAudience, varScope, varGrantType}
}

// celEnv is built once: building an environment costs far more than checking
// an expression, and an environment is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	stringMap := cel.MapType(cel.StringType, cel.DynType)
	stringList := cel.ListType(cel.StringType)
	return cel.NewEnv(
		cel.Variable(varUser, stringMap),
		cel.Variable(varAppMetadata, stringMap),
		cel.Variable(varUserMetadata, stringMap),
		cel.Variable(varRoles, stringList),
		cel.Variable(varPermissions, stringList),
		cel.Variable(varOrganization, stringMap),
		cel.Variable(varClientID, cel.StringType),
		cel.Variable(varAudience, cel.StringType),
		cel.Variable(varGrantType, cel.StringType),
		cel.Variable(varScope, stringList),
		// app_metadata.?plan.orValue("free") reads an optional key without has().
		cel.OptionalTypes(),
		// lowerAscii, split, replace… (version ≥ 5 carries cost models, so the
		// cost limit covers them).
		ext.Strings(),
		// JSON numbers arrive as doubles: let app_metadata.level > 2 work.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprSize),
	)
})

// activation hands the per-login values to the interpreter. Each input is
// converted to a CEL value the first time a rule reads it and then shared by
// every later rule of the same login: no map[string]any is built per rule,
// and inputs no rule reads cost nothing. One activation serves one Evaluate
// call (one goroutine).
type activation struct {
	in   *Input
	vals [numVars]ref.Val
}

// Indexes into activation.vals.
const (
	iUser = iota
	iAppMetadata
	iUserMetadata
	iOrganization
	iRoles
	iPermissions
	iScope
	iClientID
	iAudience
	iGrantType
	numVars
)

var _ interpreter.Activation = (*activation)(nil)

// emptyMap stands in for NULL or absent metadata and a missing organization,
// so has(app_metadata.x) is always safe to write.
var emptyMap = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})

func mapVal(m map[string]any) ref.Val {
	if len(m) == 0 {
		return emptyMap
	}
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
}

func listVal(l []string) ref.Val {
	return types.NewStringList(types.DefaultTypeAdapter, l)
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i := varIndex(name)
	if i < 0 {
		return nil, false
	}
	if v := a.vals[i]; v != nil {
		return v, true
	}
	v := a.convert(i)
	a.vals[i] = v
	return v, true
}

func varIndex(name string) int {
	switch name {
	case varUser:
		return iUser
	case varAppMetadata:
		return iAppMetadata
	case varUserMetadata:
		return iUserMetadata
	case varOrganization:
		return iOrganization
	case varRoles:
		return iRoles
	case varPermissions:
		return iPermissions
	case varScope:
		return iScope
	case varClientID:
		return iClientID
	case varAudience:
		return iAudience
	case varGrantType:
		return iGrantType
	}
	return -1
}

func (a *activation) convert(i int) ref.Val {
	in := a.in
	switch i {
	case iUser:
		return mapVal(in.User)
	case iAppMetadata:
		return mapVal(in.AppMetadata)
	case iUserMetadata:
		return mapVal(in.UserMetadata)
	case iOrganization:
		return mapVal(in.Organization)
	case iRoles:
		return listVal(in.Roles)
	case iPermissions:
		return listVal(in.Permissions)
	case iScope:
		return listVal(in.Scope)
	case iClientID:
		return types.String(in.ClientID)
	case iAudience:
		return types.String(in.Audience)
	default:
		return types.String(in.GrantType)
	}
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }
