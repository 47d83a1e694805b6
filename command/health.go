package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
)

// defaultHealthTimeout bounds a health check unless --timeout says
// otherwise: well under Docker's own HEALTHCHECK timeout, so that the
// check reports why it failed instead of being killed.
const defaultHealthTimeout = 3 * time.Second

// healthBodyLimit is how much of a failing answer's body the one line of
// output quotes (claimgate's health body is about 70 bytes).
const healthBodyLimit = 200

func newHealthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health --url <url> [--timeout <duration>]",
		Short: "Checks a health endpoint: exit status 0 when it answers 2xx",
		Long: `
Sends GET to the URL and exits with status 0 when it answers 2xx within
the timeout, and 1 otherwise (connection refused, timeout, any other
status; redirects are not followed), printing one line that says why.
Nothing is printed on success.

It is the container's health check, for images without a shell or curl:

  HEALTHCHECK CMD ["/usr/bin/claimgate", "claimgate", "health", "--url", "http://127.0.0.1:8080/health/ready"]

claimgate_login answers /health (200 while the process serves requests)
and /health/ready (503 while the database is unavailable or
misconfigured, or there is no signing key).
`,
		Args: noArgs,
		RunE: runHealth,
	}
	cmd.Flags().String("url", "", "The URL to check (http or https)")
	cmd.Flags().Duration("timeout", defaultHealthTimeout, "How long to wait for the whole answer")
	return cmd
}

func runHealth(cmd *cobra.Command, _ []string) error {
	target, _ := cmd.Flags().GetString("url")
	timeout, _ := cmd.Flags().GetDuration("timeout")
	err := checkHealth(cmd.Context(), target, timeout)
	if err == nil {
		return nil
	}
	// One plain line, which is what `docker inspect` shows of a failed
	// check; the returned error only sets the exit status.
	fmt.Fprintln(cmd.ErrOrStderr(), "unhealthy: "+err.Error())
	cmd.SilenceErrors = true
	return err
}

// checkHealth GETs target and returns nil for a 2xx answer, or an error of
// one line saying what happened instead.
func checkHealth(ctx context.Context, target string, timeout time.Duration) error {
	if target == "" {
		return errors.New("no --url to check")
	}
	if timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", timeout)
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("--url: want an http:// or https:// URL with a host (%w)", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %s: want an http:// or https:// URL with a host", u.Redacted())
	}
	if ctx == nil {
		ctx = context.Background()
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			// A health check talks to the server it names, never through
			// a proxy from the environment, and leaves no idle connection.
			Proxy:             nil,
			DisableKeepAlives: true,
		},
		// A redirect (to HTTPS, to a login page) is not health.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "claimgate-health")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error: `Get "URL": dial tcp ...: connection refused`, or
		// `... (Client.Timeout exceeded while awaiting headers)`.
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthBodyLimit))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	msg := fmt.Sprintf("GET %s: %s", u.Redacted(), resp.Status)
	if b := oneLine(string(body)); b != "" {
		msg += ": " + b
	}
	return errors.New(msg)
}

// oneLine makes s printable on one line: control characters become
// spaces, runs of space shrink to one.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
