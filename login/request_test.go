package login

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

func TestParseTokenRequest(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        map[string]string
		wantErr     error
	}{
		{"form", formType, "grant_type=password&username=a%40b.test&password=p+w%26", map[string]string{
			"grant_type": "password", "username": "a@b.test", "password": "p w&"}, nil},
		{"form charset", formType + "; charset=UTF-8", "a=1", map[string]string{"a": "1"}, nil},
		{"form empty value is omitted", formType, "a=1&client_secret=", map[string]string{"a": "1"}, nil},
		{"form empty body", formType, "", map[string]string{}, nil},
		{"form duplicate", formType, "username=a&username=b", nil, errDuplicateParam},
		{"form duplicate empty", formType, "username=a&username=", nil, errDuplicateParam},
		{"form bad escape", formType, "username=%zz", nil, errMalformedBody},
		{"form semicolon", formType, "a=1;b=2", nil, errMalformedBody},
		{"form non-UTF-8 value", formType, "username=%FF%FE", nil, errNotUTF8},
		{"form non-UTF-8 key", formType, "%C3=x", nil, errNotUTF8},
		{"json", jsonType, `{"grant_type":"password","username":"\u00e9l\u00e8ve","password":"x\"y"}`, map[string]string{
			"grant_type": "password", "username": "élève", "password": `x"y`}, nil},
		{"json charset", jsonType + ";charset=utf-8", `{"a":"1"}`, map[string]string{"a": "1"}, nil},
		{"json whitespace", jsonType, " \n{ \"a\" : \"1\" }\n", map[string]string{"a": "1"}, nil},
		{"json empty object", jsonType, `{}`, map[string]string{}, nil},
		{"json empty value is omitted", jsonType, `{"a":""}`, map[string]string{}, nil},
		{"json duplicate", jsonType, `{"username":"a","username":"b"}`, nil, errDuplicateParam},
		{"json number", jsonType, `{"a":1}`, nil, errMalformedBody},
		{"json null", jsonType, `{"a":null}`, nil, errMalformedBody},
		{"json bool", jsonType, `{"a":true}`, nil, errMalformedBody},
		{"json array value", jsonType, `{"scope":["openid"]}`, nil, errMalformedBody},
		{"json nested", jsonType, `{"a":{"b":"c"}}`, nil, errMalformedBody},
		{"json array", jsonType, `["a"]`, nil, errMalformedBody},
		{"json string", jsonType, `"a"`, nil, errMalformedBody},
		{"json trailing data", jsonType, `{"a":"1"}{"b":"2"}`, nil, errMalformedBody},
		{"json trailing comma", jsonType, `{"a":"1",}`, nil, errMalformedBody},
		{"json truncated", jsonType, `{"a":"1"`, nil, errMalformedBody},
		{"json missing colon", jsonType, `{"a" "1"}`, nil, errMalformedBody},
		{"json empty body", jsonType, ``, nil, errMalformedBody},
		{"json invalid UTF-8", jsonType, "{\"username\":\"\xff\"}", nil, errNotUTF8},
		{"no content type", "", "a=1", nil, errUnsupportedMediaType},
		{"text/plain", "text/plain", "a=1", nil, errUnsupportedMediaType},
		{"multipart", "multipart/form-data; boundary=x", "a=1", nil, errUnsupportedMediaType},
		{"other charset", formType + "; charset=iso-8859-1", "a=1", nil, errUnsupportedMediaType},
		{"bad media type", "application/json; =", `{}`, nil, errUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTokenRequest(tt.contentType, []byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("params = %v alongside an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("params = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBodyErrorStatus(t *testing.T) {
	for _, err := range []error{errUnsupportedMediaType, errDuplicateParam, errMalformedBody, errNotUTF8} {
		if e := bodyError(err); e.status != http.StatusBadRequest || e.code != codeInvalidRequest {
			t.Errorf("bodyError(%v) = %d %s, want 400 invalid_request", err, e.status, e.code)
		}
	}
	if e := bodyError(errBodyTooLarge); e.status != http.StatusRequestEntityTooLarge || e.code != codeInvalidRequest {
		t.Errorf("bodyError(too large) = %d %s, want 413 invalid_request", e.status, e.code)
	}
}

// FuzzParseTokenRequest checks that no content type and body make the
// parser panic, and that a success is a map of non-empty UTF-8 strings while
// a failure maps to 400 invalid_request.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add(formType, []byte("grant_type=password&username=a&password=b"))
	f.Add(formType, []byte("a=1&a=2"))
	f.Add(formType, []byte("%ff=%"))
	f.Add(jsonType, []byte(`{"grant_type":"password","username":"a","password":"b"}`))
	f.Add(jsonType, []byte(`{"a":"1","a":"2"}`))
	f.Add(jsonType, []byte(`{"a":[1,{"b":null}]}`))
	f.Add(jsonType+"; charset=utf-8", []byte(`{"a":"\ud800"}`))
	f.Add("text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		params, err := parseTokenRequest(contentType, body)
		if err != nil {
			if params != nil {
				t.Fatalf("params %v alongside error %v", params, err)
			}
			if e := bodyError(err); e.status != http.StatusBadRequest || e.code != codeInvalidRequest {
				t.Fatalf("parse error %v maps to %d %s", err, e.status, e.code)
			}
			return
		}
		for k, v := range params {
			if v == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("bad param %q=%q", k, v)
			}
		}
		if mt := strings.ToLower(contentType); !strings.Contains(mt, "application/x-www-form-urlencoded") &&
			!strings.Contains(mt, "application/json") {
			t.Fatalf("content type %q accepted", contentType)
		}
	})
}

// TestReadRequestBodyChunked: a body of unknown length is cut at 16 KiB.
func TestReadRequestBodyChunked(t *testing.T) {
	for size, wantErr := range map[int]error{maxRequestBody: nil, maxRequestBody + 1: errBodyTooLarge} {
		r := httptest.NewRequest(http.MethodPost, pathToken, strings.NewReader(strings.Repeat("a", size)))
		r.ContentLength = -1 // as with Transfer-Encoding: chunked
		body, err := readRequestBody(httptest.NewRecorder(), r)
		if !errors.Is(err, wantErr) || (err == nil && len(body) != size) {
			t.Errorf("size %d: %d bytes, err %v; want err %v", size, len(body), err, wantErr)
		}
	}
}

func BenchmarkParseTokenRequest(b *testing.B) {
	form := []byte("grant_type=password&username=alice%40example.test&password=correct+horse+battery+staple" +
		"&client_id=web-backend&client_secret=s3cret&audience=https%3A%2F%2Fapi.example.test&scope=openid+profile")
	js := []byte(`{"grant_type":"password","username":"alice@example.test","password":"correct horse battery staple",` +
		`"client_id":"web-backend","client_secret":"s3cret","audience":"https://api.example.test","scope":"openid profile"}`)
	b.Run("form", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseTokenRequest(formType, form); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseTokenRequest(jsonType, js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
