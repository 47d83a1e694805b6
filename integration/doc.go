// Package integration holds claimgate's end-to-end tests: a real Caddy
// (caddytest, admin at localhost:2999) loaded with Caddyfiles that use the
// claimgate global option and the claimgate_login and claimgate_verify
// directives, against a per-test demo database (MariaDB when
// CLAIMGATE_TEST_MYSQL_DSN is set, the embedded server otherwise), with a
// recording upstream behind reverse_proxy.
//
// Every caddytest-based test lives in this one package, so that `go test
// ./...` never runs two of them at once (they share one in-process Caddy);
// none of them may call t.Parallel.
package integration
