package summary_test

import (
	"context"
	"strings"
	"testing"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/summary"
)

const (
	condClinical = `"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"%s"}]}`
	lab          = `"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}]`
	vital        = `"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}]`
)

func clinical(code string) string { return strings.Replace(condClinical, "%s", code, 1) }

// historyFixture is a patient with a whole health history: problems active, past, refuted and addressed by
// a care plan; immunizations; a lab series and vital signs; procedures; recent, old and cancelled
// encounters; family history; a care team with a practitioner, a role and a family caregiver; and
// prescriptions the medication list does and does not reflect. Patient p4 has data of its own that must
// never appear.
func historyFixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	e.Put("Patient", "p3", `{"name":[{"given":["Ana"],"family":"Silva"}]}`)
	e.Put("Patient", "p4", `{"name":[{"given":["Other"],"family":"Person"}]}`)
	sub := `"subject":{"reference":"Patient/p3"}`
	e.Put("Condition", "dm", `{`+clinical("active")+`,"code":{"text":"Type 2 diabetes"},"onsetDateTime":"2019-04-02",`+sub+`,"severity":{"text":"moderate"}}`)
	e.Put("Condition", "htn", `{`+clinical("active")+`,"code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003","display":"Hypertension"}]},`+sub+`}`)
	e.Put("Condition", "flu", `{`+clinical("resolved")+`,"code":{"text":"Influenza"},"onsetDateTime":"2025-01-10","abatementDateTime":"2025-01-20",`+sub+`}`)
	e.Put("Condition", "ruled", `{`+clinical("active")+`,"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"refuted"}]},"code":{"text":"Asthma"},`+sub+`}`)
	e.Put("Condition", "other", `{`+clinical("active")+`,"code":{"text":"Not mine"},"subject":{"reference":"Patient/p4"}}`)
	e.Put("CarePlan", "plan", `{"status":"active","intent":"plan","title":"Diabetes care",`+sub+`,"addresses":[{"reference":"Condition/dm"},{"reference":"Condition/gone","display":"Obesity"}]}`)

	e.Put("CarePlan", "bp-plan", `{"contained":[{"resourceType":"Condition","id":"c","code":{"text":"hypertension"},`+sub+`}],
	  "status":"active","intent":"plan","title":"Blood pressure plan",`+sub+`,"addresses":[{"reference":"#c"}]}`)
	pat := `"patient":{"reference":"Patient/p3"}`
	e.Put("Immunization", "flu25", `{"status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"158","display":"Influenza vaccine"}]},`+pat+`,"occurrenceDateTime":"2025-10-01","protocolApplied":[{"doseNumberPositiveInt":1}]}`)
	e.Put("Immunization", "tdap", `{"status":"not-done","statusReason":{"text":"Patient declined"},"vaccineCode":{"text":"Tdap"},`+pat+`,"occurrenceDateTime":"2026-03-01"}`)
	e.Put("Immunization", "oops", `{"status":"entered-in-error","vaccineCode":{"text":"Wrong"},`+pat+`,"occurrenceDateTime":"2026-03-02"}`)

	hba1c := `"code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c"}]}`
	e.Put("Observation", "a1c-old", `{"status":"final",`+lab+`,`+hba1c+`,`+sub+`,"effectiveDateTime":"2026-05-01","valueQuantity":{"value":8.1,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`)
	e.Put("Observation", "a1c-new", `{"status":"final",`+lab+`,`+hba1c+`,`+sub+`,"effectiveDateTime":"2026-11-02","valueQuantity":{"value":7.2,"unit":"%","system":"http://unitsofmeasure.org","code":"%"},
	  "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H","display":"High"}]}],"referenceRange":[{"low":{"value":4.0,"unit":"%"},"high":{"value":5.6,"unit":"%"}}]}`)
	e.Put("Observation", "a1c-future", `{"status":"final",`+lab+`,`+hba1c+`,`+sub+`,"effectiveDateTime":"2026-12-20","valueQuantity":{"value":6.0,"unit":"%"}}`)
	e.Put("Observation", "a1c-cancel", `{"status":"cancelled",`+lab+`,`+hba1c+`,`+sub+`,"effectiveDateTime":"2026-11-20"}`)
	e.Put("Observation", "bp", `{"status":"final",`+vital+`,"code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}]},`+sub+`,"effectiveDateTime":"2026-11-02T10:00:00Z",
	  "component":[{"code":{"text":"Systolic"},"valueQuantity":{"value":142,"unit":"mmHg"}},{"code":{"text":"Diastolic"},"valueQuantity":{"value":91,"unit":"mmHg"}}]}`)

	e.Put("Procedure", "colo", `{"status":"completed","code":{"text":"Colonoscopy"},`+sub+`,"performedDateTime":"2024-06-01","reasonCode":[{"text":"Screening"}]}`)
	e.Put("Procedure", "planned", `{"status":"preparation","code":{"text":"Knee surgery"},`+sub+`}`)

	imp := `"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"}`
	e.Put("Encounter", "stay", `{"status":"finished",`+imp+`,`+sub+`,"period":{"start":"2026-11-20T08:00:00Z","end":"2026-11-24T15:00:00Z"},"reasonCode":[{"text":"Chest pain"}],
	  "hospitalization":{"dischargeDisposition":{"text":"Home"}},"location":[{"location":{"display":"General Hospital ward 3"}}]}`)
	e.Put("Encounter", "old", `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},`+sub+`,"period":{"start":"2024-01-01T08:00:00Z"}}`)
	e.Put("Encounter", "cancel", `{"status":"cancelled","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},`+sub+`,"period":{"start":"2026-10-01T08:00:00Z"}}`)
	e.Put("Encounter", "long", `{"status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"NONAC"},`+sub+`,"period":{"start":"2025-06-01T08:00:00Z"}}`)
	e.Put("Encounter", "visit", `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},`+sub+`,"period":{"start":"2026-09-01T08:00:00Z","end":"2026-09-01T08:30:00Z"}}`)

	e.Put("FamilyMemberHistory", "mother", `{"status":"completed",`+pat+`,"relationship":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"MTH","display":"mother"}]},
	  "deceasedAge":{"value":71,"unit":"years","system":"http://unitsofmeasure.org","code":"a"},"condition":[{"code":{"text":"Breast cancer"},"onsetAge":{"value":60,"unit":"years","system":"http://unitsofmeasure.org","code":"a"},"contributedToDeath":true}]}`)

	e.Put("Practitioner", "gp", `{"name":[{"prefix":["Dr"],"given":["Lee"],"family":"Wong"}],"telecom":[{"system":"email","value":"wong@clinic.example"},{"system":"phone","value":"555-0100","use":"work"}]}`)
	e.Put("Practitioner", "cardio", `{"name":[{"given":["Mia"],"family":"Berg"}]}`)
	e.Put("PractitionerRole", "cardio-role", `{"practitioner":{"reference":"Practitioner/cardio"},"code":[{"text":"Cardiologist"}],"telecom":[{"system":"phone","value":"555-0200"}]}`)
	e.Put("RelatedPerson", "daughter", `{`+pat+`,"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"DAU","display":"daughter"}]}],"name":[{"given":["Rita"],"family":"Silva"}],"telecom":[{"system":"phone","value":"555-0300","use":"mobile"}]}`)
	e.Put("CareTeam", "team", `{"status":"active","name":"Ana's care team",`+sub+`,"participant":[
	  {"role":[{"text":"Primary care physician"}],"member":{"reference":"Practitioner/gp"}},
	  {"member":{"reference":"PractitionerRole/cardio-role"}},
	  {"role":[{"text":"Family caregiver"}],"member":{"reference":"RelatedPerson/daughter"}},
	  {"role":[{"text":"Pharmacist"}],"member":{"reference":"Practitioner/not-stored","display":"Pat Pharm"}},
	  {"role":[{"text":"Volunteer"}],"member":{"reference":"Device/x","display":"Val"}}]}`)
	e.Put("CareTeam", "old-team", `{"status":"inactive",`+sub+`,"participant":[{"member":{"reference":"Practitioner/gp"}}]}`)

	metformin := `"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6809"}],"text":"Metformin 500 mg"}`
	e.Put("MedicationRequest", "rx-met", `{"status":"active","intent":"order",`+metformin+`,`+sub+`,"authoredOn":"2026-01-01"}`)
	e.Put("MedicationRequest", "rx-lis", `{"status":"active","intent":"order","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"29046"}],"text":"Lisinopril 10 mg"},`+sub+`,"authoredOn":"2026-11-24",
	  "dosageInstruction":[{"text":"Take one tablet every morning"}]}`)
	e.Put("MedicationRequest", "rx-based", `{"status":"active","intent":"order","medicationCodeableConcept":{"text":"Atorvastatin 20 mg"},`+sub+`}`)
	e.Put("MedicationRequest", "rx-prop", `{"status":"active","intent":"proposal","medicationCodeableConcept":{"text":"Aspirin"},`+sub+`}`)
	e.Put("MedicationRequest", "rx-stop", `{"status":"stopped","intent":"order","medicationCodeableConcept":{"text":"Old pill"},`+sub+`}`)
	e.Put("AllergyIntolerance", "pen", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}],"text":"Penicillin G"},"patient":{"reference":"Patient/p3"}}`)
	e.Put("MedicationRequest", "rx-amox", `{"status":"active","intent":"order","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"723"}],"text":"Amoxicillin 500 mg"},`+sub+`,"authoredOn":"2026-11-30"}`)
	e.Put("MedicationStatement", "ms-met", `{"status":"active",`+metformin+`,`+sub+`}`)
	e.Put("MedicationStatement", "ms-ator", `{"status":"active","basedOn":[{"reference":"MedicationRequest/rx-based"}],"medicationCodeableConcept":{"text":"Atorvastatin"},`+sub+`}`)
	return e
}

