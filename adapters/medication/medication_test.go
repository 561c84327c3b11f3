package medication_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

const (
	rxnorm   = "http://www.nlm.nih.gov/research/umls/rxnorm"
	clinical = `"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"%s"}]}`
	verified = `"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"%s"}]}`
)

func statement(patient, status, medication string) string {
	return fmt.Sprintf(`{"status":%q,"subject":{"reference":"Patient/%s"},%s,"dosage":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},"asNeededCodeableConcept":{"text":"pain"},`+oral+`,"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}]}`,
		status, patient, medication)
}

func concept(system, code, text string) string {
	return fmt.Sprintf(`"medicationCodeableConcept":{"coding":[{"system":%q,"code":%q}],"text":%q}`, system, code, text)
}

func allergy(patient, clinicalStatus, verification, criticality, code string) string {
	var parts []string
	if clinicalStatus != "" {
		parts = append(parts, fmt.Sprintf(clinical, clinicalStatus))
	}
	if verification != "" {
		parts = append(parts, fmt.Sprintf(verified, verification))
	}
	if criticality != "" {
		parts = append(parts, fmt.Sprintf(`"criticality":%q`, criticality))
	}
	parts = append(parts, code, fmt.Sprintf(`"patient":{"reference":"Patient/%s"}`, patient))
	return "{" + strings.Join(parts, ",") + "}"
}

func code(system, c, text string) string {
	return fmt.Sprintf(`"code":{"coding":[{"system":%q,"code":%q}],"text":%q}`, system, c, text)
}

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	// p1
	e.Put("MedicationStatement", "ms1", statement("p1", "active", concept(rxnorm, "723", "Amoxicillin 500 mg capsule")))
	e.Put("MedicationStatement", "ms2", statement("p1", "intended", concept(rxnorm, "5640", "Ibuprofen 400 mg")))
	e.Put("MedicationStatement", "ms3", statement("p1", "completed", concept(rxnorm, "7980", "Penicillin G")))
	e.Put("MedicationStatement", "ms4", `{"contained":[{"resourceType":"Medication","id":"bactrim","code":{"text":"Bactrim"},
	  "ingredient":[{"itemCodeableConcept":{"coding":[{"system":"`+rxnorm+`","code":"10180","display":"sulfamethoxazole"}]}},
	                {"itemCodeableConcept":{"coding":[{"system":"`+rxnorm+`","code":"10829","display":"trimethoprim"}]}}]}],
	  "status":"on-hold","medicationReference":{"reference":"#bactrim"},"subject":{"reference":"Patient/p1"},
	  "dosage":[{"text":"One double-strength tablet twice daily"}]}`)
	e.Put("AllergyIntolerance", "al1", allergy("p1", "active", "confirmed", "high", code(rxnorm, "7980", "Penicillin G")))
	e.Put("AllergyIntolerance", "al2", allergy("p1", "active", "unconfirmed", "low", code("http://snomed.info/sct", "372665008", "NSAIDs")))
	e.Put("AllergyIntolerance", "al3", allergy("p1", "active", "refuted", "high", code("http://snomed.info/sct", "91939003", "Sulfonamide allergy")))
	e.Put("AllergyIntolerance", "al4", allergy("p1", "", "entered-in-error", "high", code("http://snomed.info/sct", "387406002", "Sulfonamide")))
	e.Put("AllergyIntolerance", "al5", allergy("p1", "resolved", "confirmed", "high", code(rxnorm, "10180", "Sulfamethoxazole")))
	e.Put("AllergyIntolerance", "al6", allergy("p1", "active", "", "unable-to-assess",
		`"code":{"text":"Sulfa drugs"},"reaction":[{"substance":{"coding":[{"system":"`+rxnorm+`","code":"10180"}]},"manifestation":[{"text":"Rash"}]}]`))
	e.Put("AllergyIntolerance", "al10", allergy("p1", "inactive", "confirmed", "low", code(rxnorm, "5640", "Ibuprofen")))
	// p2
	e.Put("MedicationStatement", "ms5", statement("p2", "active", concept(rxnorm, "7980", "Penicillin G benzathine")))
	e.Put("MedicationStatement", "ms6", statement("p2", "active", `"medicationReference":{"reference":"Medication/m1","display":"Unknown med"}`))
	e.Put("AllergyIntolerance", "al7", allergy("p2", "active", "confirmed", "high", code(rxnorm, "7980", "Penicillin G")))
	e.Put("AllergyIntolerance", "al8", allergy("p2", "active", "confirmed", "low", code("http://snomed.info/sct", "764146007", "Penicillin")))
	// p3
	e.Put("MedicationStatement", "ms7", statement("p3", "stopped", concept(rxnorm, "1191", "Aspirin")))
	e.Put("MedicationStatement", "ms8", statement("p3", "active", concept(rxnorm, "1191", "Aspirin 81 mg")))
	e.Put("AllergyIntolerance", "al9", allergy("p3", "active", "confirmed", "high", code("http://snomed.info/sct", "256349002", "Peanut")))
	return e
}

