package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/token"
)

// The management API: the subset of Auth0's
// Management API v2 that a migrating backend calls, over the customer's
// tables. Served by claimgate_login when the claimgate app has a management
// block; authorised by a claimgate access token for the management audience
// whose scope holds the endpoint's scope.

const pathManagement = "/api/v2/"

// Management API scopes.
const (
	scopeReadUsers        = "read:users"
	scopeCreateUsers      = "create:users"
	scopeUpdateUsers      = "update:users"
	scopeUpdateAppMeta    = "update:users_app_metadata"
	scopeDeleteUsers      = "delete:users"
	defaultRolesPerPage   = 50
	maxRolesPerPage       = 100
	descCreateUser        = "Create a User"
	descUpdateUser        = "Update a User"
	descDeleteUser        = "Delete a User"
	descAssignRoles       = "Assign roles to a User"
	descRemoveRoles       = "Remove roles from a User"
	descAddMembers        = "Add members to an Organization"
	descRemoveMembers     = "Remove members from an Organization"
	descUnblockUser       = "Unblock a User"
	descManagementFailure = "Management API operation failed: "
)

// managementAPI is the handler's view of the management flows.
type managementAPI struct {
	flows    *grant.Management
	verifier *token.Verifier
}

// setupManagement builds the management API's token verifier when the app
// has a management block.
func (l *Login) setupManagement(a *app.App) error {
	flows := a.ManagementAPI()
	if flows == nil {
		return nil
	}
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer:      a.Issuer,
		Audience:    a.ManagementAudience(),
		RequireType: token.TypeAccessToken,
		Keys:        a.KeySource(),
	})
	if err != nil {
		return fmt.Errorf("building the management API token verifier: %w", err)
	}
	l.management = &managementAPI{flows: flows, verifier: v}
	return nil
}

// mgmtCall is one management request being served.
type mgmtCall struct {
	w        http.ResponseWriter
	r        *http.Request
	clientID string // the token's client
	scopes   []string
}

// route is one management endpoint.
type route struct {
	method string
	// write operations emit an event.
	write bool
	serve func(l *Login, c *mgmtCall, args []string) (*mgmtError, string)
}

// serveManagement serves r when it is a management API path and the
// management block is configured; false passes it on.
func (l *Login) serveManagement(w http.ResponseWriter, r *http.Request) bool {
	if l.management == nil || !strings.HasPrefix(r.URL.Path, pathManagement) {
		return false
	}
	segs, ok := pathSegments(r.URL.EscapedPath())
	if !ok {
		writeMgmtError(w, newMgmtError(http.StatusNotFound, mgmtNotFound, "Not Found"))
		return true
	}
	routes, args := matchRoute(segs)
	if routes == nil {
		writeMgmtError(w, newMgmtError(http.StatusNotFound, mgmtNotFound, "Not Found"))
		return true
	}
	var rt *route
	var allow []string
	for i := range routes {
		allow = append(allow, routes[i].method)
		if routes[i].method == r.Method {
			rt = &routes[i]
		}
	}
	if rt == nil {
		writeMgmtError(w, newMgmtError(http.StatusMethodNotAllowed, mgmtMethodNotAllowed, "Method Not Allowed").
			withHeader("Allow", strings.Join(allow, ", ")))
		return true
	}
	c := &mgmtCall{w: w, r: r}
	e, target := l.authorize(c)
	if e == nil {
		e, target = rt.serve(l, c, args)
	}
	if e != nil {
		l.logManagementError(r, e)
		writeMgmtError(w, e)
	}
	if rt.write && c.clientID != "" {
		l.recordManagement(c, r, e, target)
	}
	return true
}

