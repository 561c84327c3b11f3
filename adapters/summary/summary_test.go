package summary_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/summary"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	e.Put("Patient", "p1", `{"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25"}`)
	e.Put("Patient", "p2", `{"name":[{"text":"Zoë <Öberg> & Co"}]}`)
	e.Put("AllergyIntolerance", "al1", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed"}]},
	  "criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}],"text":"Penicillin G"},"patient":{"reference":"Patient/p1"}}`)
	e.Put("AllergyIntolerance", "al2", `{"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"entered-in-error"}]},
	  "code":{"text":"Latex"},"patient":{"reference":"Patient/p1"}}`)
	e.Put("AllergyIntolerance", "al3", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"resolved"}]},
	  "code":{"text":"Cat dander"},"patient":{"reference":"Patient/p1"}}`)
	e.Put("MedicationStatement", "ms1", `{"status":"active","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"723"}],"text":"Amoxicillin 500 mg"},
	  "subject":{"reference":"Patient/p1"},"dosage":[{"timing":{"repeat":{"frequency":3,"period":1,"periodUnit":"d","boundsDuration":{"value":7,"code":"d"}}},
	  "route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006"}]},"doseAndRate":[{"doseQuantity":{"value":1.50,"unit":"capsule"}}]}]}`)
	e.Put("MedicationStatement", "ms2", `{"status":"stopped","medicationCodeableConcept":{"text":"Old drug"},"subject":{"reference":"Patient/p1"}}`)
	e.Put("CarePlan", "cp1", `{"contained":[{"resourceType":"Condition","id":"c1","code":{"text":"Type 2 diabetes"},"subject":{"reference":"Patient/p1"}}],
	  "status":"active","intent":"plan","title":"Diabetes care","subject":{"reference":"Patient/p1"},"period":{"start":"2026-01-01","end":"2026-12-31"},
	  "addresses":[{"reference":"#c1"}],
	  "activity":[{"detail":{"kind":"Appointment","status":"not-started","description":"Foot exam","scheduledPeriod":{"start":"2026-12-10"}}},
	              {"detail":{"status":"completed","description":"HbA1c"}}]}`)
	e.Put("CarePlan", "cp2", `{"status":"active","intent":"plan","description":"Walking programme","subject":{"reference":"Patient/p1"}}`)
	e.Put("CarePlan", "cp3", `{"status":"revoked","intent":"plan","description":"Old plan","subject":{"reference":"Patient/p1"}}`)
	e.Put("Coverage", "c1", `{"status":"active","type":{"text":"Health insurance"},"beneficiary":{"reference":"Patient/p1"},"payor":[{"reference":"Organization/ins1"}],"period":{"start":"2026-01-01","end":"2026-12-31"}}`)
	e.Put("Coverage", "c2", `{"status":"active","beneficiary":{"reference":"Patient/p1"},"payor":[{"reference":"Organization/ins0"}],"period":{"end":"2025-12-31"}}`)
	e.Put("Appointment", "a1", `{"status":"booked","description":"Foot exam","start":"2026-12-10T09:00:00Z","end":"2026-12-10T09:30:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr1"},"status":"accepted"}]}`)
	e.Put("Appointment", "a2", `{"status":"fulfilled","start":"2026-11-10T09:00:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`)
	return e
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	Timestamp    string `json:"timestamp"`
	Identifier   struct{ System, Value string }
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type composition struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Date         string `json:"date"`
	Subject      struct{ Reference string }
	Section      []struct {
		Title string
		Code  struct {
			Coding []struct{ System, Code string }
		}
		Text  struct{ Status, Div string }
		Entry []struct{ Reference string }
		// EmptyReason is present on empty sections.
		EmptyReason *struct{ Coding []struct{ Code string } } `json:"emptyReason"`
	}
}

func decode(t *testing.T, data []byte) (bundle, composition) {
	t.Helper()
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	var c composition
	if err := json.Unmarshal(b.Entry[0].Resource, &c); err != nil {
		t.Fatal(err)
	}
	return b, c
}

