package demodb_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"

	"github.com/claimgate/claimgate/store/storetest"
)

// TestSQLFeatures runs the statements claimgate's store issues, on the
// embedded server or (CLAIMGATE_TEST_MYSQL_DSN set) MariaDB/MySQL, so that
// whatever passes here works on both.
func TestSQLFeatures(t *testing.T) {
	db := storetest.Open(t, storetest.NewDemoDatabase(t))
	ctx := context.Background()

	exec := func(q string, args ...any) sql.Result {
		t.Helper()
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res
	}
	affected := func(want int64, q string, args ...any) {
		t.Helper()
		n, err := exec(q, args...).RowsAffected()
		if err != nil || n != want {
			t.Errorf("%s: %d rows affected (%v), want %d", q, n, err, want)
		}
	}
	intValue := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	const create = `CREATE TABLE IF NOT EXISTS claimgate_test_failures (
	k VARCHAR(255) NOT NULL,
	n INT NOT NULL DEFAULT 0,
	data JSON NULL,
	until_unix BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (k)
)`
	t.Run("create table if not exists", func(t *testing.T) {
		exec(create)
		exec(create) // second time: no error
	})

	t.Run("insert on duplicate key update", func(t *testing.T) {
		const upsert = "INSERT INTO claimgate_test_failures (k, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1"
		affected(1, upsert, "a") // inserted
		affected(2, upsert, "a") // updated
		affected(2, "INSERT INTO claimgate_test_failures (k, n) VALUES (?, 5) ON DUPLICATE KEY UPDATE n = VALUES(n) + n", "a")
		affected(0, "INSERT INTO claimgate_test_failures (k, n) VALUES (?, 9) ON DUPLICATE KEY UPDATE n = n", "a") // unchanged
		if n := intValue("SELECT n FROM claimgate_test_failures WHERE k = ?", "a"); n != 7 {
			t.Errorf("n = %d, want 7", n)
		}
	})

	t.Run("update delete", func(t *testing.T) {
		exec("INSERT INTO claimgate_test_failures (k, n) VALUES ('u', 0), ('v', 0)")
		affected(1, "UPDATE claimgate_test_failures SET n = n + 1 WHERE k = ?", "u")
		affected(0, "UPDATE claimgate_test_failures SET n = n WHERE k = ?", "u") // matched, not changed
		affected(1, "DELETE FROM claimgate_test_failures WHERE k = ?", "v")
		affected(0, "DELETE FROM claimgate_test_failures WHERE k = ?", "v")
	})

	t.Run("auto increment", func(t *testing.T) {
		id, err := exec("INSERT INTO roles (name) VALUES (?)", "auditor").LastInsertId()
		if err != nil || id != 4 {
			t.Errorf("LastInsertId = %d (%v), want 4", id, err)
		}
	})

	t.Run("json column", func(t *testing.T) {
		exec("INSERT INTO claimgate_test_failures (k, data) VALUES (?, ?)", "j", `{"b":[1,2],"a":"x"}`)
		var data []byte
		if err := db.QueryRowContext(ctx, "SELECT data FROM claimgate_test_failures WHERE k = ?", "j").Scan(&data); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(string(data), `{"a":"x","b":[1,2]}`) {
			t.Errorf("data = %q", data)
		}
		var plan []byte
		if err := db.QueryRowContext(ctx, "SELECT JSON_EXTRACT(app_metadata, '$.plan') FROM users WHERE id = 1").Scan(&plan); err != nil {
			t.Fatal(err)
		}
		var s string
		if err := json.Unmarshal(plan, &s); err != nil || s != "pro" {
			t.Errorf("JSON_EXTRACT = %q", plan)
		}
	})

	t.Run("datetime without parseTime", func(t *testing.T) {
		var created []byte
		if err := db.QueryRowContext(ctx, "SELECT created_at FROM users WHERE id = 1").Scan(&created); err != nil {
			t.Fatal(err)
		}
		if string(created) != "2024-01-11 09:30:00" {
			t.Errorf("created_at = %q", created)
		}
		affected(1, "UPDATE users SET name = ? WHERE id = ?", "Alice L.", 1)
		if n := intValue("SELECT COUNT(*) FROM users WHERE id = 1 AND updated_at > created_at"); n != 1 {
			t.Error("ON UPDATE CURRENT_TIMESTAMP did not move updated_at")
		}
	})

	t.Run("foreign keys cascade", func(t *testing.T) {
		affected(1, "DELETE FROM users WHERE id = ?", 6)
		if n := intValue("SELECT COUNT(*) FROM user_roles WHERE user_id = 6"); n != 0 {
			t.Errorf("%d user_roles rows survived their user", n)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		exec("INSERT INTO claimgate_test_failures (k, n) VALUES ('t', 1)")
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT n FROM claimgate_test_failures WHERE k = ? FOR UPDATE", "t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE claimgate_test_failures SET n = ? WHERE k = ?", 100, "t"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := intValue("SELECT n FROM claimgate_test_failures WHERE k = 't'"); n != 1 {
			t.Errorf("after rollback n = %d, want 1", n)
		}
		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE claimgate_test_failures SET n = ? WHERE k = ?", 200, "t"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := intValue("SELECT n FROM claimgate_test_failures WHERE k = 't'"); n != 200 {
			t.Errorf("after commit n = %d, want 200", n)
		}
	})

	// Read-modify-write under SELECT ... FOR UPDATE, and single-statement
	// increments, from concurrent connections: no update may be lost.
	t.Run("concurrent writers", func(t *testing.T) {
		exec("INSERT INTO claimgate_test_failures (k, n) VALUES ('rmw', 0), ('inc', 0)")
		const writers = 16
		var wg sync.WaitGroup
		errs := make(chan error, 2*writers)
		for range writers {
			wg.Add(2)
			go func() {
				defer wg.Done()
				errs <- readModifyWrite(ctx, db, "rmw")
			}()
			go func() {
				defer wg.Done()
				_, err := db.ExecContext(ctx, "INSERT INTO claimgate_test_failures (k, n) VALUES ('inc', 1) ON DUPLICATE KEY UPDATE n = n + 1")
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		for _, k := range []string{"rmw", "inc"} {
			if n := intValue("SELECT n FROM claimgate_test_failures WHERE k = ?", k); n != writers {
				t.Errorf("%s: n = %d, want %d", k, n, writers)
			}
		}
	})

	t.Run("prepared statement reuse", func(t *testing.T) {
		st, err := db.PrepareContext(ctx, "SELECT email FROM users WHERE id > ? ORDER BY id LIMIT ?")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for i, want := range []string{"alice@example.test", "bob@example.test", "carol@example.test"} {
			var email string
			if err := st.QueryRowContext(ctx, i, 1).Scan(&email); err != nil || email != want {
				t.Errorf("id > %d: %q (%v), want %q", i, email, err, want)
			}
		}
		var null sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT ?", nil).Scan(&null); err != nil || null.Valid {
			t.Errorf("NULL parameter: %v %v", null, err)
		}
	})
}

func readModifyWrite(ctx context.Context, db *sql.DB, k string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT n FROM claimgate_test_failures WHERE k = ? FOR UPDATE", k).Scan(&n); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE claimgate_test_failures SET n = ? WHERE k = ?", n+1, k); err != nil {
		return err
	}
	return tx.Commit()
}
