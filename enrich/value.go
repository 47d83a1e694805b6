package enrich

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// maxValueDepth bounds the nesting of a claim value. JSON metadata is
// usually a few levels deep; the bound keeps a pathological value from
// recursing without end.
const maxValueDepth = 32

// errNoValue marks a result that sets no claim: null, or an empty optional.
var errNoValue = errors.New("no value")

// toJSON turns a CEL result into a value encoding/json marshals the way a
// token consumer expects. The choices, following CEL's own (proto3) JSON
// mapping:
//   - string, bool, int (int64), uint (uint64), double (float64) as themselves;
//     NaN and ±Inf have no JSON form and are an error;
//   - bytes as standard base64 text;
//   - timestamp as RFC 3339 text in UTC; duration as seconds with an "s"
//     suffix ("90s", "1.5s"). Write int(ts) or d.getSeconds() for numbers;
//   - list as []any, map as map[string]any (int, uint and bool keys become
//     their decimal/text form);
//   - null at the top (and an empty optional) sets no claim; null inside a
//     list or map stays JSON null; optional.of(x) is x.
func toJSON(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Null:
		return nil, errNoValue
	case *types.Optional:
		if !v.HasValue() {
			return nil, errNoValue
		}
		return toJSONDepth(v.GetValue(), 0)
	}
	return toJSONDepth(v, 0)
}

func toJSONDepth(v ref.Val, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, errors.New("value nested too deeply")
	}
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("not a finite number")
		}
		return f, nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString(v), nil
	case types.Timestamp:
		return v.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return formatDuration(v.Duration), nil
	case types.Null:
		return nil, nil
	case *types.Optional:
		if !v.HasValue() {
			return nil, nil
		}
		return toJSONDepth(v.GetValue(), depth+1)
	case traits.Lister:
		return listToJSON(v, depth)
	case traits.Mapper:
		return mapToJSON(v, depth)
	}
	return nil, fmt.Errorf("unsupported result type %s", typeName(v))
}

func listToJSON(l traits.Lister, depth int) (any, error) {
	if ss, ok := l.Value().([]string); ok {
		// roles, permissions, scope: skip adapting each element to CEL and back.
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out, nil
	}
	n, ok := l.Size().(types.Int)
	if !ok {
		return nil, errors.New("list without a size")
	}
	out := make([]any, 0, int(n))
	for it := l.Iterator(); it.HasNext() == types.True; {
		elem, err := toJSONDepth(it.Next(), depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, elem)
	}
	return out, nil
}

func mapToJSON(m traits.Mapper, depth int) (any, error) {
	n, ok := m.Size().(types.Int)
	if !ok {
		return nil, errors.New("map without a size")
	}
	out := make(map[string]any, int(n))
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		key, err := mapKey(k)
		if err != nil {
			return nil, err
		}
		elem, err := toJSONDepth(m.Get(k), depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = elem
	}
	return out, nil
}

// mapKey renders a CEL map key as a JSON object key.
func mapKey(k ref.Val) (string, error) {
	switch k := k.(type) {
	case types.String:
		return string(k), nil
	case types.Int:
		return strconv.FormatInt(int64(k), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(k), 10), nil
	case types.Bool:
		return strconv.FormatBool(bool(k)), nil
	}
	return "", fmt.Errorf("unsupported map key type %s", typeName(k))
}

// formatDuration writes d the way proto3 JSON does: seconds with up to nine
// fractional digits and an "s" suffix.
func formatDuration(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	if d%time.Second != 0 {
		// Float formatting can round nanoseconds; build the exact text.
		sign := ""
		if d < 0 {
			sign, d = "-", -d
		}
		frac := strings.TrimRight(fmt.Sprintf("%09d", int64(d%time.Second)), "0")
		s = fmt.Sprintf("%s%d.%s", sign, int64(d/time.Second), frac)
	}
	return s + "s"
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nil"
	}
	if t, ok := v.Type().(ref.Type); ok {
		return t.TypeName()
	}
	return fmt.Sprintf("%T", v)
}

// jsonSize returns len(json.Marshal(v)) for the values toJSON produces,
// without building the bytes: the token package encodes the claims again
// with the rest of the token.
func jsonSize(v any) int {
	switch v := v.(type) {
	case nil:
		return len("null")
	case string:
		return jsonStringSize(v)
	case bool:
		if v {
			return len("true")
		}
		return len("false")
	case int64:
		var buf [24]byte
		return len(strconv.AppendInt(buf[:0], v, 10))
	case uint64:
		var buf [24]byte
		return len(strconv.AppendUint(buf[:0], v, 10))
	case float64:
		return jsonFloatSize(v)
	case []any:
		n := len("[]")
		for i, e := range v {
			if i > 0 {
				n++ // comma
			}
			n += jsonSize(e)
		}
		return n
	case map[string]any:
		n := len("{}")
		first := true
		for k, e := range v {
			if !first {
				n++
			}
			first = false
			n += jsonStringSize(k) + 1 + jsonSize(e) // key, colon, value
		}
		return n
	}
	// Not produced by toJSON; fall back to the encoder.
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// jsonStringSize mirrors encoding/json's string escaping (HTML-safe, the
// default of json.Marshal).
func jsonStringSize(s string) int {
	n := 2 // quotes
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 6 // \u00XX
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// jsonFloatSize mirrors encoding/json's float64 formatting.
func jsonFloatSize(f float64) int {
	var buf [32]byte
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(buf[:0], f, format, -1, 64)
	if format == 'e' {
		// encoding/json writes e-7, not e-07.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			return n - 1
		}
	}
	return len(b)
}
