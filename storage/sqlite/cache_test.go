package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/careflow/careflow/storage"
)

// openCached opens a store with the version cache, skipping when the driver has no update hook.
func openCached(t *testing.T, hooks Hooks) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "cache.db"), Synchronous: "normal", Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if s.cache == nil {
		t.Skip("no version cache with this driver (built without cgo)")
	}
	return s
}

func patientBody(id string, extra string) []byte {
	return []byte(`{"resourceType":"Patient","id":"` + id + `"` + extra + `}`)
}

// TestVersionCacheConsistent walks through each case of the cache's argument (cache.go) on a real store.
func TestVersionCacheConsistent(t *testing.T) {
	ctx := context.Background()
	var gate atomic.Pointer[chan error] // set: BeforeCommit reports it is waiting, then returns what it receives
	entered := make(chan struct{}, 1)
	s := openCached(t, Hooks{BeforeCommit: func(int) error {
		if g := gate.Load(); g != nil {
			entered <- struct{}{}
			return <-*g
		}
		return nil
	}})
	t.Cleanup(func() { // a failed check must not leave the writer waiting at the gate (Close waits for it)
		if g := gate.Load(); g != nil {
			close(*g)
		}
	})
	read := func(want int64, what string) {
		t.Helper()
		v, err := s.Read(ctx, "Patient", "p")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if v.VersionID != want || !strings.Contains(string(v.Body), `"versionId":"`+strconv.FormatInt(want, 10)+`"`) {
			t.Fatalf("%s: read version %d (%s), want %d", what, v.VersionID, v.Body, want)
		}
	}
	// update runs an update whose commit waits at the gate until the returned function releases it with
	// the commit's outcome; it returns the update's result.
	update := func(extra string) func(commitErr error) (*storage.Version, error) {
		g := make(chan error)
		gate.Store(&g)
		type result struct {
			v   *storage.Version
			err error
		}
		res := make(chan result, 1)
		go func() {
			v, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "p", Body: patientBody("p", extra)}, storage.Precondition{})
			res <- result{v, err}
		}()
		<-entered
		return func(commitErr error) (*storage.Version, error) {
			g <- commitErr
			gate.Store(nil)
			r := <-res
			return r.v, r.err
		}
	}

	if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: "p", Body: patientBody("p", "")}); err != nil {
		t.Fatal(err)
	}
	read(1, "after the create")
	read(1, "again (from the cache)")
	tid, _ := s.names.typeID("Patient")
	if e, _ := s.cache.get(tid, "p"); e == nil || e.vid != 1 {
		t.Fatalf("the read did not fill the cache: %+v", e)
	}

	// A write that has not committed is never seen; once acknowledged, it always is.
	release := update(`,"active":true`)
	read(1, "while version 2 waits to commit")
	if e, _ := s.cache.get(tid, "p"); e != nil {
		t.Fatal("the cache answers for a resource being written")
	}
	if v, err := release(nil); err != nil || v.VersionID != 2 {
		t.Fatalf("update: %v, %v", v, err)
	}
	read(2, "after version 2 was acknowledged")
	read(2, "again (from the cache)")

	// A write whose commit fails is never seen.
	release = update(`,"active":false`)
	read(2, "while version 3 waits to commit")
	if _, err := release(errors.New("injected commit failure")); err == nil {
		t.Fatal("the update succeeded despite the failed commit")
	}
	read(2, "after the failed commit")

	// A deletion is seen once acknowledged, and then read from the cache as a deletion.
	if _, err := s.Delete(ctx, "Patient", "p", storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var gone *storage.GoneError
		if _, err := s.Read(ctx, "Patient", "p"); !errors.As(err, &gone) || gone.Deleted.VersionID != 3 {
			t.Fatalf("read after the delete: %v, want gone at version 3", err)
		}
	}
}

