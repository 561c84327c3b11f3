package audit_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/server/audit"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

var searchOptions = search.ParseOptions{Strict: true, DefaultCount: 50, MaxCount: 1000}

func record(i int, patient string, status int) *audit.Record {
	return &audit.Record{Time: time.Date(2026, 12, 1, 10, 0, i, 0, time.UTC), Subject: "u1", Issuer: "https://idp.example",
		Client: "app", Address: "10.0.0.1", Interaction: "read", Action: "R", Method: "GET", Path: "Patient/" + patient,
		Type: "Patient", ResourceID: patient, Patients: []string{patient}, Status: status, Server: "http://careflow.test/fhir"}
}

// count searches AuditEvents with the query q.
func count(t *testing.T, store storage.Store, q string) int {
	t.Helper()
	params, err := url.ParseQuery(q + "&_total=accurate")
	if err != nil {
		t.Fatal(err)
	}
	query, perr := r4test.Load(t).Registry.Parse("AuditEvent", params, searchOptions)
	if perr != nil {
		t.Fatal(perr)
	}
	page, err := store.Search(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

// TestEventsAreValidAndSearchable: the AuditEvents the log stores validate against R4 and are found by
// patient, agent identity, action, outcome, subtype and date.
func TestEventsAreValidAndSearchable(t *testing.T) {
	store := sqlitetest.Open(t)
	reg := r4test.Load(t).Registry
	l, err := audit.Open(filepath.Join(t.TempDir(), "outbox"), store, reg, audit.Options{ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := record(1, "p1", 200)
	r.Query = "name=smith"
	if err := l.Record(r); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(record(2, "p2", 403)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := store.Read(context.Background(), "AuditEvent", r.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if _, verr := r4test.Validator(t).Validate("AuditEvent", v.Body); verr != nil {
		t.Errorf("stored AuditEvent is not valid R4: %v\n%s", verr, v.Body)
	}
	for q, want := range map[string]int{
		"patient=Patient/p1": 1,
		"patient=Patient/p2": 1,
		"altid=u1":           2,
		"action=R":           2,
		"outcome=4":          1,
		"outcome=0":          1,
		"subtype=read":       2,
		"date=2026-12-01":    2,
		"address=10.0.0.1":   2,
		"entity-role=http://terminology.hl7.org/CodeSystem/object-role|24": 1,
	} {
		if got := count(t, store, q); got != want {
			t.Errorf("AuditEvent?%s: %d, want %d", q, got, want)
		}
	}
}

// TestReplayAfterCrash: records appended and never shipped (a crash) are stored when the outbox is
// opened again; records shipped whose progress was not saved (a crash between the store commit and
// the offset) are not stored twice.
func TestReplayAfterCrash(t *testing.T) {
	store := sqlitetest.Open(t)
	reg := r4test.Load(t).Registry
	path := filepath.Join(t.TempDir(), "outbox")
	first, err := audit.Open(path, store, reg, audit.Options{ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := first.Record(record(i, fmt.Sprintf("p%d", i), 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Flush(context.Background()); err != nil { // 30 stored
		t.Fatal(err)
	}
	for i := 30; i < 50; i++ { // 20 in the outbox only
		if err := first.Record(record(i, fmt.Sprintf("p%d", i), 200)); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: the process is gone without shipping; and its last saved progress is lost too.
	if err := os.Remove(path + ".shipped"); err != nil {
		t.Fatal(err)
	}
	second, err := audit.Open(path, store, reg, audit.Options{ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, store, "action=R"); got != 50 {
		t.Errorf("%d AuditEvents after the replay, want 50 (none lost, none twice)", got)
	}
}

// TestSyncedRecordsWaitForTheDisk: with Synced durability concurrent records share syncs and each
// returns only once it is on disk (the outbox holds all of them when Record returns).
func TestSyncedRecordsWaitForTheDisk(t *testing.T) {
	store := sqlitetest.Open(t)
	path := filepath.Join(t.TempDir(), "outbox")
	l, err := audit.Open(path, store, r4test.Load(t).Registry, audit.Options{Durability: audit.Synced, ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() { errs <- l.Record(record(i, "p", 200)) }()
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := countLines(raw); lines != 16 {
		t.Errorf("outbox holds %d records, want 16", lines)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
