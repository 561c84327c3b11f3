package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// benchReader marks the context of the benchmarked reads.
type benchReader struct{}

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
		// Commands of the benchmarked goroutine only (the transactions' are not counted): its context
		// carries a mark the monitor looks for. The count does not depend on the machine's load.
		var cmds, holds atomic.Int64
		monitor := &event.CommandMonitor{Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			if ctx.Value(benchReader{}) != nil {
				cmds.Add(1)
				if e.CommandName == "insert" && e.Command.Lookup("insert").StringValue() == "txholds" {
					holds.Add(1) // a query's last run under a hold (hold.go)
				}
			}
		}}
		s := mongotest.OpenWith(b, mongo.Options{Types: storagetest.Types, Monitor: monitor})
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
		run := func(name string, op func(ctx context.Context, i int)) {
			b.Run(name, func(b *testing.B) {
				rctx := context.WithValue(ctx, benchReader{}, true)
				cmds.Store(0)
				holds.Store(0)
				for i := 0; i < b.N; i++ {
					op(rctx, i)
				}
				b.ReportMetric(float64(cmds.Load())/float64(b.N), "cmds/op")
				b.ReportMetric(float64(holds.Load())/float64(b.N), "holds/op")
			})
		}
		r := rand.New(rand.NewPCG(3, 4))
		run("read/"+load, func(ctx context.Context, i int) {
			if _, err := s.Read(ctx, "Patient", fmt.Sprint("p", r.IntN(patients))); err != nil {
				b.Fatal(err)
			}
		})
		run("search/"+load, func(ctx context.Context, i int) {
			q := &search.Query{Type: "Patient", Count: 20, CountSet: true, Total: "none",
				Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: fmt.Sprintf("fam%02d", r.IntN(patients/10))}}}}}
			if _, err := s.Search(ctx, q); err != nil {
				b.Fatal(err)
			}
		})
		// One query of the fence searches and the feed pay (isolation.go): the intents in flight.
		run("fence/"+load, func(ctx context.Context, i int) {
			cur, err := s.Database().Collection("transactions").Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "owner", Value: 1}, {Key: "types", Value: 1}, {Key: "done", Value: 1}}))
			if err != nil {
				b.Fatal(err)
			}
			var all []bson.Raw
			if err := cur.All(ctx, &all); err != nil {
				b.Fatal(err)
			}
		})
		// What a read by id on FerretDB pays for its check (isolation.go, unmarked), against the read
		// itself and the alternative rejected for it (listing the transactions in flight), interleaved in
		// one loop so that all three meet the same load: ns per query of each.
		b.Run("check/"+load, func(b *testing.B) {
			var took [3]time.Duration
			queries := [3]func(id string) error{
				func(id string) error { // the read
					return s.Database().Collection("Patient").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
				},
				func(id string) error { // the claim above (absent, mostly)
					err := s.Database().Collection("history").FindOne(ctx, bson.D{{Key: "_id", Value: "Patient/" + id + "/9999"}}).Err()
					if errors.Is(err, mongodriver.ErrNoDocuments) {
						return nil
					}
					return err
				},
				func(string) error { // the transactions in flight on the type
					cur, err := s.Database().Collection("transactions").Find(ctx, bson.D{{Key: "ops.t", Value: "Patient"}}, options.Find().SetProjection(bson.D{{Key: "ops", Value: 1}}))
					if err != nil {
						return err
					}
					var all []bson.Raw
					return cur.All(ctx, &all)
				},
			}
			for i := 0; i < b.N; i++ {
				id := fmt.Sprint("p", r.IntN(patients))
				for k := range queries {
					k = (k + i) % len(queries) // a different one first each time
					start := time.Now()
					if err := queries[k](id); err != nil {
						b.Fatal(err)
					}
					took[k] += time.Since(start)
				}
			}
			for k, name := range []string{"read-ns", "claim-ns", "intents-ns"} {
				b.ReportMetric(float64(took[k].Nanoseconds())/float64(b.N), name)
			}
		})
		run("history/"+load, func(ctx context.Context, i int) {
			if _, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 20}); err != nil {
				b.Fatal(err)
			}
		})
		if stop != nil {
			stop()
		}
	}
}
