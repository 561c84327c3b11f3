package mongo_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// TestExportedLayoutIsTheStoresLayout: the documents VersionDoc and HistoryDoc build (for tools that write
// the collections with the driver) are, byte for byte, the ones the store writes for a created resource and
// for its first version once an update archives it — the search-index fields aside, which the store
// appends in map order and which are compared here in name order.
func TestExportedLayoutIsTheStoresLayout(t *testing.T) {
	ctx := context.Background()
	d := r4test.Load(t)
	v, err := d.Validator()
	if err != nil {
		t.Fatal(err)
	}
	s := mongotest.Open(t, definitions.ResourceTypes, d.Registry)
	write := func(body string) storage.Write {
		tree, oe := v.Validate("Patient", []byte(body))
		if oe != nil {
			t.Fatal(oe)
		}
		idx, err := d.Registry.Index("Patient", tree)
		if err != nil {
			t.Fatal(err)
		}
		return storage.Write{Type: "Patient", ID: "layout-1", Body: []byte(body), Index: idx}
	}
	w := write(`{"resourceType":"Patient","id":"layout-1","name":[{"family":"Layout","given":["Ada"]}],"gender":"female","birthDate":"1970-01-02"}`)
	created, err := s.Create(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	index := bson.D{}
	for k, v := range w.Index {
		index = append(index, bson.E{Key: k, Value: v})
	}
	slices.SortFunc(index, func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
	want := mongo.VersionDoc(created.ID, 1, created.LastUpdated, "POST", string(created.Body), index)
	if len(index) < 5 || mongo.DocBody(want) != string(created.Body) {
		t.Fatalf("index %v, body %q", index, mongo.DocBody(want))
	}
	fixed := len(mongo.VersionDoc("", 1, created.LastUpdated, "POST", "", nil))

	got := stored(t, s.Database().Collection("Patient"), created.ID)
	slices.SortFunc(got[fixed:], func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
	sameBSON(t, "current-version document", got, want)

	// An update archives version 1 into history.
	if _, _, err := s.Update(ctx, write(`{"resourceType":"Patient","id":"layout-1","gender":"male"}`), storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	sameBSON(t, "history document", stored(t, s.Database().Collection(mongo.HistoryCollection), "Patient/layout-1/1"), mongo.HistoryDoc("Patient", want))

	// What a reader of the collections decodes with the store's projection: no search-index field.
	var projected bson.D
	if err := s.Database().Collection("Patient").FindOne(ctx, bson.D{{Key: "_id", Value: created.ID}}, options.FindOne().SetProjection(mongo.VersionProjection())).Decode(&projected); err != nil {
		t.Fatal(err)
	}
	if n := len(projected); n != fixed {
		t.Errorf("projected document has %d fields, want the %d non-index ones: %v", n, fixed, projected)
	}
}

// stored reads the document with _id id as the database holds it.
func stored(t *testing.T, coll *driver.Collection, id string) bson.D {
	t.Helper()
	var d bson.D
	if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return d
}

// sameBSON compares two documents as BSON (so that []string and a decoded array, time.Time and a decoded
// date compare equal) and shows both as extended JSON when they differ.
func sameBSON(t *testing.T, what string, got, want bson.D) {
	t.Helper()
	g, err := bson.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := bson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		gj, _ := bson.MarshalExtJSON(got, false, false)
		wj, _ := bson.MarshalExtJSON(want, false, false)
		t.Errorf("%s differs from the exported layout\n got: %s\nwant: %s", what, gj, wj)
	}
}
