package login

import "net/http"

// serveRevoke answers POST /oauth/revoke (RFC 7009): the client
// authenticates as at the token endpoint; the answer is 200 with an empty
// body, also for an unknown token.
func (l *Login) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, errMethodNotAllowed(http.MethodPost))
		return
	}
	params, e := readParams(w, r)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	auth, e := l.authenticate(r, params)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	tok := params["token"]
	if tok == "" {
		l.answerError(w, r, errInvalidRequest("Missing token."))
		return
	}
	if err := l.grants.Revoke(r.Context(), auth.client, tok); err != nil {
		l.answerError(w, r, errUnavailable("Cannot revoke right now.", retryAfterUnavailable).withCause(err))
		return
	}
	l.recordRevocation(r, auth)
	setNoStore(w.Header())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
