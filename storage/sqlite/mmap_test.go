package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestReadConnectionsMapTheFile checks that every read connection reads the file through a memory map
// (PRAGMA mmap_size, see readMmapSize).
func TestReadConnectionsMapTheFile(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "mmap.db"), Logger: slog.New(slog.DiscardHandler), Readers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	// Hold every read connection at once, so that each one of the pool is asked.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 3 {
		c, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var size int64
		if err := c.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != readMmapSize {
			t.Errorf("read connection %d: mmap_size %d, want %d", len(conns), size, readMmapSize)
		}
	}
}
