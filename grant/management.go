package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// The management flows: create, read, update and
// delete users, their roles, organization memberships and brute-force
// blocks, through the statements of the management block. Like the sign-in
// flows they know nothing of HTTP: refusals are the domain errors below,
// which the HTTP layer maps once.

// Management errors.
var (
	// ErrUserExists is a create refused because the user exists (a
	// duplicate key).
	ErrUserExists = errors.New("the user already exists")
	// ErrNoSuchUser is an operation on a user_id that matches no user.
	ErrNoSuchUser = errors.New("the user does not exist")
)

// DefaultPasswordMinLength is password_min_length's default.
const DefaultPasswordMinLength = 8

// MaxPasswordBytes is the longest password accepted (in bytes).
const MaxPasswordBytes = 1024

// InvalidInputError is a request whose values cannot be stored: Message is
// fixed text for the client (it may quote a field name, never a value).
type InvalidInputError struct {
	Message string
	Err     error
}

func (e *InvalidInputError) Error() string { return e.Message }

func (e *InvalidInputError) Unwrap() error { return e.Err }

// PasswordPolicyError is a password the policy refuses; Message says why,
// without the password.
type PasswordPolicyError struct{ Message string }

func (e *PasswordPolicyError) Error() string { return "password policy: " + e.Message }

// StatementMissingError is an operation whose statement is not configured;
// Directive is what to add to the configuration.
type StatementMissingError struct{ Directive string }

func (e *StatementMissingError) Error() string {
	return "this operation needs the " + e.Directive + " statement, which is not configured"
}

// ManagementConfig configures the management flows.
type ManagementConfig struct {
	// Writer runs the management block's statements.
	Writer *store.Writer
	// Connection is the database's name (a create's connection must be it).
	Connection string
	// PasswordMinLength is the least number of characters of a new
	// password; 0 means DefaultPasswordMinLength.
	PasswordMinLength int
	// Hash hashes a new password in the configured format; nil means
	// argon2id at password.DefaultArgon2.
	Hash func(pw []byte) (string, error)
}

// Management runs the management flows on a Service's stores.
type Management struct {
	s   *Service
	cfg ManagementConfig
}

// NewManagement returns the management flows of s.
func NewManagement(s *Service, cfg ManagementConfig) *Management {
	if cfg.PasswordMinLength <= 0 {
		cfg.PasswordMinLength = DefaultPasswordMinLength
	}
	if cfg.Hash == nil {
		cfg.Hash = func(pw []byte) (string, error) { return password.HashArgon2id(pw, password.DefaultArgon2) }
	}
	return &Management{s: s, cfg: cfg}
}

// Connection is the database's name, as users' identities name it.
func (m *Management) Connection() string { return m.cfg.Connection }

// UserID is the bare user_id of id, which may carry the subject_prefix (as
// the user object's user_id does).
func (m *Management) UserID(id string) string { return strings.TrimPrefix(id, m.s.cfg.SubjectPrefix) }

// Subject is the user object's user_id of a bare user_id.
func (m *Management) Subject(userID string) string { return m.s.Subject(userID) }

// NewUser is a user to create.
type NewUser struct {
	// UserID, when set, is the new user's id (for tables without
	// AUTO_INCREMENT); otherwise the statement's LastInsertId is.
	UserID                            string
	Email, Password                   string
	Username, Name, Nickname, Picture string
	EmailVerified, Blocked            bool
	// AppMetadata and UserMetadata are stored as JSON text; nil is {}.
	AppMetadata, UserMetadata map[string]any
}

