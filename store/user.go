package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// column is what buildUser needs of a result column; *sql.ColumnType
// provides it, and tests can provide it without a server.
type column interface {
	Name() string
	DatabaseTypeName() string
}

// Columns user_query may return with a meaning of their own. Their names are
// matched case-insensitively and stored in Attributes in lowercase; any other
// column is kept under the name the query gave it.
var recognisedColumns = map[string]bool{
	"user_id": true, "password_hash": true, "email": true, "email_verified": true,
	"username": true, "name": true, "nickname": true, "picture": true, "blocked": true,
	"app_metadata": true, "user_metadata": true,
}

// buildUser turns a user_query row into a User.
//
// A query that lacks user_id or password_hash is a configuration error
// (ErrMisconfigured: every login would fail). A row claimgate must not trust —
// NULL user_id, app_metadata that is not a JSON object — fails the login like
// wrong credentials (ErrNotFound, wrapped) and is logged: app_metadata is
// admin-owned and feeds roles and deny rules, so guessing "empty" there could
// let a blocked user in. user_metadata is user-editable and must not drive
// authorization, so a bad one is only logged and read as empty.
func (s *Store) buildUser(sqlCols []*sql.ColumnType, vals []any) (*User, error) {
	cols := make([]column, len(sqlCols))
	for i, c := range sqlCols {
		cols[i] = c
	}
	return buildUser(s.logger, cols, vals)
}

func buildUser(logger *zap.Logger, cols []column, vals []any) (*User, error) {
	u := &User{
		AppMetadata:  map[string]any{},
		UserMetadata: map[string]any{},
		Attributes:   make(map[string]any, len(cols)),
	}
	keys := make([]string, len(cols))
	seen := make(map[string]bool, len(cols))
	userIDCol := -1
	for i, col := range cols {
		name := col.Name()
		key := strings.ToLower(name)
		if !recognisedColumns[key] {
			key = name
		}
		if seen[key] {
			return nil, misconfigured(fmt.Sprintf("column %q appears twice", name))
		}
		seen[key] = true
		keys[i] = key
		if key == "user_id" {
			userIDCol = i
		}
	}
	switch {
	case !seen["user_id"]:
		return nil, misconfigured("the query returns no user_id column; alias the primary key, e.g. `SELECT id AS user_id, ...`")
	case !seen["password_hash"]:
		return nil, misconfigured("the query returns no password_hash column; alias it, e.g. `password AS password_hash`")
	}
	u.columns = keys
	// user_id first, so that log lines about the other columns can name it.
	if err := u.setColumn(logger, "user_id", "", vals[userIDCol]); err != nil {
		return nil, err
	}
	for i, col := range cols {
		if i == userIDCol {
			continue
		}
		if err := u.setColumn(logger, keys[i], col.DatabaseTypeName(), vals[i]); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// setColumn stores one column of the row.
func (u *User) setColumn(logger *zap.Logger, key, typeName string, v any) error {
	switch key {
	case "user_id":
		id, ok := idString(v)
		if !ok || id == "" {
			logger.Error("user_query returned a row without user_id; refusing the login")
			return fmt.Errorf("%w: user_id is empty", ErrNotFound)
		}
		u.ID = id
		u.Attributes[key] = id
	case "password_hash":
		// NULL or empty: no password can match; the password package
		// rejects an empty hash like an unknown format.
		u.PasswordHash, _ = idString(v)
	case "email_verified":
		b, ok := parseBool(v)
		if !ok && v != nil {
			logger.Warn("email_verified is not a boolean (0/1/true/false); leaving it out",
				zap.String("user_id", u.ID))
		}
		if ok {
			u.Attributes[key] = b
		}
	case "blocked":
		b, ok := parseBool(v)
		if !ok && v != nil {
			// Fail closed: an unreadable flag blocks.
			logger.Error("blocked is not a boolean (0/1/true/false); treating the user as blocked",
				zap.String("user_id", u.ID))
			b, ok = true, true
		}
		u.Blocked = b
		if ok {
			u.Attributes[key] = b
		}
	case "app_metadata":
		m, err := parseMetadata(v)
		if err != nil {
			logger.Error("app_metadata is not a JSON object; refusing the login",
				zap.String("user_id", u.ID), zap.String("reason", metadataReason(err)))
			return fmt.Errorf("%w: app_metadata is %s", ErrNotFound, metadataReason(err))
		}
		u.AppMetadata = m
		u.Attributes[key] = m
	case "user_metadata":
		m, err := parseMetadata(v)
		if err != nil {
			logger.Warn("user_metadata is not a JSON object; using an empty one",
				zap.String("user_id", u.ID), zap.String("reason", metadataReason(err)))
			m = map[string]any{}
		}
		u.UserMetadata = m
		u.Attributes[key] = m
	default:
		if value, ok := columnValue(typeName, v); ok {
			u.Attributes[key] = value
		}
	}
	return nil
}

// metadataReason describes a metadata error without quoting the data:
// encoding/json's syntax errors can include the offending bytes.
func metadataReason(err error) string {
	if errors.Is(err, errNotObject) {
		return "valid JSON but not an object"
	}
	return "invalid JSON"
}

// misconfigured reports a user_query that can never produce a usable user.
func misconfigured(reason string) error {
	return &QueryError{Directive: "user_query", msg: "user_query: " + reason}
}
