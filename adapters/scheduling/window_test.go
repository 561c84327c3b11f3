package scheduling_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// appointmentSearches counts the Appointment searches a store gets.
type appointmentSearches struct {
	s  fetch.Searcher
	mu sync.Mutex
	n  int
}

func (c *appointmentSearches) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	if q.Type == "Appointment" {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return c.s.Search(ctx, q)
}

// TestWindowShared: in one computation (a memo) the upcoming appointments and the double bookings of the
// same window are read with one search, and each answer is the one their own searches give.
func TestWindowShared(t *testing.T) {
	e := fixture(t)
	// At the window's edges: 24 h before it (double bookings look back a day), a minute before it
	// (Upcoming's search is padded by a minute) and at its end.
	e.Put("Appointment", "w1", appt("booked", "2026-11-30T12:00:00Z", "2026-12-01T13:00:00Z", "Patient/p2"))
	e.Put("Appointment", "w2", appt("checked-in", "2026-12-01T11:59:30Z", "2026-12-01T12:30:00Z", "Patient/p2"))
	e.Put("Appointment", "w3", appt("waitlist", "2026-12-01T12:00:00Z", "", "Patient/p2"))
	e.Put("Appointment", "w4", appt("pending", "2026-12-07T11:59:59.5Z", "", "Patient/p2", "Practitioner/dr1"))
	e.Put("Appointment", "w5", appt("booked", "2026-12-07T12:00:00Z", "", "Patient/p2"))
	ctx := context.Background()
	from, to := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	fresh := scheduling.New(e.Store, e.Registry)
	for _, patient := range []string{"", "p2", "Patient/p1"} {
		rec := &appointmentSearches{s: e.Store}
		shared := scheduling.New(fetch.NewMemo(rec), e.Registry)
		var up, wantUp []scheduling.Appointment
		var ov, wantOv []scheduling.Overlap
		var errUp, errOv error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			up, errUp = shared.Upcoming(ctx, scheduling.Selector{Patient: patient}, from, to)
		}()
		go func() { defer wg.Done(); ov, errOv = shared.DoubleBookings(ctx, patient, from, to) }()
		wg.Wait()
		if errUp != nil || errOv != nil {
			t.Fatal(errUp, errOv)
		}
		if rec.n != 1 {
			t.Errorf("%q: %d Appointment searches, want 1", patient, rec.n)
		}
		var err error
		if wantUp, err = fresh.Upcoming(ctx, scheduling.Selector{Patient: patient}, from, to); err != nil {
			t.Fatal(err)
		}
		if wantOv, err = fresh.DoubleBookings(ctx, patient, from, to); err != nil {
			t.Fatal(err)
		}
		if len(wantUp) == 0 || !reflect.DeepEqual(startsOf(up), startsOf(wantUp)) {
			t.Errorf("%q: upcoming %v, their own search gives %v", patient, startsOf(up), startsOf(wantUp))
		}
		if patient != "p2" && len(wantOv) == 0 {
			t.Errorf("%q: no double booking in the fixture", patient)
		}
		if !reflect.DeepEqual(pairs(ov), pairs(wantOv)) {
			t.Errorf("%q: double bookings %v, their own search gives %v", patient, pairs(ov), pairs(wantOv))
		}
	}
}

func startsOf(as []scheduling.Appointment) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID+"@"+a.Start.UTC().Format(time.RFC3339Nano))
	}
	return out
}

func pairs(os []scheduling.Overlap) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Patient+":"+o.First.ID+"+"+o.Second.ID)
	}
	return out
}
