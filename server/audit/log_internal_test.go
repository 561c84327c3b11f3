package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// TestGroupWriteRecordsBeforeReturning: concurrent Records share write calls, and each returns only once
// its own complete line is in the outbox file.
func TestGroupWriteRecordsBeforeReturning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	l, err := Open(path, sqlitetest.Open(t), r4test.Load(t).Registry, Options{ShipInterval: time.Hour, MaxBatch: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := &Record{EventID: fmt.Sprintf("w%d-%d", w, i), Interaction: "read", Action: "R", Status: 200}
				if err := l.Record(r); err != nil {
					errs <- err
					return
				}
				raw, err := os.ReadFile(path)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(raw, []byte(`"id":"`+r.EventID+`"`)) {
					errs <- fmt.Errorf("record %s returned before it was in the outbox", r.EventID)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(lines) != workers*each {
		t.Fatalf("%d lines, want %d", len(lines), workers*each)
	}
	for _, line := range lines {
		if !bytes.HasPrefix(line, []byte(`{"resourceType":"AuditEvent"`)) || !bytes.HasSuffix(line, []byte("}")) {
			t.Fatalf("torn line %q", line)
		}
	}
}

// TestFailedWriteFailsRecord: when the outbox cannot be written, Record reports it (the HTTP layer then
// withholds the answer), for every record of the failed group.
func TestFailedWriteFailsRecord(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "outbox"), sqlitetest.Open(t), r4test.Load(t).Registry, Options{ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(&Record{Status: 200}); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	_ = l.f.Close()
	l.mu.Unlock()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Record(&Record{Status: 200}); err == nil {
				t.Error("Record on an unwritable outbox: no error")
			}
		}()
	}
	wg.Wait()
}
