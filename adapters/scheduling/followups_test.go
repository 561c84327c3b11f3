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

// followUpFixture stores care plans whose activities exercise every follow-up rule.
func followUpFixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	plan := func(id, patient, status string, activities ...string) {
		e.Put("CarePlan", id, fmt.Sprintf(`{"status":%q,"intent":"plan","title":"Plan %s","subject":{"reference":"Patient/%s"},"author":{"reference":"Practitioner/dr9"},"activity":[%s]}`,
			status, id, patient, strings.Join(activities, ",")))
	}
	act := func(kind, status, scheduled string, extra ...string) string {
		s := fmt.Sprintf(`{"kind":%q,"status":%q,"description":"%s %s"`, kind, status, kind, status)
		if scheduled != "" {
			s += "," + scheduled
		}
		s += "}"
		out := `{"detail":` + s
		for _, x := range extra {
			out += "," + x
		}
		return out + "}"
	}
	plan("cp1", "p1", "active",
		act("Appointment", "not-started", `"scheduledPeriod":{"start":"2026-12-10"},"performer":[{"reference":"Practitioner/dr1"}]`),
		act("Appointment", "scheduled", `"scheduledTiming":{"event":["2026-12-20T10:00:00Z"]}`),
		act("Appointment", "completed", `"scheduledPeriod":{"start":"2026-11-01"}`),
		act("MedicationRequest", "not-started", `"scheduledPeriod":{"start":"2026-12-05"}`),
	)
	plan("cp2", "p2", "active",
		act("Appointment", "scheduled", `"scheduledPeriod":{"end":"2026-11-25"}`),
		act("Appointment", "not-started", `"scheduledTiming":{"repeat":{"boundsPeriod":{"start":"2026-12-20","end":"2027-01-10"},"frequency":1,"period":1,"periodUnit":"wk"}}`,
			`"reference":{"reference":"Appointment/a12"}`),
		act("Appointment", "not-started", `"scheduledPeriod":{"start":"2027-02-01"}`),
		act("Appointment", "not-started", `"scheduledPeriod":{"start":"2026-12-03"},"doNotPerform":true`),
		act("Appointment", "not-started", `"scheduledString":"after discharge"`),
		act("Appointment", "not-started", `"scheduledPeriod":{"start":"2026-11-15","end":"2026-11-16"}`, `"outcomeReference":[{"reference":"Appointment/a13"}]`),
		act("Appointment", "in-progress", `"scheduledPeriod":{"start":"2026-12-01","end":"2026-12-01"}`),
	)
	plan("cp3", "p3", "completed", act("Appointment", "not-started", `"scheduledPeriod":{"start":"2026-12-10"}`))
	plan("cp4", "p3", "active", act("Appointment", "not-started", `"scheduledPeriod":{"end":"2026-11-30"}`),
		act("Task", "not-started", `"scheduledPeriod":{"start":"2026-12-05"}`))
	booking := func(id, status, start, plan string) {
		e.Put("Appointment", id, fmt.Sprintf(`{"status":%q,"start":%q,"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]%s}`,
			status, start, plan))
	}
	booking("a11", "booked", "2026-12-12T09:00:00Z", `,"supportingInformation":[{"reference":"CarePlan/cp1"}]`)
	booking("a12", "cancelled", "2026-12-21T09:00:00Z", "")
	booking("a13", "fulfilled", "2026-11-15T09:00:00Z", "")
	booking("a17", "cancelled", "2026-12-21T09:00:00Z", `,"supportingInformation":[{"reference":"CarePlan/cp2"}]`)
	return e
}

func followUpList(fs []scheduling.FollowUp) string {
	var out []string
	for _, f := range fs {
		state := "due"
		if f.Overdue {
			state = "overdue"
		}
		out = append(out, fmt.Sprintf("%s#%d %s %s", f.Plan, f.Activity, state, f.Due.UTC().Format(time.RFC3339)))
	}
	return strings.Join(out, "\n")
}

func TestFollowUps(t *testing.T) {
	e := followUpFixture(t)
	s := scheduling.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	now := mustTime(t, "2026-12-01T12:00:00Z")
	until := mustTime(t, "2027-01-01T00:00:00Z")

	got, err := s.FollowUps(ctx, "", now, until, scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"cp2#0 overdue 2026-11-25T00:00:00Z", // only an end: due on its last day
		"cp4#0 overdue 2026-11-30T00:00:00Z",
		"cp2#6 due 2026-12-01T00:00:00Z", // today, not yet over
		"cp2#1 due 2026-12-20T00:00:00Z", // boundsPeriod; its direct appointment a12 is cancelled
		"cp1#1 due 2026-12-20T10:00:00Z", // a11 (12 Dec) is linked to cp1 but starts before this one
	}, "\n")
	if g := followUpList(got); g != want {
		t.Errorf("follow-ups:\n%s\nwant:\n%s", g, want)
	}
	f := got[4]
	if f.Patient != "Patient/p1" || f.Label != "Appointment scheduled" || f.PlanName != "Plan cp1" || f.Author != "Practitioner/dr9" || f.Status != "scheduled" || f.Kind != "Appointment" {
		t.Errorf("cp1#1 decoded as %+v", f)
	}

	got, err = s.FollowUps(ctx, "", now, until, scheduling.FollowUpOptions{AllKinds: true})
	if err != nil {
		t.Fatal(err)
	}
	// cp1#3 (5 Dec) is covered by a11 (12 Dec), linked to cp1; cp4#1 has no appointment.
	if g := followUpList(got); !strings.Contains(g, "cp2#6 due 2026-12-01T00:00:00Z\ncp4#1 due 2026-12-05T00:00:00Z\ncp2#1") {
		t.Errorf("AllKinds must add cp4#1 only:\n%s", g)
	}

	got, err = s.FollowUps(ctx, "p1", now, until, scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g := followUpList(got); g != "cp1#1 due 2026-12-20T10:00:00Z" {
		t.Errorf("p1: %s", g)
	}
}

