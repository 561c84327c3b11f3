// Package sqlitetest opens throw-away embedded stores for tests: a new database file in the test's
// temporary directory, closed when the test ends. It needs no database server.
package sqlitetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/careflow/careflow/storage/sqlite"
)

// Open returns an empty store.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	return OpenWith(t, sqlite.Options{})
}

// OpenWith is Open with options; an empty Path is a new file, a nil Logger discards the store's logs.
// Synchronous defaults to "normal" here: tests need no power-loss durability.
func OpenWith(t testing.TB, o sqlite.Options) *sqlite.Store {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "careflow.db")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Synchronous == "" {
		o.Synchronous = "normal"
	}
	s, err := sqlite.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open the embedded store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("close the embedded store: %v", err)
		}
	})
	return s
}
