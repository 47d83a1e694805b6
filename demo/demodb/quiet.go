package demodb

import (
	"context"
	"os"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	vmysql "github.com/dolthub/vitess/go/mysql"
	"github.com/sirupsen/logrus"
)

// How the server keeps quiet without touching logrus's standard logger,
// which the rest of the process may use (earlier versions lowered its level
// to error for everyone):
//
//   - Everything go-mysql-server logs about a query (among them the "error
//     running query" warning for an error the client receives anyway) goes
//     through the session's logger, and sessions get serverLog.
//   - Server.Start and Server.Close are not called: they only wrap the
//     listener's Accept and Close with info and warning lines.
//   - Handler.NewConnection and Handler.ConnectionClosed log an info line per
//     client connection on the standard logger, with no way to pass another
//     one; quietHandler does their work without that line.

// serverLog is the logger of every session of the server (seeding and client
// connections). It shows errors only, on stderr.
var serverLog = &logrus.Logger{
	Out:       os.Stderr,
	Formatter: new(logrus.TextFormatter),
	Hooks:     make(logrus.LevelHooks),
	Level:     logrus.ErrorLevel,
	ExitFunc:  os.Exit,
}

// quietSessions gives every session built by build serverLog as its logger.
func quietSessions(build server.SessionBuilder) server.SessionBuilder {
	return func(ctx context.Context, conn *vmysql.Conn, addr string) (sql.Session, error) {
		s, err := build(ctx, conn, addr)
		if err != nil {
			return nil, err
		}
		s.SetLogger(logrus.NewEntry(serverLog))
		return s, nil
	}
}

// gmsVersion is the go-mysql-server release whose server.Handler
// quietHandler mirrors; TestQuietHandlerMatchesGMS fails on any other, so
// that an upgrade rechecks NewConnection and ConnectionClosed in
// server/handler.go.
const gmsVersion = "v0.20.0"

// quietHandler is go-mysql-server's handler with NewConnection and
// ConnectionClosed done as in gmsVersion (no ServerEventListener, client
// multi-statements allowed) minus their info lines and the
// Max_used_connections status variable.
type quietHandler struct {
	vmysql.Handler
	engine   *sqle.Engine
	sessions *server.SessionManager
}

func (h *quietHandler) NewConnection(c *vmysql.Conn) {
	h.sessions.AddConn(c)
	sql.StatusVariables.IncrementGlobal("Connections", 1)
}

func (h *quietHandler) ConnectionClosed(c *vmysql.Conn) {
	defer h.sessions.RemoveConn(c)
	defer h.engine.CloseSession(c.ConnectionID)
	// Release the connection's named locks and LOCK TABLES, as the
	// original does (best effort; it logs a failure, which is an error).
	ctx, err := h.sessions.NewContextWithQuery(context.Background(), c, "")
	if err != nil {
		serverLog.WithError(err).Error("releasing the locks of a closed connection")
		return
	}
	if _, err := h.engine.LS.ReleaseAll(ctx); err != nil {
		serverLog.WithError(err).Error("releasing the locks of a closed connection")
	}
	if err := h.engine.Analyzer.Catalog.UnlockTables(ctx, c.ConnectionID); err != nil {
		serverLog.WithError(err).Error("unlocking the tables of a closed connection")
	}
}
