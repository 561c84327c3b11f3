package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/careflow/careflow/storage"
)

// groupStore opens a store whose commits are recorded: commits receives the number of writes of each
// group committed.
func groupStore(t *testing.T) (*Store, func() []int) {
	t.Helper()
	var mu sync.Mutex
	var commits []int
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "w.db"), Synchronous: "normal",
		Logger: slog.New(slog.DiscardHandler), Hooks: Hooks{BeforeCommit: func(n int) error {
			mu.Lock()
			commits = append(commits, n)
			mu.Unlock()
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(commits)
	}
}

func writeOf(id, field string) storage.Write {
	return storage.Write{Type: "Patient", ID: id, Body: []byte(`{"resourceType":"Patient"}`),
		Index: map[string]any{field: []string{"v-" + id}}}
}

// runGroup runs fns as jobs of one group: the first blocks the writer until the others are queued behind
// it. It returns each job's outcome.
func runGroup(t *testing.T, s *Store, fns ...func(*wtx) error) []error {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	first := fns[0]
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- s.w.do(context.Background(), func(t *wtx) error {
			select {
			case <-started:
			default:
				close(started)
				<-release
			}
			return first(t)
		})
	}()
	<-started
	var jobs []*job
	for _, fn := range fns[1:] {
		j := &job{ctx: context.Background(), fn: fn, done: make(chan error, 1)}
		s.w.jobs <- j // the writer is busy with the first job: these wait in the queue
		jobs = append(jobs, j)
	}
	close(release)
	errs := []error{<-firstErr}
	for _, j := range jobs {
		errs = append(errs, <-j.done)
	}
	return errs
}

func create(w storage.Write) func(*wtx) error {
	return func(t *wtx) error {
		_, err := t.create(w)
		return err
	}
}

// TestGroupJobFailsAlone: jobs run without savepoints, yet in one group commit a job that fails after
// writing (here: after creating a resource and interning a new field) leaves nothing behind, a job that
// fails before writing costs nothing, and the others land — all in one commit.
func TestGroupJobFailsAlone(t *testing.T) {
	s, commits := groupStore(t)
	ctx := context.Background()
	boom := errors.New("boom")
	errs := runGroup(t, s,
		create(writeOf("a", "s_a")),
		func(t *wtx) error { // writes, then fails
			if _, err := t.create(writeOf("b", "s_only_b")); err != nil {
				return err
			}
			return boom
		},
		create(writeOf("c", "s_a")),
		create(writeOf("a", "s_a")), // a exists: fails before writing
	)
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil || !errors.Is(errs[3], storage.ErrExists) {
		t.Fatalf("outcomes %v, want nil, boom, nil, ErrExists", errs)
	}
	if got := commits(); !slices.Equal(got, []int{4}) {
		t.Errorf("commits %v, want one of 4 writes", got)
	}
	for _, id := range []string{"a", "c"} {
		if v, err := s.Read(ctx, "Patient", id); err != nil || v.VersionID != 1 {
			t.Errorf("read %s: %v, %v", id, v, err)
		}
	}
	if _, err := s.Read(ctx, "Patient", "b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read b: %v, want ErrNotFound", err)
	}
	tid, _ := s.names.typeID("Patient")
	if _, ok := s.names.fieldID(tid, "s_only_b"); ok {
		t.Error("the field interned by the failed write is still known")
	}
	if _, ok := s.names.fieldID(tid, "s_a"); !ok {
		t.Error("the field interned by a landed write is unknown")
	}
	// The next write of the failed resource works, and the index holds exactly the landed values.
	if _, err := s.Create(ctx, writeOf("b", "s_only_b")); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM ixk").Scan(&n); err != nil || n != 3 {
		t.Errorf("index rows %d (%v), want 3", n, err)
	}
}

// TestGroupRestartRepeats: when a job that had succeeded fails when the group runs again after another
// job's failure, it fails too and the group starts over without it.
func TestGroupRestartRepeats(t *testing.T) {
	s, commits := groupStore(t)
	ctx := context.Background()
	flaky := errors.New("flaky")
	runs := 0
	errs := runGroup(t, s,
		create(writeOf("a", "s_x")),
		func(t *wtx) error { // succeeds the first time only
			runs++
			if _, err := t.create(writeOf("e", "s_x")); err != nil {
				return err
			}
			if runs > 1 {
				return flaky
			}
			return nil
		},
		func(t *wtx) error {
			if _, err := t.create(writeOf("b", "s_x")); err != nil {
				return err
			}
			return errors.New("boom")
		},
		create(writeOf("c", "s_x")),
	)
	if errs[0] != nil || !errors.Is(errs[1], flaky) || errs[2] == nil || errs[3] != nil {
		t.Fatalf("outcomes %v, want nil, flaky, boom, nil", errs)
	}
	if runs != 2 {
		t.Errorf("the flaky job ran %d times, want 2", runs)
	}
	if got := commits(); !slices.Equal(got, []int{4}) {
		t.Errorf("commits %v, want one of 4 writes", got)
	}
	for id, want := range map[string]bool{"a": true, "e": false, "b": false, "c": true} {
		_, err := s.Read(ctx, "Patient", id)
		if got := err == nil; got != want {
			t.Errorf("read %s: %v, want present=%v", id, err, want)
		}
	}
	// Sequence numbers of the landed versions are consecutive: rolled-back versions took none.
	var seqs []int64
	rows, err := s.read.QueryContext(ctx, "SELECT seq FROM ver ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var q int64
		if err := rows.Scan(&q); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, q)
	}
	if !slices.Equal(seqs, []int64{1, 2}) {
		t.Errorf("sequence numbers %v, want [1 2]", seqs)
	}
}
