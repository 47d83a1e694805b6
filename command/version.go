package command

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// modulePath is claimgate's module, looked up in the binary's build info.
const modulePath = "github.com/claimgate/claimgate"

// develVersion is what Go itself reports for a module built from a working
// tree rather than a tagged download.
const develVersion = "(devel)"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the version of claimgate in this binary",
		Long: `
Prints the version of the claimgate module built into this binary, as Go
recorded it: a release or pseudo-version for a build that downloaded
claimgate (xcaddy, go install), "(devel)" for one built from a working
tree, followed by the commit and "(modified)" when the working tree had
changes. 'version' without 'claimgate' is Caddy's own version.
`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, ok := debug.ReadBuildInfo()
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionText(bi, ok))
			return err
		},
	}
}

// versionText is the line `claimgate version` prints for build info bi (ok
// false: the binary has none).
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "claimgate " + develVersion
	}
	// cmd/claimgate built in this repository: claimgate is the main module,
	// and only then does the build's VCS stamp describe claimgate's tree.
	if bi.Main.Path == modulePath {
		text := "claimgate " + moduleVersion(&bi.Main)
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			text += " " + rev
			if settings["vcs.modified"] == "true" {
				text += " (modified)"
			}
		}
		return text
	}
	// An xcaddy build: claimgate is a dependency of a generated main module.
	for _, dep := range bi.Deps {
		if dep.Path == modulePath {
			return "claimgate " + moduleVersion(dep)
		}
	}
	return "claimgate " + develVersion
}

// moduleVersion is m's version, followed like `go version -m` by what
// replaces it (xcaddy's `--with module=../local/dir` is such a replacement).
func moduleVersion(m *debug.Module) string {
	v := m.Version
	if v == "" {
		v = develVersion
	}
	if r := m.Replace; r != nil {
		v += " => " + r.Path
		if r.Version != "" {
			v += " " + r.Version
		}
	}
	return v
}
