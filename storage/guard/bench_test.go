package guard_test

import (
	"context"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/guard"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// BenchmarkRead: the guard's cost on the hottest call, a read on the embedded store, A/B in one run:
// go test -run '^$' -bench Read -count 5 ./storage/guard. The context is cancellable, as an HTTP
// request's is (the drivers watch such a context; context.Background they need not).
func BenchmarkRead(b *testing.B) {
	s := sqlitetest.Open(b)
	fill(b, s, r4test.Load(b).Registry, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name  string
		store storage.Store
	}{{"raw", s}, {"guarded", guard.New(s, guard.Options{})}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.store.Read(ctx, "Patient", "p7"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
