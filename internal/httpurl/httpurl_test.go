package httpurl

import "testing"

func TestInsecure(t *testing.T) {
	for u, want := range map[string]bool{
		"https://tenant.auth0.com/":  false,
		"http://tenant.auth0.com/":   true,
		"http://10.0.0.5/jwks":       true,
		"http://127.0.0.1:8080/":     false,
		"http://[::1]/":              false,
		"http://localhost:9000/":     false,
		"http://auth.localhost/":     false,
		"http://LOCALHOST./":         false,
		"http://localhost.evil.test": true,
	} {
		if got := Insecure(u); got != want {
			t.Errorf("Insecure(%s) = %v, want %v", u, got, want)
		}
	}
}

func TestCheckAbsolute(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://auth.example.test/", true},
		{"http://127.0.0.1:9000", true},
		{"ftp://auth.example.test/", false},
		{"/relative", false},
		{"https://auth.example.test/?x=1", false},
		{"https://auth.example.test/#f", false},
		{"https://", false},
	} {
		if err := CheckAbsolute(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckAbsolute(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}
