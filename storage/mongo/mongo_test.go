package mongo_test

import (
	"testing"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return mongotest.Open(t, storagetest.Types, nil) })
}
