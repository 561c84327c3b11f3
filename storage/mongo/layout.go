package mongo

import (
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The document layout, for tools that write or read the store's collections with the driver directly
// (cmd/careflow-bench's raw phases compare the database's cost with careflow's on the same documents). The
// store builds its own documents with the same functions, so the two cannot drift apart.

// HistoryCollection is the collection that holds past versions (and, on MongoDB, the claims of versions
// being written); every other collection is named after a resource type and holds current versions.
const HistoryCollection = historyCollection

// VersionDoc returns the current-version document the store writes when it creates version vid of resource
// id at lu by method ("POST" or "PUT"), visible to the change feed from lu: the bookkeeping fields, the
// stamped resource JSON (fhir/resource.Stamp) as a string, then the search-index fields (storage.Write.Index
// as returned by search.Registry.Index) in the order given — the store appends them in map order.
func VersionDoc(id string, vid int64, lu time.Time, method, body string, index bson.D) bson.D {
	d := versionHeader(id, vid, lu, &lu, method, false, 1+len(index))
	d = append(d, bson.E{Key: fBody, Value: body})
	return append(d, index...)
}

// HistoryDoc returns the history document the store writes for the version of current, a document laid
// out as VersionDoc lays it out: its _id is "Type/id/vid", then the type and the resource id, then the
// bookkeeping fields and the body of current; no search-index fields.
func HistoryDoc(typ string, current bson.D) bson.D { return historyDoc(typ, current) }

// VersionProjection returns the projection the store reads current and history documents with: every
// field but the search-index fields.
func VersionProjection() bson.D { return slices.Clone(versionProjection) }

// DocBody returns the stamped resource JSON of a document built by VersionDoc or HistoryDoc ("" for a
// deletion).
func DocBody(d bson.D) string {
	for _, e := range d {
		if e.Key == fBody {
			s, _ := e.Value.(string)
			return s
		}
	}
	return ""
}
