package worklist_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
)

// BenchmarkBuildOnFile builds the whole-day worklist of scripts/bench-workflows.sh (GET $worklist?date=D,
// D = 2026-11-25, fhir/synth's default today) on an existing data file (CAREFLOW_WORKLIST_BENCH_DB, e.g. a
// copy of the 10,000-patient file bench-workflows.sh loads with BENCH_SQLITE_FILE); skipped without one.
// cold derives every build from scratch; warm repeats the build with no write between (the kept build,
// the feed read and the merge with the stored Tasks); writes stores a new version of 5 resources
// (appointments, allergies, statements, care plans and coverages of different patients) before each
// build. The writes change the file: use a copy.
func BenchmarkBuildOnFile(b *testing.B) {
	path := os.Getenv("CAREFLOW_WORKLIST_BENCH_DB")
	if path == "" {
		b.Skip("CAREFLOW_WORKLIST_BENCH_DB names no data file")
	}
	defs := r4test.Load(b)
	reg := defs.Registry
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	opt := worklist.Options{DueTo: day.AddDate(0, 0, 1)}
	ctx := context.Background()

	// The resources the writes case rewrites: a few of each type the workflows read.
	var pool []*storage.Version
	for _, typ := range []string{"Appointment", "AllergyIntolerance", "MedicationStatement", "CarePlan", "Coverage"} {
		q, oerr := reg.Parse(typ, url.Values{"_count": {"20"}}, search.ParseOptions{Strict: true})
		if oerr != nil {
			b.Fatal(oerr)
		}
		page, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		pool = append(pool, page.Versions...)
	}
	pipe := interaction.Pipeline{Validator: r4test.Validator(b), Registry: reg}
	next := 0
	rewrite := func(n int) {
		for range n {
			v := pool[next%len(pool)]
			next += 7
			w, _, err := pipe.Prepare(v.Type, v.Body)
			if err != nil {
				b.Fatal(err)
			}
			w.ID = v.ID
			if _, _, err := s.Update(ctx, w, storage.Precondition{}); err != nil {
				b.Fatal(err)
			}
		}
	}

	for _, c := range []struct {
		name   string
		w      *worklist.Builder
		writes int
	}{
		{"cold", worklist.New(s, reg).Uncached(), 0},
		{"warm", worklist.New(s, reg), 0},
		{"writes", worklist.New(s, reg), 5},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := c.w.Build(ctx, day, opt); err != nil { // the build the warm cases keep
				b.Fatal(err)
			}
			var tasks, runs int
			var cpu time.Duration
			for b.Loop() {
				runs++
				b.StopTimer()
				rewrite(c.writes)
				b.StartTimer()
				cpu0 := processCPU(b)
				ts, err := c.w.Build(ctx, day, opt)
				if err != nil {
					b.Fatal(err)
				}
				cpu += processCPU(b) - cpu0
				tasks = len(ts)
			}
			b.ReportMetric(float64(tasks), "tasks")
			// CPU per build (user + system, every goroutine: GC and SQLite included), which unlike ns/op
			// does not depend on the share of a busy machine the benchmark gets.
			b.ReportMetric(float64(cpu.Milliseconds())/float64(runs), "cpu-ms/op")
		})
	}
}

// processCPU returns the CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
