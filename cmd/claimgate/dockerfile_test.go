package main

// The Dockerfile cannot be built here (no Docker daemon on the build
// machines), so these tests read it: they check what the image promises
// (pinned bases, a health check that works without a shell, non-root, no
// demo database by default), and TestDockerBuild runs the build stage's
// own `go build` line on the build context .dockerignore leaves, then runs
// the result the way the image does.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// repoRoot is the build context the Dockerfile is written for.
const repoRoot = "../.."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line    int    // where it starts
	keyword string // upper case: FROM, RUN, ...
	args    string
}

// parseDockerfile reads a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		keyword, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued instruction", path)
	}
	return out
}

// finalStage returns the instructions after the last FROM.
func finalStage(ins []instruction) []instruction {
	last := 0
	for i, in := range ins {
		if in.keyword == "FROM" {
			last = i
		}
	}
	return ins[last:]
}

// dockerfile is what the tests need to know of the Dockerfile.
type dockerfile struct {
	froms       []instruction
	final       []instruction
	buildEnv    []string // VAR=value before `go build`
	buildFlags  []string // flags of `go build`, without -o
	buildPkg    string   // the package built
	binary      string   // where the final stage puts the binary
	healthcheck []string // the HEALTHCHECK command, exec form
	expose      []string
	user        string
	configSrc   string // the file copied to the config path CMD names
	configPath  string
}

var (
	pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:([a-z0-9._-]*[0-9]+\.[0-9]+[a-z0-9._-]*|nonroot)@sha256:[0-9a-f]{64}(\s+AS\s+\w+)?$`)
	versionTag  = regexp.MustCompile(`:[a-z0-9._-]*[0-9]+\.[0-9]+`)
	hcOptions   = regexp.MustCompile(`^((--[a-z-]+=\S+)\s+)*CMD\s+(\[.*\])$`)
)

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	ins := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	var d dockerfile
	for _, in := range ins {
		if in.keyword == "FROM" {
			d.froms = append(d.froms, in)
		}
	}
	d.final = finalStage(ins)
	for _, in := range ins {
		if in.keyword != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		if d.buildPkg != "" {
			t.Fatalf("line %d: a second go build", in.line)
		}
		d.buildEnv, d.buildFlags, d.buildPkg = parseGoBuild(t, in)
	}
	if d.buildPkg == "" {
		t.Fatal("no RUN ... go build in the Dockerfile")
	}
	var cmd []string
	for _, in := range d.final {
		switch in.keyword {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) >= 2 && strings.HasPrefix(f[0], "--from=") && strings.HasSuffix(f[1], "/claimgate") {
				d.binary = f[len(f)-1]
			}
			if len(f) == 2 && !strings.HasPrefix(f[0], "--") {
				// A file from the build context: the default config.
				if d.configSrc != "" {
					t.Fatalf("line %d: more than one file copied from the context", in.line)
				}
				d.configSrc, d.configPath = f[0], f[1]
			}
		case "HEALTHCHECK":
			if d.healthcheck != nil {
				t.Fatalf("line %d: a second HEALTHCHECK", in.line)
			}
			m := hcOptions.FindStringSubmatch(in.args)
			if m == nil {
				t.Fatalf("line %d: HEALTHCHECK %s is not `[--option=value ...] CMD [\"exec\", \"form\"]`", in.line, in.args)
			}
			if err := json.Unmarshal([]byte(m[3]), &d.healthcheck); err != nil || len(d.healthcheck) == 0 {
				t.Fatalf("line %d: HEALTHCHECK CMD is not a JSON array (exec form): %v", in.line, err)
			}
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(in.args)...)
		case "USER":
			d.user = in.args
		case "CMD":
			if err := json.Unmarshal([]byte(in.args), &cmd); err != nil {
				t.Fatalf("line %d: CMD is not in exec form: %v", in.line, err)
			}
		}
	}
	if i := slices.Index(cmd, "--config"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != d.configPath {
		t.Errorf("CMD %q does not run the config the image ships (%s)", cmd, d.configPath)
	}
	return d
}