// pathSegments splits /api/v2/a/b into its unescaped segments after
// /api/v2/.
func pathSegments(escaped string) ([]string, bool) {
	rest := strings.TrimPrefix(escaped, pathManagement)
	rest = strings.TrimSuffix(rest, "/")
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// matchRoute finds the endpoints of a path and its arguments (ids).
func matchRoute(segs []string) ([]route, []string) {
	switch {
	case len(segs) == 1 && segs[0] == "users":
		return []route{{method: http.MethodPost, write: true, serve: (*Login).mgmtCreateUser}}, nil
	case len(segs) == 1 && segs[0] == "users-by-email":
		return []route{{method: http.MethodGet, serve: (*Login).mgmtUsersByEmail}}, nil
	case len(segs) == 2 && segs[0] == "users":
		return []route{
			{method: http.MethodGet, serve: (*Login).mgmtGetUser},
			{method: http.MethodPatch, write: true, serve: (*Login).mgmtPatchUser},
			{method: http.MethodDelete, write: true, serve: (*Login).mgmtDeleteUser},
		}, segs[1:]
	case len(segs) == 3 && segs[0] == "users" && segs[2] == "roles":
		return []route{
			{method: http.MethodGet, serve: (*Login).mgmtGetRoles},
			{method: http.MethodPost, write: true, serve: (*Login).mgmtAssignRoles},
			{method: http.MethodDelete, write: true, serve: (*Login).mgmtRemoveRoles},
		}, segs[1:2]
	case len(segs) == 3 && segs[0] == "organizations" && segs[2] == "members":
		return []route{
			{method: http.MethodPost, write: true, serve: (*Login).mgmtAddMembers},
			{method: http.MethodDelete, write: true, serve: (*Login).mgmtRemoveMembers},
		}, segs[1:2]
	case len(segs) == 2 && segs[0] == "user-blocks":
		return []route{{method: http.MethodDelete, write: true, serve: (*Login).mgmtUnblock}}, segs[1:]
	}
	return nil, nil
}

// authorize verifies the bearer token: claimgate's own access token
// (typ at+jwt) for the management audience. The scope is checked per
// endpoint (requireScope).
func (l *Login) authorize(c *mgmtCall) (*mgmtError, string) {
	raw, present, err := token.BearerFromHeader(c.r.Header)
	if err != nil || !present {
		return errMgmtNoToken(), ""
	}
	claims, err := l.management.verifier.Verify(c.r.Context(), raw)
	if err != nil {
		l.logger.Debug("management API: invalid token", zap.Error(err))
		return errMgmtBadToken(), ""
	}
	// Machine tokens only: a client that also has user grants could
	// otherwise hand management scopes to any end user who asks for them.
	if gty, _ := claims["gty"].(string); gty != grant.GrantTypeClaimValue {
		l.logger.Info("management API: a token that is not a client_credentials token refused")
		return errMgmtBadToken(), ""
	}
	c.clientID, _ = claims["client_id"].(string)
	if c.clientID == "" {
		c.clientID, _ = claims["azp"].(string)
	}
	scope, _ := claims["scope"].(string)
	c.scopes = strings.Fields(scope)
	return nil, ""
}

// requireScope answers 403 unless the token holds one of anyOf.
func (c *mgmtCall) requireScope(anyOf ...string) *mgmtError {
	for _, s := range anyOf {
		if slices.Contains(c.scopes, s) {
			return nil
		}
	}
	return errMgmtScope(anyOf)
}

// readJSON decodes the JSON object body into fields (numbers kept as
// written).
func (c *mgmtCall) readJSON() (map[string]json.RawMessage, *mgmtError) {
	if c.r.ContentLength > maxManagementBodyBytes {
		return nil, newMgmtError(http.StatusRequestEntityTooLarge, mgmtPayloadTooLarge, "Payload too large")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxManagementBodyBytes))
	if err := dec.Decode(&fields); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newMgmtError(http.StatusRequestEntityTooLarge, mgmtPayloadTooLarge, "Payload too large")
		}
		return nil, errMgmtBody("Invalid request payload JSON format")
	}
	if fields == nil {
		return nil, errMgmtBody("Payload validation error: 'Expected type object but found type null'.")
	}
	if dec.More() {
		return nil, errMgmtBody("Invalid request payload JSON format")
	}
	return fields, nil
}

// decodeField decodes fields[name] into v; present is false when absent.
func decodeField(fields map[string]json.RawMessage, name string, v any) (present bool, e *mgmtError) {
	raw, ok := fields[name]
	if !ok {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return true, errMgmtBody("Payload validation error: 'Invalid type' on property " + name + ".")
	}
	return true, nil
}

// unknownField reports the first field of fields not in allowed.
func unknownField(fields map[string]json.RawMessage, allowed ...string) *mgmtError {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			return errMgmtBody("Payload validation error: 'Additional properties not allowed: " + safeName(k) + "'.")
		}
	}
	return nil
}

// safeName is a field name fit to quote back: short, plain characters.
func safeName(s string) string {
	if len(s) > 64 {
		return "(a long name)"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "(a name with other characters)"
		}
	}
	return s
}

