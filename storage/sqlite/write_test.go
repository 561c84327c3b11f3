package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
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
			got, _, ok := pre.at(lu, "the-id")
			want, err := resource.Stamp([]byte(body), "the-id", "1", lu)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Errorf("%s at %v: got %s (%v), want %s (%v)", name, lu, got, ok, want, err)
			}
		}
		if _, _, ok := pre.at(lus[0], "another-id"); ok {
			t.Errorf("%s: a body stamped for another id was used", name)
		}
		if _, _, ok := pre.at(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "the-id"); ok {
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

// TestPrestampPacked: the stored form made outside the writer decodes to exactly the body at every
// lastUpdated the writer writes into it, and costs at most a few bytes more than packing the whole body.
func TestPrestampPacked(t *testing.T) {
	c, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	bodies := map[string]string{
		"large": `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"A1"}],"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` +
			strings.Repeat("Zoë und Jürgen ", 120) + `</div>"},"name":[{"family":"Zoë"}]}`,
		"meta last": `{"resourceType":"Patient","gender":"female","meta":{"profile":["http://x/p"]}}`,
	}
	for name, body := range prestampBodies {
		bodies[name] = body
	}
	lus := []time.Time{time.Date(2026, 12, 2, 11, 40, 1, 123_000_000, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 1_000_000, time.UTC)}
	for name, body := range bodies {
		pre := prestamp([]byte(body), "the-id").packed(c)
		if pre == nil {
			continue // declined: the writer stamps and packs (TestPrestampIsStamp)
		}
		for _, lu := range lus {
			got, stored, ok := pre.at(lu, "the-id")
			if !ok || stored == nil {
				t.Fatalf("%s: no stored form", name)
			}
			want, err := resource.Stamp([]byte(body), "the-id", "1", lu)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: body %s (%v), want %s", name, got, err, want)
			}
			unpacked, err := c.unpack(stored)
			if err != nil || !bytes.Equal(unpacked, want) {
				t.Errorf("%s at %v: stored form decodes to %s (%v), want %s", name, lu, unpacked, err, want)
			}
			if whole := len(c.pack(want)); len(stored) > whole+64 {
				t.Errorf("%s: stored form of %d bytes, the whole body packs to %d", name, len(stored), whole)
			}
		}
	}
}
