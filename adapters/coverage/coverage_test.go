package coverage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/coverage"
	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/scheduling"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func cov(patient, status, period, extra string) string {
	s := fmt.Sprintf(`{"status":%q,"beneficiary":{"reference":"Patient/%s"},"payor":[{"reference":"Organization/ins1"}]`, status, patient)
	if period != "" {
		s += `,"period":` + period
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func appt(start string, extra string, patients ...string) string {
	var parts []string
	for _, p := range patients {
		parts = append(parts, fmt.Sprintf(`{"actor":{"reference":"Patient/%s"},"status":"accepted"}`, p))
	}
	s := fmt.Sprintf(`{"status":"booked","start":%q,"participant":[%s]`, start, strings.Join(parts, ","))
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

const mri = `"serviceType":[{"coding":[{"system":"http://example.org/service-type","code":"mri"}]}]`

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	for _, p := range []string{"p1", "p2", "p3", "p6"} {
		e.Put("Patient", p, `{"name":[{"family":"`+p+`"}]}`)
	}
	e.Put("Patient", "p4", `{"active":false}`)
	e.Put("Patient", "p5", `{"deceasedDateTime":"2026-06-01"}`)
	e.Put("Coverage", "c1", cov("p1", "active", `{"start":"2026-01-01","end":"2026-12-15"}`, ""))
	e.Put("Coverage", "c2", cov("p1", "cancelled", `{"start":"2026-01-01","end":"2027-12-31"}`, ""))
	e.Put("Coverage", "c3", cov("p2", "active", "", `"extension":[{"url":"`+coverage.PriorAuthRequiredURL+`","valueCodeableConcept":{"coding":[{"system":"http://example.org/service-type","code":"mri"}]}}]`))
	e.Put("Coverage", "c4", cov("p3", "active", `{"start":"2027-01-01"}`, ""))
	e.Put("Coverage", "c5", cov("p1", "active", `{"start":"2026-12-20","end":"2027-06-30"}`, `"extension":[{"url":"`+coverage.PriorAuthRequiredURL+`","valueBoolean":true}]`))
	e.Put("Coverage", "c6", cov("p6", "active", `{"end":"2026-12-01"}`, ""))
	e.Put("Appointment", "ap1", appt("2026-12-10T09:00:00Z", "", "p1"))
	e.Put("Appointment", "ap2", appt("2026-12-18T09:00:00Z", "", "p1"))
	e.Put("Appointment", "ap3", appt("2026-12-22T09:00:00Z", "", "p1"))
	e.Put("Appointment", "ap4", appt("2026-12-23T09:00:00Z", `"extension":[{"url":"`+coverage.PriorAuthURL+`","valueIdentifier":{"system":"urn:payer:auth","value":"A-77"}}]`, "p1"))
	e.Put("Appointment", "ap5", appt("2026-12-05T09:00:00Z", mri, "p2"))
	e.Put("Appointment", "ap6", appt("2026-12-06T09:00:00Z", `"serviceType":[{"coding":[{"system":"http://example.org/service-type","code":"xray"}]}]`, "p2"))
	e.Put("Appointment", "ap7", appt("2026-12-07T09:00:00Z", "", "p3"))
	e.Put("Appointment", "ap8", appt("2026-12-11T09:00:00Z", "", "p2", "p1"))
	e.Put("Appointment", "ap9", appt("2026-12-01T23:30:00-05:00", "", "p6"))
	return e
}

func checks(cs []coverage.AppointmentCheck) string {
	var lines []string
	for _, c := range cs {
		var in, by []string
		for _, p := range c.InForce {
			in = append(in, p.ID)
		}
		for _, p := range c.ApprovalBy {
			by = append(by, p.ID)
		}
		lines = append(lines, fmt.Sprintf("%s %s covered=%v[%s] approval=[%s] approved=%v needs=%v", c.Appointment.ID, c.Patient,
			c.Covered, strings.Join(in, ","), strings.Join(by, ","), c.Approved, c.NeedsApproval))
	}
	return strings.Join(lines, "\n")
}

func TestCheckAppointments(t *testing.T) {
	e := fixture(t)
	s := coverage.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	got, err := s.CheckAppointments(ctx, "", now, now.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ap9 Patient/p6 covered=false[] approval=[] approved=false needs=false", // c6 ended with 1 Dec UTC
		"ap5 Patient/p2 covered=true[c3] approval=[c3] approved=false needs=true",
		"ap6 Patient/p2 covered=true[c3] approval=[] approved=false needs=false",
		"ap7 Patient/p3 covered=false[] approval=[] approved=false needs=false",
		"ap1 Patient/p1 covered=true[c1] approval=[] approved=false needs=false",
		"ap8 Patient/p1 covered=true[c1] approval=[] approved=false needs=false",
		"ap8 Patient/p2 covered=true[c3] approval=[] approved=false needs=false",
		"ap2 Patient/p1 covered=false[] approval=[] approved=false needs=false", // between c1 and c5
		"ap3 Patient/p1 covered=true[c5] approval=[c5] approved=false needs=true",
		"ap4 Patient/p1 covered=true[c5] approval=[c5] approved=true needs=false",
	}, "\n")
	if g := checks(got); g != want {
		t.Errorf("checks:\n%s\nwant:\n%s", g, want)
	}
	// For a coordinator in New York, c6 runs until the end of 1 December New York time (05:00 UTC on
	// 2 December), which covers ap9 at 04:30 UTC.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.CheckAppointments(ctx, "p6", now.In(ny), now.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if g := checks(got); g != "ap9 Patient/p6 covered=true[c6] approval=[] approved=false needs=false" {
		t.Errorf("New York: %s", g)
	}
}

func TestEndingBeforeFollowUps(t *testing.T) {
	e := fixture(t)
	e.Put("CarePlan", "cpA", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[
	  {"detail":{"kind":"Appointment","status":"not-started","description":"Echo","scheduledPeriod":{"start":"2026-12-18"}}},
	  {"detail":{"kind":"Appointment","status":"not-started","description":"Review","scheduledPeriod":{"start":"2026-12-21"}}}]}`)
	e.Put("CarePlan", "cpB", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p3"},"activity":[
	  {"detail":{"kind":"Appointment","status":"not-started","scheduledPeriod":{"start":"2026-12-10"}}}]}`)
	e.Put("CarePlan", "cpC", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p2"},"activity":[
	  {"detail":{"kind":"Appointment","status":"not-started","scheduledPeriod":{"start":"2026-12-15"}}}]}`)
	s := coverage.New(e.Store, e.Registry)
	got, err := s.EndingBeforeFollowUps(context.Background(), "", now, now.AddDate(0, 1, 0), scheduling.FollowUpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].FollowUp.Plan != "cpA" || got[0].FollowUp.Activity != 0 || got[0].Policy.ID != "c1" ||
		!got[0].On.Equal(time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("endings: %+v", got)
	}
}

func TestUninsured(t *testing.T) {
	e := fixture(t)
	s := coverage.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	for _, tc := range []struct {
		patients []string
		at       time.Time
		want     string
	}{
		{nil, now, "Patient/p3"},
		{nil, time.Date(2026, 12, 17, 0, 0, 0, 0, time.UTC), "Patient/p1,Patient/p3,Patient/p6"},
		{[]string{"p4", "Patient/p2", "p4"}, now, "Patient/p4"},
		{[]string{}, now, ""},
	} {
		got, err := s.Uninsured(ctx, tc.patients, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("Uninsured(%v, %s) = %v, want %s", tc.patients, tc.at, got, tc.want)
		}
	}
}
