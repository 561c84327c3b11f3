package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/storage/sqlite"
)

// TestCompactCommand: careflow compact rewrites an embedded store's file and prints its sizes; it refuses
// a MongoDB setting, a file in use and stray arguments with a clear error.
func TestCompactCommand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "careflow.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runCompact(ctx, []string{"--database", "sqlite:" + path}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("compact of a file in use: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := runCompact(ctx, []string{"--database", "sqlite:" + path}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), path+": ") || !strings.Contains(out.String(), " bytes (") {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{
		{"--database", "mongodb://127.0.0.1:27017/careflow"},
		{"--database", "sqlite:" + path, "extra"},
	} {
		if err := runCompact(ctx, args, &out, &errOut); err == nil {
			t.Errorf("compact %q: no error", args)
		}
	}
}
