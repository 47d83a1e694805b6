package verify

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/claimgate/claimgate/internal/hostcookie"
)

// The cookies of browser sessions. The __Host- prefix makes browsers
// refuse them unless Secure, host-only and Path=/: a sibling subdomain
// cannot plant or overwrite one.
const (
	// appCookie holds the session; above maxCookieValue it is split into
	// appCookie.1, appCookie.2, … (at most maxCookieChunks).
	appCookie = "__Host-claimgate_app"
	// authCookiePrefix + the state's first stateKeyLen characters holds a
	// sign-in round trip's state, nonce, PKCE verifier and return path.
	authCookiePrefix = "__Host-claimgate_auth."
	// ownCookiePrefix starts the name of every cookie claimgate sets.
	ownCookiePrefix = "__Host-claimgate_"
	stateKeyLen     = 12
	// maxCookieValue keeps name, value and attributes under the 4096
	// bytes browsers store per cookie.
	maxCookieValue  = 3800
	maxCookieChunks = 8
)

// Additional data binding each encrypted cookie to its use and client: a
// sign-in cookie cannot be replayed as a session, nor one app's session as
// another's on a storage they share.
const (
	aadSession = "claimgate app session\x00"
	aadAuth    = "claimgate app sign-in\x00"
)

// cookieCodec seals and opens the cookies with AES-256-GCM under the
// app's cookie key.
type cookieCodec struct {
	client string
	key    func() []byte
	aead   atomic.Pointer[cipher.AEAD]
}

