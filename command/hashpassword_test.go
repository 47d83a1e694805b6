package command

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/claimgate/claimgate/password"
)

// scriptedTTY answers prompts with the given passwords in turn.
func scriptedTTY(t *testing.T, answers ...string) passwordPrompter {
	return func(prompt string) ([]byte, error) {
		if len(answers) == 0 {
			t.Fatalf("unexpected prompt %q", prompt)
		}
		a := answers[0]
		answers = answers[1:]
		return []byte(a), nil
	}
}

// checkHashOutput checks that out is one line holding a hash of kind that
// verifies pw and does not contain it.
func checkHashOutput(t *testing.T, out, pw, kind string) {
	t.Helper()
	hash, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.Contains(hash, "\n") {
		t.Fatalf("output %q is not one line", out)
	}
	if got := password.Kind(hash); got != kind {
		t.Errorf("Kind = %q, want %q", got, kind)
	}
	if err := password.Verify(hash, []byte(pw)); err != nil {
		t.Errorf("printed hash does not verify: %v", err)
	}
	if strings.Contains(hash, pw) {
		t.Error("output contains the password")
	}
}

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name     string
		opts     hashPasswordOptions
		stdin    string
		tty      []string // nil: stdin is not a terminal
		password string   // what the printed hash must verify
		kind     string
	}{
		{"flag argon2id", hashPasswordOptions{algorithm: "argon2id", plaintext: "s3cret"}, "", nil, "s3cret", password.KindArgon2id},
		{"flag bcrypt", hashPasswordOptions{algorithm: "bcrypt", cost: 4, plaintext: "s3cret"}, "", nil, "s3cret", password.KindBcrypt},
		{"stdin line", hashPasswordOptions{algorithm: "argon2id"}, "from stdin\nignored\n", nil, "from stdin", password.KindArgon2id},
		{"stdin crlf", hashPasswordOptions{algorithm: "bcrypt", cost: 4}, "windows\r\n", nil, "windows", password.KindBcrypt},
		{"stdin no newline keeps spaces", hashPasswordOptions{algorithm: "bcrypt", cost: 4}, " spaced ", nil, " spaced ", password.KindBcrypt},
		{"terminal confirmed", hashPasswordOptions{algorithm: "argon2id"}, "", []string{"typed", "typed"}, "typed", password.KindArgon2id},
		{"flag wins over terminal", hashPasswordOptions{algorithm: "argon2id", plaintext: "flag"}, "", []string{}, "flag", password.KindArgon2id},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tty passwordPrompter
			if tt.tty != nil {
				tty = scriptedTTY(t, tt.tty...)
			}
			var out bytes.Buffer
			if err := hashPassword(tt.opts, strings.NewReader(tt.stdin), tty, &out); err != nil {
				t.Fatal(err)
			}
			checkHashOutput(t, out.String(), tt.password, tt.kind)
		})
	}
}

// TestHashPasswordCommand runs the subcommand with its flags as parsed by
// cobra; stdin is not a terminal here, so a password not given by flag is
// read from it.
func TestHashPasswordCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		password string
		kind     string
	}{
		{"defaults to argon2id", []string{"--plaintext", "s3cret"}, "", "s3cret", password.KindArgon2id},
		{"short flags", []string{"-a", "bcrypt", "--cost", "4", "-p", "s3cret"}, "", "s3cret", password.KindBcrypt},
		{"from stdin", []string{"--algorithm", "bcrypt", "--cost", "4"}, "piped pw\n", "piped pw", password.KindBcrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := execute(t, "claimgate", tt.stdin, append([]string{"claimgate", "hash-password"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			checkHashOutput(t, out, tt.password, tt.kind)
		})
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	var out bytes.Buffer
	err := hashPassword(hashPasswordOptions{algorithm: "argon2id", plaintext: "pw"}, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("argon2id hash %q is not at the default parameters", out.String())
	}
	if password.NeedsRehash(strings.TrimSpace(out.String()), password.DefaultArgon2) {
		t.Error("a fresh hash already needs a rehash")
	}

	out.Reset()
	err = hashPassword(hashPasswordOptions{algorithm: "bcrypt", cost: defaultHashPasswordCost, plaintext: "pw"}, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(bytes.TrimSpace(out.Bytes())); err != nil || c != defaultHashPasswordCost {
		t.Errorf("bcrypt cost %d (%v), want %d", c, err, defaultHashPasswordCost)
	}
}

func TestHashPasswordErrors(t *testing.T) {
	long := strings.Repeat("x", 73)
	tests := []struct {
		name  string
		opts  hashPasswordOptions
		stdin string
		tty   []string
	}{
		{"unknown algorithm", hashPasswordOptions{algorithm: "md5", plaintext: "pw"}, "", nil},
		{"bcrypt over 72 bytes", hashPasswordOptions{algorithm: "bcrypt", cost: 4, plaintext: long}, "", nil},
		{"bcrypt cost too high", hashPasswordOptions{algorithm: "bcrypt", cost: 32, plaintext: "pw"}, "", nil},
		{"bcrypt cost too low", hashPasswordOptions{algorithm: "bcrypt", cost: 3, plaintext: "pw"}, "", nil},
		{"empty stdin", hashPasswordOptions{algorithm: "argon2id"}, "", nil},
		{"empty stdin line", hashPasswordOptions{algorithm: "argon2id"}, "\nsecond\n", nil},
		{"stdin too long", hashPasswordOptions{algorithm: "argon2id"}, strings.Repeat("y", maxPasswordLine+1), nil},
		{"terminal mismatch", hashPasswordOptions{algorithm: "argon2id"}, "", []string{"one", "two"}},
		{"terminal empty", hashPasswordOptions{algorithm: "argon2id"}, "", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tty passwordPrompter
			if tt.tty != nil {
				tty = scriptedTTY(t, tt.tty...)
			}
			var out bytes.Buffer
			err := hashPassword(tt.opts, strings.NewReader(tt.stdin), tty, &out)
			if err == nil {
				t.Fatalf("no error; printed %q", out.String())
			}
			if out.Len() != 0 {
				t.Errorf("printed %q despite the error", out.String())
			}
			if tt.opts.plaintext != "" && strings.Contains(err.Error(), tt.opts.plaintext) {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

func TestHashPasswordStdinReadError(t *testing.T) {
	boom := errors.New("boom")
	err := hashPassword(hashPasswordOptions{algorithm: "argon2id"}, errReader{boom}, nil, &bytes.Buffer{})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the read error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
