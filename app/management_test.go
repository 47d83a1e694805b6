package app

import (
	"strings"
	"testing"
)

func TestValidateManagement(t *testing.T) {
	tests := []struct {
		name    string
		m       ManagementConfig
		wantErr string
	}{
		{name: "empty block"},
		{name: "good", m: ManagementConfig{DeleteUser: "DELETE FROM users WHERE id = :user_id", Hash: HashBcrypt, BcryptCost: 12}},
		{name: "unknown parameter", m: ManagementConfig{UpdateUser: "UPDATE users SET email = :mail WHERE id = :user_id"},
			wantErr: "management: update_user: unknown parameter :mail (known: :user_id :email"},
		{name: "positional", m: ManagementConfig{AddMember: "INSERT INTO m VALUES (?, ?)"}, wantErr: "add_member: use named parameters"},
		{name: "hash", m: ManagementConfig{Hash: "md5"}, wantErr: `unknown hash "md5"`},
		{name: "cost without bcrypt", m: ManagementConfig{BcryptCost: 12}, wantErr: "needs `hash bcrypt`"},
		{name: "cost too low", m: ManagementConfig{Hash: HashBcrypt, BcryptCost: 4}, wantErr: "outside 10.."},
		{name: "negative length", m: ManagementConfig{PasswordMinLength: -1}, wantErr: "password_min_length"},
		// The JSON config is held to the Caddyfile's rules (before, only a
		// blank audience was refused here).
		{name: "relative audience", m: ManagementConfig{Audience: "api/v2"}, wantErr: "management: audience"},
		{name: "length over the maximum", m: ManagementConfig{PasswordMinLength: 5000}, wantErr: "password_min_length 5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &App{
				Issuer:     "https://auth.example.test/",
				Database:   &DatabaseConfig{DSN: "embedded", UserQuery: "SELECT id AS user_id, password_hash FROM users WHERE email = ?"},
				Management: &tt.m,
			}
			err := a.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestManagementAudienceDefault(t *testing.T) {
	a := &App{Issuer: "https://auth.example.test/", Management: &ManagementConfig{}}
	if got := a.ManagementAudience(); got != "https://auth.example.test/api/v2/" {
		t.Errorf("audience = %q", got)
	}
	a.Management.Audience = "https://other.example.test/api/"
	if got := a.ManagementAudience(); got != "https://other.example.test/api/" {
		t.Errorf("audience = %q", got)
	}
	if got := (&App{Issuer: "https://x.test"}).ManagementAudience(); got != "" {
		t.Errorf("without a block: %q", got)
	}
}
