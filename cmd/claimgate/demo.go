//go:build !claimgate_nodemo

package main

// The demo database, for the README's quickstart: `dsn embedded`. A
// production build leaves it out: the container image is built with
// -tags=claimgate_nodemo, and a plugin build (xcaddy build --with
// github.com/claimgate/claimgate) never imports it. Without it, a config
// naming `dsn embedded` is refused at load.
import _ "github.com/claimgate/claimgate/demo"
