package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

var prestampBodies = map[string]string{
	"plain":     `{"resourceType":"Patient","name":[{"family":"Zoë"}]}`,
	"spaced":    "{ \"resourceType\" : \"Patient\",\n  \"id\": \"client-id\", \"active\": true }",
	"with meta": `{"resourceType":"Patient","meta":{"versionId":"7","lastUpdated":"2020-01-01T00:00:00Z","profile":["http://x/p"],"tag":[{"code":"t"}]},"gender":"female"}`,
	// A client's value equal to the placeholder member: prestamp must not guess which one to overwrite.
	"placeholder inside": `{"resourceType":"Patient","contained":[{"resourceType":"Practitioner","id":"p","meta":{"lastUpdated":"0001-01-01T00:00:00.000Z"}}]}`,
}

// TestPrestampIsStamp: a body stamped outside the writer and given its lastUpdated there is byte for byte
// what resource.Stamp returns with that lastUpdated, and prestamp declines what it cannot do exactly.
func TestPrestampIsStamp(t *testing.T) {
	lus := []time.Time{
		time.Date(2026, 12, 2, 11, 40, 1, 123_000_000, time.UTC),
		time.Date(2026, 12, 2, 11, 40, 1, 0, time.FixedZone("x", 3600)),
		time.Date(1999, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
	}
	for name, body := range prestampBodies {
		pre := prestamp([]byte(body), "the-id")
		if name == "placeholder inside" {
			if pre != nil {
				t.Errorf("%s: prestamp accepted a body holding its placeholder", name)
			}
			continue
		}
		if pre == nil {
			t.Fatalf("%s: prestamp declined", name)
		}
		for _, lu := range lus {
			got, ok := pre.at(lu, "the-id")
			want, err := resource.Stamp([]byte(body), "the-id", "1", lu)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Errorf("%s at %v: got %s (%v), want %s (%v)", name, lu, got, ok, want, err)
			}
		}
		if _, ok := pre.at(lus[0], "another-id"); ok {
			t.Errorf("%s: a body stamped for another id was used", name)
		}
		if _, ok := pre.at(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "the-id"); ok {
			t.Errorf("%s: an instant of another length was written over the placeholder", name)
		}
	}
	if prestamp([]byte(`{"resourceType":`), "x") != nil {
		t.Error("prestamp accepted invalid JSON")
	}
}

// TestCreateStampsLikeStamp: what Create and Transact store and return is resource.Stamp's output with the
// version's lastUpdated, on the prestamped path and on the writer's own (a body holding the placeholder).
func TestCreateStampsLikeStamp(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "s.db"), Synchronous: "normal", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	check := func(name string, body string, v *storage.Version) {
		t.Helper()
		want, err := resource.Stamp([]byte(body), v.ID, "1", v.LastUpdated)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.Body, want) {
			t.Errorf("%s: returned %s, want %s", name, v.Body, want)
		}
		got, err := s.Read(ctx, "Patient", v.ID)
		if err != nil || !bytes.Equal(got.Body, want) || !got.LastUpdated.Equal(v.LastUpdated) {
			t.Errorf("%s: stored %s (%v), want %s", name, got.Body, err, want)
		}
	}
	for name, body := range prestampBodies {
		v, err := s.Create(ctx, storage.Write{Type: "Patient", Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		check("create "+name, body, v)
		res, err := s.Transact(ctx, []storage.TxOp{
			{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", Body: []byte(body)}},
			{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: "tx-" + v.ID, Body: []byte(body)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		check("transaction "+name, body, res[0].Version)
		check("transaction with id "+name, body, res[1].Version)
		if res[1].Version.ID != "tx-"+v.ID {
			t.Errorf("transaction: id %s, want tx-%s", res[1].Version.ID, v.ID)
		}
	}
}
