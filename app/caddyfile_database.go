package app

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/internal/cfgparse"
	"github.com/claimgate/claimgate/store"
)

// queryFields are the database subdirectives that hold SQL, in the order
// their errors are reported.
var queryFields = []string{"user_query", "roles_query", "permissions_query", "organization_query", "rehash_query", "user_id_query"}

// parseDatabase parses the database block:
//
//	database {
//	    dsn <dsn>|embedded
//	    user_query <sql>
//	    roles_query <sql>
//	    permissions_query <sql>
//	    organization_query <sql>
//	    timeout <duration>
//	    name <realm>
//	    rehash_query <sql>
//	    user_id_query <sql>
//	    manage_schema on|off
//	    dummy_hash_cost <n>
//	}
func parseDatabase(d *caddyfile.Dispenser) (*DatabaseConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	blockLine := d.Line()
	db := new(DatabaseConfig)
	lines := make(map[string]int) // subdirective → line, for late errors
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if _, dup := lines[name]; dup {
			return nil, d.Errf("database option '%s' is given twice", name)
		}
		lines[name] = d.Line()
		if err := databaseOption(d, db); err != nil {
			return nil, err
		}
	}

	if db.DSN == "" {
		return nil, cfgparse.ErrAt(d, blockLine, errors.New("database: missing dsn (a go-sql-driver DSN, or embedded)"))
	}
	if db.UserQuery == "" {
		return nil, cfgparse.ErrAt(d, blockLine, errors.New("database: missing user_query"))
	}
	if err := validateQueries(db); err != nil {
		return nil, cfgparse.ErrAt(d, queryLine(err, lines, blockLine), fmt.Errorf("database: %w", err))
	}
	return db, nil
}

// databaseOption parses one subdirective of the database block.
func databaseOption(d *caddyfile.Dispenser, db *DatabaseConfig) error {
	var err error
	switch d.Val() {
	case "dsn":
		db.DSN, err = parseDSN(d)
	case "user_query":
		db.UserQuery, err = cfgparse.SingleArg(d)
	case "roles_query":
		db.RolesQuery, err = cfgparse.SingleArg(d)
	case "permissions_query":
		db.PermissionsQuery, err = cfgparse.SingleArg(d)
	case "organization_query":
		db.OrganizationQuery, err = cfgparse.SingleArg(d)
	case "rehash_query":
		db.RehashQuery, err = cfgparse.SingleArg(d)
	case "user_id_query":
		db.UserIDQuery, err = cfgparse.SingleArg(d)
	case "timeout":
		db.Timeout, err = cfgparse.PositiveDuration(d)
	case "name":
		db.Name, err = cfgparse.SingleArg(d)
	case "manage_schema":
		var on bool
		on, err = cfgparse.OnOff(d)
		db.ManageSchema = &on
	case "dummy_hash_cost":
		if db.DummyHashCost, err = cfgparse.IntRange(d, 0, cfgparse.MaxCount); err == nil {
			if verr := validateDummyCost(db.DummyHashCost); verr != nil {
				err = d.Errf("%v", verr)
			}
		}
	default:
		return d.Errf("unrecognized database option '%s'", d.Val())
	}
	return err
}

// parseDSN reads `dsn DSN`. A DSN that does not parse is reported here, with
// its line, rather than on the first login. Placeholders ({env.X}) are
// replaced when the app provisions, so those are checked then.
func parseDSN(d *caddyfile.Dispenser) (string, error) {
	dsn, err := cfgparse.SingleArg(d)
	if err != nil {
		return "", err
	}
	if isNamedDSN(dsn) || strings.Contains(dsn, "{") {
		return dsn, nil
	}
	if err := store.ValidateDSN(dsn); err != nil {
		// The error may quote the DSN, which can hold a password: keep the
		// message generic.
		return "", d.Err("dsn: not a valid go-sql-driver DSN (user:password@tcp(host:3306)/dbname?params)")
	}
	return dsn, nil
}

// validateQueries runs the store's static query checks. user_query alone
// first, so its error is attributed to its own line whatever the wording of
// the store's message.
func validateQueries(db *DatabaseConfig) error {
	if err := store.ValidateConfig(store.Config{UserQuery: db.UserQuery}); err != nil {
		return &queryError{field: "user_query", err: err}
	}
	return store.ValidateConfig(store.Config{
		UserQuery:         db.UserQuery,
		RolesQuery:        db.RolesQuery,
		PermissionsQuery:  db.PermissionsQuery,
		OrganizationQuery: db.OrganizationQuery,
		RehashQuery:       db.RehashQuery,
		UserIDQuery:       db.UserIDQuery,
		Timeout:           time.Duration(db.Timeout),
	})
}

// queryError attributes a store error to one query.
type queryError struct {
	field string
	err   error
}

func (e *queryError) Error() string {
	if strings.Contains(e.err.Error(), e.field) {
		return e.err.Error()
	}
	return e.field + ": " + e.err.Error()
}
func (e *queryError) Unwrap() error { return e.err }

// queryLine finds the line of the query an error is about: the field it is
// attributed to, or the first query the store's message names; the database
// block's line otherwise.
func queryLine(err error, lines map[string]int, blockLine int) int {
	var qe *queryError
	if errors.As(err, &qe) {
		return lines[qe.field]
	}
	msg := err.Error()
	for _, field := range queryFields {
		if line, ok := lines[field]; ok && strings.Contains(msg, field) {
			return line
		}
	}
	return blockLine
}