func TestSummaryHealthHistory(t *testing.T) {
	e := historyFixture(t)
	data, err := summary.New(e.Store, e.Registry).WithPageSize(2).Summary(context.Background(), "p3", now, summary.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Validate("Bundle", data)
	bd, comp := decode(t, data)
	e.Validate("Composition", bd.Entry[0].Resource)
	byURL := map[string]string{}
	for _, en := range bd.Entry[1:] {
		byURL[en.FullURL] = typeAndID(t, en.Resource)
	}
	var got []string
	cited := map[string]bool{comp.Subject.Reference: true}
	for _, s := range comp.Section {
		wellFormed(t, s.Text.Div)
		var refs []string
		for _, en := range s.Entry {
			refs = append(refs, byURL[en.Reference])
			cited[en.Reference] = true
		}
		got = append(got, s.Code.Coding[0].Code+" "+strings.Join(refs, ","))
	}
	want := strings.Join([]string{
		"48765-2 AllergyIntolerance/pen",
		"10160-0 MedicationStatement/ms-ator,MedicationStatement/ms-met,MedicationRequest/rx-amox,MedicationRequest/rx-lis",
		"11450-4 Condition/dm,Condition/htn,CarePlan/plan",
		"11348-0 Condition/flu",
		"11369-6 Immunization/tdap,Immunization/flu25",
		"30954-2 Observation/a1c-new",
		"8716-3 Observation/bp",
		"47519-4 Procedure/colo",
		"46240-8 Encounter/stay,Encounter/visit,Encounter/long",
		"10157-6 FamilyMemberHistory/mother",
		"85847-2 CareTeam/team,Practitioner/gp,PractitionerRole/cardio-role,RelatedPerson/daughter",
		"18776-5 CarePlan/bp-plan,CarePlan/plan",
		"48768-6 ",
		"56446-8 ",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("sections:\n%s\nwant:\n%s", g, want)
	}
	if len(cited) != len(bd.Entry)-1 {
		t.Errorf("%d entries but %d cited", len(bd.Entry)-1, len(cited))
	}
	if strings.Contains(string(data), "Not mine") || strings.Contains(string(data), "Patient/p4") {
		t.Error("another patient's data is in the summary")
	}
	checkNarratives(t, comp, map[string]string{
		"10160-0": "<td>Lisinopril 10 mg</td><td>prescribed</td><td>Take one tablet every morning</td>" +
			"</tr></tbody></table><p><b>Allergy warnings</b></p><ul><li>Amoxicillin 500 mg conflicts with the allergy to Penicillin G (drug class penicillins; criticality high)</li></ul>",
		"11450-4": "<tr><td>Type 2 diabetes</td><td>2019-04-02</td><td>active</td><td>moderate</td><td>Diabetes care</td></tr>" +
			"<tr><td>Hypertension</td><td>—</td><td>active</td><td>—</td><td>Blood pressure plan</td></tr></tbody></table>" +
			"<p>Also stated by the care plans:</p><ul><li>Obesity <i>(addressed by care plan Diabetes care)</i></li></ul>",
		"11348-0": "<td>Influenza</td><td>2025-01-10</td><td>2025-01-20</td><td>resolved</td>",
		"11369-6": "<tr><td>Tdap</td><td>2026-03-01</td><td>—</td><td>not given: Patient declined</td></tr>" +
			"<tr><td>Influenza vaccine</td><td>2025-10-01</td><td>1</td><td>given</td></tr>",
		"30954-2": "<td>Hemoglobin A1c</td><td>7.2 %</td><td>4.0–5.6 %</td><td>High</td><td>2026-11-02</td>",
		"8716-3":  "<td>Blood pressure panel</td><td>Systolic: 142 mmHg; Diastolic: 91 mmHg</td>",
		"47519-4": "<td>Colonoscopy</td><td>2024-06-01</td><td>Screening</td><td>completed</td>",
		"46240-8": "<tr><td>hospital stay</td><td>2026-11-20</td><td>2026-11-24</td><td>Chest pain</td><td>General Hospital ward 3</td><td>Home</td></tr>" +
			"<tr><td>outpatient visit</td><td>2026-09-01</td><td>2026-09-01</td><td>—</td><td>—</td><td>—</td></tr>" +
			"<tr><td>hospital stay</td><td>2025-06-01</td><td>ongoing</td>",
		"10157-6": "<td>mother</td><td>Breast cancer, from age 60 years, contributed to death</td><td>yes, at age 71 years</td>",
		"85847-2": "<tr><td>Ana&#39;s care team</td><td>Lee Wong</td><td>Primary care physician</td><td>phone 555-0100 (work), email wong@clinic.example</td></tr>" +
			"<tr><td>Ana&#39;s care team</td><td>Mia Berg</td><td>Cardiologist</td><td>phone 555-0200</td></tr>" +
			"<tr><td>Ana&#39;s care team</td><td>Rita Silva</td><td>Family caregiver (daughter)</td><td>phone 555-0300 (mobile)</td></tr>" +
			"<tr><td>Ana&#39;s care team</td><td>Pat Pharm</td><td>Pharmacist</td><td>—</td></tr>" +
			"<tr><td>Ana&#39;s care team</td><td>Val</td><td>Volunteer</td><td>—</td></tr>",
	})
}

func typeAndID(t *testing.T, raw []byte) string {
	t.Helper()
	return mustField(t, raw, "resourceType") + "/" + mustField(t, raw, "id")
}
