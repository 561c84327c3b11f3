package mongo_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestSearchConformance runs the store-independent search suite against MongoDB (FerretDB in tests).
func TestSearchConformance(t *testing.T) {
	storagetest.RunSearch(t, func(t *testing.T, reg *search.Registry) storage.Store {
		return mongotest.Open(t, definitions.ResourceTypes, reg)
	})
}
