package worklist_test

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/sqlite"
)

// BenchmarkBuildOnFile builds the whole-day worklist of scripts/bench-workflows.sh (GET $worklist?date=D,
// D = 2026-11-25, fhir/synth's default today) on an existing data file (CAREFLOW_WORKLIST_BENCH_DB, e.g. a
// copy of the 10,000-patient file bench-workflows.sh loads with BENCH_SQLITE_FILE); skipped without one.
func BenchmarkBuildOnFile(b *testing.B) {
	path := os.Getenv("CAREFLOW_WORKLIST_BENCH_DB")
	if path == "" {
		b.Skip("CAREFLOW_WORKLIST_BENCH_DB names no data file")
	}
	reg := r4test.Load(b).Registry
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	w := worklist.New(s, reg)
	var tasks, runs int
	cpu0 := processCPU(b)
	for b.Loop() {
		runs++
		ts, err := w.Build(context.Background(), day, worklist.Options{DueTo: day.AddDate(0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		tasks = len(ts)
	}
	b.ReportMetric(float64(tasks), "tasks")
	// CPU per build (user + system, every goroutine: GC and SQLite included), which unlike ns/op does
	// not depend on the share of a busy machine the benchmark gets.
	b.ReportMetric(float64((processCPU(b)-cpu0).Milliseconds())/float64(runs), "cpu-ms/op")
}

// processCPU returns the CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