// CheckPassword applies the password policy to pw for a user with this
// email and username: at least password_min_length characters, at most
// MaxPasswordBytes bytes, not the email or the username. It returns a
// *PasswordPolicyError.
func (m *Management) CheckPassword(pw, email, username string) error {
	switch {
	case !utf8.ValidString(pw):
		return &PasswordPolicyError{Message: "The password is not valid UTF-8."}
	case utf8.RuneCountInString(pw) < m.cfg.PasswordMinLength:
		return &PasswordPolicyError{Message: fmt.Sprintf("The password is too short (at least %d characters).", m.cfg.PasswordMinLength)}
	case len(pw) > MaxPasswordBytes:
		return &PasswordPolicyError{Message: fmt.Sprintf("The password is too long (at most %d bytes).", MaxPasswordBytes)}
	case email != "" && strings.EqualFold(pw, email), username != "" && strings.EqualFold(pw, username):
		return &PasswordPolicyError{Message: "The password must not be the email or the username."}
	}
	return nil
}

// hashPassword hashes pw in the configured format inside the hashing
// guard (hashing is what logins wait for too).
func (m *Management) hashPassword(ctx context.Context, pw string) (string, error) {
	var (
		hash string
		err  error
	)
	gerr := m.s.cfg.Guard.Do(ctx, func() { hash, err = m.cfg.Hash([]byte(pw)) })
	if gerr != nil {
		return "", &UnavailableError{Description: "Password hashing is saturated.", RetryAfter: retryAfterSaturated, Err: gerr}
	}
	if errors.Is(err, password.ErrTooLong) {
		return "", &PasswordPolicyError{Message: "The password is too long for the configured hash (bcrypt: at most 72 bytes)."}
	}
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return hash, nil
}

// CreateUser checks the password policy, hashes the password, runs
// create_user and returns the new user as user_id_query reads it (or, without
// user_id_query, as it was written). This is the one way users are created:
// the management API's POST /api/v2/users and sign-up
// (/dbconnections/signup, which passes no AppMetadata) both call it.
//
// Errors: *StatementMissingError (create_user not configured),
// *InvalidInputError (no email), *PasswordPolicyError, ErrUserExists (a
// duplicate key), *UnavailableError, ErrMisconfigured.
func (m *Management) CreateUser(ctx context.Context, u NewUser) (*store.User, error) {
	w := m.cfg.Writer
	if !w.Has(store.DirectiveCreateUser) {
		return nil, &StatementMissingError{Directive: store.DirectiveCreateUser}
	}
	if u.Email == "" {
		return nil, &InvalidInputError{Message: "Missing required property: email"}
	}
	if err := m.CheckPassword(u.Password, u.Email, u.Username); err != nil {
		return nil, err
	}
	hash, err := m.hashPassword(ctx, u.Password)
	if err != nil {
		return nil, err
	}
	values := map[string]any{
		"email":          u.Email,
		"username":       nullable(u.Username),
		"name":           nullable(u.Name),
		"nickname":       nullable(u.Nickname),
		"picture":        nullable(u.Picture),
		"email_verified": boolInt(u.EmailVerified),
		"blocked":        boolInt(u.Blocked),
		"app_metadata":   jsonText(u.AppMetadata),
		"user_metadata":  jsonText(u.UserMetadata),
		"password_hash":  hash,
	}
	if u.UserID != "" {
		values["user_id"] = u.UserID
	}
	id, err := w.CreateUser(ctx, values)
	if err != nil {
		return nil, writeError(err)
	}
	if !m.s.cfg.Users.HasUserIDQuery() {
		return writtenUser(id, values), nil
	}
	user, err := m.s.cfg.Users.FindUserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Written but not readable by id (a user_id the table rewrote):
		// answer what was written.
		return writtenUser(id, values), nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return user, nil
}

// writtenUser is a created user as its values describe it.
func writtenUser(id string, values map[string]any) *store.User {
	attrs := map[string]any{"user_id": id}
	for _, k := range []string{"email", "username", "name", "nickname", "picture"} {
		if v, ok := values[k].(string); ok {
			attrs[k] = v
		}
	}
	attrs["email_verified"] = values["email_verified"] == 1
	attrs["blocked"] = values["blocked"] == 1
	u := &store.User{ID: id, Blocked: attrs["blocked"] == true, Attributes: attrs}
	_ = json.Unmarshal([]byte(values["app_metadata"].(string)), &u.AppMetadata)
	_ = json.Unmarshal([]byte(values["user_metadata"].(string)), &u.UserMetadata)
	attrs["app_metadata"], attrs["user_metadata"] = u.AppMetadata, u.UserMetadata
	return u
}

