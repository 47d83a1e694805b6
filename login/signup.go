package login

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
)

// pathSignup is Auth0's Authentication API sign-up endpoint.
const pathSignup = "/dbconnections/signup"

// Auth0's limits on a sign-up's user_metadata: at most ten properties,
// names of at most 100 characters, string values of at most 500.
const (
	maxSignupMetadataKeys  = 10
	maxSignupMetadataName  = 100
	maxSignupMetadataValue = 500
)

// signupError is an answer in the Authentication API's error shape, which
// Auth0's SDKs read: {"name","code","description","statusCode"}. The
// description is fixed text, never client input.
type signupError struct {
	status      int
	name        string
	code        string
	description string
	header      http.Header
	cause       error
}

func newSignupError(status int, name, code, description string) *signupError {
	return &signupError{status: status, name: name, code: code, description: description}
}

func badSignup(code, description string) *signupError {
	return newSignupError(http.StatusBadRequest, "BadRequestError", code, description)
}

// errInvalidSignup is the one answer of every refusal of acceptable input,
// an existing email included: worded so that it does not say the account
// exists.
func errInvalidSignup() *signupError { return badSignup("invalid_signup", "Invalid sign up.") }

// signupRequestBody is the body of a sign-up. app_metadata is not read:
// users must not set their own roles.
type signupRequestBody struct {
	clientID, email, password, connection string
	username, name, nickname, picture     string
	userMetadata                          map[string]any
}

// serveSignup answers POST /dbconnections/signup for clients with `signup
// on`. It reports false (the next handler answers) when the management
// block is not configured.
func (l *Login) serveSignup(w http.ResponseWriter, r *http.Request) bool {
	mgmt := l.app.ManagementAPI()
	if mgmt == nil {
		return false
	}
	ev := events.Event{IP: clientIP(r, clientAuth{}), UserAgent: r.UserAgent()}
	user, e := l.signup(w, r, mgmt, &ev)
	if e != nil {
		ev.Type, ev.Description = events.TypeFailedSignup, e.description
		l.app.Events().Emit(ev)
		l.answerSignupError(w, r, e)
		return true
	}
	ev.Type, ev.Description, ev.UserID = events.TypeSuccessSignup, "Successful sign-up.", user.id
	l.app.Events().Emit(ev)
	writeJSON(w, http.StatusOK, user.body)
	return true
}

// signedUp is the answer of a sign-up: Auth0's {"_id","email","email_verified"}.
type signedUp struct {
	id   string
	body map[string]any
}

// signup runs the checks in order: method, body, client, required fields,
// connection, then the flow (the IP's budget, the password policy, the
// account).
func (l *Login) signup(w http.ResponseWriter, r *http.Request, mgmt *grant.Management, ev *events.Event) (*signedUp, *signupError) {
	if r.Method != http.MethodPost {
		e := newSignupError(http.StatusMethodNotAllowed, "MethodNotAllowedError", "method_not_allowed", "Method not allowed.")
		e.header = http.Header{"Allow": {http.MethodPost}}
		return nil, e
	}
	body, e := readSignupBody(w, r)
	if e != nil {
		return nil, e
	}
	client, known := l.app.Client(body.clientID)
	if known {
		ev.ClientID = client.ID
	}
	if !known || !client.Signup {
		return nil, newSignupError(http.StatusForbidden, "UnauthorizedError", "unauthorized",
			"Sign-ups are not allowed for this client.")
	}
	switch {
	case body.email == "":
		return nil, badSignup("invalid_body", "Missing required property: email")
	case body.password == "":
		return nil, badSignup("invalid_body", "Missing required property: password")
	case body.connection == "":
		return nil, badSignup("invalid_body", "Missing required property: connection")
	case body.connection != mgmt.Connection():
		return nil, badSignup("invalid_connection", "Unknown connection.")
	}
	user, err := mgmt.Signup(r.Context(), &grant.SignupRequest{
		Client:       client,
		IP:           l.grants.AccountingIP(clientIP(r, clientAuth{})),
		Email:        body.email,
		Password:     body.password,
		Username:     body.username,
		Name:         body.name,
		Nickname:     body.nickname,
		Picture:      body.picture,
		UserMetadata: body.userMetadata,
	})
	if err != nil {
		ev.UserID = userOf(err)
		return nil, fromSignup(err)
	}
	out := map[string]any{"_id": user.ID, "email": body.email, "email_verified": false}
	for _, k := range []string{"username", "name", "nickname", "picture"} {
		if v, ok := user.Attributes[k].(string); ok && v != "" {
			out[k] = v
		}
	}
	if len(body.userMetadata) > 0 {
		out["user_metadata"] = body.userMetadata
	}
	return &signedUp{id: user.ID, body: out}, nil
}

