package token

import (
	"net/http"
	"testing"
)

func TestBearerFromHeader(t *testing.T) {
	tests := []struct {
		name        string
		values      []string
		wantRaw     string
		wantPresent bool
		wantErr     bool
	}{
		{"none", nil, "", false, false},
		{"empty", []string{""}, "", false, false},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", true, false},
		{"lowercase scheme", []string{"bearer abc"}, "abc", true, false},
		{"uppercase scheme", []string{"BEARER abc"}, "abc", true, false},
		{"extra spaces", []string{"Bearer   abc "}, "abc", true, false},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", false, false},
		{"scheme only", []string{"Bearer"}, "", false, true},
		{"scheme and space", []string{"Bearer   "}, "", false, true},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", false, true},
		{"bearerx", []string{"Bearerx abc"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.values != nil {
				h["Authorization"] = tt.values
			}
			raw, present, err := BearerFromHeader(h)
			if raw != tt.wantRaw || present != tt.wantPresent || (err != nil) != tt.wantErr {
				t.Errorf("BearerFromHeader(%q) = %q, %v, %v", tt.values, raw, present, err)
			}
		})
	}
}
