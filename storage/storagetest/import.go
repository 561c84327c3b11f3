package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/careflow/careflow/storage"
)

// ImportedHistory is a history of n versions of Patient/id as another store holds it (for the stores'
// ImportResource tests): lastUpdated long past, a decimal written as 1.50, version 1 created with POST,
// later ones PUT, and the last one a deletion when del.
func ImportedHistory(id string, n int, del bool) []*storage.Version {
	var out []*storage.Version
	at := time.Date(2001, 2, 3, 4, 5, 6, 7e6, time.UTC)
	for vid := int64(1); vid <= int64(n); vid++ {
		v := &storage.Version{Type: "Patient", ID: id, VersionID: vid, LastUpdated: at.Add(time.Duration(vid) * time.Hour), Method: "PUT",
			Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","id":"%s","meta":{"versionId":"%d"},"name":[{"family":"old%d"}],"x":1.50}`, id, vid, vid))}
		if vid == 1 {
			v.Method = "POST"
		}
		if del && vid == int64(n) {
			v.Deleted, v.Body, v.Method = true, nil, "DELETE"
		}
		out = append(out, v)
	}
	return out
}

// OldestFirst returns the instance history of typ/id (at most 100 versions), oldest first.
func OldestFirst(t testing.TB, s storage.Store, typ, id string) []*storage.Version {
	t.Helper()
	page, err := s.History(context.Background(), storage.HistoryQuery{Type: typ, ID: id, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := page.Versions
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
