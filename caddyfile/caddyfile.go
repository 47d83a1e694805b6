// Package caddyfile parses claimgate's Caddyfile syntax: the `claimgate`
// global option and the claimgate_login / claimgate_verify directives.
package caddyfile
