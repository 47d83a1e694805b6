package claimgate_test

import (
	"strconv"
	"strings"
	"testing"
)

// management wraps management subdirectives in a claimgate block.
func management(lines ...string) string {
	return global(append([]string{"management {"}, append(prefixTab(lines), "}")...)...)
}

func prefixTab(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "\t" + l
	}
	return out
}

func TestAdaptManagementErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{
			name:    "unknown parameter, with the known ones",
			input:   management(`delete_user "DELETE FROM users WHERE id = :id" ` + errLine),
			wantErr: "delete_user: unknown parameter :id (known: :user_id :email :username :name :nickname :picture :email_verified :blocked :app_metadata :user_metadata :password_hash :role :org_id)",
		},
		{
			name:    "positional placeholder",
			input:   management(`delete_user "DELETE FROM users WHERE id = ?" ` + errLine),
			wantErr: "delete_user: use named parameters",
		},
		{
			name:    "unknown option",
			input:   management("create_users x " + errLine),
			wantErr: "unrecognized management option 'create_users'",
		},
		{
			name:    "given twice",
			input:   management(`delete_user "DELETE FROM users WHERE id = :user_id"`, `delete_user "DELETE FROM users WHERE id = :user_id" `+errLine),
			wantErr: "management option 'delete_user' is given twice",
		},
		{
			name:    "bad hash",
			input:   management("hash md5 " + errLine),
			wantErr: "hash: expected argon2id or bcrypt",
		},
		{
			name:    "bcrypt cost too low",
			input:   management("hash bcrypt 4 " + errLine),
			wantErr: "bcrypt cost 4 is outside 10..16",
		},
		{
			name:    "min length not a number",
			input:   management("password_min_length many " + errLine),
			wantErr: "password_min_length: expected an integer",
		},
		{
			name:    "relative audience",
			input:   management("audience api/v2 " + errLine),
			wantErr: "management: audience",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := adapt(t, tt.input)
			if err == nil {
				t.Fatalf("adapted without error:\n%s", tt.input)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			wantLine := 0
			for i, l := range strings.Split(tt.input, "\n") {
				if strings.Contains(l, errLine) {
					wantLine = i + 1
				}
			}
			m := lineRE.FindStringSubmatch(err.Error())
			if m == nil || m[1] != strconv.Itoa(wantLine) {
				t.Errorf("error %q is not at Caddyfile:%d", err, wantLine)
			}
		})
	}
}
