package mongo

import (
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// TestIndexesPerTypeFit: MongoDB holds at most 64 indexes per collection; every served type's collection,
// with one index per indexed search parameter (two per date), the store's own three and _id, stays below.
func TestIndexesPerTypeFit(t *testing.T) {
	s := &Store{registry: r4test.Load(t).Registry, types: definitions.ResourceTypes, searchIndexes: true}
	most, mostType := 0, ""
	for _, typ := range definitions.ResourceTypes {
		n := 1 + len(s.currentIndexes(typ)) // _id
		if n > 64 {
			t.Errorf("%s needs %d indexes, MongoDB allows 64", typ, n)
		}
		if n > most {
			most, mostType = n, typ
		}
	}
	t.Logf("most indexes: %s, %d", mostType, most)
}
