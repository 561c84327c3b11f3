//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/careflow/careflow/storage"
)

// TestReadStatementsStayPrepared runs the read statements again and again on one read connection with new
// values bound each time, and fails when SQLite compiles them again: a join re-prepared on every run
// (see readSQL), which was ~40 % of a read's time. SQLite calls the authorizer while it compiles a
// statement (also when it re-prepares one) and never while it runs one, so its calls count compilations.
func TestReadStatementsStayPrepared(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "prep.db"), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var ops []storage.TxOp
	for _, id := range []string{"a", "b", "c"} {
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: id,
			Body: []byte(`{"resourceType":"Patient","active":true}`), Index: map[string]any{"s_active": []string{"c:true"}}}})
	}
	ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Task", ID: "t",
		Body: []byte(`{"resourceType":"Task","status":"ready","intent":"order"}`)}})
	if _, err := s.Transact(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "a", Body: []byte(`{"resourceType":"Patient","id":"a","active":false}`)}, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	patient, _ := s.names.typeID("Patient")
	task, _ := s.names.typeID("Task")

	conn, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var compiles atomic.Int64
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return errors.New("not a mattn/go-sqlite3 connection")
		}
		c.RegisterAuthorizer(func(int, string, string, string) int { compiles.Add(1); return sqlite3.SQLITE_OK })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		sql     string
		args    [][]any // each run binds new values; every run finds a row
		missing []any
	}{
		{"read", readSQL, [][]any{{patient, "a"}, {patient, "b"}, {task, "t"}, {patient, "c"}, {task, "t"}, {patient, "a"}}, []any{patient, "t"}},
		{"read with rid", readRidSQL, [][]any{{patient, "a"}, {patient, "b"}, {task, "t"}, {patient, "c"}, {task, "t"}, {patient, "a"}}, []any{patient, "t"}},
		{"vread", vreadSQL, [][]any{{patient, "a", 1}, {patient, "a", 2}, {task, "t", 1}, {patient, "b", 1}, {patient, "c", 1}}, []any{patient, "a", 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, s, c.sql, c.args[0])
			if fullScan.MatchString(plan) || !strings.Contains(plan, "res_id") {
				t.Fatalf("plan of %s: %s; want a res_id seek and no scan", c.name, plan)
			}
			stmt, err := conn.PrepareContext(ctx, c.sql)
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			if compiles.Load() == 0 {
				t.Fatal("the authorizer was not called while the statement compiled: this test could not see a re-prepare")
			}
			for i, args := range c.args {
				before := compiles.Load()
				var vid, lu int64
				var deleted bool
				var method string
				var body []byte
				var rid int64
				dest := []any{&vid, &lu, &deleted, &method, &body}
				if c.sql == readRidSQL {
					dest = append(dest, &rid)
				}
				if err := stmt.QueryRowContext(ctx, args...).Scan(dest...); err != nil {
					t.Fatalf("run %d %v: %v", i, args, err)
				}
				if n := compiles.Load() - before; n != 0 && i > 0 { // the first run may recompile once (the authorizer was just set)
					t.Errorf("run %d %v compiled the statement again (%d authorizer calls): %s", i, args, n, strings.Join(strings.Fields(c.sql), " "))
				}
			}
			var vid int64
			if err := stmt.QueryRowContext(ctx, c.missing...).Scan(&vid); !errors.Is(err, sql.ErrNoRows) {
				t.Fatalf("%v: %v, want no rows", c.missing, err)
			}
		})
	}
}