// userObject is a user as Auth0's Management API returns it; never the
// password hash.
func (l *Login) userObject(u *store.User) map[string]any {
	flows := l.management.flows
	out := map[string]any{
		"user_id":       flows.Subject(u.ID),
		"blocked":       u.Blocked,
		"app_metadata":  u.AppMetadata,
		"user_metadata": u.UserMetadata,
		"identities": []map[string]any{{
			"connection": flows.Connection(),
			"provider":   "auth0",
			"user_id":    u.ID,
			"isSocial":   false,
		}},
	}
	for _, k := range []string{"email", "email_verified", "username", "name", "nickname", "picture", "created_at", "updated_at"} {
		if v, ok := u.Attributes[k]; ok && v != nil {
			out[k] = v
		}
	}
	if _, ok := out["email_verified"]; !ok {
		out["email_verified"] = false
	}
	return out
}

// POST /api/v2/users
func (l *Login) mgmtCreateUser(c *mgmtCall, _ []string) (*mgmtError, string) {
	if e := c.requireScope(scopeCreateUsers); e != nil {
		return e, ""
	}
	fields, e := c.readJSON()
	if e != nil {
		return e, ""
	}
	if e := unknownField(fields, "email", "password", "connection", "username", "name", "nickname", "picture",
		"email_verified", "blocked", "app_metadata", "user_metadata", "user_id", "verify_email",
		"given_name", "family_name"); e != nil {
		return e, ""
	}
	var u grant.NewUser
	var connection string
	var verifyEmail bool
	for _, f := range []struct {
		name string
		v    any
	}{
		{"email", &u.Email}, {"password", &u.Password}, {"connection", &connection}, {"username", &u.Username},
		{"name", &u.Name}, {"nickname", &u.Nickname}, {"picture", &u.Picture}, {"email_verified", &u.EmailVerified},
		{"blocked", &u.Blocked}, {"app_metadata", &u.AppMetadata}, {"user_metadata", &u.UserMetadata},
		{"user_id", &u.UserID}, {"verify_email", &verifyEmail},
	} {
		if _, e := decodeField(fields, f.name, f.v); e != nil {
			return e, ""
		}
	}
	for _, req := range []struct{ name, v string }{{"connection", connection}, {"email", u.Email}, {"password", u.Password}} {
		if req.v == "" {
			return errMgmtBody("Payload validation error: 'Missing required property: " + req.name + "'."), ""
		}
	}
	if connection != l.management.flows.Connection() {
		return errMgmtBody("The connection does not exist."), ""
	}
	u.UserID = l.management.flows.UserID(u.UserID)
	user, err := l.management.flows.CreateUser(c.r.Context(), u)
	if err != nil {
		return fromManagement(err), u.UserID
	}
	writeJSON(c.w, http.StatusCreated, l.userObject(user))
	return nil, user.ID
}

// GET /api/v2/users/{id}
func (l *Login) mgmtGetUser(c *mgmtCall, args []string) (*mgmtError, string) {
	if e := c.requireScope(scopeReadUsers); e != nil {
		return e, ""
	}
	user, err := l.management.flows.GetUser(c.r.Context(), l.management.flows.UserID(args[0]))
	if err != nil {
		return fromManagement(err), ""
	}
	writeJSON(c.w, http.StatusOK, l.userObject(user))
	return nil, user.ID
}