// wellFormed checks that a narrative is a well-formed XHTML div.
func wellFormed(t *testing.T, div string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(div))
	dec.Strict = true
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("narrative is not well-formed XML: %v\n%s", err, div)
		}
		if se, ok := tok.(xml.StartElement); ok && first {
			first = false
			if se.Name.Local != "div" || se.Name.Space != "http://www.w3.org/1999/xhtml" {
				t.Fatalf("narrative root is %v", se.Name)
			}
		}
	}
}

func TestSummary(t *testing.T) {
	e := fixture(t)
	b := summary.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	data, err := b.Summary(ctx, "p1", now, summary.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Validate("Bundle", data)
	bd, comp := decode(t, data)
	e.Validate("Composition", bd.Entry[0].Resource)
	if bd.Type != "document" || bd.Timestamp != "2026-12-01T12:00:00Z" || comp.Date != "2026-12-01T12:00:00Z" ||
		comp.ResourceType != "Composition" || comp.ID != bd.ID || !strings.HasPrefix(bd.Identifier.Value, "urn:uuid:") {
		t.Errorf("bundle header: %+v / %+v", bd, comp)
	}
	// Deterministic: the same data at the same time gives the same bytes, and the ids are stable across runs.
	again, err := b.Summary(ctx, "Patient/p1", now, summary.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Error("two summaries of the same data differ")
	}
	if bd.ID != "ps-c7e7ab9a22499bcde9d2e2803aa2d91f" {
		t.Errorf("document id %s", bd.ID)
	}
	byURL := map[string]string{}
	for _, en := range bd.Entry[1:] {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(en.Resource, &head); err != nil {
			t.Fatal(err)
		}
		byURL[en.FullURL] = head.ResourceType + "/" + head.ID
		if !strings.HasPrefix(en.FullURL, "urn:uuid:") {
			t.Errorf("fullUrl %s", en.FullURL)
		}
	}
	if byURL[comp.Subject.Reference] != "Patient/p1" {
		t.Errorf("subject %s resolves to %s", comp.Subject.Reference, byURL[comp.Subject.Reference])
	}
	var got []string
	cited := map[string]bool{comp.Subject.Reference: true}
	for _, s := range comp.Section {
		wellFormed(t, s.Text.Div)
		var refs []string
		for _, en := range s.Entry {
			target, ok := byURL[en.Reference]
			if !ok {
				t.Errorf("section %s cites %s, which is not in the bundle", s.Title, en.Reference)
			}
			cited[en.Reference] = true
			refs = append(refs, target)
		}
		empty := ""
		if s.EmptyReason != nil {
			empty = " empty:" + s.EmptyReason.Coding[0].Code
		}
		got = append(got, s.Code.Coding[0].Code+" "+strings.Join(refs, ",")+empty)
	}
	want := strings.Join([]string{
		"48765-2 AllergyIntolerance/al1,AllergyIntolerance/al3",
		"10160-0 MedicationStatement/ms1",
		"11450-4 CarePlan/cp1",
		"11348-0  empty:unavailable",
		"11369-6  empty:unavailable",
		"30954-2  empty:unavailable",
		"8716-3  empty:unavailable",
		"47519-4  empty:unavailable",
		"46240-8  empty:unavailable",
		"10157-6  empty:unavailable",
		"85847-2  empty:unavailable",
		"18776-5 CarePlan/cp1,CarePlan/cp2",
		"48768-6 Coverage/c1",
		"56446-8 Appointment/a1",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("sections:\n%s\nwant:\n%s", g, want)
	}
	if len(cited) != len(bd.Entry)-1 {
		t.Errorf("%d entries but %d cited", len(bd.Entry)-1, len(cited))
	}
	wellFormed(t, string(mustField(t, bd.Entry[0].Resource, "text", "div")))
	checkNarratives(t, comp, map[string]string{
		"48765-2": "<td>Penicillin G</td><td>active</td><td>confirmed</td><td>high</td>",
		"10160-0": "<td>Amoxicillin 500 mg</td><td>active</td><td>Take 1.50 capsules by mouth 3 times a day for 7 days</td>" +
			"</tr></tbody></table><p><b>Allergy warnings</b></p><ul><li>Amoxicillin 500 mg conflicts with the allergy to Penicillin G (drug class penicillins; criticality high)</li></ul>",
		"11450-4": "<li>Type 2 diabetes <i>(addressed by care plan Diabetes care)</i></li>",
		"18776-5": "<li>Diabetes care — active, 2026-01-01 to 2026-12-31<ul><li>Foot exam (not-started, from 2026-12-10)</li></ul></li><li>Walking programme — active</li>",
		"48768-6": "<td>Health insurance</td><td>Organization/ins1</td><td>2026-01-01 to 2026-12-31</td><td>yes</td>",
		"56446-8": "<td>2026-12-10 09:00 +00:00</td><td>Foot exam</td><td>booked</td><td>Practitioner/dr1</td>",
		"11369-6": "<p>No immunizations are recorded in careflow.</p>",
		"46240-8": "<p>No encounters since 2025-12-01 are recorded in careflow.</p>",
	})
	// Stored resources are included byte for byte (the decimal 1.50 survives).
	if !bytes.Contains(data, []byte(`"doseQuantity":{"value":1.50,"unit":"capsule"}`)) {
		t.Error("MedicationStatement not included verbatim")
	}
}

// checkNarratives checks that the narrative of the section with each LOINC code contains the text.
func checkNarratives(t *testing.T, comp composition, want map[string]string) {
	t.Helper()
	for code, text := range want {
		found := false
		for _, s := range comp.Section {
			if s.Code.Coding[0].Code != code {
				continue
			}
			found = true
			if !strings.Contains(s.Text.Div, text) {
				t.Errorf("section %s narrative lacks %q:\n%s", code, text, s.Text.Div)
			}
		}
		if !found {
			t.Errorf("no section %s", code)
		}
	}
}

func mustField(t *testing.T, raw json.RawMessage, path ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	return v.(string)
}

func TestSummaryEmptyAndBaseURL(t *testing.T) {
	e := fixture(t)
	b := summary.New(e.Store, e.Registry)
	ctx := context.Background()
	data, err := b.Summary(ctx, "p2", now, summary.Options{BaseURL: "https://careflow.example.org/fhir/"})
	if err != nil {
		t.Fatal(err)
	}
	e.Validate("Bundle", data)
	bd, comp := decode(t, data)
	if len(bd.Entry) != 2 || bd.Entry[1].FullURL != "https://careflow.example.org/fhir/Patient/p2" ||
		bd.Entry[0].FullURL != "https://careflow.example.org/fhir/Composition/"+comp.ID {
		t.Errorf("entries: %+v", bd.Entry)
	}
	if comp.Subject.Reference != "https://careflow.example.org/fhir/Patient/p2" {
		t.Errorf("subject %s", comp.Subject.Reference)
	}
	for _, s := range comp.Section {
		wellFormed(t, s.Text.Div)
		if len(s.Entry) != 0 || s.EmptyReason == nil || s.EmptyReason.Coding[0].Code != "unavailable" {
			t.Errorf("section %s not empty: %+v", s.Title, s)
		}
	}
	// The patient's name is escaped in the narrative.
	if div := mustField(t, bd.Entry[0].Resource, "text", "div"); !strings.Contains(div, "Zoë &lt;Öberg&gt; &amp; Co") {
		t.Errorf("narrative %s", div)
	}
	// A later reference time is a new document.
	later, err := b.Summary(ctx, "p2", now.Add(time.Hour), summary.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bl, _ := decode(t, later); bl.ID == bd.ID {
		t.Error("same document id at a different reference time")
	}
	if _, err := b.Summary(ctx, "nobody", now, summary.Options{}); !errors.Is(err, summary.ErrPatientNotFound) {
		t.Errorf("missing patient: %v", err)
	}
	e.Delete("Patient", "p2")
	if _, err := b.Summary(ctx, "p2", now, summary.Options{}); !errors.Is(err, summary.ErrPatientNotFound) {
		t.Errorf("deleted patient: %v", err)
	}
}
