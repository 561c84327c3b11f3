package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteComparison checks the comparison table: one row per metric, the ratio of the first run, a dash
// where a run lacks the metric, "(better)" by the metric's direction.
func TestWriteComparison(t *testing.T) {
	a := summary{Metrics: []metric{{Name: "create", Unit: "req/s", Value: 200, Higher: true}, {Name: "create p50", Unit: "ms", Value: 4},
		{Name: "bytes", Unit: "B", Value: 10}}}
	b := summary{Metrics: []metric{{Name: "create", Unit: "req/s", Value: 100, Higher: true}, {Name: "create p50", Unit: "ms", Value: 2}}}
	var out bytes.Buffer
	writeComparison(&out, []string{"sqlite", "mongodb"}, []summary{a, b})
	got := out.String()
	for _, want := range []string{
		"| metric | sqlite | mongodb | sqlite / mongodb |",
		"| create (req/s) | 200 | 100 | 2.00× (better) |",
		"| create p50 (ms) | 4.00 | 2.00 | 2.00× |",
		"| bytes (B) | 10.0 | – | – |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestSQLiteLoad loads a few patients into a fresh SQLite file as scripts/bench-search.sh does before the
// server starts (--load-only), and checks the measured file and the saved load numbers.
func TestSQLiteLoad(t *testing.T) {
	dir := t.TempDir()
	c := searchConfig{mode: modeSearch, database: "sqlite:" + filepath.Join(dir, "s.db"), patients: 3, seed: 1, loadConcurrency: 2,
		requests: 1, warmup: 1, deepPage: 2, deepCount: 1, requestTimeout: time.Minute, loadOnly: true, loadStats: filepath.Join(dir, "load.json"),
		today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	if err := runSearch(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	var l loadStats
	if err := readLoad(c.loadStats, c, &l); err != nil {
		t.Fatal(err)
	}
	if l.written < 3 || l.store != "storage/sqlite" || l.disk == nil {
		t.Fatalf("load: %+v", l)
	}
	d := l.disk
	if d.Versions != int64(l.written) || d.Resources != int64(l.written) || d.DB == 0 || d.WAL != 0 || d.perVersion() <= 0 {
		t.Errorf("disk: %+v (written %d)", *d, l.written)
	}
	// A second load into the same file is refused; the query run needs --load-stats.
	if err := runSearch(context.Background(), c, io.Discard); err == nil {
		t.Error("a second load into the same file succeeded")
	}
	other := c
	other.patients = 4
	if err := readLoad(c.loadStats, other, &l); err == nil {
		t.Error("the saved load of 3 patients was accepted for 4")
	}
	q := c
	q.loadOnly, q.loadStats = false, ""
	if err := q.check(); err == nil {
		t.Error("queries on sqlite without --load-stats passed the check")
	}
}
