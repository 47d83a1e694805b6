package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
)

// unblockConfig is a quickstart-like Caddyfile: the embedded demo database,
// one client, a low max_failures, and caddytest's admin endpoint, which the
// command finds in this same file.
const unblockConfig = `{
	admin %[1]s
	skip_install_trust
	grace_period 1ns
	storage file_system {
		root "%[2]s"
	}
	log {
		output file "%[3]s"
	}
	claimgate {
		issuer http://localhost:%[4]d/
		database {
			dsn embedded
			user_query "%[5]s"
		}
		client demo-backend {
			secret demo-secret
			audience http://localhost:%[4]d/api
			grant password
		}
		protection {
			max_failures 3
		}
	}
}

http://localhost:%[4]d {
	claimgate_login
}
`

var clearedOutput = regexp.MustCompile(`^cleared ([0-9]+) block record\(s\)\n$`)

// TestUnblockEmbedded is `claimgate unblock` on the quickstart's database,
// which lives in the server's memory: a user failed into a block (429) logs
// in again once the command has asked the server's admin API, found in the
// config, to clear it. Then, with no claimgate app running, the command
// says so.
func TestUnblockEmbedded(t *testing.T) {
	port := freePorts(t, 1)[0]
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	cfg := fmt.Sprintf(unblockConfig, adminAddr, t.TempDir(), logFile, port, demo.DemoUserQuery)
	cfgFile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tester := newTester(t)
	tester.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { unload(t) })
	t.Cleanup(func() {
		log, err := os.ReadFile(logFile)
		if err != nil {
			t.Errorf("reading Caddy's log: %v", err)
			return
		}
		testkit.AssertNoSecretsLogged(t, "Caddy's log", testkit.LogLines(log), testkit.Secrets("demo-secret"))
	})
	e := &env{t: t, tester: tester, base: "http://localhost:" + strconv.Itoa(port)}
	alice := testkit.DemoUser(t, alice)
	login := func(password string) response {
		return e.postForm(form("grant_type", "password", "client_id", "demo-backend", "client_secret", "demo-secret",
			"username", alice.Email, "password", password))
	}

	// The demo database lives as long as the process holds it: start
	// from a count of zero, whatever ran before.
	if resp := login(alice.Password); resp.status != http.StatusOK {
		t.Fatalf("login before: %s", resp)
	}
	for i := range 3 {
		if resp := login("wrong-" + strconv.Itoa(i)); resp.status != http.StatusBadRequest {
			t.Fatalf("wrong password %d: %s", i+1, resp)
		}
	}
	if resp := login(alice.Password); resp.status != http.StatusTooManyRequests || resp.oauthError(t).Error != "too_many_attempts" {
		t.Fatalf("the right password after 3 failures: %s, want 429 too_many_attempts", resp)
	}

	out, err := runClaimgateCommand(t, "claimgate", "unblock", "--user", strconv.FormatInt(alice.ID, 10), "--config", cfgFile)
	if err != nil {
		t.Fatalf("claimgate unblock: %v\n%s", err, out)
	}
	if m := clearedOutput.FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("claimgate unblock printed %q, want a count of cleared records", out)
	}
	if resp := login(alice.Password); resp.status != http.StatusOK {
		t.Fatalf("login after claimgate unblock: %s", resp)
	}

	// --admin, for an IP: nothing to clear, but the server answers.
	out, err = runClaimgateCommand(t, "claimgate", "unblock", "--ip", "192.0.2.1", "--admin", adminAddr)
	if err != nil || out != "cleared 0 block record(s)\n" {
		t.Errorf("claimgate unblock --admin: %q, %v", out, err)
	}

	unload(t)
	_, err = runClaimgateCommand(t, "claimgate", "unblock", "--user", "1", "--config", cfgFile)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "no claimgate app is running") {
		t.Errorf("claimgate unblock with no claimgate app running: %v, want the server's 409", err)
	}
}

// runClaimgateCommand runs the claimgate command group, as registered with
// Caddy's CLI, in this process: what `claimgate claimgate …` runs, talking
// to the server (caddytest's, here) only through its admin API.
func runClaimgateCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	reg, ok := caddycmd.Commands()["claimgate"]
	if !ok {
		t.Fatal("the claimgate command is not registered")
	}
	group := &cobra.Command{Use: reg.Name, Short: reg.Short, Long: reg.Long}
	reg.CobraFunc(group)
	root := &cobra.Command{Use: "claimgate", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(group)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}