// TestVersionCacheRefusesStalePuts checks the two rules of put against the writer's calls: a reader whose
// statement may predate a commit that settled since, and a reader of a resource being written, do not fill
// the cache; an entry of a written resource goes when its commit settles.
func TestVersionCacheRefusesStalePuts(t *testing.T) {
	c := newVersionCache(10)
	old := &cachedVersion{rid: 7, vid: 1, body: []byte("v1")}

	_, gen := c.get(1, "a") // a reader misses, reads version 1 from its snapshot...
	c.touch(7)              // ...meanwhile a write of rid 7 commits and settles
	c.settle()
	c.put(1, "a", old, gen) // ...and the reader's put comes too late
	if e, _ := c.get(1, "a"); e != nil {
		t.Fatalf("a put that predates a settled commit was kept: %+v", e)
	}

	_, gen = c.get(1, "a")
	c.touch(7) // a write of rid 7 is open
	c.put(1, "a", old, gen)
	if e, _ := c.get(1, "a"); e != nil {
		t.Fatalf("a put of a resource being written was kept: %+v", e)
	}
	c.settle()

	_, gen = c.get(1, "a")
	c.put(1, "a", old, gen)
	if e, _ := c.get(1, "a"); e != old {
		t.Fatalf("a put with nothing in between was refused: %+v", e)
	}
	c.touch(7)
	if e, _ := c.get(1, "a"); e != nil {
		t.Fatal("the entry of a resource being written is served")
	}
	c.settle()
	if e, _ := c.get(1, "a"); e != nil {
		t.Fatal("the entry of a written resource survived its commit")
	}

	// The cache stays within its size.
	for i := range 25 {
		_, gen := c.get(2, fmt.Sprint(i))
		c.put(2, fmt.Sprint(i), &cachedVersion{rid: int64(100 + i)}, gen)
	}
	if len(c.byKey) != 10 || len(c.byRid) != 10 {
		t.Fatalf("%d entries, %d rids; want 10", len(c.byKey), len(c.byRid))
	}
}

// TestVersionCacheConcurrent: one writer updates four resources in turn, every fifth update in a commit
// that fails, while readers read them; a reader never gets a version older than one acknowledged before
// its read began, nor older than one it already got, nor a version whose commit failed, and a body always
// matches its version.
func TestVersionCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	var poison atomic.Bool
	s := openCached(t, Hooks{BeforeCommit: func(int) error {
		if poison.Load() {
			return errors.New("injected commit failure")
		}
		return nil
	}})
	const resources, writes, readers = 4, 400, 4
	var acked [resources]atomic.Int64
	for r := range resources {
		id := fmt.Sprint("c", r)
		if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: id, Body: patientBody(id, "")}); err != nil {
			t.Fatal(err)
		}
		acked[r].Store(1)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	wg.Add(1)
	go func() { // the only writer: a failing commit fails its own write only
		defer wg.Done()
		defer close(done)
		for i := range writes {
			r := i % resources
			id := fmt.Sprint("c", r)
			bad := i%5 == 4
			extra := `,"active":true`
			if bad {
				extra = `,"active":false,"poison":true`
			}
			poison.Store(bad)
			v, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: id, Body: patientBody(id, extra)}, storage.Precondition{})
			poison.Store(false)
			switch {
			case bad && err == nil:
				errs <- fmt.Errorf("write %d succeeded despite its failed commit", i)
				return
			case !bad && err != nil:
				errs <- fmt.Errorf("write %d: %w", i, err)
				return
			case !bad:
				acked[r].Store(v.VersionID)
			}
		}
	}()
	var reads atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen [resources]int64
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				r := n % resources
				floor := acked[r].Load()
				v, err := s.Read(ctx, "Patient", fmt.Sprint("c", r))
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
				body := string(v.Body)
				switch {
				case v.VersionID < floor:
					errs <- fmt.Errorf("read version %d of c%d after version %d was acknowledged", v.VersionID, r, floor)
				case v.VersionID < seen[r]:
					errs <- fmt.Errorf("read version %d of c%d after reading version %d", v.VersionID, r, seen[r])
				case strings.Contains(body, "poison"):
					errs <- fmt.Errorf("read a version whose commit failed: %s", body)
				case !strings.Contains(body, `"versionId":"`+strconv.FormatInt(v.VersionID, 10)+`"`):
					errs <- fmt.Errorf("version %d with the body %s", v.VersionID, body)
				default:
					seen[r] = v.VersionID
					continue
				}
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d reads during %d writes", reads.Load(), writes)
}
