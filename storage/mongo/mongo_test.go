package mongo_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage/mongo"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return mongotest.Open(t, storagetest.Types, nil) })
}

// TestReopen: opening a store on a database that already has its indexes (a restart) works and creates
// nothing twice. FerretDB v1.24 drops the connection when asked to create an existing index.
func TestReopen(t *testing.T) {
	m, err := model.Load(definitions.Schema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := search.NewRegistry(m, definitions.SearchParameters, definitions.ResourceTypes)
	if err != nil {
		t.Fatal(err)
	}
	first := mongotest.Open(t, definitions.ResourceTypes, reg)
	count := func() int {
		cur, err := first.Database().Collection("Patient").Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var all []bson.M
		if err := cur.All(context.Background(), &all); err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	before := count()
	if before < 30 {
		t.Errorf("Patient has %d indexes, want one per search parameter", before)
	}
	uri := strings.TrimSuffix(mongotest.URI(), "/") + "/" + first.Database().Name()
	again, err := mongo.Open(context.Background(), mongo.Options{URI: uri, Types: definitions.ResourceTypes, Registry: reg})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close(context.Background())
	if after := count(); after != before {
		t.Errorf("indexes %d → %d after reopening", before, after)
	}
}
