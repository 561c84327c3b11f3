package worklist_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/worklist"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func participants(actors ...string) string {
	var ps []string
	for _, a := range actors {
		ps = append(ps, fmt.Sprintf(`{"actor":{"reference":%q},"status":"accepted"}`, a))
	}
	return `"participant":[` + strings.Join(ps, ",") + `]`
}

func appt(status, start, end, extra string, actors ...string) string {
	s := fmt.Sprintf(`{"status":%q,"start":%q`, status, start)
	if end != "" {
		s += fmt.Sprintf(`,"end":%q`, end)
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "," + participants(actors...) + "}"
}

// fixture holds one finding of every kind (see the expected list in TestBuild).
func fixture(t testing.TB) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	e.Put("Patient", "p1", `{"name":[{"family":"One"}],"generalPractitioner":[{"reference":"Practitioner/gp1"}]}`)
	e.Put("Patient", "p2", `{"name":[{"family":"Two"}]}`)
	e.Put("Patient", "p3", `{"name":[{"family":"Three"}]}`)
	e.Put("Patient", "p4", `{"name":[{"family":"Four"}],"generalPractitioner":[{"reference":"Practitioner/gp4"}]}`)
	e.Put("CarePlan", "cp1", `{"status":"active","intent":"plan","title":"Heart failure","subject":{"reference":"Patient/p1"},
	  "period":{"start":"2026-01-01","end":"2026-11-30"},"author":{"reference":"Practitioner/dr9"},"activity":[
	  {"detail":{"kind":"Appointment","status":"not-started","description":"Cardiology review","scheduledPeriod":{"start":"2026-12-10"},"performer":[{"reference":"Practitioner/dr1"}]}},
	  {"detail":{"kind":"Appointment","status":"scheduled","description":"Echo","scheduledPeriod":{"end":"2026-11-25"}}},
	  {"detail":{"kind":"Task","status":"in-progress","description":"Weight diary","scheduledPeriod":{"start":"2026-11-01","end":"2026-11-20"}}},
	  {"detail":{"kind":"Task","status":"not-started","description":"Diet advice","scheduledPeriod":{"start":"2026-11-28"}}},
	  {"detail":{"kind":"Appointment","status":"not-started","description":"Nurse visit","scheduledPeriod":{"start":"2026-12-20"}}}]}`)
	e.Put("MedicationStatement", "ms1", `{"status":"active","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"723"}],"text":"Amoxicillin"},
	  "subject":{"reference":"Patient/p1"},"informationSource":{"reference":"Practitioner/dr2"}}`)
	e.Put("AllergyIntolerance", "al1", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}],"text":"Penicillin G"},"patient":{"reference":"Patient/p1"}}`)
	e.Put("Coverage", "c1", `{"status":"active","beneficiary":{"reference":"Patient/p1"},"payor":[{"reference":"Organization/ins1"}],"period":{"start":"2026-01-01","end":"2026-12-15"}}`)
	e.Put("Appointment", "ap1", appt("booked", "2026-12-18T09:00:00Z", "", `"description":"Physiotherapy"`, "Patient/p1", "Practitioner/dr1"))
	e.Put("Appointment", "ap2", appt("booked", "2026-12-05T09:00:00Z", "2026-12-05T10:00:00Z", `"description":"GP visit"`, "Patient/p1", "Practitioner/dr1"))
	e.Put("Appointment", "ap3", appt("booked", "2026-12-05T09:30:00Z", "2026-12-05T10:30:00Z", `"description":"Dentist"`, "Patient/p1", "Practitioner/dr3"))
	e.Put("Appointment", "ap4", appt("cancelled", "2026-11-20T10:00:00Z", "", "", "Patient/p1"))
	e.Put("Coverage", "c2", `{"extension":[{"url":"http://careflow.example/fhir/StructureDefinition/prior-authorization-required","valueBoolean":true}],
	  "status":"active","beneficiary":{"reference":"Patient/p2"},"payor":[{"reference":"Organization/ins2"}]}`)
	e.Put("Appointment", "ap5", appt("booked", "2026-12-08T09:00:00Z", "", `"description":"MRI"`, "Patient/p2", "PractitionerRole/pr1"))
	e.Put("Appointment", "ap6", appt("noshow", "2026-11-25T09:00:00Z", "", "", "Patient/p2"))
	e.Put("Appointment", "ap7", appt("cancelled", "2026-11-27T10:00:00Z", "", `"description":"Podiatry"`, "Patient/p3", "Practitioner/dr4"))
	e.Put("CarePlan", "cp4", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p4"}}`)
	return e
}

