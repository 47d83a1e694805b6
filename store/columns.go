package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Values arrive as go-sql-driver produces them when scanned into *any:
// nil, int64, uint64, float32, float64, []byte (text, decimals, dates without
// parseTime, big unsigned integers over the binary protocol) or time.Time
// (with parseTime). The functions below turn them into the types claims use.

// mysqlDateTime is how MySQL prints DATETIME/TIMESTAMP without parseTime.
const mysqlDateTime = "2006-01-02 15:04:05.999999"

// columnValue converts one column of the database type typeName (as
// sql.ColumnType.DatabaseTypeName reports it) to int64, float64 or string,
// or, for a JSON column, to the decoded JSON value. ok is false
// for NULL and for values that have no sensible claim form (zero dates,
// binary data that is not UTF-8), which are left out of the user.
func columnValue(typeName string, v any) (value any, ok bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case int64, float64:
		return v, true
	case uint64:
		return unsignedValue(v), true
	case float32:
		return float32To64(v), true
	case time.Time:
		if typeName == "DATE" {
			return v.Format(time.DateOnly), true
		}
		return v.Format(time.RFC3339Nano), true
	case string:
		return v, true
	case []byte:
		return bytesValue(typeName, v)
	}
	return nil, false
}

// bytesValue converts a value sent as text.
func bytesValue(typeName string, b []byte) (any, bool) {
	s := string(b)
	switch {
	case strings.HasPrefix(typeName, "UNSIGNED "):
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return unsignedValue(u), true
		}
	case strings.HasSuffix(typeName, "INT") || typeName == "YEAR":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
	case typeName == "DECIMAL" || typeName == "FLOAT" || typeName == "DOUBLE":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	case typeName == "DATETIME" || typeName == "TIMESTAMP":
		return dateTimeValue(s)
	case typeName == "DATE":
		if strings.HasPrefix(s, "0000-00-00") {
			return nil, false
		}
	case typeName == "BIT":
		return bitValue(b), true
	case typeName == "JSON":
		if v, err := decodeJSON(b); err == nil {
			return v, true
		}
	case strings.HasSuffix(typeName, "BLOB") || strings.HasSuffix(typeName, "BINARY"):
		if !utf8.Valid(b) {
			return nil, false
		}
	}
	return s, true
}

// dateTimeValue turns MySQL's "2006-01-02 15:04:05[.ffffff]" into RFC 3339.
// Without parseTime the driver cannot say which zone the server meant; the
// driver's own default (loc=UTC) is assumed, which is also what MySQL stores
// for TIMESTAMP with the usual time_zone='+00:00'. A zero date is "no value".
func dateTimeValue(s string) (any, bool) {
	if strings.HasPrefix(s, "0000-00-00") {
		return nil, false
	}
	t, err := time.ParseInLocation(mysqlDateTime, s, time.UTC)
	if err != nil {
		return s, true
	}
	return t.Format(time.RFC3339Nano), true
}

// bitValue reads a BIT(n) column, sent big-endian.
func bitValue(b []byte) any {
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return unsignedValue(u)
}

// unsignedValue keeps integers as int64 whenever they fit, so callers see
// one integer type; only BIGINT UNSIGNED values above 2^63-1 stay uint64.
func unsignedValue(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return u
}

// float32To64 widens via the shortest decimal form, so FLOAT 0.1 becomes
// 0.1 and not 0.10000000149011612.
func float32To64(f float32) float64 {
	d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return d
}

// parseBool reads email_verified/blocked: integers (non-zero is true, as in
// MySQL), BIT(1), and the strings 0, 1, true, false in any case. ok is false
// for NULL and for anything else.
func parseBool(v any) (b, ok bool) {
	switch v := v.(type) {
	case int64:
		return v != 0, true
	case uint64:
		return v != 0, true
	case float64:
		return v != 0, true
	case float32:
		return v != 0, true
	case string:
		return parseBoolText([]byte(v))
	case []byte:
		return parseBoolText(v)
	}
	return false, false
}

func parseBoolText(b []byte) (value, ok bool) {
	if len(b) == 1 && b[0] <= 1 { // BIT(1)
		return b[0] == 1, true
	}
	switch strings.ToLower(strings.TrimSpace(string(b))) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// errNotObject is returned for metadata that is valid JSON but not an object.
var errNotObject = errors.New("not a JSON object")

// parseMetadata reads app_metadata/user_metadata from a JSON or text column.
// NULL, an empty string and JSON null are an empty map (never nil).
func parseMetadata(v any) (map[string]any, error) {
	var b []byte
	switch v := v.(type) {
	case nil:
		return map[string]any{}, nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return nil, fmt.Errorf("%w: column holds a %T", errNotObject, v)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return map[string]any{}, nil
	}
	decoded, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	m, ok := decoded.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return m, nil
}

// decodeJSON decodes exactly one JSON value. Integral numbers that fit become
// int64, so that ids in metadata survive exactly into claims; other numbers
// become float64.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64() // the decoder has checked the syntax
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
	}
	return v
}

// idString formats user_id, org_id and names from roles/permissions queries:
// integers in decimal, text as is, binary ids (e.g. BINARY(16) UUIDs) that are
// not UTF-8 in lowercase hex.
func idString(v any) (string, bool) {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case string:
		return v, true
	case []byte:
		if !utf8.Valid(v) {
			return hex.EncodeToString(v), true
		}
		return string(v), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}
