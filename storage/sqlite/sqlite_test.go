package sqlite_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
	"github.com/careflow/careflow/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return sqlitetest.Open(t) })
}

func TestSearchConformance(t *testing.T) {
	storagetest.RunSearch(t, func(t *testing.T, reg *search.Registry) storage.Store { return sqlitetest.Open(t) })
}
