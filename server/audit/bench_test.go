package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/audit"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// BenchmarkAudit measures, per access, recording it in the outbox (what a request waits for) and shipping it
// into the embedded store (batched; what bounds how many accesses per second the store can absorb).
//
//	go test -run XXX -bench BenchmarkAudit ./server/audit
func BenchmarkAudit(b *testing.B) {
	reg := r4test.Load(b).Registry
	b.Run("record", func(b *testing.B) {
		l, err := audit.Open(filepath.Join(b.TempDir(), "outbox"), sqlitetest.Open(b), reg, audit.Options{ShipInterval: time.Hour, MaxBatch: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := l.Record(record(i%60, fmt.Sprintf("p%d", i%500), 200)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("record+ship", func(b *testing.B) {
		l, err := audit.Open(filepath.Join(b.TempDir(), "outbox"), sqlitetest.Open(b), reg, audit.Options{ShipInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := l.Record(record(i%60, fmt.Sprintf("p%d", i%500), 200)); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}
