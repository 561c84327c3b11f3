package scheduling_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/scheduling"
)

// appt returns an Appointment body.
func appt(status, start, end string, actors ...string) string {
	var parts []string
	for _, a := range actors {
		st := "accepted"
		if s, ok := strings.CutSuffix(a, "!declined"); ok {
			a, st = s, "declined"
		}
		parts = append(parts, fmt.Sprintf(`{"actor":{"reference":%q},"status":%q}`, a, st))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"status":%q`, status)
	if start != "" {
		fmt.Fprintf(&b, `,"start":%q`, start)
	}
	if end != "" {
		fmt.Fprintf(&b, `,"end":%q`, end)
	}
	fmt.Fprintf(&b, `,"participant":[%s]}`, strings.Join(parts, ","))
	return b.String()
}

// fixture stores the scheduling test data set.
func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	for _, p := range []string{"p1", "p2", "p3"} {
		e.Put("Patient", p, `{"name":[{"family":"Test","given":["`+p+`"]}]}`)
	}
	// p1: a1 and a2 overlap; a9 (no end) starts when a1 ends, inside a2; a8 is entered-in-error.
	e.Put("Appointment", "a1", appt("booked", "2026-12-02T09:00:00Z", "2026-12-02T09:30:00Z", "Patient/p1", "Practitioner/dr1", "Location/loc1"))
	e.Put("Appointment", "a2", appt("booked", "2026-12-02T09:15:00Z", "2026-12-02T09:45:00Z", "Patient/p1", "Practitioner/dr2"))
	e.Put("Appointment", "a9", appt("arrived", "2026-12-02T09:30:00Z", "", "Patient/p1", "Location/loc1"))
	e.Put("Appointment", "a8", appt("entered-in-error", "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z", "Patient/p1"))
	// p1 cancelled on 3 Dec, nothing booked after it.
	e.Put("Appointment", "a3", appt("cancelled", "2026-12-03T10:00:00Z", "2026-12-03T10:30:00Z", "Patient/p1", "Practitioner/dr1"))
	// p2 missed 28 Nov and is rebooked on 5 Dec.
	e.Put("Appointment", "a4", appt("noshow", "2026-11-28T10:00:00Z", "2026-11-28T10:30:00Z", "Patient/p2"))
	e.Put("Appointment", "a5", appt("booked", "2026-12-05T10:00:00Z", "2026-12-05T10:30:00Z", "Patient/p2", "Practitioner/dr1"))
	// p3 cancelled 29 Nov; its only other appointments are earlier, or declined by p3.
	e.Put("Appointment", "a6", appt("cancelled", "2026-11-29T10:00:00Z", "", "Patient/p3"))
	e.Put("Appointment", "a7", appt("fulfilled", "2026-11-20T10:00:00Z", "", "Patient/p3"))
	e.Put("Appointment", "a14", appt("booked", "2026-12-06T10:00:00Z", "", "Patient/p3!declined", "Practitioner/dr1"))
	// 23:30 in New York on 1 Dec is 04:30 UTC on 2 Dec.
	e.Put("Appointment", "a10", appt("booked", "2026-12-01T23:30:00-05:00", "2026-12-02T00:15:00-05:00", "Patient/p2", "Practitioner/dr2"))
	// proposed appointment without a start: never listed.
	e.Put("Appointment", "a15", appt("proposed", "", "", "Patient/p2"))
	// A second page's worth of cancelled appointments of p2 before 28 Nov, all rebooked by a5.
	for i := 0; i < 3; i++ {
		e.Put("Appointment", fmt.Sprintf("old%d", i), appt("cancelled", fmt.Sprintf("2026-11-2%dT08:00:00Z", i), "", "Patient/p2"))
	}
	return e
}

func ids(as []scheduling.Appointment) string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return strings.Join(out, ",")
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestUpcoming(t *testing.T) {
	e := fixture(t)
	s := scheduling.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	dec1NY := time.Date(2026, 12, 1, 0, 0, 0, 0, ny)
	cases := []struct {
		name     string
		sel      scheduling.Selector
		from, to time.Time
		want     string
	}{
		{"all of December", scheduling.Selector{}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a10,a1,a2,a9,a5,a14"},
		{"patient p1", scheduling.Selector{Patient: "p1"}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a1,a2,a9"},
		{"patient reference", scheduling.Selector{Patient: "Patient/p2"}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a10,a5"},
		{"actor dr1", scheduling.Selector{Actor: "Practitioner/dr1"}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a1,a5,a14"},
		{"location loc1", scheduling.Selector{Location: "Location/loc1"}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a1,a9"},
		{"patient and actor", scheduling.Selector{Patient: "p1", Actor: "Practitioner/dr2"}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"), "a2"},
		{"1 Dec in UTC", scheduling.Selector{}, mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2026-12-02T00:00:00Z"), ""},
		{"1 Dec in New York", scheduling.Selector{}, dec1NY, dec1NY.AddDate(0, 0, 1), "a10"},
		{"2 Dec in UTC", scheduling.Selector{}, mustTime(t, "2026-12-02T00:00:00Z"), mustTime(t, "2026-12-03T00:00:00Z"), "a10,a1,a2,a9"},
		{"window end is exclusive", scheduling.Selector{}, mustTime(t, "2026-12-02T04:30:00Z"), mustTime(t, "2026-12-02T09:00:00Z"), "a10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Upcoming(ctx, tc.sel, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Errorf("got %q, want %q", ids(got), tc.want)
			}
		})
	}
	got, err := s.Upcoming(ctx, scheduling.Selector{Patient: "p1"}, mustTime(t, "2026-12-02T00:00:00Z"), mustTime(t, "2026-12-03T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	a1 := got[0]
	if a1.End.Sub(a1.Start) != 30*time.Minute || strings.Join(a1.Practitioners, ",") != "Practitioner/dr1" ||
		strings.Join(a1.Locations, ",") != "Location/loc1" || strings.Join(a1.Patients, ",") != "Patient/p1" || a1.Description != "Appointment" {
		t.Errorf("a1 decoded as %+v", a1)
	}
	if a9 := got[2]; !a9.End.Equal(a9.Start) {
		t.Errorf("a9 without end: End %v, want its start", a9.End)
	}
}

func TestRebooking(t *testing.T) {
	e := fixture(t)
	s := scheduling.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	got, err := s.Rebooking(ctx, "", mustTime(t, "2026-11-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range got {
		out = append(out, r.Appointment.ID+"/"+r.Patient)
	}
	// a6: p3's only later appointment (a14) was declined by p3; a3: nothing after it for p1. a4 and old*
	// are followed by a5.
	if want := "a6/Patient/p3,a3/Patient/p1"; strings.Join(out, ",") != want {
		t.Errorf("got %s, want %s", strings.Join(out, ","), want)
	}
	got, err = s.Rebooking(ctx, "p1", mustTime(t, "2026-11-01T00:00:00Z"), mustTime(t, "2026-12-03T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("a3 starts at the window end and must not be listed: %+v", got)
	}
	// Booking p1 after the cancellation resolves it.
	e.Put("Appointment", "a16", appt("booked", "2026-12-10T10:00:00Z", "", "Patient/p1"))
	got, err = s.Rebooking(ctx, "Patient/p1", mustTime(t, "2026-11-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("p1 rebooked, still listed: %+v", got)
	}
}

func TestDoubleBookings(t *testing.T) {
	e := fixture(t)
	s := scheduling.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	got, err := s.DoubleBookings(ctx, "", mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range got {
		out = append(out, o.Patient+":"+o.First.ID+"+"+o.Second.ID)
	}
	// a1 (09:00–09:30) overlaps a2 (09:15–09:45); a9 (09:30, no end) touches a1's end but is inside a2;
	// a8 is entered-in-error.
	if want := "Patient/p1:a1+a2,Patient/p1:a2+a9"; strings.Join(out, ",") != want {
		t.Errorf("got %s, want %s", strings.Join(out, ","), want)
	}
	// The same start instant overlaps even without ends.
	e.Put("Appointment", "b1", appt("booked", "2026-12-07T08:00:00Z", "", "Patient/p3"))
	e.Put("Appointment", "b2", appt("checked-in", "2026-12-07T08:00:00Z", "", "Patient/p3"))
	// An appointment that started the day before the window and is still running overlaps one in it.
	e.Put("Appointment", "b3", appt("booked", "2026-11-30T23:00:00Z", "2026-12-01T02:00:00Z", "Patient/p2"))
	e.Put("Appointment", "b4", appt("booked", "2026-12-01T01:00:00Z", "2026-12-01T01:30:00Z", "Patient/p2"))
	got, err = s.DoubleBookings(ctx, "p3", mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].First.ID != "b1" || got[0].Second.ID != "b2" {
		t.Errorf("p3: %+v", got)
	}
	got, err = s.DoubleBookings(ctx, "p2", mustTime(t, "2026-12-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].First.ID != "b3" || got[0].Second.ID != "b4" {
		t.Errorf("p2: %+v", got)
	}
}
