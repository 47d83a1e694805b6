// Package store reads users from the customer's own MySQL database with the
// queries configured in the Caddyfile, and keeps claimgate's own state in
// claimgate_ tables of that same database.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Sentinel errors.
var (
	// ErrNotFound means user_query returned no row.
	ErrNotFound = errors.New("user not found")
	// ErrUnavailable wraps every database failure (connection refused,
	// timeout, bad query at run time). Logins answer 503 for it.
	ErrUnavailable = errors.New("user database unavailable")
	// ErrNotMember means an organization was asked for and
	// organization_query returned no row.
	ErrNotMember = errors.New("user is not a member of the organization")
)

// Config holds the customer's queries. Every query is parameterised.
type Config struct {
	UserQuery         string // username in; at most one row
	RolesQuery        string // user_id in; one name per row; optional
	PermissionsQuery  string // user_id in; one name per row; optional
	OrganizationQuery string // user_id and organization in; org_id, org_name out; optional
	RehashQuery       string // new hash and user_id in; optional
	Timeout           time.Duration
}

// ValidateConfig checks the queries without touching a database: user_query
// present with exactly one `?`, roles/permissions with one, organization with
// two, rehash with two.
func ValidateConfig(c Config) error { return errors.New("store.ValidateConfig: pending") }

// User is one row of user_query.
type User struct {
	// ID is the user_id column as a string.
	ID string
	// PasswordHash is never exposed in claims or logs.
	PasswordHash string
	// Blocked is the `blocked` column (false when absent).
	Blocked bool
	// AppMetadata and UserMetadata are the JSON columns; never nil.
	AppMetadata  map[string]any
	UserMetadata map[string]any
	// Attributes holds every column except password_hash, by name, typed as
	// SPEC §2 says (email_verified and blocked as bool, metadata as maps,
	// integers as int64, text as string); never nil. It is CEL's `user`.
	Attributes map[string]any
}

// Organization is what organization_query returned.
type Organization struct {
	ID   string
	Name string // empty when the query has no org_name column
}

// Grants are the roles, permissions and organization of a user.
type Grants struct {
	// Roles is roles_query's result when configured, else app_metadata.roles
	// when that is a list of strings, else empty (never nil).
	Roles []string
	// Permissions is nil when permissions_query is not configured.
	Permissions []string
	// Organization is nil when none was requested.
	Organization *Organization
}

// Store runs the customer's queries on a pooled *sql.DB.
type Store struct{}

// New prepares a Store on db. It must not fail when the database is down:
// statements are prepared on first use (and again after a failure).
func New(db *sql.DB, cfg Config, logger *zap.Logger) (*Store, error) {
	return nil, errors.New("store.New: pending")
}

// FindUser runs user_query for username.
func (s *Store) FindUser(ctx context.Context, username string) (*User, error) {
	return nil, errors.New("store.FindUser: pending")
}

// LoadGrants runs the roles, permissions and organization queries
// concurrently (organization only when org is not empty).
func (s *Store) LoadGrants(ctx context.Context, user *User, org string) (Grants, error) {
	return Grants{}, errors.New("store.LoadGrants: pending")
}

// HasPermissionsQuery reports whether permissions_query is configured.
func (s *Store) HasPermissionsQuery() bool { return false }

// UpdatePasswordHash runs rehash_query; a no-op when it is not configured.
func (s *Store) UpdatePasswordHash(ctx context.Context, userID, hash string) error {
	return errors.New("store.UpdatePasswordHash: pending")
}

// Close releases prepared statements (not the *sql.DB, which is pooled).
func (s *Store) Close() error { return nil }
