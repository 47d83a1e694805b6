package grant

import (
	"testing"
	"time"
)

func TestEpochSeconds(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(1700000000), 1700000000, true},
		{"1700000000", 1700000000, true},
		{"2023-11-14 22:13:20", 1700000000, true},
		{"2023-11-14 22:13:20.5", 1700000000, true},
		{"2023-11-14T22:13:20Z", 1700000000, true},
		{time.Unix(1700000000, 0), 1700000000, true},
		{"yesterday", 0, false},
		{3.5, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := epochSeconds(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("epochSeconds(%#v) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
