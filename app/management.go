package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/httpurl"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// The management API's settings: its audience, the
// statements that write the customer's tables, the password policy and the
// hash format of new passwords.

// Hash formats of new passwords.
const (
	HashArgon2id = "argon2id"
	HashBcrypt   = "bcrypt"
)

// defaultBcryptCost is the cost of `hash bcrypt` without one.
const defaultBcryptCost = 12

// ManagementConfig is the `management` block.
type ManagementConfig struct {
	// Audience is the aud a management token must carry; default the
	// issuer + "api/v2/".
	Audience string `json:"audience,omitempty"`

	// The statements below write the customer's tables. They take named
	// parameters (:user_id, :email … the list is store.ManagementParams),
	// compiled to placeholders when the config loads; each is optional, and
	// an endpoint that needs a missing one answers 501 naming it.

	// CreateUser inserts a user: POST /api/v2/users and sign-up. The new
	// user_id is the request's when the statement stores :user_id, else
	// the INSERT's LastInsertId.
	CreateUser string `json:"create_user,omitempty"`
	// UpdateUser writes a user's values, current ones plus the patch:
	// PATCH /api/v2/users/{id}, after reading the row with user_id_query
	// FOR UPDATE in the same transaction.
	UpdateUser string `json:"update_user,omitempty"`
	// DeleteUser deletes a user (:user_id): DELETE /api/v2/users/{id}.
	DeleteUser string `json:"delete_user,omitempty"`
	// AssignRole gives a user a role (:user_id, :role), once per role of
	// POST /api/v2/users/{id}/roles.
	AssignRole string `json:"assign_role,omitempty"`
	// RemoveRole takes a role from a user (:user_id, :role), once per role
	// of DELETE /api/v2/users/{id}/roles.
	RemoveRole string `json:"remove_role,omitempty"`
	// AddMember adds a user to an organization (:user_id, :org_id), once
	// per member of POST /api/v2/organizations/{id}/members.
	AddMember string `json:"add_member,omitempty"`
	// RemoveMember removes a user from an organization (:user_id,
	// :org_id), once per member of DELETE
	// /api/v2/organizations/{id}/members.
	RemoveMember string `json:"remove_member,omitempty"`

	// PasswordMinLength is the least number of characters of a new
	// password; default 8.
	PasswordMinLength int `json:"password_min_length,omitempty"`
	// Hash is the format new passwords are stored in: argon2id (default,
	// OWASP parameters) or bcrypt.
	Hash string `json:"hash,omitempty"`
	// BcryptCost is the cost of `hash bcrypt`; default 12.
	BcryptCost int `json:"bcrypt_cost,omitempty"`
}

// statements is the store package's view of the block.
func (m *ManagementConfig) statements() store.ManagementConfig {
	return store.ManagementConfig{
		CreateUser: m.CreateUser, UpdateUser: m.UpdateUser, DeleteUser: m.DeleteUser,
		AssignRole: m.AssignRole, RemoveRole: m.RemoveRole,
		AddMember: m.AddMember, RemoveMember: m.RemoveMember,
	}
}

// validate checks the block without a database: every statement compiles
// (an unknown parameter is refused with the list of known ones), the
// audience is an absolute URL, the hash format is known.
func (m *ManagementConfig) validate() error {
	if _, err := store.CompileManagement(m.statements()); err != nil {
		return fmt.Errorf("management: %w", err)
	}
	if m.Audience != "" {
		if err := validateManagementAudience(m.Audience); err != nil {
			return fmt.Errorf("management: %w", err)
		}
	}
	if m.PasswordMinLength != 0 {
		if err := validatePasswordMinLength(m.PasswordMinLength); err != nil {
			return fmt.Errorf("management: %w", err)
		}
	}
	switch m.Hash {
	case "", HashArgon2id:
		if m.BcryptCost != 0 {
			return errors.New("management: a bcrypt cost needs `hash bcrypt`")
		}
	case HashBcrypt:
		if m.BcryptCost != 0 {
			if err := validateNewBcryptCost(m.BcryptCost); err != nil {
				return fmt.Errorf("management: %w", err)
			}
		}
	default:
		return fmt.Errorf("management: unknown hash %q (argon2id or bcrypt)", m.Hash)
	}
	return nil
}

// validateManagementAudience requires an absolute URL: the audience is
// matched verbatim against tokens' aud.
func validateManagementAudience(aud string) error {
	if err := httpurl.CheckAbsolute(aud); err != nil {
		return fmt.Errorf("audience: %w", err)
	}
	return nil
}

// validatePasswordMinLength bounds the policy's minimum by the longest
// password accepted at all.
func validatePasswordMinLength(n int) error {
	if n < 1 || n > grant.MaxPasswordBytes {
		return fmt.Errorf("password_min_length %d is outside 1..%d", n, grant.MaxPasswordBytes)
	}
	return nil
}

// minNewBcryptCost is the least bcrypt cost new passwords are hashed at
// (OWASP ASVS: at least 10).
const minNewBcryptCost = 10

// validateNewBcryptCost checks the cost of `hash bcrypt COST`.
func validateNewBcryptCost(cost int) error {
	if cost < minNewBcryptCost || cost > password.MaxBcryptCost {
		return fmt.Errorf("bcrypt cost %d is outside %d..%d (OWASP: at least 10)", cost, minNewBcryptCost, password.MaxBcryptCost)
	}
	return nil
}

// validateManagement checks the management block, when there is one.
func (a *App) validateManagement() error {
	if a.Management == nil {
		return nil
	}
	return a.Management.validate()
}

// managementAudience is the configured audience or the issuer + "api/v2/".
func (a *App) managementAudience() string {
	if a.Management.Audience != "" {
		return a.Management.Audience
	}
	return strings.TrimSuffix(a.Issuer, "/") + "/api/v2/"
}

// provisionManagement builds the management flows on the grant service.
func (a *App) provisionManagement() error {
	m := a.Management
	if m == nil {
		return nil
	}
	w, err := store.NewWriter(a.store, m.statements())
	if err != nil {
		return fmt.Errorf("management: %w", err)
	}
	hash := func(pw []byte) (string, error) { return password.HashArgon2id(pw, password.DefaultArgon2) }
	if m.Hash == HashBcrypt {
		cost := m.BcryptCost
		if cost == 0 {
			cost = defaultBcryptCost
		}
		hash = func(pw []byte) (string, error) { return password.HashBcrypt(pw, cost) }
	}
	a.management = grant.NewManagement(a.grants, grant.ManagementConfig{
		Writer:            w,
		Connection:        a.Database.Name,
		PasswordMinLength: m.PasswordMinLength,
		Hash:              hash,
	})
	return nil
}

// ManagementAPI returns the management flows, nil when the management block
// is not configured.
func (a *App) ManagementAPI() *grant.Management { return a.management }

// ManagementAudience is the aud a management API token must carry ("" when
// the management block is not configured).
func (a *App) ManagementAudience() string {
	if a.Management == nil {
		return ""
	}
	return a.managementAudience()
}
