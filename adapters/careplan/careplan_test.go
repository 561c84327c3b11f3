package careplan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/internal/adaptertest"
)

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	e.Put("CarePlan", "cp1", `{
	  "contained":[
	    {"resourceType":"CareTeam","id":"team","participant":[{"member":{"reference":"Practitioner/dr7"}}]},
	    {"resourceType":"Condition","id":"c1","code":{"text":"Type 2 diabetes"},"subject":{"reference":"Patient/p1"}}
	  ],
	  "status":"active","intent":"plan","title":"Diabetes care","subject":{"reference":"Patient/p1"},
	  "period":{"start":"2026-01-01","end":"2026-12-31"},
	  "author":{"reference":"Practitioner/dr9"},"contributor":[{"reference":"Practitioner/dr8"}],
	  "careTeam":[{"reference":"#team"},{"reference":"CareTeam/ct1"}],
	  "addresses":[{"reference":"#c1"},{"reference":"Condition/c2","display":"Hypertension"}],
	  "activity":[
	    {"detail":{"status":"not-started","description":"Foot exam","scheduledPeriod":{"start":"2026-11-20"},"performer":[{"reference":"Practitioner/dr1"}]}},
	    {"detail":{"status":"in-progress","description":"Diet coaching","scheduledPeriod":{"start":"2026-11-01","end":"2026-11-15"}}},
	    {"detail":{"status":"completed","description":"HbA1c","scheduledPeriod":{"end":"2026-11-10"}}},
	    {"detail":{"status":"scheduled","description":"Eye exam","scheduledTiming":{"event":["2026-12-01T09:00:00Z"]}}},
	    {"detail":{"status":"not-started","description":"Nurse call","scheduledPeriod":{"start":"2026-12-05"}}},
	    {"detail":{"status":"on-hold","description":"Exercise","scheduledPeriod":{"start":"2026-11-01"}}},
	    {"reference":{"reference":"Appointment/a1","display":"Cardiology visit"}}
	  ]}`)
	e.Put("CarePlan", "cp2", `{"status":"active","intent":"plan","description":"Post-op","subject":{"reference":"Patient/p1"},"period":{"end":"2026-11-30"},"author":{"reference":"Practitioner/dr1"}}`)
	e.Put("CarePlan", "cp3", `{"status":"active","intent":"plan","subject":{"reference":"Patient/p2"},"category":[{"text":"Asthma plan"}],"period":{"start":"2026-06-01","end":"2026-12-01"}}`)
	e.Put("CarePlan", "cp4", `{"status":"completed","intent":"plan","subject":{"reference":"Patient/p2"},"period":{"end":"2026-10-01"},"author":{"reference":"Practitioner/dr1"}}`)
	e.Put("CarePlan", "cp5", `{"status":"draft","intent":"plan","subject":{"reference":"Patient/p3"},"author":{"reference":"Practitioner/dr1"}}`)
	return e
}

func planIDs(ps []careplan.Plan) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return strings.Join(out, ",")
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestActivePlans(t *testing.T) {
	e := fixture(t)
	s := careplan.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	for patient, want := range map[string]string{"": "cp1,cp2,cp3", "p1": "cp1,cp2", "Patient/p2": "cp3", "p3": ""} {
		got, err := s.Active(ctx, patient, now)
		if err != nil {
			t.Fatal(err)
		}
		if planIDs(got) != want {
			t.Errorf("Active(%q) = %s, want %s", patient, planIDs(got), want)
		}
	}
	for ref, want := range map[string]string{
		"Practitioner/dr1":            "cp1,cp2", // activity performer of cp1, author of cp2 (cp4, cp5 not active)
		"Practitioner/dr7":            "cp1",     // member of cp1's contained care team
		"Practitioner/dr8":            "cp1",     // contributor
		"CareTeam/ct1":                "cp1",
		"Practitioner/dr9/_history/2": "cp1",
		"Practitioner/nobody":         "",
	} {
		got, err := s.ActiveForParticipant(ctx, ref, now)
		if err != nil {
			t.Fatal(err)
		}
		if planIDs(got) != want {
			t.Errorf("ActiveForParticipant(%q) = %s, want %s", ref, planIDs(got), want)
		}
	}
	got, err := s.Active(ctx, "p1", now)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := got[0]
	var problems []string
	for _, p := range cp1.Addresses {
		problems = append(problems, p.Reference+"="+p.Label)
	}
	if strings.Join(problems, ";") != "#c1=Type 2 diabetes;Condition/c2=Hypertension" {
		t.Errorf("addresses: %v", problems)
	}
	if cp1.Name != "Diabetes care" || cp1.Patient != "Patient/p1" || len(cp1.Activities) != 7 ||
		cp1.Activities[6].Label != "Cardiology visit" || strings.Join(cp1.Activities[6].References, ",") != "Appointment/a1" {
		t.Errorf("cp1 decoded as %+v", cp1)
	}
	if got[1].Name != "Post-op" {
		t.Errorf("cp2 name %q", got[1].Name)
	}
}

func TestActivityIssues(t *testing.T) {
	e := fixture(t)
	s := careplan.New(e.Store, e.Registry)
	got, err := s.ActivityIssues(context.Background(), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, is := range got {
		out = append(out, fmt.Sprintf("%s#%d %s %s since %s", is.Plan.ID, is.Activity.Index, is.Activity.Label, is.Kind, is.Since.Format(time.RFC3339)))
	}
	want := strings.Join([]string{
		"cp1#1 Diet coaching overdue since 2026-11-15T00:00:00Z",
		"cp1#0 Foot exam not-started since 2026-11-20T00:00:00Z",
		"cp1#3 Eye exam overdue since 2026-12-01T09:00:00Z",
	}, "\n")
	if g := strings.Join(out, "\n"); g != want {
		t.Errorf("issues:\n%s\nwant:\n%s", g, want)
	}
}

func TestPeriodEnded(t *testing.T) {
	e := fixture(t)
	s := careplan.New(e.Store, e.Registry)
	ctx := context.Background()
	got, err := s.PeriodEnded(ctx, "", now)
	if err != nil {
		t.Fatal(err)
	}
	// cp3 ends on 1 December, which has not ended at noon UTC.
	if planIDs(got) != "cp2" {
		t.Errorf("UTC: %s, want cp2", planIDs(got))
	}
	// The same instant is already 2 December in Auckland: cp3's last day is over there.
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.PeriodEnded(ctx, "", now.In(auckland))
	if err != nil {
		t.Fatal(err)
	}
	if planIDs(got) != "cp2,cp3" {
		t.Errorf("Auckland: %s, want cp2,cp3", planIDs(got))
	}
	got, err = s.PeriodEnded(ctx, "p2", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("p2: %s", planIDs(got))
	}
}
