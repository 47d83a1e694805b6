package store

import (
	"fmt"
	"slices"
	"strings"
)

// Named statements: the management block's SQL (create_user, update_user…)
// names its parameters (`:email`, `:user_id`), and CompileNamed turns them
// into driver placeholders when the config loads, so that a value is only
// ever a bound parameter, never part of the SQL text.
//
// The scanner is placeholders.go's: it skips string literals ('…', "…", with
// backslash and doubled-quote escapes), quoted identifiers and comments, so
// that a colon in `'10:30'`, in a URL default or in a comment is not taken
// for a parameter. jmoiron/sqlx's named-query compiler was considered and
// not used: it does not skip string literals (its issues #206, #368, #872;
// its maintainer declines to parse SQL), so such statements would be
// refused or, worse, bound wrongly.

// ManagementParams are the parameter names a management statement may use.
var ManagementParams = []string{
	"user_id", "email", "username", "name", "nickname", "picture", "email_verified", "blocked",
	"app_metadata", "user_metadata", "password_hash", "role", "org_id",
}

// NamedStatement is a statement whose named parameters became `?`.
type NamedStatement struct {
	// Directive is the Caddyfile directive, for errors and logs.
	Directive string
	// SQL has one `?` per entry of Names.
	SQL string
	// Names are the parameters in placeholder order (a name used twice is
	// listed twice).
	Names []string
}

// Args returns the values of s's parameters from values, in order; a name
// missing from values is bound as NULL.
func (s NamedStatement) Args(values map[string]any) []any {
	args := make([]any, len(s.Names))
	for i, n := range s.Names {
		args[i] = values[n]
	}
	return args
}

// Uses reports whether the statement names the parameter.
func (s NamedStatement) Uses(name string) bool { return slices.Contains(s.Names, name) }

// CompileNamed turns the `:name` parameters of query into `?` placeholders.
// Only names in known are accepted: another is refused with the list of
// known ones. A positional `?` is refused (it could be bound to nothing
// meaningful), and so is a statement without text. `::` and MySQL's `:=`
// are left as they are.
func CompileNamed(directive, query string, known []string) (NamedStatement, error) {
	query = strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	if query == "" {
		return NamedStatement{}, fmt.Errorf("%s: empty statement", directive)
	}
	var b strings.Builder
	var names []string
	inExecComment := false
	last := 0 // q[last:i] is still to be copied
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '?':
			return NamedStatement{}, fmt.Errorf("%s: use named parameters (:%s …), not '?'", directive, known[0])
		case c == '\'' || c == '"' || c == '`':
			end, ok := skipQuoted(query, i)
			if !ok {
				return NamedStatement{}, fmt.Errorf("%s: unterminated %c quote", directive, c)
			}
			i = end
		case c == '#' || (c == '-' && isLineComment(query, i)):
			for i < len(query) && query[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			if exec := execCommentPrefix(query[i:]); exec > 0 {
				inExecComment = true
				i += exec - 1
				continue
			}
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return NamedStatement{}, fmt.Errorf("%s: unterminated /* comment", directive)
			}
			i += 2 + end + 1
		case c == '*' && inExecComment && i+1 < len(query) && query[i+1] == '/':
			inExecComment = false
			i++
		case c == ':':
			if i+1 < len(query) && (query[i+1] == ':' || query[i+1] == '=') {
				i++ // `::`, `:=`: not a parameter
				continue
			}
			j := i + 1
			for j < len(query) && isNameByte(query[j], j == i+1) {
				j++
			}
			if j == i+1 {
				return NamedStatement{}, fmt.Errorf("%s: ':' without a parameter name at offset %d", directive, i)
			}
			name := query[i+1 : j]
			if !slices.Contains(known, name) {
				return NamedStatement{}, fmt.Errorf("%s: unknown parameter :%s (known: %s)", directive, name,
					":"+strings.Join(known, " :"))
			}
			b.WriteString(query[last:i])
			b.WriteByte('?')
			names = append(names, name)
			last = j
			i = j - 1
		}
	}
	if inExecComment {
		return NamedStatement{}, fmt.Errorf("%s: unterminated /*! comment", directive)
	}
	b.WriteString(query[last:])
	return NamedStatement{Directive: directive, SQL: b.String(), Names: names}, nil
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}
