// Command upstream is the fast app behind the verify benchmark's proxies: it
// answers every request with a tiny body naming the X-User-Id it received,
// so the benchmark can check that the verified value (not a forged one)
// arrived. It listens on the loopback address given as its one argument.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: upstream 127.0.0.1:PORT")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(os.Args[1])
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "upstream: listen on a loopback address only")
		os.Exit(2)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		// Every spelling the proxy let through, so a forged copy shows.
		var ids []string
		for k, v := range r.Header {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-User-Id") {
				ids = append(ids, k+"="+strings.Join(v, "|"))
			}
		}
		fmt.Fprintf(w, "user %s\n", strings.Join(ids, ";"))
	})
	if err := http.ListenAndServe(os.Args[1], handler); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}
