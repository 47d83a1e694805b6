package store

import (
	"fmt"
	"sync"
)

// NamedDSNOpener starts the database a named DSN stands for (the demo
// database registers "embedded") and returns a go-sql-driver DSN for it and
// a function that releases it. Calls are counted by the opener: every
// successful open is matched by one release.
type NamedDSNOpener func() (dsn string, release func() error, err error)

var (
	namedDSNsMu sync.RWMutex
	namedDSNs   = map[string]NamedDSNOpener{}
)

// RegisterNamedDSN makes `dsn NAME` open what open starts. It is called from
// an init function of the package that provides the database, so that a
// build without that package (a production build) has no such name. It
// panics when NAME is registered twice, like caddy.RegisterModule.
func RegisterNamedDSN(name string, open NamedDSNOpener) {
	namedDSNsMu.Lock()
	defer namedDSNsMu.Unlock()
	if _, dup := namedDSNs[name]; dup {
		panic(fmt.Sprintf("store: named DSN %q registered twice", name))
	}
	namedDSNs[name] = open
}

// LookupNamedDSN returns the opener registered for name, if any.
func LookupNamedDSN(name string) (NamedDSNOpener, bool) {
	namedDSNsMu.RLock()
	defer namedDSNsMu.RUnlock()
	open, ok := namedDSNs[name]
	return open, ok
}