// parseGoBuild splits the `go build` command of a RUN line into its
// environment, its flags (without -o and its value) and its package.
func parseGoBuild(t *testing.T, in instruction) (env, flags []string, pkg string) {
	t.Helper()
	for _, part := range strings.Split(in.args, "&&") {
		words := shellWords(t, part)
		i := 0
		for i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-") {
			env = append(env, words[i])
			i++
		}
		if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
			env = nil
			continue
		}
		rest := words[i+2:]
		for j := 0; j < len(rest); j++ {
			switch {
			case rest[j] == "-o":
				j++ // the output, which the test chooses
			case strings.HasPrefix(rest[j], "-"):
				flags = append(flags, rest[j])
			default:
				if pkg != "" {
					t.Fatalf("line %d: go build of more than one package", in.line)
				}
				pkg = rest[j]
			}
		}
		return env, flags, pkg
	}
	t.Fatalf("line %d: no go build command in %q", in.line, in.args)
	return nil, nil, ""
}

// shellWords splits s as sh does for plain words and quoted strings (no
// expansions: a build line has none).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '$' || r == '`' || r == '\\':
			t.Fatalf("shell expansion or escape in %q: the test cannot reproduce it", s)
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)

	if len(d.froms) < 2 {
		t.Errorf("%d FROM lines, want a build stage and a runtime stage", len(d.froms))
	}
	for _, from := range d.froms {
		// Tag with a version (or distroless' nonroot variant) and a digest.
		if !pinnedImage.MatchString(from.args) {
			t.Errorf("line %d: FROM %s is not pinned to a versioned tag and a sha256 digest", from.line, from.args)
		}
	}
	if from := d.final[0].args; !strings.Contains(from, "distroless/static") || !strings.Contains(from, "nonroot") {
		t.Errorf("runtime stage FROM %s, want distroless static nonroot", from)
	}
	if !versionTag.MatchString(d.froms[0].args) || !strings.Contains(d.froms[0].args, "golang:") {
		t.Errorf("build stage FROM %s, want a golang image with an exact version", d.froms[0].args)
	}

	// The build: static, reproducible paths, the claimgate binary.
	if !slices.Contains(d.buildEnv, "CGO_ENABLED=0") {
		t.Errorf("go build env %q lacks CGO_ENABLED=0 (the runtime image has no libc)", d.buildEnv)
	}
	if !slices.Contains(d.buildFlags, "-trimpath") {
		t.Errorf("go build flags %q lack -trimpath", d.buildFlags)
	}
	if d.buildPkg != "./cmd/claimgate" {
		t.Errorf("go build %s, want ./cmd/claimgate", d.buildPkg)
	}
	if !slices.Contains(d.buildFlags, "-tags=claimgate_nodemo") {
		t.Errorf("go build flags %q lack -tags=claimgate_nodemo: the image would carry the demo database", d.buildFlags)
	}

	if d.user != "nonroot:nonroot" && d.user != "nonroot" && d.user != "65532:65532" {
		t.Errorf("USER %q, want nonroot", d.user)
	}

	// The health check: the binary itself (no shell, no curl in the
	// image), on a port the image exposes.
	hc := d.healthcheck
	if len(hc) < 5 || hc[0] != d.binary || hc[1] != "claimgate" || hc[2] != "health" {
		t.Fatalf("HEALTHCHECK CMD %q, want [%q, \"claimgate\", \"health\", \"--url\", URL]", hc, d.binary)
	}
	i := slices.Index(hc, "--url")
	if i < 0 || i+1 >= len(hc) {
		t.Fatalf("HEALTHCHECK CMD %q has no --url", hc)
	}
	u, err := url.Parse(hc[i+1])
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" || u.Path != "/health/ready" {
		t.Errorf("HEALTHCHECK checks %s, want http://127.0.0.1:PORT/health/ready", u)
	}
	if !slices.Contains(d.expose, u.Port()) && !slices.Contains(d.expose, u.Port()+"/tcp") {
		t.Errorf("HEALTHCHECK port %s is not EXPOSEd (EXPOSE %q)", u.Port(), d.expose)
	}

	// The default config: not the quickstart, no demo database, and it
	// serves the port the health check calls.
	if d.configSrc == "" {
		t.Fatal("no default config copied into the image")
	}
	if strings.Contains(d.configSrc, "quickstart") {
		t.Errorf("the default config is the quickstart (%s)", d.configSrc)
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, d.configSrc))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^\s*dsn\s+"?embedded`).Match(src) {
		t.Errorf("%s uses the embedded demo database", d.configSrc)
	}
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": d.configSrc})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(adapted, []byte(`"listen":[":`+u.Port()+`"]`)) {
		t.Errorf("%s does not listen on :%s, the port the health check calls:\n%s", d.configSrc, u.Port(), adapted)
	}
	if !bytes.Contains(adapted, []byte(`"handler":"claimgate_login"`)) {
		t.Errorf("%s has no claimgate_login to answer /health/ready", d.configSrc)
	}
}

