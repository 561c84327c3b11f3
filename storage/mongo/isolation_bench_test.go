package mongo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// BenchmarkIsolation measures what read isolation costs readers: reads by id and searches, on a quiet
// store ("idle") and while another goroutine runs transactions back to back ("tx": each updates 4 of the
// patients and creates 2 more). Run it on two versions of the store in the same session to compare.
//
//	CAREFLOW_TEST_MONGODB_URI=mongodb://127.0.0.1:27017/ go test -run XXX -bench BenchmarkIsolation ./storage/mongo
func BenchmarkIsolation(b *testing.B) {
	const patients = 300
	familyParam := &search.Param{Code: "family", Type: search.TypeString, Field: "s_family"}
	write := func(id, family string) storage.Write {
		w := patientWrite(id, family)
		return w
	}
	for _, load := range []string{"idle", "tx"} {
		ctx := context.Background()
		s := mongotest.Open(b, storagetest.Types, nil)
		for i := 0; i < patients; i++ {
			if _, err := s.Create(ctx, write(fmt.Sprint("p", i), fmt.Sprintf("fam%03d", i))); err != nil {
				b.Fatal(err)
			}
		}
		var stop func()
		if load == "tx" {
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(1, 2))
				for n := 0; ; n++ {
					select {
					case <-done:
						return
					default:
					}
					var ops []storage.TxOp
					seen := map[int]bool{}
					for len(ops) < 4 {
						i := r.IntN(patients)
						if seen[i] {
							continue
						}
						seen[i] = true
						ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: write(fmt.Sprint("p", i), fmt.Sprintf("fam%03d", i))})
					}
					for k := 0; k < 2; k++ {
						ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: write("", fmt.Sprintf("new%d", n))})
					}
					if _, err := s.Transact(ctx, ops); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			stop = func() { close(done); wg.Wait() }
		}
		b.Run("read/"+load, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < b.N; i++ {
				if _, err := s.Read(ctx, "Patient", fmt.Sprint("p", r.IntN(patients))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("search/"+load, func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			for i := 0; i < b.N; i++ {
				q := &search.Query{Type: "Patient", Count: 20, CountSet: true, Total: "none",
					Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: fmt.Sprintf("fam%02d", r.IntN(patients/10))}}}}}
				if _, err := s.Search(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("history/"+load, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
		if stop != nil {
			stop()
		}
	}
}
