//go:build cgo

package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestSearchStatementsStayPrepared runs searches of the shapes ingest's conditional creates and clients
// repeat — with new values each time — on a store with one read connection, and fails when SQLite
// compiles a statement again once the statement cache holds the shape (the authorizer is called while
// a statement compiles or re-prepares, never while it runs; see TestReadStatementsStayPrepared). Every
// search's answer is checked too, so a cached statement that ran with stale values would fail.
func TestSearchStatementsStayPrepared(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "stmts.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal", Readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	const n = 12
	var ops []storage.TxOp
	for i := range n {
		body := map[string]any{"resourceType": "Patient", "id": fmt.Sprintf("p%d", i),
			"identifier": []any{map[string]any{"system": "urn:mrn", "value": fmt.Sprintf("m%d", i)}},
			"name":       []any{map[string]any{"family": fmt.Sprintf("fam%c", 'a'+i)}},
			"birthDate":  fmt.Sprintf("19%02d-01-01", 50+i), "gender": []string{"male", "female"}[i%2]}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: fmt.Sprintf("p%d", i), Body: raw, Index: idx}})
	}
	if _, err := s.Transact(ctx, ops); err != nil {
		t.Fatal(err)
	}

	conn, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var compiles atomic.Int64
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return errors.New("not a mattn/go-sqlite3 connection")
		}
		c.RegisterAuthorizer(func(action int, _, _, _ string) int {
			if action != sqlite3.SQLITE_TRANSACTION { // BEGIN and ROLLBACK of each search's read transaction
				compiles.Add(1)
			}
			return sqlite3.SQLITE_OK
		})
		return nil
	})
	conn.Close() // back to the pool: the store's only read connection
	if err != nil {
		t.Fatal(err)
	}
	searchIDs := func(raw string) []string {
		t.Helper()
		params, _ := url.ParseQuery(raw)
		q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 50})
		if oerr != nil {
			t.Fatalf("%s: %v", raw, oerr)
		}
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var ids []string
		for _, v := range page.Versions {
			ids = append(ids, v.ID)
		}
		return ids
	}
	cases := []struct {
		name  string
		query func(i int) string
		want  func(i int) []string
	}{
		{"conditional create (identifier)", func(i int) string { return "identifier=urn:mrn|m" + fmt.Sprint(i) },
			func(i int) []string { return []string{fmt.Sprintf("p%d", i)} }},
		{"conditional create, no match", func(i int) string { return "identifier=urn:mrn|x" + fmt.Sprint(i) },
			func(int) []string { return nil }},
		{"string prefix, sorted", func(i int) string { return fmt.Sprintf("family=fam%c&_sort=birthdate", 'a'+i) },
			func(i int) []string { return []string{fmt.Sprintf("p%d", i)} }},
		{"date and token", func(i int) string {
			return fmt.Sprintf("birthdate=19%02d&gender=%s", 50+i, []string{"male", "female"}[i%2])
		}, func(i int) []string { return []string{fmt.Sprintf("p%d", i)} }},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := compiles.Load()
			if got, want := searchIDs(c.query(0)), c.want(0); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: %v, want %v", c.query(0), got, want)
			}
			s.search.pending.Wait() // the statements the first run met are prepared now
			if ci == 0 && compiles.Load() == before {
				t.Fatal("the authorizer was not called while the first search compiled its statements: this test could not see a compilation")
			}
			if got, want := searchIDs(c.query(1)), c.want(1); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: %v, want %v", c.query(1), got, want)
			}
			s.search.pending.Wait()
			// The second run prepares what the first did not meet (e.g. readVersions once a search finds
			// something) on the connection; from the third on nothing compiles.
			for i := 2; i < n; i++ {
				before := compiles.Load()
				if got, want := searchIDs(c.query(i)), c.want(i); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: %v, want %v", c.query(i), got, want)
				}
				if d := compiles.Load() - before; d != 0 {
					t.Errorf("%s compiled statements again (%d authorizer calls)", c.query(i), d)
				}
			}
		})
	}
}

// TestStmtCacheBounded: the cache holds at most its bound of texts, evicting the least recently used
// (closed while a search may still run it: database/sql defers that), never holds texts longer than
// maxCachedText, and searches answer the same through hits, misses and evictions.
func TestStmtCacheBounded(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "bound.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var ops []storage.TxOp
	for i := range 30 {
		body := map[string]any{"resourceType": "Patient", "identifier": []any{map[string]any{"system": "urn:mrn", "value": fmt.Sprintf("m%d", i)}},
			"gender": []string{"male", "female"}[i%2], "birthDate": fmt.Sprintf("19%02d", 50+i)}
		raw, _ := json.Marshal(body)
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: fmt.Sprintf("p%02d", i), Body: raw, Index: idx}})
	}
	if _, err := s.Transact(ctx, ops); err != nil {
		t.Fatal(err)
	}
	s.search.close()
	s.search = newStmtCache(s.read, 2)
	count := func(raw string) int {
		t.Helper()
		params, _ := url.ParseQuery(raw)
		q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 100})
		if oerr != nil {
			t.Fatal(oerr)
		}
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return len(page.Versions)
	}
	var many []string
	for i := range 450 {
		many = append(many, fmt.Sprintf("urn:mrn|m%d", i))
	}
	queries := map[string]int{
		"gender=male": 15, "gender=female&birthdate=ge1960": 10, "identifier=urn:mrn|m3": 1, "birthdate=lt1955": 5,
		"identifier=" + strings.Join(many, ","): 30, // a text longer than maxCachedText
	}
	for round := range 4 {
		for raw, want := range queries {
			if got := count(raw); got != want {
				t.Fatalf("round %d, %.60s: %d resources, want %d", round, raw, got, want)
			}
			s.search.pending.Wait()
			s.search.mu.Lock()
			n := s.search.lru.Len()
			for text := range s.search.byText {
				if strings.Count(text, "?") >= len(many) {
					t.Errorf("the %d-value lookup (%d bytes) is cached", len(many), len(text))
				}
			}
			s.search.mu.Unlock()
			if n > 2 {
				t.Fatalf("%d texts cached, bound 2", n)
			}
		}
	}
}

// TestCloseEndsPreparations: Close returns only when no statement is being prepared — a preparation opening
// a read connection after the writer's close removed the WAL's files created them again, after Close, in a
// directory its owner was deleting (a test's TempDir cleanup failed with "directory not empty"). Each round
// closes a store right after searches of new shapes started preparations; nothing but the data file and
// its lock may be left.
func TestCloseEndsPreparations(t *testing.T) {
	reg := r4test.Load(t).Registry
	for round := range 20 {
		dir := t.TempDir()
		s := openAt(t, filepath.Join(dir, "careflow.db"))
		createPatient(t, s, reg, "p", map[string]any{"name": []any{map[string]any{"family": "Close"}}})
		for n := range 8 {
			searchIDs(t, s, reg, "Patient", fmt.Sprintf("name=clo&_count=%d&_sort=%s", n+1, []string{"_id", "-_id"}[n%2]), false)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if name := e.Name(); name != "careflow.db" && name != "careflow.db-lock" {
				t.Fatalf("round %d: %s left after Close", round, name)
			}
		}
	}
}
