package worklist_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/storage"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/synth-golden.txt from the current code")

// synthGolden is the worklist of the generated data set at several reference times, as the code before
// the whole-day worklist's optimisation (commit aeb0306) computed it.
const synthGolden = "testdata/synth-golden.txt"

// TestSynthWorklist builds worklists of 120 generated patients (fhir/synth, seed 3) at reference times
// around the data set's today, in several time zones and close to midnight, with a few Tasks stored by
// coordinators (one rescheduled into the day from after it, one out of the day, one completed), and
// compares every Task — id, code, references, owner, priority, due instant, status and the derived
// resource's bytes — with testdata/synth-golden.txt, which the code before the optimisations wrote (go test -run
// TestSynthWorklist -update). It also checks that the whole-day worklist ($worklist?date=D: DueTo the
// end of D) is the full worklist cut at DueTo, so a shortcut for the day cannot drop an item.
func TestSynthWorklist(t *testing.T) {
	e := adaptertest.New(t)
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	e.Synth(synth.Options{Seed: 3, Patients: 120, Today: today})
	w := worklist.New(e.Store, e.Registry)
	ctx := context.Background()

	// Stored Tasks: ids from the full worklist at today, chosen by rank so that the choice is stable (among
	// the kinds of item the golden file was first written with: a new kind adds its lines, and moves none).
	full, err := w.Build(ctx, today, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dayEnd := today.AddDate(0, 0, 1)
	var later, inDay []worklist.Task
	for _, task := range full {
		if task.Code == worklist.TherapeuticDuplication {
			continue
		}
		if task.Due.Before(dayEnd) {
			inDay = append(inDay, task)
		} else {
			later = append(later, task)
		}
	}
	if len(later) < 2 || len(inDay) < 2 {
		t.Fatalf("data set too small: %d tasks after the day, %d in it", len(later), len(inDay))
	}
	store := func(task worklist.Task, status, end string) {
		e.Put("Task", task.ID, fmt.Sprintf(`{"status":%q,"intent":"order","priority":"asap","for":{"reference":%q},"owner":{"reference":"Practitioner/coordinator"},"restriction":{"period":{"end":%q}}}`,
			status, task.Patient, end))
	}
	store(later[len(later)/2], "accepted", "2026-11-25")   // rescheduled into the day
	store(inDay[0], "in-progress", "2026-12-20T10:00:00Z") // rescheduled out of the day
	store(inDay[len(inDay)/2], "completed", "2026-11-25")  // done: not listed by default
	store(later[len(later)-1], "on-hold", "2026-11-25T23:59:59-05:00")

	// The golden file holds for the store as it is (index answers: SearchIndex, batches of 500), for the
	// same store answering the population-wide look-ups by scanning its index (batches of 8, so that the
	// data set's lists of plans and patients are many batches long), and for a store that only searches
	// (the MongoDB store has no index answers: the adapters read and decode bodies) — these two at two of
	// the reference times (today in UTC and in New York), which keeps the test's time under -race.
	blocks := synthWorklists(t, w, today, func(int) bool { return true })
	got := strings.Join(blocks, "")
	for _, v := range []struct {
		name  string
		store fetch.Searcher
	}{{"scan", smallBatches{e.Store}}, {"search-only", searchOnly{e.Store}}} {
		other := synthWorklists(t, worklist.New(v.store, e.Registry), today, func(i int) bool { return i == 0 || i == 5 })
		for i, b := range other {
			if b != "" && b != blocks[i] {
				t.Errorf("the worklists read through the %s store differ from the store's own", v.name)
				diffLines(t, b, blocks[i])
			}
		}
	}
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(synthGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(synthGolden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(synthGolden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("worklists differ from %s", synthGolden)
		diffLines(t, got, string(want))
	}
}

// synthWorklists renders the worklists TestSynthWorklist compares with the golden file, one block per
// reference time (empty for the times pick does not pick).
func synthWorklists(t *testing.T, w *worklist.Builder, today time.Time, pick func(i int) bool) []string {
	ctx := context.Background()
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	var blocks []string
	for i, now := range []time.Time{
		today,
		today.AddDate(0, 0, -1),
		today.AddDate(0, 0, 1),
		today.AddDate(0, 0, 6),
		today.AddDate(0, 0, -12).Add(13 * time.Hour),
		time.Date(2026, 11, 25, 0, 0, 0, 0, newYork),
		time.Date(2026, 11, 24, 23, 59, 0, 0, newYork),
		time.Date(2026, 11, 25, 0, 0, 0, 0, tokyo),
		time.Date(2026, 11, 25, 23, 30, 0, 0, tokyo),
	} {
		if !pick(i) {
			blocks = append(blocks, "")
			continue
		}
		var got strings.Builder
		y, m, d := now.Date()
		end := time.Date(y, m, d+1, 0, 0, 0, 0, now.Location())
		for _, c := range []struct {
			name string
			opt  worklist.Options
		}{
			{"day", worklist.Options{DueTo: end}},
			{"all", worklist.Options{}},
			{"day-all-statuses", worklist.Options{DueTo: end, Statuses: worklist.TaskStatuses()}},
		} {
			tasks, err := w.Build(ctx, now, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&got, "# %s %s: %d tasks\n", now.Format(time.RFC3339), c.name, len(tasks))
			for _, task := range tasks {
				sum := sha256.Sum256(task.Resource)
				if task.Stored { // the stored version carries the time it was written
					sum = sha256.Sum256(nil)
				}
				fmt.Fprintf(&got, "%s %s %s %s reason=%s owner=%s %s %s %s stored=%t %s\n", task.ID, task.Code, task.Patient, task.Focus,
					task.Reason, task.Owner, task.Priority, task.Due.UTC().Format(time.RFC3339Nano), task.Status, task.Stored, hex.EncodeToString(sum[:8]))
			}
			if c.name == "day" {
				// The day's worklist is the full one cut at the day's end.
				all, err := w.Build(ctx, now, worklist.Options{})
				if err != nil {
					t.Fatal(err)
				}
				var cut []string
				for _, task := range all {
					if task.Due.Before(end) {
						cut = append(cut, task.ID)
					}
				}
				var day []string
				for _, task := range tasks {
					day = append(day, task.ID)
				}
				if strings.Join(day, " ") != strings.Join(cut, " ") {
					t.Errorf("%s: the day's worklist (%d tasks) is not the full worklist cut at %s (%d tasks)", now, len(day), end, len(cut))
				}
			}
		}
		blocks = append(blocks, got.String())
	}
	return blocks
}

// diffLines reports the first line where got and want differ.
func diffLines(t *testing.T, got, want string) {
	t.Helper()
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("worklists differ at line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}

// searchOnly is a store that only searches, as the MongoDB store (no SearchIndex, no SearchBatch).
type searchOnly struct{ s fetchStore }

func (s searchOnly) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	return s.s.Search(ctx, q)
}

// smallBatches is the embedded store with batches of 8 values: IndexIn then scans the index for lists of
// more than 32.
type smallBatches struct{ s fetchStore }

func (s smallBatches) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	return s.s.Search(ctx, q)
}

func (s smallBatches) SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error {
	return s.s.(indexStore).SearchIndex(ctx, q, fields, fn)
}

func (smallBatches) SearchBatch() int { return 8 }

type fetchStore interface {
	Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error)
}

type indexStore interface {
	SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
}