// GetUser reads the user userID through user_id_query.
func (m *Management) GetUser(ctx context.Context, userID string) (*store.User, error) {
	if !m.s.cfg.Users.HasUserIDQuery() {
		return nil, &StatementMissingError{Directive: "user_id_query"}
	}
	user, err := m.s.cfg.Users.FindUserByID(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNoSuchUser
	case err != nil:
		return nil, unavailable(err)
	}
	return user, nil
}

// FindUserByEmail reads the user through user_query; nil when none.
func (m *Management) FindUserByEmail(ctx context.Context, email string) (*store.User, error) {
	user, err := m.s.cfg.Users.FindUser(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, unavailable(err)
	}
	return user, nil
}

// UserPatch is a change to a user. A nil field is left as it is.
type UserPatch struct {
	Email, Username, Name, Nickname, Picture *string
	EmailVerified, Blocked                   *bool
	Password                                 *string
	// AppMetadata and UserMetadata are merged into the stored objects at
	// their first level; a key whose value is nil is removed. A nil map
	// leaves the object as it is.
	AppMetadata, UserMetadata map[string]any
}

// UpdateUser applies p to the user userID and returns the user as stored
// afterwards. The read, merge and write happen in one transaction with the
// row locked (store.Writer.UpdateUser), so concurrent patches of one user,
// on any instance, never lose each other's metadata. A new password, or
// blocking the user, revokes every refresh-token family and sign-in session
// of the user.
func (m *Management) UpdateUser(ctx context.Context, userID string, p UserPatch) (*store.User, error) {
	w := m.cfg.Writer
	if !w.Has(store.DirectiveUpdateUser) {
		return nil, &StatementMissingError{Directive: store.DirectiveUpdateUser}
	}
	var newHash string
	if p.Password != nil {
		// The policy needs the email and username: read them (unlocked;
		// hashing must not happen while the row is locked).
		current, err := m.GetUser(ctx, userID)
		if err != nil {
			return nil, err
		}
		email, username := attrString(current, "email"), attrString(current, "username")
		if p.Email != nil {
			email = *p.Email
		}
		if p.Username != nil {
			username = *p.Username
		}
		if err := m.CheckPassword(*p.Password, email, username); err != nil {
			return nil, err
		}
		if newHash, err = m.hashPassword(ctx, *p.Password); err != nil {
			return nil, err
		}
	}
	stmt, _ := w.Statement(store.DirectiveUpdateUser)
	_, err := w.UpdateUser(ctx, userID, func(u *store.User) (map[string]any, error) {
		if unread := unreadColumns(u, p, stmt); len(unread) > 0 {
			return nil, fmt.Errorf("%w: update_user writes %s, which user_id_query does not return: "+
				"the stored values would be overwritten; add the columns to user_id_query",
				ErrMisconfigured, strings.Join(unread, ", "))
		}
		return patchedValues(u, p, newHash), nil
	})
	var nse *store.NoStatementError
	switch {
	case errors.Is(err, ErrMisconfigured):
		m.s.cfg.Logger.Error("management update refused", zap.Error(err))
		return nil, err
	case errors.As(err, &nse):
		return nil, &StatementMissingError{Directive: nse.Directive}
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNoSuchUser
	case err != nil:
		return nil, writeError(err)
	}
	// Also when the user was blocked already: a retried block after a
	// revocation that failed must still revoke.
	if newHash != "" || (p.Blocked != nil && *p.Blocked) {
		if err := m.revokeUser(ctx, userID); err != nil {
			return nil, err
		}
	}
	return m.GetUser(ctx, userID)
}

