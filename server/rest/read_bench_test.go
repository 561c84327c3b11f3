package rest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// readBenchPatients is how many Patients the read benchmarks draw from.
const readBenchPatients = 2000

// readBenchServer returns the FHIR handler on a fresh embedded store holding readBenchPatients copies of
// typicalPatient (ids r0…), logging at info level as JSON to io.Discard, as careflow serve does to stderr.
func readBenchServer(b *testing.B) http.Handler {
	b.Helper()
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	store := readBenchStore(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes}, store, v, reg)
	if err != nil {
		b.Fatal(err)
	}
	return rest.New(rest.Config{}, svc, log)
}

// readBenchStore returns a fresh embedded store holding readBenchPatients copies of typicalPatient (ids
// r0…).
func readBenchStore(b *testing.B) storage.Store {
	b.Helper()
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	store := sqlitetest.Open(b)
	body := []byte(strings.TrimSpace(typicalPatient))
	tree, verr := v.Validate("Patient", body)
	if verr != nil {
		b.Fatal(verr)
	}
	index, err := reg.Index("Patient", tree)
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]storage.TxOp, readBenchPatients)
	for i := range ops {
		ops[i] = storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: fmt.Sprintf("r%d", i), Body: body, Index: index}}
	}
	if _, err := store.Transact(context.Background(), ops); err != nil {
		b.Fatal(err)
	}
	return store
}

// discardWriter is a minimal http.ResponseWriter that keeps the status and drops the body.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkHTTPRead measures GET /fhir/Patient/{id} as careflow-bench sends it (Accept:
// application/fhir+json), 8 concurrent readers on 2,000 Patients of ~2 KB:
//
//   - handler: the server's whole work per read (gin, middleware, the request log, the store, zstd)
//     without the network, through the handler's ServeHTTP;
//   - loopback: through net/http over a loopback TCP connection with keep-alive (client included in the
//     CPU, since both run in this process).
func BenchmarkHTTPRead(b *testing.B) {
	h := readBenchServer(b)
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // 4 × GOMAXPROCS (2 here) = 8 readers, as bench.sh
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/fhir/Patient/r%d", rng.IntN(readBenchPatients)), nil)
				req.Header.Set("Accept", "application/fhir+json")
				clear(w.h)
				w.status, w.n = 0, 0
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.n < 1000 {
					b.Fatalf("status %d, %d bytes", w.status, w.n)
				}
			}
		})
	})
	b.Run("loopback", func(b *testing.B) {
		ts := httptest.NewServer(h)
		defer ts.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 8, MaxConnsPerHost: 8, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var once sync.Once
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/fhir/Patient/r%d", ts.URL, rng.IntN(readBenchPatients)), nil)
				req.Header.Set("Accept", "application/fhir+json")
				res, err := client.Do(req)
				if err != nil {
					once.Do(func() { b.Error(err) })
					return
				}
				n, _ := io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK || n < 1000 {
					once.Do(func() { b.Errorf("status %d, %d bytes", res.StatusCode, n) })
					return
				}
			}
		})
	})
}
