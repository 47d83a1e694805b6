package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/token"
)

// rotateTimeout bounds the whole command, the wait for the storage lock
// included (an instance holds it only while it writes keys).
const rotateTimeout = time.Minute

// defaultAccessTokenTTL is the app's default access_token_ttl, the longest
// a token lives when the config does not say: how long a replaced key
// stays published.
const defaultAccessTokenTTL = time.Hour

func newRotateKeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-key [--config <file>] [--adapter <name>] [--activate-in <duration>] [--retire-old]",
		Short: "Replaces the signing key now, for every instance sharing the storage",
		Long: `
Creates a new signing key in the Caddy storage of the config (--config,
default ./Caddyfile: its top-level storage, or Caddy's default data
directory), under the storage lock the running instances use, with the
config's signing_key algorithm.

The new key is published in the JWKS at once and signs from
--activate-in later: by default the pre-publication window of a
scheduled rotation (a tenth of key_rotation, at most 1h; 5m without
key_rotation), so that every instance and every verifier that caches the
JWKS knows it before any token carries it. The key it replaces keeps
signing until then and stays published until the tokens it signed have
expired (access_token_ttl). Running instances see the change at their
next reload of storage, within a minute (less with a short key_rotation);
no restart is needed.

--retire-old is for a key that leaked: every older key stops verifying
when the new key activates, which is at once unless --activate-in is
given, and is deleted from storage. Tokens it signed are refused by every
instance after its next reload, within a minute; clients get new tokens
with their refresh token or by logging in again (refresh tokens are not
signed, they stay valid). Verifiers outside claimgate that cached the JWKS
accept the old key until they fetch it again. Until every instance has
reloaded, one that has not may refuse the tokens of one that has.

Run it where the storage is reachable as the server sees it: in the
server's container, or from the directory a relative storage path is
relative to. A signing_key file is not rotated here: replace the file.
`,
		Args: noArgs,
	}
	cmd.Flags().StringP("config", "c", "", "Configuration file of the claimgate server (default ./Caddyfile)")
	cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
	cmd.Flags().String("activate-in", "", "How long the new key is published before it signs, e.g. 10m or 0 (default: the scheduled rotation's window; 0 with --retire-old)")
	cmd.Flags().Bool("retire-old", false, "Stop accepting every older key when the new key activates, and delete it (for a leaked key)")
	cmd.RunE = caddyRunE(runRotateKey)
	return cmd
}

func runRotateKey(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	retireOld := fl.Bool("retire-old")
	var activateIn *time.Duration
	if s := fl.String("activate-in"); s != "" || cmd.Flags().Changed("activate-in") {
		d, err := caddy.ParseDuration(s)
		if err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--activate-in: %w", err)
		}
		if d < 0 {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--activate-in %s: must not be negative", s)
		}
		activateIn = &d
	}
	cfgJSON, source, err := loadRotateConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	keys, err := keysFromConfig(cfgJSON, source)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), rotateTimeout)
	defer cancel()
	storage, closeStorage, err := storageFromConfig(ctx, cfgJSON, source)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	defer closeStorage()
	m := token.NewManager(storage, keys, caddy.Log().Named("claimgate.keys"))
	opts := token.RotateOptions{RetireOld: retireOld}
	switch {
	case activateIn != nil:
		opts.ActivateIn = *activateIn
	case !retireOld:
		opts.ActivateIn = m.PrepublishWindow()
	}
	r, err := m.RotateNow(ctx, opts)
	if err != nil {
		return caddy.ExitCodeFailedQuit, err
	}
	printRotation(cmd.OutOrStdout(), r, opts, time.Now())
	return caddy.ExitCodeSuccess, nil
}