// The same instant is 30 November in Los Angeles and 1 December in UTC: a follow-up due by 30 November is
// overdue for a coordinator in UTC and still due for one in Los Angeles.
func TestFollowUpsDayBoundary(t *testing.T) {
	e := followUpFixture(t)
	s := scheduling.New(e.Store, e.Registry)
	ctx := context.Background()
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	instant := mustTime(t, "2026-12-01T04:00:00Z")
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "cp4#0 overdue 2026-11-30T00:00:00Z"},
		{la, "cp4#0 due 2026-11-30T08:00:00Z"},
	} {
		got, err := s.FollowUps(ctx, "p3", instant.In(tc.loc), instant.In(tc.loc).AddDate(0, 0, 7), scheduling.FollowUpOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g := followUpList(got); g != tc.want {
			t.Errorf("%s: got %q, want %q", tc.loc, g, tc.want)
		}
	}
}

// Booking the follow-up (linking the appointment to the plan) or completing the activity removes it.
func TestFollowUpsResolved(t *testing.T) {
	e := followUpFixture(t)
	s := scheduling.New(e.Store, e.Registry)
	ctx := context.Background()
	now := mustTime(t, "2026-12-01T12:00:00Z")
	e.Put("Appointment", "a18", `{"status":"booked","start":"2026-12-20T10:00:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}],"supportingInformation":[{"reference":"CarePlan/cp1/_history/1"}]}`)
	got, err := s.FollowUps(ctx, "p1", now, now.AddDate(0, 1, 0), scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("booked by a versioned reference, still listed: %s", followUpList(got))
	}
	e.Put("CarePlan", "cp4", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p3"},"activity":[{"detail":{"kind":"Appointment","status":"completed","scheduledPeriod":{"end":"2026-11-30"}}}]}`)
	got, err = s.FollowUps(ctx, "p3", now, now.AddDate(0, 1, 0), scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("completed activity still listed: %s", followUpList(got))
	}
}

// TestFollowUpsCoveredByPastVisits: FollowUps reads the plans' recent linked appointments first and the
// others only for plans still uncovered; an old visit still covers a follow-up whose window it is in.
func TestFollowUpsCoveredByPastVisits(t *testing.T) {
	e := adaptertest.New(t)
	plan := func(id string, starts ...string) {
		var acts []string
		for _, s := range starts {
			acts = append(acts, fmt.Sprintf(`{"detail":{"kind":"Appointment","status":"not-started","scheduledPeriod":{"start":%q}}}`, s))
		}
		e.Put("CarePlan", id, fmt.Sprintf(`{"status":"active","intent":"plan","subject":{"reference":"Patient/p5"},"activity":[%s]}`, strings.Join(acts, ",")))
	}
	visit := func(id, status, start, plan string) {
		e.Put("Appointment", id, fmt.Sprintf(`{"status":%q,"start":%q,"participant":[{"actor":{"reference":"Patient/p5"},"status":"accepted"}],"supportingInformation":[{"reference":"CarePlan/%s"}]}`,
			status, start, plan))
	}
	plan("cpA", "2026-11-01")               // covered by a visit a month ago only
	plan("cpB", "2026-11-01", "2026-12-10") // #0 covered by the next visit, #1 by none
	plan("cpC", "2026-11-20")               // covered by a visit 23 hours ago
	plan("cpD", "2026-11-01")               // its only visit was cancelled
	visit("vA", "fulfilled", "2026-11-10T09:00:00Z", "cpA")
	visit("vB1", "fulfilled", "2026-11-05T09:00:00Z", "cpB")
	visit("vB2", "booked", "2026-12-05T09:00:00Z", "cpB")
	visit("vC", "arrived", "2026-11-30T13:00:00Z", "cpC")
	visit("vD", "cancelled", "2026-11-10T09:00:00Z", "cpD")
	s := scheduling.New(e.Store, e.Registry)
	now := mustTime(t, "2026-12-01T12:00:00Z")
	got, err := s.FollowUps(context.Background(), "", now, mustTime(t, "2027-01-01T00:00:00Z"), scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "cpD#0 due 2026-11-01T00:00:00Z\ncpB#1 due 2026-12-10T00:00:00Z"
	if g := followUpList(got); g != want {
		t.Errorf("follow-ups:\n%s\nwant:\n%s", g, want)
	}
}
