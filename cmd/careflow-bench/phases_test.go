package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	cfmongo "github.com/careflow/careflow/storage/mongo"
)

// TestRawVersionDecodesCareflowsDocument: the raw read phase decodes careflow's current-version document
// (storage/mongo.VersionDoc) completely with rawVersion, and careflow's projection keeps every field it
// decodes, so that a change of the store's layout fails here rather than making the raw phase read less.
func TestRawVersionDecodesCareflowsDocument(t *testing.T) {
	lu := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	body := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2026-11-25T10:00:00.123Z"}}`
	data, err := bson.Marshal(cfmongo.VersionDoc("p1", 3, lu, "PUT", body, bson.D{{Key: "s_name", Value: []string{"ada"}}}))
	if err != nil {
		t.Fatal(err)
	}
	var got rawVersion
	if err := bson.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := rawVersion{ID: "p1", VersionID: 3, LastUpdated: bson.NewDateTimeFromTime(lu), Method: "PUT", Body: body}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	projected := make([]string, len(readProjection))
	for i, e := range readProjection {
		projected[i] = e.Key
	}
	typ := reflect.TypeFor[rawVersion]()
	for i := range typ.NumField() {
		tag := strings.Split(typ.Field(i).Tag.Get("bson"), ",")[0]
		if tag != "_id" && !slices.Contains(projected, tag) {
			t.Errorf("rawVersion.%s (%q) is not in careflow's projection %v", typ.Field(i).Name, tag, projected)
		}
	}
}
