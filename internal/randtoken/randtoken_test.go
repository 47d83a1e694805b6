package randtoken

import (
	"encoding/base64"
	"testing"
)

func TestLengthsAndUniqueness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func() string
		bytes int
	}{
		{"Secret", Secret, 32},
		{"ID", ID, 16},
	} {
		seen := map[string]bool{}
		for range 1000 {
			v := tc.make()
			raw, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(raw) != tc.bytes {
				t.Fatalf("%s() = %q: %d bytes, %v; want %d", tc.name, v, len(raw), err, tc.bytes)
			}
			if seen[v] {
				t.Fatalf("%s() repeated %q", tc.name, v)
			}
			seen[v] = true
		}
	}
}
