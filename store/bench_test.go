package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store/storetest"
)

// Run against the embedded server, or MariaDB with CLAIMGATE_TEST_MYSQL_DSN:
//
//	go test ./store -run '^$' -bench . -benchtime 2000x

func BenchmarkFindUser(b *testing.B) {
	s := demoStore(b, demoConfig)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.FindUser(ctx, "alice@example.test"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadGrants(b *testing.B) {
	s := demoStore(b, demoConfig)
	ctx := context.Background()
	u, err := s.FindUser(ctx, "alice@example.test")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.LoadGrants(ctx, u, "org_acme"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryStrategy backs Store's use of cached prepared statements:
// "prepared" is what Store does, "unprepared" a db.QueryContext with an
// argument (prepare, execute and close on every call), "interpolated" the
// same with the DSN's interpolateParams=true (one round trip, client-side
// escaping).
func BenchmarkQueryStrategy(b *testing.B) {
	dsn := storetest.NewDemoDatabase(b)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.InterpolateParams = true
	interpolated := openPooled(b, cfg.FormatDSN())
	plain := openPooled(b, dsn)
	ctx := context.Background()

	run := func(b *testing.B, query func() (*sql.Rows, error)) {
		for b.Loop() {
			rows, err := query()
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil || n != 1 {
				b.Fatalf("rows %d, err %v", n, err)
			}
			rows.Close()
		}
	}
	b.Run("prepared", func(b *testing.B) {
		s := newStore(b, plain, Config{UserQuery: demodb.DemoUserQuery}, zap.NewNop())
		run(b, func() (*sql.Rows, error) { return s.query(ctx, s.user, "alice@example.test") })
	})
	b.Run("unprepared", func(b *testing.B) {
		run(b, func() (*sql.Rows, error) {
			return plain.QueryContext(ctx, demodb.DemoUserQuery, "alice@example.test")
		})
	})
	b.Run("interpolated", func(b *testing.B) {
		run(b, func() (*sql.Rows, error) {
			return interpolated.QueryContext(ctx, demodb.DemoUserQuery, "alice@example.test")
		})
	})
}
