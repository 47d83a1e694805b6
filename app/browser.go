package app

import (
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/httpurl"
	"github.com/claimgate/claimgate/internal/loginpage"
)

// Browser sign-in settings: defaults, validation, and what Provision
// prepares (the login page template, the grant.Browser flows).

// Defaults of the sign-in session lifetimes.
const (
	defaultSessionTTL     = 168 * time.Hour
	defaultSessionIdleTTL = 72 * time.Hour
)

// browserState is what Provision prepares for browser sign-in.
type browserState struct {
	flows     *grant.Browser
	loginPage *template.Template
}

// provisionBrowser sets the session defaults, parses the login_page
// template (a broken one fails the config; the file is only read) and
// builds the browser flows on the grant service.
func (a *App) provisionBrowser() error {
	if a.SessionTTL <= 0 {
		a.SessionTTL = caddy.Duration(defaultSessionTTL)
	}
	if a.SessionIdleTTL <= 0 {
		a.SessionIdleTTL = caddy.Duration(defaultSessionIdleTTL)
	}
	page := loginpage.Builtin
	if a.LoginPage != "" {
		var err error
		if page, err = loginpage.Load(a.LoginPage); err != nil {
			return err
		}
	}
	a.web = &browserState{
		loginPage: page,
		flows: grant.NewBrowser(a.grants, grant.BrowserConfig{
			SessionTTL:     time.Duration(a.SessionTTL),
			SessionIdleTTL: time.Duration(a.SessionIdleTTL),
		}),
	}
	return nil
}

// validateBrowser checks the app-wide browser settings.
func (a *App) validateBrowser() error {
	if a.SessionTTL < 0 || a.SessionIdleTTL < 0 {
		return errors.New("session_ttl and session_idle_ttl must not be negative")
	}
	return nil
}

// validateBrowser checks a client's redirect URIs and what the
// authorization_code grant needs.
func (c *ClientConfig) validateBrowser() error {
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return fmt.Errorf("redirect_uri: %w", err)
		}
	}
	for _, u := range c.LogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return fmt.Errorf("logout_redirect_uri: %w", err)
		}
	}
	if slices.Contains(c.Grants, grant.ClientGrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return errors.New("the authorization_code grant needs at least one redirect_uri")
	}
	return nil
}

// ValidateRedirectURI accepts an absolute https URL, or http on a loopback
// host (a developer's machine), without a fragment (RFC 6749 §3.1.2).
// Redirect URIs are compared exactly, so nothing else is normalised.
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("'%s' is not a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return fmt.Errorf("'%s' must be an absolute http(s) URL", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("'%s' must not have a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("'%s' must not carry credentials", raw)
	case u.Scheme == "http" && !httpurl.IsLoopbackHost(u.Hostname()):
		return fmt.Errorf("'%s' uses http on a non-loopback host (https is required)", raw)
	}
	return nil
}

// Browser returns the browser sign-in flows (authorize, login page,
// sessions, the authorization_code grant).
func (a *App) Browser() *grant.Browser { return a.web.flows }

// LoginTemplate returns the login page template: login_page's, or the
// built-in one.
func (a *App) LoginTemplate() *template.Template { return a.web.loginPage }