// printRotation tells the operator what happened and what happens next.
func printRotation(w io.Writer, r token.Rotation, opts token.RotateOptions, now time.Time) {
	fmt.Fprintf(w, "new signing key %s (%s) is published now\n", r.KeyID, r.Algorithm)
	if wait := r.ActivateAt.Sub(now).Round(time.Second); wait > 0 {
		fmt.Fprintf(w, "it signs from %s (in %s)\n", r.ActivateAt.UTC().Format(time.RFC3339), wait)
	} else {
		fmt.Fprintln(w, "it signs from now on")
	}
	fmt.Fprintf(w, "running instances load it within %s (their storage reload interval)\n", r.ReloadInterval)
	for _, k := range r.Retiring {
		if opts.RetireOld {
			fmt.Fprintf(w, "key %s stops verifying at %s, when the new key activates\n",
				k.KeyID, k.RetireAfter.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(w, "key %s stays published until %s, so the tokens it signed stay valid until they expire\n",
				k.KeyID, k.RetireAfter.UTC().Format(time.RFC3339))
		}
	}
	for _, kid := range r.Removed {
		fmt.Fprintf(w, "key %s removed from storage\n", kid)
	}
	if opts.RetireOld && len(r.Removed) > 0 {
		fmt.Fprintf(w, "tokens signed with a removed key are refused by each instance after its next reload (within %s)\n", r.ReloadInterval)
	}
	if opts.ActivateIn < r.ReloadInterval && (len(r.Retiring) > 0 || len(r.Removed) > 0) {
		fmt.Fprintf(w, "note: until every instance has reloaded (up to %s), one that has not may refuse tokens signed by one that has\n", r.ReloadInterval)
	}
}

// loadRotateConfig loads and adapts the server's config, with the same
// defaults and messages as unblock.
func loadRotateConfig(configFile, adapter string) ([]byte, string, error) {
	cfgJSON, used, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, "", fmt.Errorf("loading config: %w", err)
	}
	if used == "" {
		return nil, "", errors.New("no config to find the signing keys by: pass --config <file> (the claimgate server's config); " +
			"there is no Caddyfile in the current directory")
	}
	if used == "-" {
		used = "on stdin"
	}
	if len(cfgJSON) == 0 {
		return nil, "", fmt.Errorf("the config %s is empty: it has no claimgate app", used)
	}
	return cfgJSON, used, nil
}

// keysFromConfig reads the claimgate app's key settings from a JSON config.
// Like dsnFromConfig it decodes only what it needs, without the app
// package; the defaults are the app's.
func keysFromConfig(cfgJSON []byte, source string) (token.ManagerConfig, error) {
	var cfg struct {
		Apps struct {
			Claimgate *struct {
				SigningKey *struct {
					Algorithm string `json:"algorithm"`
					File      string `json:"file"`
				} `json:"signing_key"`
				KeyRotation    caddy.Duration `json:"key_rotation"`
				AccessTokenTTL caddy.Duration `json:"access_token_ttl"`
			} `json:"claimgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return token.ManagerConfig{}, fmt.Errorf("decoding config %s: %w", source, err)
	}
	app := cfg.Apps.Claimgate
	if app == nil {
		return token.ManagerConfig{}, fmt.Errorf("the config %s has no claimgate app (no claimgate global option in a Caddyfile): "+
			"pass the claimgate server's config", source)
	}
	mc := token.ManagerConfig{
		Rotation:         time.Duration(app.KeyRotation),
		MaxTokenLifetime: time.Duration(app.AccessTokenTTL),
	}
	if mc.MaxTokenLifetime <= 0 {
		mc.MaxTokenLifetime = defaultAccessTokenTTL
	}
	if app.SigningKey != nil {
		mc.Algorithm, mc.File = app.SigningKey.Algorithm, app.SigningKey.File
	}
	return mc, nil
}

// storageFromConfig opens the config's top-level storage as Caddy does
// when it runs the config: the configured module, or Caddy's default file
// storage (AppDataDir). The returned func releases the module.
func storageFromConfig(ctx context.Context, cfgJSON []byte, source string) (certmagic.Storage, func(), error) {
	var cfg struct {
		StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, nil, fmt.Errorf("decoding config %s: %w", source, err)
	}
	if cfg.StorageRaw == nil {
		caddy.Log().Info("using Caddy's default storage", zap.String("path", caddy.DefaultStorage.Path))
		return caddy.DefaultStorage, func() {}, nil
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	val, err := cctx.LoadModule(&cfg, "StorageRaw")
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("loading the storage of %s: %w", source, err)
	}
	conv, ok := val.(caddy.StorageConverter)
	if !ok {
		cancel()
		return nil, nil, fmt.Errorf("the storage module of %s is not a storage", source)
	}
	storage, err := conv.CertMagicStorage()
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("opening the storage of %s: %w", source, err)
	}
	return storage, cancel, nil
}
