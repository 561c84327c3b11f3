package transitions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/transitions"
)

// now is Tuesday 1 December 2026, noon UTC.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func enc(patient, class, status, start, end string) string {
	period := `"period":{"start":"` + start + `"`
	if end != "" {
		period += `,"end":"` + end + `"`
	}
	return `{"status":"` + status + `","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"` + class + `"},` +
		`"subject":{"reference":"Patient/` + patient + `"},` + period + `}}`
}

func appt(patient, status, start string) string {
	return `{"status":"` + status + `","start":"` + start + `","end":"` + start[:11] + `23:00:00Z","participant":[{"actor":{"reference":"Patient/` + patient + `"},"status":"accepted"}]}`
}

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	for _, p := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		e.Put("Patient", p, `{"name":[{"family":"`+p+`"}]}`)
	}
	// p1: discharged Friday 27 November; a visit booked within the week; an unfinished message is no contact.
	e.Put("Encounter", "s1", enc("p1", "IMP", "finished", "2026-11-24T08:00:00Z", "2026-11-27T15:00:00Z"))
	e.Put("Appointment", "a1", appt("p1", "booked", "2026-12-03T09:00:00Z"))
	e.Put("Communication", "c1", `{"status":"in-progress","subject":{"reference":"Patient/p1"},"sent":"2026-11-30T10:00:00Z"}`)
	// p2: emergency visit, discharged Friday 20 November; called on Monday; a visit booked only after the week.
	e.Put("Encounter", "s2", enc("p2", "EMER", "finished", "2026-11-20T01:00:00Z", "2026-11-20T06:00:00Z"))
	e.Put("Communication", "c2", `{"status":"completed","subject":{"reference":"Patient/p2"},"sent":"2026-11-23T10:00:00Z"}`)
	e.Put("Appointment", "a2", appt("p2", "booked", "2026-12-10T09:00:00Z"))
	e.Put("Appointment", "a2x", appt("p2", "cancelled", "2026-11-24T09:00:00Z"))
	// p5's emergency visit led to the admission it is still in: no discharge to follow up yet.
	e.Put("Encounter", "s5er", enc("p5", "EMER", "finished", "2026-11-29T02:00:00Z", "2026-11-29T08:00:00Z"))
	// p3: discharged too long ago; p4: an office visit; p5: still in hospital.
	e.Put("Encounter", "s3", enc("p3", "IMP", "finished", "2026-09-20T08:00:00Z", "2026-10-01T08:00:00Z"))
	e.Put("Encounter", "s4", enc("p4", "AMB", "finished", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z"))
	e.Put("Encounter", "s5", enc("p5", "IMP", "in-progress", "2026-11-29T08:00:00Z", ""))
	// p6: discharged Wednesday 25 November, a telephone follow-up the next day (a contact, not a visit), and
	// medications started in hospital.
	e.Put("Encounter", "s6", enc("p6", "IMP", "finished", "2026-11-21T08:00:00Z", "2026-11-25T12:00:00Z"))
	e.Put("Encounter", "phone6", enc("p6", "VR", "finished", "2026-11-26T10:00:00Z", "2026-11-26T10:10:00Z"))
	rx := func(id, extra string) {
		e.Put("MedicationRequest", id, `{"status":"active","intent":"order","subject":{"reference":"Patient/p6"},`+extra+`}`)
	}
	rx("furosemide", `"encounter":{"reference":"Encounter/s6"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"4603"}],"text":"Furosemide 40 mg"}`)
	rx("based", `"encounter":{"reference":"Encounter/s6"},"medicationCodeableConcept":{"text":"Metoprolol"}`)
	rx("samecode", `"encounter":{"reference":"Encounter/s6"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6809"}]}`)
	rx("authored", `"authoredOn":"2026-11-22T10:00:00Z","medicationCodeableConcept":{"text":"Potassium chloride"}`)
	rx("before", `"authoredOn":"2026-10-01","medicationCodeableConcept":{"text":"Old prescription"}`)
	e.Put("MedicationRequest", "proposal", `{"status":"active","intent":"proposal","subject":{"reference":"Patient/p6"},"encounter":{"reference":"Encounter/s6"},"medicationCodeableConcept":{"text":"Maybe"}}`)
	e.Put("MedicationRequest", "stopped", `{"status":"stopped","intent":"order","subject":{"reference":"Patient/p6"},"encounter":{"reference":"Encounter/s6"},"medicationCodeableConcept":{"text":"Stopped"}}`)
	e.Put("MedicationStatement", "ms-based", `{"status":"active","basedOn":[{"reference":"MedicationRequest/based"}],"subject":{"reference":"Patient/p6"},"medicationCodeableConcept":{"text":"Metoprolol succinate"}}`)
	e.Put("MedicationStatement", "ms-code", `{"status":"active","subject":{"reference":"Patient/p6"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6809"}],"text":"Metformin"}}`)
	return e
}

func TestDischarges(t *testing.T) {
	e := fixture(t)
	s := transitions.New(e.Store, e.Registry).WithPageSize(2)
	ds, err := s.Discharges(context.Background(), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s %s %s contact-due %s contacted=%v visit-due %s visited=%v", d.Patient, d.Encounter, d.Label,
			d.ContactDue.Format(time.RFC3339), d.Contacted, d.VisitDue.Format(time.RFC3339), d.Visited))
	}
	want := strings.Join([]string{
		"Patient/p2 Encounter/s2 emergency visit contact-due 2026-11-25T00:00:00Z contacted=true visit-due 2026-11-27T06:00:00Z visited=false",
		"Patient/p6 Encounter/s6 hospital stay contact-due 2026-11-28T00:00:00Z contacted=true visit-due 2026-12-02T12:00:00Z visited=false",
		"Patient/p1 Encounter/s1 hospital stay contact-due 2026-12-02T00:00:00Z contacted=false visit-due 2026-12-04T15:00:00Z visited=true",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("discharges:\n%s\nwant:\n%s", g, want)
	}
	one, err := s.Discharges(context.Background(), "p6", now)
	if err != nil || len(one) != 1 || one[0].Encounter != "Encounter/s6" {
		t.Errorf("p6 alone: %+v %v", one, err)
	}
	un, err := s.Unreconciled(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, u := range un {
		got = append(got, u.Patient+" "+u.Encounter+" MedicationRequest/"+u.Resource.ID+" "+u.Name+" due "+u.Due.Format(time.RFC3339))
	}
	want = strings.Join([]string{
		"Patient/p6 Encounter/s6 MedicationRequest/authored Potassium chloride due 2026-11-28T00:00:00Z",
		"Patient/p6 Encounter/s6 MedicationRequest/furosemide Furosemide 40 mg due 2026-11-28T00:00:00Z",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("unreconciled:\n%s\nwant:\n%s", g, want)
	}
}

func TestBusinessDaysAfter(t *testing.T) {
	for _, c := range []struct{ from, want string }{
		{"2026-11-27T15:00:00Z", "2026-12-02T00:00:00Z"}, // Friday → Monday, Tuesday
		{"2026-11-26T15:00:00Z", "2026-12-01T00:00:00Z"}, // Thursday → Friday, Monday
		{"2026-11-28T15:00:00Z", "2026-12-02T00:00:00Z"}, // Saturday → Monday, Tuesday
		{"2026-11-24T00:00:00Z", "2026-11-27T00:00:00Z"}, // Tuesday → Wednesday, Thursday
	} {
		from, _ := time.Parse(time.RFC3339, c.from)
		if got := transitions.BusinessDaysAfter(from, 2).Format(time.RFC3339); got != c.want {
			t.Errorf("2 business days after %s: %s, want %s", c.from, got, c.want)
		}
	}
}