func TestActiveList(t *testing.T) {
	e := fixture(t)
	s := medication.New(e.Store, e.Registry).WithPageSize(2)
	got, err := s.Active(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range got {
		lines = append(lines, fmt.Sprintf("%s %s [%s]: %s", m.ID, m.Name, m.Status, m.Instruction))
	}
	want := strings.Join([]string{
		"ms1 Amoxicillin 500 mg capsule [active]: Take 1 tablet by mouth twice a day as needed for pain",
		"ms4 Bactrim [on-hold]: One double-strength tablet twice daily",
		"ms2 Ibuprofen 400 mg [intended]: Take 1 tablet by mouth twice a day as needed for pain",
	}, "\n")
	if g := strings.Join(lines, "\n"); g != want {
		t.Errorf("active list:\n%s\nwant:\n%s", g, want)
	}
	if codes := got[1].Codes; len(codes) != 2 || codes[0].Code != "10180" || codes[1].Code != "10829" {
		t.Errorf("contained Medication ingredients: %+v", codes)
	}
	all, err := s.Active(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "ms1,ms8,ms4,ms2,ms5,ms6" {
		t.Errorf("all active: %v", ids)
	}
}

func TestConflicts(t *testing.T) {
	e := fixture(t)
	s := medication.New(e.Store, e.Registry).WithPageSize(2)
	got, err := s.Conflicts(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s %s×%s %s %s %s|%s→%s|%s %s", c.Patient, c.Medication.ID, c.Allergy.ID,
			c.Match, c.Class, c.MedicationCode.System, c.MedicationCode.Code, c.AllergyCode.System, c.AllergyCode.Code, c.Criticality))
	}
	want := strings.Join([]string{
		"Patient/p1 ms1×al1 drug-class penicillins " + rxnorm + "|723→" + rxnorm + "|7980 high",
		"Patient/p1 ms4×al6 code  " + rxnorm + "|10180→" + rxnorm + "|10180 unable-to-assess",
		"Patient/p1 ms2×al2 drug-class NSAIDs " + rxnorm + "|5640→http://snomed.info/sct|372665008 low",
		"Patient/p2 ms5×al7 code  " + rxnorm + "|7980→" + rxnorm + "|7980 high",
		"Patient/p2 ms5×al8 drug-class penicillins " + rxnorm + "|7980→http://snomed.info/sct|764146007 low",
	}, "\n")
	if g := strings.Join(lines, "\n"); g != want {
		t.Errorf("conflicts:\n%s\nwant:\n%s", g, want)
	}
	p2, err := s.Conflicts(context.Background(), "Patient/p2")
	if err != nil {
		t.Fatal(err)
	}
	if len(p2) != 2 || p2[0].Allergy.ID != "al7" {
		t.Errorf("p2 conflicts: %+v", p2)
	}
	// Refuting al6 removes the Bactrim conflict.
	e.Put("AllergyIntolerance", "al6", allergy("p1", "active", "refuted", "unable-to-assess",
		`"code":{"text":"Sulfa drugs"},"reaction":[{"substance":{"coding":[{"system":"`+rxnorm+`","code":"10180"}]},"manifestation":[{"text":"Rash"}]}]`))
	p1, err := s.Conflicts(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p1) != 2 || p1[0].Medication.ID != "ms1" || p1[1].Medication.ID != "ms2" {
		t.Errorf("p1 after refuting al6: %+v", p1)
	}
	allergies, err := s.Allergies(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	var current []string
	for _, a := range allergies {
		if a.Current() {
			current = append(current, a.ID+"="+a.Label)
		}
	}
	if strings.Join(current, ",") != "al1=Penicillin G,al2=NSAIDs" {
		t.Errorf("current allergies: %v", current)
	}
}

func TestDrugClassTable(t *testing.T) {
	seen := map[string]string{}
	for _, c := range medication.DrugClasses() {
		for _, m := range c.Members {
			if m.System != medication.RxNorm || m.Code == "" || m.Display == "" {
				t.Errorf("%s: bad member %+v", c.Name, m)
			}
			if prev, dup := seen[m.Code]; dup {
				t.Errorf("RxNorm %s in %s and %s", m.Code, prev, c.Name)
			}
			seen[m.Code] = c.Name
		}
		if len(c.AllergyCodes) == 0 {
			t.Errorf("%s has no allergy codes", c.Name)
		}
	}
	for _, code := range []string{"723", "733", "7980", "7984", "10180", "5640", "7258", "1191", "3355"} {
		if seen[code] == "" {
			t.Errorf("RxNorm %s missing", code)
		}
	}
	// The table is a fresh copy: changing it does not change the next one.
	classes := medication.DrugClasses()
	classes[0].Members[0].Code = "x"
	if medication.DrugClasses()[0].Members[0].Code != "723" {
		t.Error("DrugClasses shares its data")
	}
}

// TestProductCodes: statements coded with RxNorm products (SCD), as EHRs send them, are recognised as
// members of a class by the ingredient names in their display.
func TestProductCodes(t *testing.T) {
	s := medication.New(nil, nil)
	cases := []struct {
		display, allergy, class string
	}{
		{"ibuprofen 600 MG Oral Tablet", "5640", "NSAIDs"},
		{"Amoxicillin 500 MG Oral Capsule", "7980", "penicillins"},
		{"sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet", "10180", "sulfonamide antibiotics"},
		{"penicillin V potassium 250 MG Oral Tablet", "723", "penicillins"},
		{"acetaminophen 500 MG Oral Tablet", "5640", ""},
		{"trimethoprim 100 MG Oral Tablet", "10180", ""},
	}
	for _, c := range cases {
		m := medication.Medication{Patient: "Patient/p", Codes: []fhirread.Coding{{System: rxnorm, Code: "999999", Display: c.display}}}
		a := medication.Allergy{Patient: "Patient/p", Codes: []fhirread.Coding{{System: rxnorm, Code: c.allergy}}}
		got, ok := s.Check(m, a)
		if ok != (c.class != "") || got.Class != c.class {
			t.Errorf("%s vs allergy %s: %v %q, want class %q", c.display, c.allergy, ok, got.Class, c.class)
		}
	}
}

// readRecorder records the resources a store's searches return.
type readRecorder struct {
	s    fetch.Searcher
	mu   sync.Mutex
	read map[string]bool
}

func (r *readRecorder) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	page, err := r.s.Search(ctx, q)
	if err == nil {
		r.mu.Lock()
		for _, v := range page.Versions {
			r.read[v.Type+"/"+v.ID] = true
		}
		r.mu.Unlock()
	}
	return page, err
}