func line(t worklist.Task) string {
	return fmt.Sprintf("%s %s %s for=%s owner=%s reason=%s due=%s", t.Code, t.Priority, t.Focus, t.Patient, t.Owner, t.Reason,
		t.Due.UTC().Format(time.RFC3339))
}

func lines(ts []worklist.Task) string {
	var out []string
	for _, t := range ts {
		out = append(out, line(t))
	}
	return strings.Join(out, "\n")
}

func TestBuild(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry).WithPageSize(3)
	ctx := context.Background()
	tasks, err := b.Build(ctx, now, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"careplan-overdue-activity routine CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr9 reason= due=2026-11-20T00:00:00Z",
		"follow-up-overdue urgent CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr9 reason= due=2026-11-25T00:00:00Z",
		"rebook-appointment routine Appointment/ap7 for=Patient/p3 owner=Practitioner/dr4 reason= due=2026-11-27T10:00:00Z",
		"careplan-activity-not-started routine CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr9 reason= due=2026-11-28T00:00:00Z",
		"careplan-period-ended routine CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr9 reason= due=2026-11-30T00:00:00Z",
		"allergy-conflict urgent MedicationStatement/ms1 for=Patient/p1 owner=Practitioner/dr2 reason=AllergyIntolerance/al1 due=2026-12-01T12:00:00Z",
		"coverage-gap routine Patient/p4 for=Patient/p4 owner=Practitioner/gp4 reason= due=2026-12-01T12:00:00Z",
		"double-booking urgent Appointment/ap2 for=Patient/p1 owner=Practitioner/dr1 reason=Appointment/ap3 due=2026-12-05T09:00:00Z",
		"approval-required urgent Appointment/ap5 for=Patient/p2 owner=PractitionerRole/pr1 reason=Coverage/c2 due=2026-12-08T09:00:00Z",
		"follow-up-due routine CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr1 reason= due=2026-12-10T00:00:00Z",
		"coverage-ends-before-follow-up routine Coverage/c1 for=Patient/p1 owner=Practitioner/dr9 reason=CarePlan/cp1 due=2026-12-15T00:00:00Z",
		"coverage-gap urgent Appointment/ap1 for=Patient/p1 owner=Practitioner/dr1 reason= due=2026-12-18T09:00:00Z",
		"follow-up-due routine CarePlan/cp1 for=Patient/p1 owner=Practitioner/dr9 reason= due=2026-12-20T00:00:00Z",
	}, "\n")
	if g := lines(tasks); g != want {
		t.Fatalf("worklist:\n%s\nwant:\n%s", g, want)
	}
	// Every Task is a valid R4 Task with the documented shape.
	ids := map[string]bool{}
	for _, task := range tasks {
		e.Validate("Task", task.Resource)
		if ids[task.ID] {
			t.Errorf("duplicate id %s", task.ID)
		}
		ids[task.ID] = true
		var r struct {
			ID, Status, Intent, Priority, Description, AuthoredOn string
			Code                                                  struct {
				Coding []struct{ System, Code, Display string }
			}
			Restriction struct{ Period struct{ End string } }
			For, Focus  struct{ Reference string }
		}
		if err := json.Unmarshal(task.Resource, &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != task.ID || r.Status != "requested" || r.Intent != "order" || r.Priority != task.Priority ||
			r.Code.Coding[0].System != worklist.CodeSystemURL || r.Code.Coding[0].Code != task.Code || r.Code.Coding[0].Display == "" ||
			r.For.Reference != task.Patient || r.Focus.Reference != task.Focus || r.AuthoredOn != "2026-12-01T12:00:00Z" ||
			r.Restriction.Period.End != task.Due.UTC().Format(time.RFC3339) || r.Description != task.Description || task.Description == "" {
			t.Errorf("Task %s: %s", task.ID, task.Resource)
		}
	}
	// Exact ids and descriptions, stable across runs.
	byCode := map[string]worklist.Task{}
	for _, task := range tasks {
		if _, seen := byCode[task.Code]; !seen {
			byCode[task.Code] = task
		}
	}
	for code, want := range map[string]string{
		worklist.AllergyConflict:   "wl-cb50bcb5ec81473b5033a0284353bca2fca20ca0",
		worklist.FollowUpDue:       "wl-3681f328b57c8a826bacd9d6a9590a898ce382d3",
		worklist.DoubleBooking:     "wl-6f0378e078574cb8712c665d2e1549b46b9b968e",
		worklist.RebookAppointment: "wl-ad63af23afea839e8bcb347ce23142be34e0cd10",
	} {
		if got := byCode[code].ID; got != want {
			t.Errorf("%s id %s, want %s", code, got, want)
		}
	}
	for code, want := range map[string]string{
		worklist.AllergyConflict:   "Amoxicillin conflicts with the recorded allergy to Penicillin G (drug class penicillins, criticality high): ask the prescriber to review.",
		worklist.FollowUpDue:       `Book the follow-up "Cardiology review" of care plan "Heart failure", due 2026-12-10.`,
		worklist.DoubleBooking:     `Appointments "GP visit" at 2026-12-05 09:00 +00:00 and "Dentist" at 2026-12-05 09:30 +00:00 overlap: keep one.`,
		worklist.RebookAppointment: `Rebook the cancelled appointment "Podiatry" of 2026-11-27 10:00 +00:00.`,
	} {
		if got := byCode[code].Description; got != want {
			t.Errorf("%s description %q, want %q", code, got, want)
		}
	}
	// A later reference time keeps the ids of the same conditions.
	later, err := b.Build(ctx, now.Add(2*time.Hour), worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	laterIDs := map[string]bool{}
	for _, task := range later {
		laterIDs[task.ID] = true
	}
	for _, task := range tasks {
		if !laterIDs[task.ID] {
			t.Errorf("%s (%s) has another id two hours later", task.ID, line(task))
		}
	}
}

func TestBuildFilters(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry)
	ctx := context.Background()
	codes := func(ts []worklist.Task) string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Code+":"+t.Focus)
		}
		return strings.Join(out, ",")
	}
	for name, tc := range map[string]struct {
		opt  worklist.Options
		want string
	}{
		"owner":                            {worklist.Options{Owner: "Practitioner/dr1"}, "double-booking:Appointment/ap2,follow-up-due:CarePlan/cp1,coverage-gap:Appointment/ap1"},
		"patient":                          {worklist.Options{Patient: "p2"}, "approval-required:Appointment/ap5"},
		"patient in care without coverage": {worklist.Options{Patient: "Patient/p4"}, "coverage-gap:Patient/p4"},
		"due window": {worklist.Options{DueFrom: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), DueTo: time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)},
			"allergy-conflict:MedicationStatement/ms1,coverage-gap:Patient/p4,double-booking:Appointment/ap2,approval-required:Appointment/ap5"},
		"codes": {worklist.Options{Codes: []string{worklist.AllergyConflict, worklist.CarePlanPeriodEnded}},
			"careplan-period-ended:CarePlan/cp1,allergy-conflict:MedicationStatement/ms1"},
		// Without the follow-up codes the overdue Echo is reported as an overdue care plan activity.
		"care plan codes only": {worklist.Options{Codes: []string{worklist.CarePlanOverdueActivity}},
			"careplan-overdue-activity:CarePlan/cp1,careplan-overdue-activity:CarePlan/cp1"},
		"short horizon": {worklist.Options{Patient: "p1", Until: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC),
			Codes: []string{worklist.FollowUpDue, worklist.CoverageGap, worklist.DoubleBooking}}, "double-booking:Appointment/ap2"},
	} {
		got, err := b.Build(ctx, now, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if codes(got) != tc.want {
			t.Errorf("%s: got %s, want %s", name, codes(got), tc.want)
		}
	}
}

func TestCodeSystem(t *testing.T) {
	e := adaptertest.New(t)
	cs := worklist.CodeSystem()
	e.Validate("CodeSystem", cs)
	var r struct {
		URL     string
		Count   int
		Concept []struct{ Code string }
	}
	if err := json.Unmarshal(cs, &r); err != nil {
		t.Fatal(err)
	}
	if r.URL != worklist.CodeSystemURL || r.Count != 19 || len(r.Concept) != 19 || r.Concept[0].Code != worklist.FollowUpDue {
		t.Errorf("CodeSystem: %s", cs)
	}
}
