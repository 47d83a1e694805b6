package store

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestColumnValue(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		typeName string
		in       any
		want     any
		wantOK   bool
	}{
		{"INT", nil, nil, false},
		{"INT", int64(42), int64(42), true},
		{"INT", []byte("-7"), int64(-7), true},
		{"UNSIGNED BIGINT", uint64(5), int64(5), true},
		{"UNSIGNED BIGINT", uint64(math.MaxUint64), uint64(math.MaxUint64), true},
		{"UNSIGNED BIGINT", []byte("18446744073709551615"), uint64(math.MaxUint64), true},
		{"YEAR", []byte("1999"), int64(1999), true},
		{"DECIMAL", []byte("12.50"), 12.5, true},
		{"DOUBLE", 0.25, 0.25, true},
		{"FLOAT", float32(0.1), 0.1, true},
		{"VARCHAR", []byte("gold"), "gold", true},
		{"TEXT", []byte(""), "", true},
		{"ENUM", []byte("b"), "b", true},
		{"DATETIME", []byte("2024-01-02 03:04:05"), "2024-01-02T03:04:05Z", true},
		{"TIMESTAMP", []byte("2024-01-02 03:04:05.250000"), "2024-01-02T03:04:05.25Z", true},
		{"DATETIME", []byte("0000-00-00 00:00:00"), nil, false},
		{"DATETIME", at, "2024-01-02T03:04:05Z", true},
		{"DATE", at, "2024-01-02", true},
		{"DATE", []byte("2024-01-02"), "2024-01-02", true},
		{"DATE", []byte("0000-00-00"), nil, false},
		{"BIT", []byte{1, 0}, int64(256), true},
		{"JSON", []byte(`{"a":[1,2.5,"x",true,null]}`), map[string]any{"a": []any{int64(1), 2.5, "x", true, nil}}, true},
		{"JSON", []byte(`not json`), "not json", true},
		{"VARBINARY", []byte("abc"), "abc", true},
		{"BLOB", []byte{0xff, 0xfe}, nil, false},
	}
	for _, tt := range tests {
		got, ok := columnValue(tt.typeName, tt.in)
		if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("columnValue(%s, %#v) = %#v, %v; want %#v, %v", tt.typeName, tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in     any
		want   bool
		wantOK bool
	}{
		{nil, false, false},
		{int64(0), false, true},
		{int64(1), true, true},
		{int64(2), true, true},
		{uint64(1), true, true},
		{[]byte("1"), true, true},
		{[]byte("0"), false, true},
		{[]byte("true"), true, true},
		{[]byte("TRUE"), true, true},
		{[]byte(" False "), false, true},
		{"true", true, true},
		{[]byte{1}, true, true}, // BIT(1)
		{[]byte{0}, false, true},
		{[]byte("yes"), false, false},
		{[]byte(""), false, false},
		{time.Time{}, false, false},
	}
	for _, tt := range tests {
		got, ok := parseBool(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseBool(%#v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in      any
		want    map[string]any
		wantErr error
	}{
		{nil, map[string]any{}, nil},
		{[]byte(""), map[string]any{}, nil},
		{[]byte("  "), map[string]any{}, nil},
		{[]byte("null"), map[string]any{}, nil},
		{[]byte("{}"), map[string]any{}, nil},
		{[]byte(`{"id": 1234567890123456789, "x": 1.5}`), map[string]any{"id": int64(1234567890123456789), "x": 1.5}, nil},
		{"{\"roles\": [\"a\"]}", map[string]any{"roles": []any{"a"}}, nil},
		{[]byte(`[1]`), nil, errNotObject},
		{[]byte(`"str"`), nil, errNotObject},
		{int64(1), nil, errNotObject},
		{[]byte(`{"a":`), nil, nil},
		{[]byte(`{} {}`), nil, nil},
	}
	for _, tt := range tests {
		got, err := parseMetadata(tt.in)
		if tt.want == nil {
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("parseMetadata(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseMetadata(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestIDString(t *testing.T) {
	tests := []struct {
		in     any
		want   string
		wantOK bool
	}{
		{int64(42), "42", true},
		{uint64(math.MaxUint64), "18446744073709551615", true},
		{[]byte("auth0|abc"), "auth0|abc", true},
		{[]byte{0x12, 0xff}, "12ff", true},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := idString(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("idString(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRolesFromMetadata(t *testing.T) {
	tests := []struct {
		meta map[string]any
		want []string
	}{
		{map[string]any{}, []string{}},
		{map[string]any{"roles": []any{"admin", "user"}}, []string{"admin", "user"}},
		{map[string]any{"roles": []any{}}, []string{}},
		{map[string]any{"roles": "admin"}, []string{}},
		{map[string]any{"roles": []any{"admin", int64(1)}}, []string{}},
	}
	for _, tt := range tests {
		got := rolesFromMetadata(tt.meta)
		if got == nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rolesFromMetadata(%v) = %#v, want %#v", tt.meta, got, tt.want)
		}
	}
}

// fakeColumn stands in for *sql.ColumnType.
type fakeColumn struct{ name, typeName string }

func (c fakeColumn) Name() string             { return c.name }
func (c fakeColumn) DatabaseTypeName() string { return c.typeName }

func TestBuildUserRowChecks(t *testing.T) {
	base := func(extra ...any) ([]column, []any) {
		cols := []column{fakeColumn{"user_id", "INT"}, fakeColumn{"password_hash", "VARCHAR"}}
		vals := []any{int64(1), []byte("$2a$10$x")}
		for i := 0; i < len(extra); i += 2 {
			cols = append(cols, extra[i].(fakeColumn))
			vals = append(vals, extra[i+1])
		}
		return cols, vals
	}
	tests := []struct {
		name    string
		cols    []column
		vals    []any
		wantErr error
		wantLog string
	}{
		{name: "no user_id", cols: []column{fakeColumn{"id", "INT"}, fakeColumn{"password_hash", "VARCHAR"}},
			vals: []any{int64(1), []byte("h")}, wantErr: ErrMisconfigured},
		{name: "no password_hash", cols: []column{fakeColumn{"user_id", "INT"}, fakeColumn{"password", "VARCHAR"}},
			vals: []any{int64(1), []byte("h")}, wantErr: ErrMisconfigured},
		{name: "duplicate column", cols: []column{fakeColumn{"user_id", "INT"}, fakeColumn{"password_hash", "VARCHAR"}, fakeColumn{"USER_ID", "INT"}},
			vals: []any{int64(1), []byte("h"), int64(2)}, wantErr: ErrMisconfigured},
		{name: "NULL user_id", cols: []column{fakeColumn{"user_id", "INT"}, fakeColumn{"password_hash", "VARCHAR"}},
			vals: []any{nil, []byte("h")}, wantErr: ErrNotFound, wantLog: "user_query returned a row without user_id; refusing the login"},
		{name: "app_metadata array", wantErr: ErrNotFound, wantLog: "app_metadata is not a JSON object; refusing the login"},
		{name: "blocked unreadable"},
		{name: "user_metadata invalid", wantLog: "user_metadata is not a JSON object; using an empty one"},
	}
	tests[4].cols, tests[4].vals = base(fakeColumn{"app_metadata", "JSON"}, []byte(`["admin"]`))
	tests[5].cols, tests[5].vals = base(fakeColumn{"blocked", "VARCHAR"}, []byte("maybe"))
	tests[5].wantLog = "blocked is not a boolean (0/1/true/false); treating the user as blocked"
	tests[6].cols, tests[6].vals = base(fakeColumn{"user_metadata", "TEXT"}, []byte(`{"secret":`))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			u, err := buildUser(zap.New(core), tt.cols, tt.vals)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("buildUser error = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("buildUser: %v", err)
			}
			if tt.wantLog != "" {
				if logs.FilterMessage(tt.wantLog).Len() != 1 {
					t.Fatalf("log %q missing; got %v", tt.wantLog, logs.All())
				}
				for _, e := range logs.All() {
					for _, f := range e.Context {
						if f.String != "" && f.Key != "user_id" && f.Key != "reason" {
							t.Errorf("unexpected log field %s=%q", f.Key, f.String)
						}
					}
				}
			}
			switch tt.name {
			case "blocked unreadable":
				if !u.Blocked || u.Attributes["blocked"] != true {
					t.Errorf("unreadable blocked must block: %+v", u)
				}
			case "user_metadata invalid":
				if u.UserMetadata == nil || len(u.UserMetadata) != 0 {
					t.Errorf("UserMetadata = %#v, want empty map", u.UserMetadata)
				}
			}
		})
	}
}