// fromSignup maps the sign-up flow's errors.
func fromSignup(err error) *signupError {
	var (
		policy      *grant.PasswordPolicyError
		invalid     *grant.InvalidInputError
		missing     *grant.StatementMissingError
		blocked     *grant.BlockedError
		unavailable *grant.UnavailableError
	)
	switch {
	case errors.As(err, &policy):
		e := newSignupError(http.StatusBadRequest, "PasswordStrengthError", "invalid_password", policy.Message)
		return e
	case errors.Is(err, grant.ErrSignupRefused):
		e := errInvalidSignup()
		e.cause = err
		return e
	case errors.Is(err, grant.ErrSignupNotAllowed):
		return newSignupError(http.StatusForbidden, "UnauthorizedError", "unauthorized", "Sign-ups are not allowed for this client.")
	case errors.As(err, &invalid):
		return badSignup("invalid_body", invalid.Message)
	case errors.As(err, &missing):
		e := newSignupError(http.StatusNotImplemented, "NotImplementedError", "not_implemented",
			"Sign-up needs the "+missing.Directive+" statement in the management block.")
		e.cause = err
		return e
	case errors.As(err, &blocked):
		secs := int((blocked.RetryAfter + 999_999_999) / 1_000_000_000)
		if secs < 1 {
			secs = 1
		}
		e := newSignupError(http.StatusTooManyRequests, "TooManyRequestsError", "too_many_attempts",
			"Too many attempts from this address. Try again later.")
		e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
		e.cause = err
		return e
	case errors.As(err, &unavailable):
		e := newSignupError(http.StatusServiceUnavailable, "ServiceUnavailableError", "temporarily_unavailable", unavailable.Description)
		e.header = http.Header{"Retry-After": {strconv.Itoa(int(unavailable.RetryAfter.Seconds()))}}
		e.cause = err
		return e
	default:
		e := newSignupError(http.StatusInternalServerError, "InternalServerError", "server_error", "The sign-up could not be completed.")
		e.cause = err
		return e
	}
}

// answerSignupError logs e (its cause, never a secret) and writes it.
func (l *Login) answerSignupError(w http.ResponseWriter, r *http.Request, e *signupError) {
	level := zapcore.DebugLevel
	switch {
	case e.status >= 500:
		level = zapcore.ErrorLevel
	case e.cause != nil:
		level = zapcore.InfoLevel
	}
	if c := l.logger.Check(level, "sign-up refused"); c != nil {
		fields := []zap.Field{zap.String("path", r.URL.Path), zap.String("error", e.code), zap.Int("status", e.status)}
		if e.cause != nil {
			fields = append(fields, zap.NamedError("cause", e.cause))
		}
		c.Write(fields...)
	}
	for name, values := range e.header {
		w.Header()[name] = values
	}
	writeJSON(w, e.status, struct {
		Name        string `json:"name"`
		Code        string `json:"code"`
		Description string `json:"description"`
		StatusCode  int    `json:"statusCode"`
	}{e.name, e.code, e.description, e.status})
}

// readSignupBody reads a sign-up body: JSON (what the SDKs send) or a form
// (user_metadata then as JSON text). Values must be strings, user_metadata
// an object within Auth0's limits; unknown properties (app_metadata
// included) are ignored.
func readSignupBody(w http.ResponseWriter, r *http.Request) (*signupRequestBody, *signupError) {
	raw, err := readRequestBody(w, r)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return nil, newSignupError(http.StatusRequestEntityTooLarge, "PayloadTooLargeError", "invalid_body", "The request body is too large.")
		}
		return nil, badSignup("invalid_body", "The request body is malformed.")
	}
	if !utf8.Valid(raw) {
		return nil, badSignup("invalid_body", "The request body is not valid UTF-8.")
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (params["charset"] != "" && !isUTF8Charset(params["charset"])) {
		return nil, badSignup("invalid_body", "Send application/json or application/x-www-form-urlencoded.")
	}
	fields := map[string]any{}
	switch mediaType {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil || fields == nil {
			return nil, badSignup("invalid_body", "The request body is malformed.")
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, badSignup("invalid_body", "The request body is malformed.")
		}
	case "application/x-www-form-urlencoded":
		form, err := parseFormBody(raw)
		if err != nil {
			return nil, badSignup("invalid_body", "The request body is malformed.")
		}
		for k, v := range form {
			fields[k] = v
		}
		if s, ok := fields["user_metadata"].(string); ok {
			var meta any
			if json.Unmarshal([]byte(s), &meta) != nil {
				return nil, badSignup("invalid_body", "user_metadata must be a JSON object.")
			}
			fields["user_metadata"] = meta
		}
	default:
		return nil, badSignup("invalid_body", "Send application/json or application/x-www-form-urlencoded.")
	}

	b := &signupRequestBody{}
	for name, dst := range map[string]*string{
		"client_id": &b.clientID, "email": &b.email, "password": &b.password, "connection": &b.connection,
		"username": &b.username, "name": &b.name, "nickname": &b.nickname, "picture": &b.picture,
	} {
		v, ok := fields[name]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, badSignup("invalid_body", "Property "+name+" must be a string.")
		}
		*dst = s
	}
	if v, ok := fields["user_metadata"]; ok && v != nil {
		meta, e := signupMetadata(v)
		if e != nil {
			return nil, e
		}
		b.userMetadata = meta
	}
	return b, nil
}

// signupMetadata checks a sign-up's user_metadata against Auth0's limits.
func signupMetadata(v any) (map[string]any, *signupError) {
	meta, ok := v.(map[string]any)
	if !ok {
		return nil, badSignup("invalid_body", "user_metadata must be an object.")
	}
	if len(meta) > maxSignupMetadataKeys {
		return nil, badSignup("invalid_body", "user_metadata has more than 10 properties.")
	}
	for k, v := range meta {
		s, ok := v.(string)
		switch {
		case utf8.RuneCountInString(k) > maxSignupMetadataName:
			return nil, badSignup("invalid_body", "A user_metadata property name is longer than 100 characters.")
		case !ok:
			return nil, badSignup("invalid_body", "user_metadata values must be strings.")
		case utf8.RuneCountInString(s) > maxSignupMetadataValue:
			return nil, badSignup("invalid_body", "A user_metadata value is longer than 500 characters.")
		}
	}
	return meta, nil
}
