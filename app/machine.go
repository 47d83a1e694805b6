package app

import (
	"errors"
	"fmt"
	"slices"

	"github.com/claimgate/claimgate/grant"
)

// Machine clients and sign-up: the client options that
// the client_credentials grant and POST /dbconnections/signup read.

// errMachinePublic is a public client given the client_credentials grant:
// without a secret anyone could sign in as the machine.
var errMachinePublic = errors.New("the client_credentials grant needs a secret (confidential clients only)")

// validateMachine checks a client's machine-to-machine options.
func (c *ClientConfig) validateMachine() error {
	if slices.Contains(c.Grants, grant.ClientGrantClientCredentials) && c.Secret == "" {
		return errMachinePublic
	}
	return nil
}

// validateSignup checks that the clients with `signup on` can sign users
// up: sign-up creates them with the management block's create_user.
func (a *App) validateSignup() error {
	for _, c := range a.Clients {
		if c != nil && c.Signup && (a.Management == nil || a.Management.CreateUser == "") {
			return fmt.Errorf("client %q: signup on needs the management block's create_user statement", c.ID)
		}
	}
	return nil
}
