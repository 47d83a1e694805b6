package verify

import (
	"errors"
	"fmt"
)

// validateBrowser checks `browser CLIENT`: a client name, and claimgate's
// own tokens (the sessions are the app's flows; another issuer's tokens
// cannot be renewed here).
func (v *Verify) validateBrowser() error {
	if v.Browser == "" {
		return nil
	}
	if v.Issuer != "" {
		return errors.New("claimgate_verify: browser signs browsers in with the claimgate app, so it cannot go with issuer and jwks_url")
	}
	for _, c := range v.Browser {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("claimgate_verify: browser: client id %q holds a space or control character", v.Browser)
		}
	}
	return nil
}

// provisionBrowser prepares the browser sessions of `browser CLIENT` on the
// claimgate app, which must offer them and accept the client.
func (v *Verify) provisionBrowser(appIface any, issuer string) error {
	if v.Browser == "" {
		return nil
	}
	sessions, ok := appIface.(BrowserSessions)
	if !ok {
		return fmt.Errorf("claimgate_verify: browser: the claimgate app (%T) offers no browser sessions", appIface)
	}
	if err := sessions.CheckBrowserClient(v.Browser, v.Audience); err != nil {
		return fmt.Errorf("claimgate_verify: browser: %w", err)
	}
	v.browser = newBrowserSession(v.Browser, v.Audience, issuer, sessions, v.logger.Named("browser"))
	return nil
}
