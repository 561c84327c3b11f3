package worklist_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/worklist"
)

// secondFixture has one patient per second-generation situation, and a negative control for each.
func secondFixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	for _, p := range []string{"d1", "d2", "r1", "r2", "o1", "a1", "a2"} {
		e.Put("Patient", p, `{"name":[{"family":"`+p+`"}]}`)
	}
	stay := func(id, patient, start, end string) {
		e.Put("Encounter", id, `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/`+patient+`"},"period":{"start":"`+start+`","end":"`+end+`"}}`)
	}
	// d1: discharged Friday 27 November, nothing since, a drug started in hospital not on the list.
	stay("stay1", "d1", "2026-11-23T08:00:00Z", "2026-11-27T15:00:00Z")
	e.Put("MedicationRequest", "rx1", `{"status":"active","intent":"order","subject":{"reference":"Patient/d1"},"encounter":{"reference":"Encounter/stay1"},"medicationCodeableConcept":{"text":"Furosemide 40 mg"}}`)
	// d2 (control): called the next Monday and seen on Wednesday.
	stay("stay2", "d2", "2026-11-23T08:00:00Z", "2026-11-27T15:00:00Z")
	e.Put("Communication", "call2", `{"status":"completed","subject":{"reference":"Patient/d2"},"sent":"2026-11-30T10:00:00Z"}`)
	e.Put("Appointment", "visit2", `{"status":"booked","start":"2026-12-02T09:00:00Z","end":"2026-12-02T09:30:00Z","participant":[{"actor":{"reference":"Patient/d2"},"status":"accepted"}]}`)
	// r1: a referral written 20 days ago, never scheduled; r2 (control): scheduled and reported.
	ref := `"category":[{"coding":[{"system":"http://snomed.info/sct","code":"3457005"}]}],"code":{"text":"Cardiology consult"}`
	e.Put("ServiceRequest", "ref1", `{"status":"active","intent":"order",`+ref+`,"subject":{"reference":"Patient/r1"},"authoredOn":"2026-11-11","performer":[{"reference":"Practitioner/cardio"}]}`)
	e.Put("ServiceRequest", "ref2", `{"status":"active","intent":"order",`+ref+`,"subject":{"reference":"Patient/r2"},"authoredOn":"2026-11-01"}`)
	e.Put("Appointment", "refvisit2", `{"status":"fulfilled","start":"2026-11-10T09:00:00Z","end":"2026-11-10T09:30:00Z","basedOn":[{"reference":"ServiceRequest/ref2"}],"participant":[{"actor":{"reference":"Patient/r2"},"status":"accepted"}]}`)
	e.Put("DiagnosticReport", "report2", `{"status":"final","code":{"text":"Consult note"},"basedOn":[{"reference":"ServiceRequest/ref2"}]}`)
	// o1: a call to the daughter planned for 28 November, not made; another already made.
	e.Put("CommunicationRequest", "cr1", `{"status":"active","subject":{"reference":"Patient/o1"},"recipient":[{"reference":"RelatedPerson/daughter"}],"payload":[{"contentString":"Caregiver check-in"}],"occurrenceDateTime":"2026-11-28"}`)
	e.Put("CommunicationRequest", "cr2", `{"status":"active","subject":{"reference":"Patient/o1"},"occurrenceDateTime":"2026-11-25"}`)
	e.Put("Communication", "made", `{"status":"completed","basedOn":[{"reference":"CommunicationRequest/cr2"}],"subject":{"reference":"Patient/o1"}}`)
	// a1: an urgent request waiting past 72 hours; a2: a denial with nothing since, and an approval (control).
	claim := func(id, patient, prio, created string) {
		e.Put("Claim", id, `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
		  "patient":{"reference":"Patient/`+patient+`"},"created":"`+created+`","provider":{"reference":"Organization/clinic"},
		  "priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"`+prio+`"}]},
		  "insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/c"}}],"item":[{"sequence":1,"productOrService":{"text":"MRI knee"}}]}`)
	}
	response := func(id, claimID, outcome, created string) {
		e.Put("ClaimResponse", id, `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
		  "patient":{"reference":"Patient/a2"},"created":"`+created+`","insurer":{"reference":"Organization/payer"},"outcome":"`+outcome+`","request":{"reference":"Claim/`+claimID+`"}}`)
	}
	// a1 is allergic to penicillin: a prescription of amoxicillin conflicts; one the medication list reflects
	// (its statement conflicts instead) and a proposal do not raise a prescription item.
	e.Put("AllergyIntolerance", "pen", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}],"text":"Penicillin G"},"patient":{"reference":"Patient/a1"}}`)
	amox := `"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"723"}],"text":"Amoxicillin 500 mg"}`
	e.Put("MedicationRequest", "rx-amox", `{"status":"active","intent":"order","subject":{"reference":"Patient/a1"},"requester":{"reference":"Practitioner/gp"},`+amox+`}`)
	e.Put("MedicationRequest", "rx-listed", `{"status":"active","intent":"order","subject":{"reference":"Patient/a1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"733"}],"text":"Ampicillin"}}`)
	e.Put("MedicationStatement", "ms-listed", `{"status":"active","basedOn":[{"reference":"MedicationRequest/rx-listed"}],"subject":{"reference":"Patient/a1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"733"}],"text":"Ampicillin"}}`)
	e.Put("MedicationRequest", "rx-proposal", `{"status":"active","intent":"proposal","subject":{"reference":"Patient/a1"},`+amox+`}`)
	claim("pa1", "a1", "stat", "2026-11-27T10:00:00Z")
	claim("pa2", "a2", "normal", "2026-11-01T10:00:00Z")
	response("deny2", "pa2", "error", "2026-11-05T10:00:00Z")
	claim("pa3", "a2", "normal", "2026-10-01T10:00:00Z")
	response("ok3", "pa3", "complete", "2026-10-03T10:00:00Z")
	return e
}

