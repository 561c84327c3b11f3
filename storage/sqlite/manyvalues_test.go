package sqlite_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
	"github.com/careflow/careflow/storage/storagetest"
)

func TestSearchManyValues(t *testing.T) {
	storagetest.RunSearchManyValues(t, func(t *testing.T, reg *search.Registry) storage.Store { return sqlitetest.Open(t) })
}
