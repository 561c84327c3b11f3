package coverage_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/adapters/coverage"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// coverageSearches records the beneficiaries of every Coverage search.
type coverageSearches struct {
	s    fetch.Searcher
	mu   sync.Mutex
	seen []string
}

func (c *coverageSearches) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	if q.Type == "Coverage" {
		for _, cr := range q.Criteria {
			if cr.Param != nil && cr.Param.Code == "beneficiary" {
				c.mu.Lock()
				for _, v := range cr.Values {
					c.seen = append(c.seen, v.Raw)
				}
				c.mu.Unlock()
			}
		}
	}
	return c.s.Search(ctx, q)
}

// TestCoveragesReadOncePerComputation: within one computation (a memo), a patient's coverages are read
// once however many workflows ask for them, and every answer is the one a fresh read gives.
func TestCoveragesReadOncePerComputation(t *testing.T) {
	e := fixture(t)
	ctx := context.Background()
	rec := &coverageSearches{s: e.Store}
	memo := coverage.New(fetch.NewMemo(rec), e.Registry)
	fresh := coverage.New(e.Store, e.Registry)

	for _, c := range []struct {
		patients []string
		read     string // the beneficiaries searched for
	}{
		{[]string{"Patient/p1", "Patient/p2"}, "Patient/p1 Patient/p2"},
		{[]string{"Patient/p2", "Patient/p3", "Patient/p6", "Patient/p3"}, "Patient/p3 Patient/p6"},
		{[]string{"Patient/p1", "Patient/p6"}, ""},
		{[]string{"p4", "Patient/p1"}, "Patient/p4"},
		{[]string{"Patient/p1/_history/1", "Patient/p6"}, ""}, // normalised to Patient/p1
	} {
		rec.seen = nil
		got, err := memo.Uninsured(ctx, c.patients, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Uninsured(ctx, c.patients, now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: uninsured %v, a fresh read says %v", c.patients, got, want)
		}
		sort.Strings(rec.seen)
		wantRead := strings.Fields(c.read)
		sort.Strings(wantRead)
		if strings.Join(rec.seen, " ") != strings.Join(wantRead, " ") {
			t.Errorf("%v: searched for %v, want %v", c.patients, rec.seen, wantRead)
		}
	}
	// The appointment checks of the same computation read no coverage again.
	rec.seen = nil
	checks, err := memo.CheckAppointments(ctx, "", now, now.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.CheckAppointments(ctx, "", now, now.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) == 0 || len(checks) != len(want) {
		t.Fatalf("%d checks, a fresh read gives %d", len(checks), len(want))
	}
	for i := range checks {
		if checks[i].Appointment.ID != want[i].Appointment.ID || checks[i].Covered != want[i].Covered || checks[i].NeedsApproval != want[i].NeedsApproval ||
			len(checks[i].InForce) != len(want[i].InForce) {
			t.Errorf("check %d: %+v, a fresh read gives %+v", i, checks[i], want[i])
		}
	}
	if len(rec.seen) != 0 {
		t.Errorf("the appointment checks searched coverages of %v again", rec.seen)
	}
}
