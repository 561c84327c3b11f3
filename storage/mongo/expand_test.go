package mongo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestExpandedFindMatchesPlainFind: a find whose $in runs as one query per value (FerretDB) answers
// exactly what the plain find answers — same documents, same order, same limit, same count — for
// multi-valued fields (a document matching several values once), descending and ascending sorts on
// strings, dates and missing values, and limits cutting through ties.
func TestExpandedFindMatchesPlainFind(t *testing.T) {
	s := openForTest(t, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var docs []any
	for i := 0; i < 120; i++ {
		d := bson.D{{Key: fID, Value: fmt.Sprintf("r%03d", i)},
			{Key: "tag", Value: bson.A{fmt.Sprintf("t%d", rng.IntN(6)), fmt.Sprintf("t%d", rng.IntN(6))}},
			{Key: fLastUpdated, Value: bson.NewDateTimeFromTime(base.Add(time.Duration(rng.IntN(50)) * time.Hour))}}
		if rng.IntN(4) > 0 { // some documents have no sort value
			d = append(d, bson.E{Key: "k_sort", Value: fmt.Sprintf("v%02d", rng.IntN(30))})
		}
		docs = append(docs, d)
	}
	if _, err := s.db.Collection("Patient").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	ferret := s.ferret
	defer func() { s.ferret = ferret }()
	ids := func(raws []bson.Raw) string {
		out := ""
		for _, r := range raws {
			out += r.Lookup(fID).StringValue() + " "
		}
		return out
	}
	filters := []bson.D{
		{{Key: "tag", Value: bson.D{{Key: "$in", Value: []string{"t1", "t3", "t4"}}}}},
		{{Key: fID, Value: bson.D{{Key: "$in", Value: []string{"r005", "r077", "r100", "r999"}}}}},
		{{Key: "tag", Value: bson.D{{Key: "$in", Value: bson.A{"t0", "t5"}}}}, {Key: "k_sort", Value: bson.D{{Key: "$gte", Value: "v10"}}}},
	}
	sorts := []bson.D{
		{{Key: fID, Value: 1}},
		{{Key: "k_sort", Value: -1}, {Key: fID, Value: 1}},
		{{Key: "k_sort", Value: 1}, {Key: fID, Value: -1}},
		{{Key: fLastUpdated, Value: -1}, {Key: fID, Value: -1}},
	}
	proj := bson.D{{Key: fID, Value: 1}, {Key: "k_sort", Value: 1}, {Key: fLastUpdated, Value: 1}}
	for fi, f := range filters {
		for si, sort := range sorts {
			for _, limit := range []int64{0, 1, 7, 200} {
				s.ferret = false
				want, err := s.find(ctx, "Patient", f, sort, limit, proj)
				if err != nil {
					t.Fatal(err)
				}
				s.ferret = true
				got, err := s.find(ctx, "Patient", f, sort, limit, proj)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != ids(want) {
					t.Errorf("filter %d sort %d limit %d:\n got %s\nwant %s", fi, si, limit, ids(got), ids(want))
				}
			}
		}
		s.ferret = false
		want, err := s.countDocs(ctx, "Patient", f)
		if err != nil {
			t.Fatal(err)
		}
		s.ferret = true
		got, err := s.countDocs(ctx, "Patient", f)
		if err != nil || got != want || want == 0 {
			t.Errorf("filter %d: count %d (%v), want %d", fi, got, err, want)
		}
	}
}
