package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
)

// TestBackup: Backup copies a data file while its store is open and in the middle of a write: it does not
// wait for the writer, the copy holds every committed write (with its history and its searches) and
// nothing of the uncommitted one, and the store goes on. A second backup to the same file, a missing
// source and a file that is not careflow's are refused, and a refused or failed backup leaves no file.
func TestBackup(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "careflow.db")
	var armed atomic.Bool
	inCommit, release := make(chan struct{}), make(chan struct{})
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal", Hooks: Hooks{
		BeforeCommit: func(int) error {
			if armed.CompareAndSwap(true, false) {
				close(inCommit)
				<-release
			}
			return nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for i := range 30 {
		createPatient(t, s, reg, fmt.Sprintf("p%02d", i), map[string]any{
			"identifier": []any{map[string]any{"system": "urn:mrn", "value": fmt.Sprintf("MRN%02d", i)}},
		})
	}
	if _, err := s.Delete(ctx, "Patient", "p29", storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	// A write held open in the writer, uncommitted, for the whole backup.
	armed.Store(true)
	pending := make(chan error, 1)
	go func() {
		body := map[string]any{"resourceType": "Patient", "identifier": []any{map[string]any{"system": "urn:mrn", "value": "PENDING"}}}
		raw, _ := json.Marshal(body)
		idx, err := reg.Index("Patient", body)
		if err == nil {
			_, err = s.Create(ctx, storage.Write{Type: "Patient", ID: "pending", Body: raw, Index: idx})
		}
		pending <- err
	}()
	<-inCommit
	dest := filepath.Join(dir, "backup", "careflow-backup.db")
	if err := os.Mkdir(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := Backup(ctx, path, dest)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pending; err != nil {
		t.Fatalf("the write held during the backup: %v", err)
	}
	if b.Resources != 29 || b.Versions != 31 || b.Bytes == 0 {
		t.Errorf("Backup reported %+v, want 29 resources, 31 versions", b)
	}
	if st, err := os.Stat(dest); err != nil || st.Size() != b.Bytes || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v (%v), want %d bytes (as reported), readable by its owner only", st, err, b.Bytes)
	}
	if _, err := s.Read(ctx, "Patient", "pending"); err != nil {
		t.Errorf("the store after the backup: %v", err)
	}

	copied := openAt(t, dest)
	if v, err := copied.Read(ctx, "Patient", "p28"); err != nil || v.Deleted {
		t.Errorf("a committed patient in the backup: %v, %v", v, err)
	}
	if _, err := copied.Read(ctx, "Patient", "pending"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the write uncommitted when the backup ran is in it: %v", err)
	}
	if h, err := copied.History(ctx, storage.HistoryQuery{Type: "Patient", ID: "p29", Count: 10}); err != nil || len(h.Versions) != 2 {
		t.Errorf("a deleted patient's history in the backup: %v, %v", h, err)
	}
	if got := searchIDs(t, copied, reg, "Patient", "identifier=urn:mrn|MRN07", true); got != "p07" {
		t.Errorf("search in the backup: %q", got)
	}
	if err := copied.Close(ctx); err != nil {
		t.Fatal(err)
	}

	before, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, path, dest); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup onto an existing file: %v, want refused", err)
	}
	if after, err := os.ReadFile(dest); err != nil || string(after) != string(before) {
		t.Errorf("the refused backup changed the existing file (%v)", err)
	}
	notOurs := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notOurs, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{filepath.Join(dir, "missing.db"), notOurs} {
		other := filepath.Join(dir, "backup", "other.db")
		if _, err := Backup(ctx, src, other); err == nil {
			t.Errorf("backup of %s: no error", src)
		}
		if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused backup of %s left %s (%v)", src, other, err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(dest))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("a temporary file left behind: %s", e.Name())
		}
	}
}