// TestDockerDefaultConfigRefusesWithoutSettings validates the image's
// default config as `claimgate validate` does: without the database and
// client settings it must not load (no demo, no silent default), with them
// it must.
func TestDockerDefaultConfigRefusesWithoutSettings(t *testing.T) {
	d := readDockerfile(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, d.configSrc))
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T) error {
		t.Helper()
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": d.configSrc})
		if err != nil {
			t.Fatal(err)
		}
		var cfg caddy.Config
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg.StorageRaw = caddyconfig.JSONModuleObject(map[string]string{"root": t.TempDir()}, "module", "file_system", nil)
		return caddy.Validate(&cfg)
	}
	const dsn = "claimgate:not-a-password@tcp(127.0.0.1:1)/app"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"nothing set", nil, "is empty after replacing placeholders"},
		{"no client secret", map[string]string{"CLAIMGATE_DSN": dsn}, "secret is empty"},
		{"an empty dsn", map[string]string{"CLAIMGATE_DSN": "", "WEB_BACKEND_SECRET": "x"}, "dsn is empty"},
		{"no dsn", map[string]string{"WEB_BACKEND_SECRET": "x"}, "dsn is empty"},
		{"everything set", map[string]string{"CLAIMGATE_DSN": dsn, "WEB_BACKEND_SECRET": "a-long-random-secret"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"CLAIMGATE_DSN", "WEB_BACKEND_SECRET", "CLAIMGATE_ISSUER", "CLAIMGATE_AUDIENCE"} {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := validate(t)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestDockerignore checks the build context: no repository history, no
// local binaries, keys or secrets; everything the build needs.
func TestDockerignore(t *testing.T) {
	ig := readDockerignore(t)
	for _, p := range []string{
		".git/HEAD", ".git/objects/ab/cdef",
		"claimgate", "cmd/claimgate/claimgate", "token/token.test", "cpu.out",
		"bench/results/verify-2026.txt",
		".claimgate-quickstart/claimgate/keys/index.json",
		"examples/.claimgate-quickstart/claimgate/keys/index.json",
		"examples/secrets/mysql_password", "examples/claimgate.env", ".env",
	} {
		if !ig.excluded(p) {
			t.Errorf("%s is sent to the Docker daemon: add it to .dockerignore", p)
		}
	}
	for _, p := range []string{
		"go.mod", "go.sum", "cmd/claimgate/main.go", "claimgate.go", "token/manager.go",
		"demo/demodb/demo.go", "examples/container/Caddyfile",
	} {
		if ig.excluded(p) {
			t.Errorf("%s is left out of the build context, which needs it", p)
		}
	}
}

// dockerignore matches paths as Docker does (moby/patternmatcher): each
// pattern is relative to the context root (a leading / is dropped); `*` and
// `?` stay within one path element, `**` spans any number; a pattern that
// matches a directory excludes everything in it; the last matching pattern
// wins, and `!` re-includes.
type dockerignore []ignorePattern

type ignorePattern struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var ig dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.negate, line = true, rest
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		p.re = regexp.MustCompile("^" + ignoreRegexp(t, line) + "$")
		ig = append(ig, p)
	}
	return ig
}

