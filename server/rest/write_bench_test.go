package rest_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/sqlite"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// writeBenchServer returns the FHIR handler on a fresh embedded store with the settings careflow serve
// uses (synchronous=full), logging at info level to io.Discard.
func writeBenchServer(b *testing.B) http.Handler {
	b.Helper()
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	store := sqlitetest.OpenWith(b, sqlite.Options{Synchronous: "full"})
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes}, store, v, reg)
	if err != nil {
		b.Fatal(err)
	}
	return rest.New(rest.Config{}, svc, log)
}

// BenchmarkHTTPCreate measures POST /fhir/Patient as careflow-bench sends it, 8 concurrent clients, through
// the handler's ServeHTTP (no network): the server's whole work per create — gin, the request log, parse,
// validation, indexing, stamping, the writer and its commits (shared by concurrent requests).
func BenchmarkHTTPCreate(b *testing.B) {
	h := writeBenchServer(b)
	body := []byte(strings.TrimSpace(typicalPatient))
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS (2 here) = 8 clients, as bench.sh
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/fhir/Patient", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Accept", "application/fhir+json")
			clear(w.h)
			w.status, w.n = 0, 0
			h.ServeHTTP(w, req)
			if w.status != http.StatusCreated {
				b.Fatalf("status %d", w.status)
			}
		}
	})
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkHTTPIngest measures POST /fhir with the generator's transaction Bundles (fhir/synth, one patient
// each; b.N patients), 8 concurrent clients, with the clinical history (~68 resources per Bundle) and
// without (the coordination records, ~9); it reports resources/s and the CPU per resource.
func BenchmarkHTTPIngest(b *testing.B) {
	for _, history := range []bool{true, false} {
		name := "history"
		if !history {
			name = "coordination"
		}
		b.Run(name, func(b *testing.B) { benchIngest(b, history) })
	}
}

func benchIngest(b *testing.B, history bool) {
	h := writeBenchServer(b)
	o := synth.Options{Seed: 1, Patients: b.N, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), History: history}
	bundles := make([][]byte, o.Patients)
	resources := make([]int, o.Patients)
	for i := range bundles {
		bd, err := synth.Patient(o, i)
		if err != nil {
			b.Fatal(err)
		}
		bundles[i] = bd.JSON
		resources[i] = strings.Count(string(bd.JSON), `"request":`)
	}
	var next, total atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU(b)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			i := int(next.Add(1) - 1)
			req := httptest.NewRequest(http.MethodPost, "/fhir", bytes.NewReader(bundles[i]))
			req.Header.Set("Content-Type", "application/fhir+json")
			clear(w.h)
			w.status, w.n = 0, 0
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("bundle %d: status %d", i, w.status)
			}
			total.Add(int64(resources[i]))
		}
	})
	n := float64(total.Load())
	b.ReportMetric(n/time.Since(start).Seconds(), "resources/s")
	b.ReportMetric(float64(processCPU(b)-cpu0)/n, "cpu-ns/resource")
}

// processCPU is the process's CPU time so far (user + system), in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
