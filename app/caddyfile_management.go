package app

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/internal/cfgparse"
	"github.com/claimgate/claimgate/store"
)

// parseManagement parses the management block:
//
//	management {
//	    audience <url>
//	    create_user <sql>
//	    update_user <sql>
//	    delete_user <sql>
//	    assign_role <sql>
//	    remove_role <sql>
//	    add_member <sql>
//	    remove_member <sql>
//	    password_min_length <n>
//	    hash argon2id | bcrypt [<cost>]
//	}
//
// Each statement is compiled on its line (store.CompileNamed), so that an
// unknown parameter is reported there with the list of known ones.
func parseManagement(d *caddyfile.Dispenser) (*ManagementConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	m := new(ManagementConfig)
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("management option '%s' is given twice", name)
		}
		seen[name] = true
		if err := managementOption(d, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func managementOption(d *caddyfile.Dispenser, m *ManagementConfig) error {
	name := d.Val()
	statements := map[string]*string{
		store.DirectiveCreateUser: &m.CreateUser, store.DirectiveUpdateUser: &m.UpdateUser,
		store.DirectiveDeleteUser: &m.DeleteUser, store.DirectiveAssignRole: &m.AssignRole,
		store.DirectiveRemoveRole: &m.RemoveRole, store.DirectiveAddMember: &m.AddMember,
		store.DirectiveRemoveMember: &m.RemoveMember,
	}
	if field, ok := statements[name]; ok {
		sql, err := cfgparse.SingleArg(d)
		if err != nil {
			return err
		}
		if _, err := store.CompileNamed(name, sql, store.ManagementParams); err != nil {
			return d.Errf("management: %v", err)
		}
		*field = sql
		return nil
	}
	var err error
	switch name {
	case "audience":
		if m.Audience, err = cfgparse.SingleArg(d); err != nil {
			return err
		}
		if err := validateManagementAudience(m.Audience); err != nil {
			return d.Errf("management: %v", err)
		}
	case "password_min_length":
		if m.PasswordMinLength, err = cfgparse.IntRange(d, 0, cfgparse.MaxCount); err == nil {
			if verr := validatePasswordMinLength(m.PasswordMinLength); verr != nil {
				return d.Errf("management: %v", verr)
			}
		}
	case "hash":
		args, err := cfgparse.AtLeastOneArg(d)
		if err != nil {
			return err
		}
		switch {
		case len(args) == 1 && args[0] == HashArgon2id:
			m.Hash = HashArgon2id
		case args[0] == HashBcrypt && len(args) <= 2:
			m.Hash = HashBcrypt
			if len(args) == 2 {
				cost, err := strconv.Atoi(args[1])
				if err != nil {
					return d.Errf("management: hash bcrypt: expected a cost, got '%s'", args[1])
				}
				if err := validateNewBcryptCost(cost); err != nil {
					return d.Errf("management: hash %v", err)
				}
				m.BcryptCost = cost
			}
		default:
			return d.Errf("management: hash: expected argon2id or bcrypt [cost], got '%s'", args[0])
		}
	default:
		return d.Errf("unrecognized management option '%s'", name)
	}
	return err
}
