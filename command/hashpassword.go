package command

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/claimgate/claimgate/password"
)

// defaultHashPasswordCost is the bcrypt cost when --cost is not given: two
// steps above OWASP's minimum of 10.
const defaultHashPasswordCost = 12

// maxPasswordLine bounds a password read from stdin, so that piping a large
// file in by mistake fails instead of hashing it.
const maxPasswordLine = 4096

// newHashPasswordCommand is `claimgate hash-password`. It is not Caddy's
// top-level hash-password (caddyauth's, for basic_auth), whose hashes verify
// here too: this one defaults to what claimgate recommends (argon2id at
// OWASP's parameters) and refuses bcrypt passwords it would have to
// truncate.
func newHashPasswordCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hash-password [--algorithm argon2id|bcrypt] [--cost <bcrypt cost>] [--plaintext <password>]",
		Short: "Hashes a password for the users table",
		Long: fmt.Sprintf(`
Hashes a password in a format claimgate verifies, for storing in the
customer's users table (for instance to create a test user), and prints it.

--algorithm
    argon2id (default; PHC string at OWASP ASVS's parameters: 19 MiB, t=2,
    p=1) or bcrypt ($2a$; passwords over 72 bytes are refused, not
    truncated).

--cost
    The bcrypt cost, %d to %d; default %d. Ignored for argon2id.

--plaintext
    The password. If omitted it is read from the terminal without echo,
    twice for confirmation, or as one line from stdin when stdin is not a
    terminal. Prefer those: a --plaintext value lands in shell history.
`, password.MinBcryptCost, password.MaxBcryptCost, defaultHashPasswordCost),
		Args: noArgs,
	}
	cmd.Flags().StringP("algorithm", "a", password.KindArgon2id, "Hash algorithm: argon2id or bcrypt")
	cmd.Flags().Int("cost", defaultHashPasswordCost, "Bcrypt cost (bcrypt only)")
	cmd.Flags().StringP("plaintext", "p", "", "The password (else read from the terminal or stdin)")
	cmd.RunE = caddyRunE(runHashPassword)
	return cmd
}

func runHashPassword(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	opts := hashPasswordOptions{
		algorithm: fl.String("algorithm"),
		cost:      fl.Int("cost"),
		plaintext: fl.String("plaintext"),
	}
	stdin := cmd.InOrStdin()
	var tty passwordPrompter
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		restore := restoreTerminalOnInterrupt(fd)
		defer restore()
		prompts := cmd.ErrOrStderr()
		tty = func(prompt string) ([]byte, error) {
			fmt.Fprint(prompts, prompt)
			defer fmt.Fprintln(prompts)
			return term.ReadPassword(fd)
		}
	}
	if err := hashPassword(opts, stdin, tty, cmd.OutOrStdout()); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// restoreTerminalOnInterrupt puts the terminal back in echo mode if the
// user presses Ctrl-C at the prompt; the returned func stops watching.
func restoreTerminalOnInterrupt(fd int) func() {
	state, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-c:
			_ = term.Restore(fd, state)
			os.Exit(caddy.ExitCodeFailedStartup)
		case <-done:
		}
	}()
	return func() { signal.Stop(c); close(done) }
}

// hashPasswordOptions are the hash-password flags.
type hashPasswordOptions struct {
	algorithm string
	cost      int
	plaintext string
}

// passwordPrompter shows prompt and reads a password without echo; nil when
// stdin is not a terminal.
type passwordPrompter func(prompt string) ([]byte, error)

// hashPassword is the testable core of the command: it gets the password
// (flag, terminal with confirmation, or one line of stdin), hashes it and
// writes the hash and a newline to out.
func hashPassword(opts hashPasswordOptions, stdin io.Reader, tty passwordPrompter, out io.Writer) error {
	pw, err := readPasswordInput(opts.plaintext, stdin, tty)
	if err != nil {
		return err
	}
	var hash string
	switch opts.algorithm {
	case password.KindArgon2id:
		hash, err = password.HashArgon2id(pw, password.DefaultArgon2)
	case password.KindBcrypt:
		hash, err = password.HashBcrypt(pw, opts.cost)
		if errors.Is(err, password.ErrTooLong) {
			return fmt.Errorf("the password is %d bytes, over bcrypt's 72: use --algorithm argon2id", len(pw))
		}
	default:
		return fmt.Errorf("unknown algorithm %q: use argon2id or bcrypt", opts.algorithm)
	}
	if err != nil {
		return fmt.Errorf("hashing: %w", err)
	}
	_, err = fmt.Fprintln(out, hash)
	return err
}

// readPasswordInput returns the password from the flag, else from the
// terminal (asked twice), else from the first line of stdin.
func readPasswordInput(plaintext string, stdin io.Reader, tty passwordPrompter) ([]byte, error) {
	if plaintext != "" {
		return []byte(plaintext), nil
	}
	if tty != nil {
		return promptPasswordTwice(tty)
	}
	pw, err := readPasswordLine(stdin)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password on stdin")
	}
	return pw, nil
}

func promptPasswordTwice(tty passwordPrompter) ([]byte, error) {
	pw, err := tty("Enter password: ")
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	confirm, err := tty("Confirm password: ")
	if err != nil {
		return nil, fmt.Errorf("reading password confirmation: %w", err)
	}
	if !bytes.Equal(pw, confirm) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}

// readPasswordLine reads one line and drops its line ending (\n or \r\n);
// every other byte, spaces included, is part of the password.
func readPasswordLine(stdin io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordLine+1)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading password from stdin: %w", err)
	}
	if trimmed, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		line = bytes.TrimSuffix(trimmed, []byte("\r"))
	} else if len(line) > maxPasswordLine {
		return nil, fmt.Errorf("password on stdin is longer than %d bytes", maxPasswordLine)
	}
	return line, nil
}