func ignoreRegexp(t *testing.T, pattern string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
				if i+1 < len(pattern) && pattern[i+1] == '/' {
					i++
					b.WriteString("(.*/)?")
				} else {
					b.WriteString(".*")
				}
				continue
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[', '\\':
			t.Fatalf(".dockerignore pattern %q: character classes and escapes are not understood by this test", pattern)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excluded reports whether path (slash-separated, relative to the context)
// is left out of the build context.
func (ig dockerignore) excluded(path string) bool {
	// The path itself and every parent directory.
	var candidates []string
	parts := strings.Split(path, "/")
	for i := range parts {
		candidates = append(candidates, strings.Join(parts[:i+1], "/"))
	}
	excluded := false
	for _, p := range ig {
		if slices.ContainsFunc(candidates, p.re.MatchString) {
			excluded = !p.negate
		}
	}
	return excluded
}

// buildContext copies what .dockerignore lets through into a new
// directory, as `docker build` sends it, and returns that directory.
func buildContext(t *testing.T) string {
	t.Helper()
	ig := readDockerignore(t)
	dst := t.TempDir()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ig.excluded(rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerBuild builds the image's binary as its build stage does —
// the Dockerfile's own `go build` line, on the build context .dockerignore
// leaves — and runs it as the image does: the HEALTHCHECK command against
// healthy, failing and absent servers, `claimgate version`, and the default
// config refusing to load without its settings.
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary (a minute or two); skipped with -short")
	}
	d := readDockerfile(t)
	ctxDir := buildContext(t)
	bin := filepath.Join(t.TempDir(), "claimgate")
	args := append([]string{"build"}, d.buildFlags...)
	args = append(args, "-o", bin, d.buildPkg)
	build := exec.Command(runtime.GOROOT()+"/bin/go", args...)
	build.Dir = ctxDir
	// The build stage's environment: its variables, modules from the
	// cache `go mod download` filled (no network), no GOFLAGS of the host.
	build.Env = append(os.Environ(), "GOFLAGS=", "GOPROXY=off", "GOWORK=off")
	build.Env = append(build.Env, d.buildEnv...)
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s in the build context: %s", strings.Join(args, " "), time.Since(start).Round(time.Second))

	runBin := func(t *testing.T, env []string, argv ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, argv...)
		cmd.Dir = t.TempDir()
		cmd.Env = append([]string{"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "PATH=/nonexistent"}, env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	// The HEALTHCHECK command with the URL replaced.
	healthArgs := func(target string) []string {
		hc := slices.Clone(d.healthcheck[1:])
		hc[slices.Index(hc, "--url")+1] = target
		return hc
	}

	t.Run("health check", func(t *testing.T) {
		ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health/ready" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"status":"ok","database":"ok","signing_key":"ok"}`)
		}))
		defer ready.Close()
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"ok","database":"unavailable","signing_key":"ok"}`)
		}))
		defer down.Close()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := "http://" + l.Addr().String() + "/health/ready"
		l.Close()

		if out, errOut, code := runBin(t, nil, healthArgs(ready.URL+"/health/ready")...); code != 0 || out != "" || errOut != "" {
			t.Errorf("ready server: exit %d, stdout %q, stderr %q; want 0 and silence", code, out, errOut)
		}
		for name, target := range map[string]string{"503": down.URL + "/health/ready", "refused": refused} {
			_, errOut, code := runBin(t, nil, healthArgs(target)...)
			// Docker: 0 healthy, 1 unhealthy (2 is reserved).
			if code != 1 {
				t.Errorf("%s: exit %d, want 1", name, code)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "unhealthy: ") {
				t.Errorf("%s: stderr %q, want one line", name, errOut)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out, errOut, code := runBin(t, nil, "claimgate", "version")
		if code != 0 || !regexp.MustCompile(`^claimgate \S`).MatchString(out) {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("default config", func(t *testing.T) {
		config := filepath.Join(ctxDir, d.configSrc)
		validate := []string{"validate", "--config", config, "--adapter", "caddyfile"}
		_, errOut, code := runBin(t, nil, validate...)
		if code == 0 || !strings.Contains(errOut, "is empty after replacing placeholders") {
			t.Errorf("without settings: exit %d, stderr:\n%s\nwant a refusal", code, errOut)
		}
		secret := "WEB_BACKEND_SECRET=a-long-random-secret"
		if _, errOut, code := runBin(t, []string{secret}, validate...); code == 0 || !strings.Contains(errOut, "dsn is empty") {
			t.Errorf("without CLAIMGATE_DSN: exit %d, stderr:\n%s\nwant a refusal naming the empty dsn", code, errOut)
		}
		// The image has no demo database to fall back on.
		_, errOut, code = runBin(t, []string{secret, "CLAIMGATE_DSN=embedded"}, validate...)
		if code == 0 || !strings.Contains(errOut, "this build does not include") {
			t.Errorf("with dsn embedded: exit %d, stderr:\n%s\nwant a refusal: the image has no demo database", code, errOut)
		}
		env := []string{"CLAIMGATE_DSN=claimgate:x@tcp(127.0.0.1:1)/app", secret}
		if _, errOut, code := runBin(t, env, validate...); code != 0 {
			t.Errorf("with its settings: exit %d, stderr:\n%s", code, errOut)
		}
	})
}