// TestSecondGenerationItems: each second-generation situation yields exactly its Tasks, with focus,
// reason, owner, due date and priority; the negative controls yield none.
func TestSecondGenerationItems(t *testing.T) {
	e := secondFixture(t)
	got, err := worklist.New(e.Store, e.Registry).WithPageSize(2).Build(context.Background(), now, worklist.Options{Codes: []string{
		worklist.PostDischargeFollowUp, worklist.DischargeMedication, worklist.ReferralNotScheduled, worklist.ReferralResultMissing,
		worklist.OutreachDue, worklist.PriorAuthPending, worklist.PriorAuthDenied, worklist.AllergyConflict}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, task := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s reason=%s owner=%s due=%s %s", task.Code, task.Patient, task.Focus, task.Reason, task.Owner,
			task.Due.UTC().Format(time.RFC3339), task.Priority))
		e.Validate("Task", task.Resource)
	}
	want := strings.Join([]string{
		"prior-authorization-denied Patient/a2 Claim/pa2 reason=ClaimResponse/deny2 owner= due=2026-11-05T10:00:00Z urgent",
		"outreach-due Patient/o1 CommunicationRequest/cr1 reason= owner= due=2026-11-28T00:00:00Z routine",
		"prior-authorization-pending Patient/a1 Claim/pa1 reason= owner= due=2026-11-30T10:00:00Z urgent",
		"post-discharge-follow-up Patient/d1 Encounter/stay1 reason= owner= due=2026-12-02T00:00:00Z urgent",
		"discharge-medication-reconciliation Patient/d1 MedicationRequest/rx1 reason=Encounter/stay1 owner= due=2026-12-02T00:00:00Z urgent",
		"post-discharge-follow-up Patient/d1 Encounter/stay1 reason= owner= due=2026-12-04T15:00:00Z urgent",
		"referral-not-scheduled Patient/r1 ServiceRequest/ref1 reason= owner=Practitioner/cardio due=2026-11-25T00:00:00Z routine",
		"allergy-conflict Patient/a1 MedicationRequest/rx-amox reason=AllergyIntolerance/pen owner=Practitioner/gp due=2026-12-01T12:00:00Z urgent",
		"allergy-conflict Patient/a1 MedicationStatement/ms-listed reason=AllergyIntolerance/pen owner= due=2026-12-01T12:00:00Z urgent",
	}, "\n")
	// Ordered by due date, then priority, then id.
	sortedWant := strings.Join(sortByDue(strings.Split(want, "\n")), "\n")
	if g := strings.Join(lines, "\n"); g != sortedWant {
		t.Errorf("second-generation items:\n%s\nwant:\n%s", g, sortedWant)
	}
}

// sortByDue orders expected lines as the worklist does (due date first); lines with the same due date keep
// their order (the test lists them by priority and id already).
func sortByDue(lines []string) []string {
	due := func(l string) string { return l[strings.Index(l, "due=")+4:][:20] }
	out := append([]string(nil), lines...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && due(out[j]) < due(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