// GET /api/v2/users-by-email?email=
func (l *Login) mgmtUsersByEmail(c *mgmtCall, _ []string) (*mgmtError, string) {
	if e := c.requireScope(scopeReadUsers); e != nil {
		return e, ""
	}
	q := c.r.URL.Query()
	if len(q["email"]) != 1 || q.Get("email") == "" {
		return errMgmtQuery("Query validation error: 'Missing required property: email'."), ""
	}
	user, err := l.management.flows.FindUserByEmail(c.r.Context(), q.Get("email"))
	if err != nil {
		return fromManagement(err), ""
	}
	out := []map[string]any{}
	if user != nil {
		out = append(out, l.userObject(user))
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil, ""
}

// PATCH /api/v2/users/{id}
func (l *Login) mgmtPatchUser(c *mgmtCall, args []string) (*mgmtError, string) {
	id := l.management.flows.UserID(args[0])
	fields, e := c.readJSON()
	if e != nil {
		if se := c.requireScope(scopeUpdateUsers, scopeUpdateAppMeta); se != nil {
			return se, id
		}
		return e, id
	}
	// update:users_app_metadata is enough for a body of app_metadata only.
	if _, onlyApp := fields["app_metadata"]; onlyApp && len(fields) == 1 {
		e = c.requireScope(scopeUpdateUsers, scopeUpdateAppMeta)
	} else {
		e = c.requireScope(scopeUpdateUsers)
	}
	if e != nil {
		return e, id
	}
	if e := unknownField(fields, "email", "password", "connection", "username", "name", "nickname", "picture",
		"email_verified", "blocked", "app_metadata", "user_metadata", "verify_email", "client_id"); e != nil {
		return e, id
	}
	var p grant.UserPatch
	strs := []struct {
		name string
		dst  **string
	}{{"email", &p.Email}, {"password", &p.Password}, {"username", &p.Username}, {"name", &p.Name},
		{"nickname", &p.Nickname}, {"picture", &p.Picture}}
	for _, f := range strs {
		var s string
		present, e := decodeField(fields, f.name, &s)
		if e != nil {
			return e, id
		}
		if present {
			*f.dst = &s
		}
	}
	bools := []struct {
		name string
		dst  **bool
	}{{"email_verified", &p.EmailVerified}, {"blocked", &p.Blocked}}
	for _, f := range bools {
		var b bool
		present, e := decodeField(fields, f.name, &b)
		if e != nil {
			return e, id
		}
		if present {
			*f.dst = &b
		}
	}
	for _, f := range []struct {
		name string
		dst  *map[string]any
	}{{"app_metadata", &p.AppMetadata}, {"user_metadata", &p.UserMetadata}} {
		present, e := decodeField(fields, f.name, f.dst)
		if e != nil {
			return e, id
		}
		if present && *f.dst == nil {
			*f.dst = map[string]any{}
		}
	}
	var connection string
	if _, e := decodeField(fields, "connection", &connection); e != nil {
		return e, id
	}
	if connection != "" && connection != l.management.flows.Connection() {
		return errMgmtBody("The connection does not exist."), id
	}
	user, err := l.management.flows.UpdateUser(c.r.Context(), id, p)
	if err != nil {
		return fromManagement(err), id
	}
	writeJSON(c.w, http.StatusOK, l.userObject(user))
	return nil, id
}

// DELETE /api/v2/users/{id}
func (l *Login) mgmtDeleteUser(c *mgmtCall, args []string) (*mgmtError, string) {
	id := l.management.flows.UserID(args[0])
	if e := c.requireScope(scopeDeleteUsers); e != nil {
		return e, id
	}
	if err := l.management.flows.DeleteUser(c.r.Context(), id); err != nil {
		return fromManagement(err), id
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil, id
}

// GET /api/v2/users/{id}/roles, with Auth0's paging.
func (l *Login) mgmtGetRoles(c *mgmtCall, args []string) (*mgmtError, string) {
	if e := c.requireScope(scopeReadUsers); e != nil {
		return e, ""
	}
	q := c.r.URL.Query()
	page, e := queryInt(q, "page", 0, 0, 1<<20)
	if e != nil {
		return e, ""
	}
	perPage, e := queryInt(q, "per_page", defaultRolesPerPage, 1, maxRolesPerPage)
	if e != nil {
		return e, ""
	}
	totals := false
	switch q.Get("include_totals") {
	case "", "false":
	case "true":
		totals = true
	default:
		return errMgmtQuery("Query validation error: 'Expected type boolean' on property include_totals."), ""
	}
	roles, err := l.management.flows.Roles(c.r.Context(), l.management.flows.UserID(args[0]))
	if err != nil {
		return fromManagement(err), ""
	}
	list := []map[string]string{}
	start := page * perPage
	for i := start; i < len(roles) && i < start+perPage; i++ {
		list = append(list, map[string]string{"id": roles[i], "name": roles[i], "description": roles[i]})
	}
	if !totals {
		writeJSON(c.w, http.StatusOK, list)
		return nil, ""
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"roles": list, "start": start, "limit": perPage, "total": len(roles)})
	return nil, ""
}

// queryInt reads an integer query parameter in [lo, hi].
func queryInt(q url.Values, name string, def, lo, hi int) (int, *mgmtError) {
	vs, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if len(vs) != 1 || err != nil || n < lo || n > hi {
		return 0, errMgmtQuery(fmt.Sprintf("Query validation error: '%s' must be an integer from %d to %d.", name, lo, hi))
	}
	return n, nil
}

// readList reads the body {"<name>": ["…", …]} (at least one entry).
func (c *mgmtCall) readList(name string) ([]string, *mgmtError) {
	fields, e := c.readJSON()
	if e != nil {
		return nil, e
	}
	if e := unknownField(fields, name); e != nil {
		return nil, e
	}
	var list []string
	present, e := decodeField(fields, name, &list)
	if e != nil {
		return nil, e
	}
	if !present || len(list) == 0 {
		return nil, errMgmtBody("Payload validation error: 'Missing required property: " + name + "'.")
	}
	for _, v := range list {
		if v == "" {
			return nil, errMgmtBody("Payload validation error: 'String is too short (0 chars), minimum 1' on property " + name + ".")
		}
	}
	return list, nil
}

// POST and DELETE /api/v2/users/{id}/roles
func (l *Login) mgmtAssignRoles(c *mgmtCall, args []string) (*mgmtError, string) {
	return l.mgmtRoles(c, args, l.management.flows.AssignRoles)
}

func (l *Login) mgmtRemoveRoles(c *mgmtCall, args []string) (*mgmtError, string) {
	return l.mgmtRoles(c, args, l.management.flows.RemoveRoles)
}

func (l *Login) mgmtRoles(c *mgmtCall, args []string, op func(context.Context, string, []string) error) (*mgmtError, string) {
	id := l.management.flows.UserID(args[0])
	if e := c.requireScope(scopeUpdateUsers); e != nil {
		return e, id
	}
	roles, e := c.readList("roles")
	if e != nil {
		return e, id
	}
	if err := op(c.r.Context(), id, roles); err != nil {
		return fromManagement(err), id
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil, id
}

// POST and DELETE /api/v2/organizations/{org_id}/members
func (l *Login) mgmtAddMembers(c *mgmtCall, args []string) (*mgmtError, string) {
	return l.mgmtMembers(c, args, l.management.flows.AddMembers)
}

func (l *Login) mgmtRemoveMembers(c *mgmtCall, args []string) (*mgmtError, string) {
	return l.mgmtMembers(c, args, l.management.flows.RemoveMembers)
}

func (l *Login) mgmtMembers(c *mgmtCall, args []string, op func(context.Context, string, []string) error) (*mgmtError, string) {
	if e := c.requireScope(scopeUpdateUsers); e != nil {
		return e, ""
	}
	members, e := c.readList("members")
	if e != nil {
		return e, ""
	}
	for i, m := range members {
		members[i] = l.management.flows.UserID(m)
	}
	target := strings.Join(members, ",")
	if err := op(c.r.Context(), args[0], members); err != nil {
		return fromManagement(err), target
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil, target
}

// DELETE /api/v2/user-blocks/{id}
func (l *Login) mgmtUnblock(c *mgmtCall, args []string) (*mgmtError, string) {
	id := l.management.flows.UserID(args[0])
	if e := c.requireScope(scopeUpdateUsers); e != nil {
		return e, id
	}
	if err := l.management.flows.Unblock(c.r.Context(), id); err != nil {
		return fromManagement(err), id
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil, id
}

// logManagementError logs a refused management request (never the body).
func (l *Login) logManagementError(r *http.Request, e *mgmtError) {
	level := zapcore.DebugLevel
	switch {
	case e.status >= 500:
		level = zapcore.ErrorLevel
	case e.cause != nil:
		level = zapcore.InfoLevel
	}
	if ce := l.logger.Check(level, "management request refused"); ce != nil {
		fields := []zap.Field{
			zap.String("method", r.Method),
			zap.String("error", e.code),
			zap.Int("status", e.status),
		}
		if e.cause != nil {
			fields = append(fields, zap.NamedError("cause", e.cause))
		}
		ce.Write(fields...)
	}
}

// recordManagement emits the event of a write: sapi, fapi, or du for a
// deleted user. The description is the operation's fixed name (and, for
// a failure, the fixed error message); target is the user id(s).
func (l *Login) recordManagement(c *mgmtCall, r *http.Request, e *mgmtError, target string) {
	op := operationName(r)
	ev := events.Event{
		Type:        events.TypeSuccessAPIOperation,
		Description: op,
		ClientID:    c.clientID,
		UserID:      target,
		IP:          clientIP(r, clientAuth{}),
		UserAgent:   r.UserAgent(),
	}
	switch {
	case e != nil:
		ev.Type, ev.Description = events.TypeFailedAPIOperation, descManagementFailure+op+": "+e.message
	case op == descDeleteUser:
		ev.Type = events.TypeDeletedUser
	}
	l.app.Events().Emit(ev)
}

// operationName is the fixed name of a write request's operation.
func operationName(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == pathManagement+"users":
		return descCreateUser
	case strings.HasPrefix(p, pathManagement+"user-blocks/"):
		return descUnblockUser
	case strings.HasPrefix(p, pathManagement+"organizations/"):
		if r.Method == http.MethodDelete {
			return descRemoveMembers
		}
		return descAddMembers
	case strings.HasSuffix(p, "/roles"):
		if r.Method == http.MethodDelete {
			return descRemoveRoles
		}
		return descAssignRoles
	case r.Method == http.MethodDelete:
		return descDeleteUser
	}
	return descUpdateUser
}