// unreadColumns names the columns update_user writes that the patch does
// not set and user_id_query did not read: writing them would put NULL (or 0,
// unblocking a blocked user) over the stored value.
func unreadColumns(u *store.User, p UserPatch, stmt store.NamedStatement) []string {
	set := map[string]bool{
		"email": p.Email != nil, "username": p.Username != nil, "name": p.Name != nil,
		"nickname": p.Nickname != nil, "picture": p.Picture != nil,
		"email_verified": p.EmailVerified != nil, "blocked": p.Blocked != nil,
	}
	var unread []string
	for _, name := range stmt.Names {
		switch name {
		case "user_id", "password_hash", "role", "org_id":
			continue // always known, or not a user column
		}
		if u.HasColumn(name) || set[name] {
			continue
		}
		unread = append(unread, name)
	}
	return unread
}

// patchedValues are update_user's parameters: the row u with p applied.
func patchedValues(u *store.User, p UserPatch, newHash string) map[string]any {
	v := map[string]any{
		"user_id":        u.ID,
		"password_hash":  u.PasswordHash,
		"email_verified": boolInt(attrBool(u, "email_verified")),
		"blocked":        boolInt(u.Blocked),
	}
	for _, k := range []string{"email", "username", "name", "nickname", "picture"} {
		v[k] = nil
		if s, ok := u.Attributes[k].(string); ok {
			v[k] = s
		}
	}
	set := func(k string, s *string) {
		if s != nil {
			v[k] = *s
		}
	}
	set("email", p.Email)
	set("username", p.Username)
	set("name", p.Name)
	set("nickname", p.Nickname)
	set("picture", p.Picture)
	if p.EmailVerified != nil {
		v["email_verified"] = boolInt(*p.EmailVerified)
	}
	if p.Blocked != nil {
		v["blocked"] = boolInt(*p.Blocked)
	}
	if newHash != "" {
		v["password_hash"] = newHash
	}
	v["app_metadata"] = jsonText(mergeMetadata(u.AppMetadata, p.AppMetadata))
	v["user_metadata"] = jsonText(mergeMetadata(u.UserMetadata, p.UserMetadata))
	return v
}

// mergeMetadata is Auth0's rule: patch's keys replace stored's at the first
// level, and a key set to null is removed.
func mergeMetadata(stored, patch map[string]any) map[string]any {
	out := make(map[string]any, len(stored)+len(patch))
	for k, val := range stored {
		out[k] = val
	}
	for k, val := range patch {
		if val == nil {
			delete(out, k)
			continue
		}
		out[k] = val
	}
	return out
}

// DeleteUser runs delete_user for userID and revokes the user's refresh
// tokens and sessions. Deleting a user that does not exist succeeds, as
// at Auth0.
func (m *Management) DeleteUser(ctx context.Context, userID string) error {
	w := m.cfg.Writer
	if !w.Has(store.DirectiveDeleteUser) {
		return &StatementMissingError{Directive: store.DirectiveDeleteUser}
	}
	n, err := w.Exec(ctx, store.DirectiveDeleteUser, map[string]any{"user_id": userID})
	if err != nil {
		return writeError(err)
	}
	if n == 0 {
		// Auth0 answers 204 for a user that is already gone, and migrating
		// backends rely on it (a retried delete must not throw); what is
		// left of the user's sessions is revoked all the same.
		m.s.cfg.Logger.Debug("delete of a user that does not exist", zap.String("user_id", userID))
	}
	return m.revokeUser(ctx, userID)
}

// revokeUser ends every refresh-token family and sign-in session of the
// user, on every instance.
func (m *Management) revokeUser(ctx context.Context, userID string) error {
	st := m.s.cfg.State
	if st == nil {
		return nil
	}
	if m.s.cfg.StateReady != nil {
		if err := m.s.cfg.StateReady(ctx); err != nil {
			return stateUnavailable(err)
		}
	}
	now := m.s.Now()
	if err := st.RevokeUser(ctx, userID, now); err != nil {
		return stateUnavailable(err)
	}
	if err := st.RevokeUserSessions(ctx, userID, now); err != nil {
		return stateUnavailable(err)
	}
	m.s.cfg.Logger.Info("revoked the user's refresh tokens and sessions", zap.String("user_id", userID))
	return nil
}

