package main

import (
	"slices"
	"testing"
)

func TestRouteHashPassword(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"claimgate", "hash-password", "--plaintext", "x"}, []string{"claimgate", "hash-user-password", "--plaintext", "x"}},
		{[]string{"claimgate", "run", "--config", "hash-password"}, []string{"claimgate", "run", "--config", "hash-password"}},
		{[]string{"claimgate"}, []string{"claimgate"}},
	}
	for _, tt := range tests {
		if got := routeHashPassword(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("routeHashPassword(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
