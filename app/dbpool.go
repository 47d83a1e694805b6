package app

import (
	"database/sql"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/store"
)

// dbPool shares one *sql.DB per DSN across Caddy config reloads, so a reload
// neither drops warm connections nor briefly doubles them.
var dbPool = caddy.NewUsagePool()

// pooledDB closes the *sql.DB when the last user releases it.
type pooledDB struct{ db *sql.DB }

// Destruct implements caddy.Destructor.
func (p pooledDB) Destruct() error { return p.db.Close() }

// openDB returns the process-wide *sql.DB for dsn. Each successful call
// must be matched by one releaseDB(dsn). It does not contact the server.
func openDB(dsn string) (*sql.DB, error) {
	val, _, err := dbPool.LoadOrNew(dsn, func() (caddy.Destructor, error) {
		db, err := store.NewDB(dsn)
		if err != nil {
			return nil, err
		}
		return pooledDB{db: db}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(pooledDB).db, nil
}

// releaseDB drops one use of dsn's pool and closes it with the last one.
// Releasing a DSN that is not open is a no-op.
func releaseDB(dsn string) error {
	_, err := dbPool.Delete(dsn)
	return err
}
