package mongo_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestSearchManyValues runs the search suite with each case's values repeated to search.MaxValues.
func TestSearchManyValues(t *testing.T) {
	storagetest.RunSearchManyValues(t, func(t *testing.T, reg *search.Registry) storage.Store {
		return mongotest.Open(t, definitions.ResourceTypes, reg)
	})
}