// cipher returns the AEAD, built on first use: the key exists only once
// the app has started, after the handler was provisioned.
func (c *cookieCodec) cipher() (cipher.AEAD, error) {
	if a := c.aead.Load(); a != nil {
		return *a, nil
	}
	key := c.key()
	if len(key) != 32 {
		return nil, errors.New("the browser cookie key is not loaded (has the claimgate app started?)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	c.aead.Store(&a)
	return a, nil
}

// seal encrypts v as JSON: base64url(nonce ‖ ciphertext).
func (c *cookieCodec) seal(purpose string, v any) (string, error) {
	a, err := c.cipher()
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := a.Seal(nonce, nonce, plain, []byte(purpose+c.client))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open decrypts and authenticates a sealed value into v.
func (c *cookieCodec) open(purpose, value string, v any) error {
	a, err := c.cipher()
	if err != nil {
		return err
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < a.NonceSize()+a.Overhead() {
		return errors.New("cookie is not one of ours")
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, sealed[:n], sealed[n:], []byte(purpose+c.client))
	if err != nil {
		return errors.New("cookie does not decrypt (another key or client, or tampered)")
	}
	return json.Unmarshal(plain, v)
}

// readSession returns the session cookie's value, reassembled from its
// chunks when split, or "" (also when the request has no cookie at all,
// without parsing anything).
func (c *cookieCodec) readSession(r *http.Request) string {
	if len(r.Header["Cookie"]) == 0 {
		return ""
	}
	if ck, err := r.Cookie(appCookie); err == nil {
		return ck.Value
	}
	var sb strings.Builder
	for i := 1; i <= maxCookieChunks; i++ {
		ck, err := r.Cookie(appCookie + "." + strconv.Itoa(i))
		if err != nil {
			break
		}
		sb.WriteString(ck.Value)
	}
	return sb.String()
}

// openSession decrypts a session cookie value.
func (c *cookieCodec) openSession(value string) (appSession, error) {
	var s appSession
	if err := c.open(aadSession, value, &s); err != nil {
		return appSession{}, err
	}
	if s.Access == "" || s.Refresh == "" {
		return appSession{}, errors.New("session cookie without tokens")
	}
	return s, nil
}

// setSession sets the session cookie on w, split into numbered cookies
// when it would not fit in one, and deletes the request's cookies the new
// ones do not replace. A session too large even for maxCookieChunks is an
// error, never a cookie the browser would silently drop.
func (c *cookieCodec) setSession(w http.ResponseWriter, r *http.Request, s appSession, ttl time.Duration) error {
	value, err := c.seal(aadSession, s)
	if err != nil {
		return err
	}
	expires := time.Now().Add(ttl)
	if len(value) <= maxCookieValue {
		hostcookie.Set(w, appCookie, value, expires)
		for i := 1; i <= maxCookieChunks; i++ {
			c.clearIfSent(w, r, appCookie+"."+strconv.Itoa(i))
		}
		return nil
	}
	n := (len(value) + maxCookieValue - 1) / maxCookieValue
	if n > maxCookieChunks {
		return fmt.Errorf("the session's tokens need %d bytes of cookie, more than %d cookies of %d (are the token's claims too large?)",
			len(value), maxCookieChunks, maxCookieValue)
	}
	for i := 0; i < n; i++ {
		chunk := value[i*maxCookieValue : min(len(value), (i+1)*maxCookieValue)]
		hostcookie.Set(w, appCookie+"."+strconv.Itoa(i+1), chunk, expires)
	}
	c.clearIfSent(w, r, appCookie)
	for i := n + 1; i <= maxCookieChunks; i++ {
		c.clearIfSent(w, r, appCookie+"."+strconv.Itoa(i))
	}
	return nil
}

// clearSession deletes the session cookie and its chunks.
func (c *cookieCodec) clearSession(w http.ResponseWriter, r *http.Request) {
	hostcookie.Clear(w, appCookie)
	for i := 1; i <= maxCookieChunks; i++ {
		c.clearIfSent(w, r, appCookie+"."+strconv.Itoa(i))
	}
}

// clearIfSent deletes the cookie name when the request carried it.
func (c *cookieCodec) clearIfSent(w http.ResponseWriter, r *http.Request, name string) {
	if _, err := r.Cookie(name); err == nil {
		hostcookie.Clear(w, name)
	}
}

// setAuthState sets the sign-in cookie of st.
func (c *cookieCodec) setAuthState(w http.ResponseWriter, st authState) error {
	value, err := c.seal(aadAuth, st)
	if err != nil {
		return err
	}
	hostcookie.Set(w, authCookiePrefix+st.State[:stateKeyLen], value, time.Now().Add(authCookieTTL))
	return nil
}

// takeAuthState returns the sign-in state for the callback's state value
// and deletes its cookie: the state must match exactly and be recent.
func (c *cookieCodec) takeAuthState(w http.ResponseWriter, r *http.Request, state string) (authState, error) {
	if len(state) < stateKeyLen || !validCookieNamePart(state[:stateKeyLen]) {
		return authState{}, errors.New("callback without a state of ours")
	}
	name := authCookiePrefix + state[:stateKeyLen]
	ck, err := r.Cookie(name)
	if err != nil {
		return authState{}, errors.New("no sign-in cookie for this state")
	}
	hostcookie.Clear(w, name)
	var st authState
	if err := c.open(aadAuth, ck.Value, &st); err != nil {
		return authState{}, err
	}
	if !statesEqual(st.State, state) {
		return authState{}, errors.New("state differs from the sign-in's")
	}
	if age := time.Since(time.Unix(st.Created, 0)); age < 0 || age > authCookieTTL {
		return authState{}, errors.New("sign-in round trip too old")
	}
	return st, nil
}

// validCookieNamePart accepts the base64url characters of a state.
func validCookieNamePart(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// stripSessionCookies removes claimgate's own cookies from the request
// before it goes upstream: the upstream gets the verified headers, never
// the sealed tokens (which a logging or compromised upstream could
// replay). Requests without any such cookie are left untouched.
//
// Every claimgate cookie goes, not only the app's: where claimgate_login
// shares the site, the sign-in session cookie (which can get codes for any
// client) must not reach the app either.
func stripSessionCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, ownCookiePrefix) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, l := range lines {
		for _, part := range strings.Split(l, ";") {
			p := strings.TrimSpace(part)
			if p == "" || strings.HasPrefix(p, ownCookiePrefix) {
				continue
			}
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}
