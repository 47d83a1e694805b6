package store

import (
	"fmt"
	"strings"
)

// countPlaceholders counts the `?` parameter markers of a MySQL statement,
// skipping those inside quoted strings ('…', "…"), quoted identifiers (`…`)
// and comments (`-- `, `#`, `/* */`). The code inside MySQL/MariaDB
// executable comments (`/*! … */`, `/*M! … */`) is scanned, because the
// server runs it. Backslash escapes are honoured in strings, as in the
// default sql_mode (without NO_BACKSLASH_ESCAPES).
//
// It fails on an unterminated string, identifier or comment, which the
// server would refuse anyway; reporting it here names the directive.
func countPlaceholders(q string) (int, error) {
	n := 0
	inExecComment := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '?':
			n++
		case c == '\'' || c == '"' || c == '`':
			end, ok := skipQuoted(q, i)
			if !ok {
				return n, fmt.Errorf("unterminated %c quote", c)
			}
			i = end
		case c == '#' || (c == '-' && isLineComment(q, i)):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			if exec := execCommentPrefix(q[i:]); exec > 0 {
				// Keep scanning the body; its "*/" is skipped below.
				inExecComment = true
				i += exec - 1
				continue
			}
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return n, fmt.Errorf("unterminated /* comment")
			}
			i += 2 + end + 1
		case c == '*' && inExecComment && i+1 < len(q) && q[i+1] == '/':
			inExecComment = false
			i++
		}
	}
	if inExecComment {
		return n, fmt.Errorf("unterminated /*! comment")
	}
	return n, nil
}

// skipQuoted returns the index of the quote closing the one at q[start].
// A doubled quote is an escaped quote; in strings (not identifiers) so is a
// backslash followed by any byte.
func skipQuoted(q string, start int) (int, bool) {
	quote := q[start]
	for i := start + 1; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if quote != '`' {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i, true
		}
	}
	return len(q), false
}

// isLineComment reports whether q[i:] starts a `-- ` comment: MySQL needs
// whitespace or a control character (or the end) after the two dashes, so
// `1--1` is arithmetic, not a comment.
func isLineComment(q string, i int) bool {
	if i+1 >= len(q) || q[i+1] != '-' {
		return false
	}
	return i+2 >= len(q) || q[i+2] <= ' '
}

// execCommentPrefix returns the length of an executable-comment opener at
// the start of s (`/*!`, `/*!50110`, `/*M!`, `/*M!100100`), or 0.
func execCommentPrefix(s string) int {
	i := 2
	if i < len(s) && s[i] == 'M' {
		i++
	}
	if i >= len(s) || s[i] != '!' {
		return 0
	}
	i++
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