// TestConflictsReadsAllergicPatientsOnly: the population's conflicts read the statements of patients with
// a current allergy only — and stay right for patients named by absolute references, which are read the
// long way.
func TestConflictsReadsAllergicPatientsOnly(t *testing.T) {
	e := fixture(t)
	e.Put("MedicationStatement", "ms9", statement("p4", "active", concept(rxnorm, "723", "Amoxicillin 500 mg capsule")))
	e.Put("AllergyIntolerance", "al11", allergy("p4", "resolved", "confirmed", "high", code(rxnorm, "7980", "Penicillin G")))
	rec := &readRecorder{s: e.Store, read: map[string]bool{}}
	got, err := medication.New(rec, e.Registry).Conflicts(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("%d conflicts, want 5", len(got))
	}
	if rec.read["MedicationStatement/ms9"] || !rec.read["MedicationStatement/ms8"] {
		t.Errorf("statements read: %v", rec.read)
	}
	abs := "https://other.example/fhir/Patient/p9"
	e.Put("MedicationStatement", "ms10", strings.Replace(statement("x", "active", concept(rxnorm, "7980", "Penicillin G")), "Patient/x", abs, 1))
	e.Put("AllergyIntolerance", "al12", strings.Replace(allergy("x", "active", "confirmed", "high", code(rxnorm, "7980", "Penicillin G")), "Patient/x", abs, 1))
	got, err = medication.New(e.Store, e.Registry).Conflicts(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[5].Patient != abs || got[5].Medication.ID != "ms10" || got[5].Allergy.ID != "al12" {
		t.Errorf("conflicts with an absolute patient reference: %d, last %+v", len(got), got[len(got)-1])
	}
}
