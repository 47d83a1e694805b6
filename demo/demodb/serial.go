package demodb

import (
	"context"
	"sync"
	"time"

	vmysql "github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// lockWaitTimeout bounds how long a statement waits for another connection's
// open transaction, like InnoDB's innodb_lock_wait_timeout (50 s there; less
// here so that a test that deadlocks itself fails quickly).
const lockWaitTimeout = 10 * time.Second

// serialHandler runs one transaction at a time across all connections.
//
// go-mysql-server's in-memory tables do not support concurrency: each
// session works on its own copy of a table and COMMIT writes the whole copy
// back, so two overlapping transactions (even autocommit statements such as
// `UPDATE t SET n = n + 1`) silently lose each other's writes, and SELECT ...
// FOR UPDATE locks nothing. Serializing transactions gives the embedded server
// the guarantees a state store expects from InnoDB (atomic statements,
// FOR UPDATE really excluding other writers), at the price of concurrency the
// demo does not need.
//
// A connection takes the lock when a statement starts and keeps it for as
// long as the server reports the connection inside a transaction (BEGIN ...
// COMMIT/ROLLBACK, or autocommit=0), or until the connection closes.
type serialHandler struct {
	vmysql.Handler
	lock chan struct{} // one token: a mutex whose wait can time out

	mu      sync.Mutex
	holders map[uint32]bool // connection id → holds the lock across statements
}

func newSerialHandler(h vmysql.Handler) *serialHandler {
	return &serialHandler{Handler: h, lock: make(chan struct{}, 1), holders: make(map[uint32]bool)}
}

// run executes fn holding the lock, and keeps holding it if fn left the
// connection inside a transaction.
func (h *serialHandler) run(ctx context.Context, c *vmysql.Conn, fn func() error) error {
	if err := h.acquire(ctx, c.ConnectionID); err != nil {
		return err
	}
	err := fn()
	// StatusFlags is refreshed after every successful statement; after a
	// failed one it still describes the transaction, which a failed
	// statement leaves open (as on MySQL).
	if c.StatusFlags&vmysql.ServerInTransaction != 0 {
		h.mu.Lock()
		h.holders[c.ConnectionID] = true
		h.mu.Unlock()
	} else {
		h.release(c.ConnectionID)
	}
	return err
}

func (h *serialHandler) acquire(ctx context.Context, id uint32) error {
	h.mu.Lock()
	held := h.holders[id]
	h.mu.Unlock()
	if held {
		return nil
	}
	timer := time.NewTimer(lockWaitTimeout)
	defer timer.Stop()
	select {
	case h.lock <- struct{}{}:
		return nil
	case <-timer.C:
		return vmysql.NewSQLError(vmysql.ERLockWaitTimeout, "HY000",
			"Lock wait timeout exceeded; try restarting transaction (the embedded server runs one transaction at a time)")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *serialHandler) release(id uint32) {
	h.mu.Lock()
	delete(h.holders, id)
	h.mu.Unlock()
	<-h.lock
}

func (h *serialHandler) ComQuery(ctx context.Context, c *vmysql.Conn, query string, callback vmysql.ResultSpoolFn) error {
	return h.run(ctx, c, func() error { return h.Handler.ComQuery(ctx, c, query, callback) })
}

func (h *serialHandler) ComMultiQuery(ctx context.Context, c *vmysql.Conn, query string, callback vmysql.ResultSpoolFn) (remainder string, err error) {
	err = h.run(ctx, c, func() error {
		remainder, err = h.Handler.ComMultiQuery(ctx, c, query, callback)
		return err
	})
	return remainder, err
}

// ComPrepare analyzes the statement against the tables, which the engine
// does inside a transaction too.
func (h *serialHandler) ComPrepare(ctx context.Context, c *vmysql.Conn, query string, prepare *vmysql.PrepareData) (fields []*querypb.Field, err error) {
	err = h.run(ctx, c, func() error {
		fields, err = h.Handler.ComPrepare(ctx, c, query, prepare)
		return err
	})
	return fields, err
}

func (h *serialHandler) ComStmtExecute(ctx context.Context, c *vmysql.Conn, prepare *vmysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return h.run(ctx, c, func() error { return h.Handler.ComStmtExecute(ctx, c, prepare, callback) })
}

// ComResetConnection ends the connection's transaction (the engine rolls it
// back), so the lock goes too.
func (h *serialHandler) ComResetConnection(c *vmysql.Conn) error {
	err := h.Handler.ComResetConnection(c)
	h.releaseIfHeld(c.ConnectionID)
	return err
}

// ConnectionClosed drops a transaction left open by a vanished client.
func (h *serialHandler) ConnectionClosed(c *vmysql.Conn) {
	h.Handler.ConnectionClosed(c)
	h.releaseIfHeld(c.ConnectionID)
}

func (h *serialHandler) releaseIfHeld(id uint32) {
	h.mu.Lock()
	held := h.holders[id]
	h.mu.Unlock()
	if held {
		h.release(id)
	}
}
