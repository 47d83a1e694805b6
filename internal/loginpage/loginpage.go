// Package loginpage holds the pages of browser sign-in: the built-in login
// page, the page of messages (errors, "signed out"), and the loading of an
// operator's replacement login page (`login_page FILE`). It is shared by the
// claimgate app, which loads the replacement when the config loads, and the
// claimgate_login handler, which renders it.
package loginpage

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
)

// Data is what a login page template gets.
type Data struct {
	// Action is the URL the form posts to (it carries the authorization
	// request); "" shows no form (a blocked sign-in).
	Action string
	// CSRFToken goes in a hidden field named csrf_token.
	CSRFToken string
	// Error is the message to show, or "".
	Error string
	// LoginHint pre-fills the username (the request's login_hint, or
	// what was typed before a failure).
	LoginHint string
	// ClientName names the application being signed in to.
	ClientName string
}

// Message is what the message page gets.
type Message struct {
	Title   string
	Message string
}

var (
	//go:embed page.html
	builtinPage string
	//go:embed message.html
	messagePage string
)

// Builtin is the built-in login page.
var Builtin = template.Must(template.New("login").Parse(builtinPage))

// MessagePage renders Message values.
var MessagePage = template.Must(template.New("message").Parse(messagePage))

// Load parses the html/template file path as the login page. It also
// renders it once with sample data, so that a template naming a field Data
// does not have fails when the config loads rather than at the first
// sign-in. It only reads the file.
func Load(path string) (*template.Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading login_page: %w", err)
	}
	t, err := template.New("login").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parsing login_page %s: %w", path, err)
	}
	sample := Data{Action: "/login?client_id=x", CSRFToken: "t", Error: "e", LoginHint: "h", ClientName: "c"}
	if err := t.Execute(new(bytes.Buffer), sample); err != nil {
		return nil, fmt.Errorf("rendering login_page %s: %w", path, err)
	}
	return t, nil
}