// Roles returns the user's role names (roles_query, or app_metadata.roles).
func (m *Management) Roles(ctx context.Context, userID string) ([]string, error) {
	user, err := m.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	roles, err := m.s.cfg.Users.RolesOf(ctx, user)
	if err != nil {
		return nil, unavailable(err)
	}
	return roles, nil
}

// AssignRoles runs assign_role for each role.
func (m *Management) AssignRoles(ctx context.Context, userID string, roles []string) error {
	return m.eachForUser(ctx, store.DirectiveAssignRole, userID, "role", roles)
}

// RemoveRoles runs remove_role for each role.
func (m *Management) RemoveRoles(ctx context.Context, userID string, roles []string) error {
	return m.eachForUser(ctx, store.DirectiveRemoveRole, userID, "role", roles)
}

func (m *Management) eachForUser(ctx context.Context, directive, userID, param string, values []string) error {
	if !m.cfg.Writer.Has(directive) {
		return &StatementMissingError{Directive: directive}
	}
	if _, err := m.GetUser(ctx, userID); err != nil {
		return err
	}
	for _, val := range values {
		if _, err := m.cfg.Writer.Exec(ctx, directive, map[string]any{"user_id": userID, param: val}); err != nil {
			return writeError(err)
		}
	}
	return nil
}

// AddMembers runs add_member for each user of the organization orgID.
func (m *Management) AddMembers(ctx context.Context, orgID string, userIDs []string) error {
	return m.eachMember(ctx, store.DirectiveAddMember, orgID, userIDs)
}

// RemoveMembers runs remove_member for each user of the organization.
func (m *Management) RemoveMembers(ctx context.Context, orgID string, userIDs []string) error {
	return m.eachMember(ctx, store.DirectiveRemoveMember, orgID, userIDs)
}

func (m *Management) eachMember(ctx context.Context, directive, orgID string, userIDs []string) error {
	if !m.cfg.Writer.Has(directive) {
		return &StatementMissingError{Directive: directive}
	}
	for _, id := range userIDs {
		if _, err := m.GetUser(ctx, id); err != nil {
			return err
		}
	}
	for _, id := range userIDs {
		if _, err := m.cfg.Writer.Exec(ctx, directive, map[string]any{"user_id": id, "org_id": orgID}); err != nil {
			return writeError(err)
		}
	}
	return nil
}

// Unblock clears the brute-force blocks of the user (what `claimgate
// unblock` does).
func (m *Management) Unblock(ctx context.Context, userID string) error {
	if _, err := m.GetUser(ctx, userID); err != nil {
		return err
	}
	if m.s.cfg.State == nil {
		return nil
	}
	if m.s.cfg.StateReady != nil {
		if err := m.s.cfg.StateReady(ctx); err != nil {
			return stateUnavailable(err)
		}
	}
	if _, err := store.ClearBlocks(ctx, m.s.cfg.Users, m.s.cfg.State, userID, ""); err != nil {
		return stateUnavailable(err)
	}
	return nil
}

// writeError maps a Writer's error to the domain's.
func writeError(err error) error {
	var nse *store.NoStatementError
	switch {
	case errors.As(err, &nse):
		return &StatementMissingError{Directive: nse.Directive}
	case errors.Is(err, store.ErrDuplicate):
		return fmt.Errorf("%w: %w", ErrUserExists, err)
	case errors.Is(err, store.ErrRejected):
		return &InvalidInputError{Message: "The database refused the values.", Err: err}
	}
	return unavailable(err)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonText is m as JSON text ({} for nil).
func jsonText(m map[string]any) string {
	if m == nil {
		return "{}"
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // stored as given: `<` stays `<`
	if err := enc.Encode(m); err != nil {
		return "{}" // decoded from JSON: always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func attrString(u *store.User, k string) string {
	s, _ := u.Attributes[k].(string)
	return s
}

func attrBool(u *store.User, k string) bool {
	b, _ := u.Attributes[k].(bool)
	return b
}
