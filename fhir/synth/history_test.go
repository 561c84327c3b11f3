package synth_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

type resource = map[string]any

func str(v any, path ...string) string {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func codes(v any) []string {
	var out []string
	cc, _ := v.(map[string]any)
	cs, _ := cc["coding"].([]any)
	for _, c := range cs {
		out = append(out, str(c, "code"))
	}
	return out
}

// historyBundle returns a patient's entries with and without the history.
func historyBundle(t *testing.T, o synth.Options, i int) (base, full []entry) {
	t.Helper()
	b, err := synth.Patient(o, i)
	if err != nil {
		t.Fatal(err)
	}
	o.History = true
	h, err := synth.Patient(o, i)
	if err != nil {
		t.Fatal(err)
	}
	if got := coordinationCodes(h.SituationCodes()); slices.Compare(b.SituationCodes(), got) != 0 {
		t.Errorf("patient %d: the history changes the coordination situations: %v → %v", i, b.SituationCodes(), got)
	}
	return entries(t, b.JSON), entries(t, h.JSON)
}

// coordinationCodes drops the situations of the clinical history.
func coordinationCodes(codes []string) []string {
	var out []string
	for _, c := range codes {
		for _, info := range synth.Situations {
			if info.Code == c && !info.History {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestHistoryKeepsCoordinationRecords: with Options.History the coordination records come first and are
// byte for byte those of the set without it (Appointments gain their Appointment.slot, and only that), and
// the history follows them.
func TestHistoryKeepsCoordinationRecords(t *testing.T) {
	for _, o := range seeds {
		for i := range o.Patients {
			base, full := historyBundle(t, o, i)
			if len(full) <= len(base) {
				t.Fatalf("seed %d patient %d: no history (%d entries, %d without)", o.Seed, i, len(full), len(base))
			}
			for k := range base {
				if base[k].FullURL != full[k].FullURL {
					t.Fatalf("seed %d patient %d entry %d: fullUrl differs with the history", o.Seed, i, k)
				}
				if base[k].Request.URL == "Appointment" {
					// The history adds Appointment.slot, and nothing else.
					var a, b resource
					if json.Unmarshal(base[k].Resource, &a) != nil || json.Unmarshal(full[k].Resource, &b) != nil {
						t.Fatal("bad JSON")
					}
					if _, ok := b["slot"]; !ok {
						t.Errorf("seed %d patient %d entry %d: an appointment without its slot", o.Seed, i, k)
					}
					delete(b, "slot")
					if !reflect.DeepEqual(a, b) {
						t.Errorf("seed %d patient %d entry %d: the appointment differs with the history beyond its slot", o.Seed, i, k)
					}
					continue
				}
				if !bytes.Equal(base[k].Resource, full[k].Resource) {
					t.Fatalf("seed %d patient %d entry %d differs with the history", o.Seed, i, k)
				}
			}
		}
	}
}

// TestHistoryIsCoherent checks the clinical story the history tells against the coordination records, on
// every patient of every seed.
func TestHistoryIsCoherent(t *testing.T) {
	types := map[string]int{}
	for _, o := range seeds {
		today := o.Today
		for i := range o.Patients {
			_, full := historyBundle(t, o, i)
			byURL := map[string]resource{}
			var all []resource
			for _, e := range full {
				var r resource
				if err := json.Unmarshal(e.Resource, &r); err != nil {
					t.Fatal(err)
				}
				byURL[e.FullURL] = r
				all = append(all, r)
				types[str(r, "resourceType")]++
			}
			prescribed := map[string]bool{}
			for _, r := range all {
				if str(r, "resourceType") == "MedicationRequest" {
					prescribed[strings.Join(codes(r["medicationCodeableConcept"]), ",")] = true
				}
			}
			inpatient := 0
			for _, r := range all {
				switch str(r, "resourceType") {
				case "Encounter":
					if str(r, "status") != "finished" {
						t.Errorf("seed %d patient %d: encounter %s", o.Seed, i, str(r, "status"))
					}
					end, err := time.Parse(time.RFC3339, str(r, "period", "end"))
					if err != nil || end.After(today.AddDate(0, 0, 1)) {
						t.Errorf("seed %d patient %d: a finished encounter ends %s (today %s)", o.Seed, i, str(r, "period", "end"), today.Format(time.DateOnly))
					}
					switch str(r, "class", "code") {
					case "AMB":
						// A visit is the encounter of a fulfilled appointment of the bundle.
						appts, _ := r["appointment"].([]any)
						if len(appts) != 1 || str(byURL[str(appts[0], "reference")], "status") != "fulfilled" {
							t.Errorf("seed %d patient %d: a visit without its fulfilled appointment: %v", o.Seed, i, appts)
						}
					case "IMP":
						inpatient++
						if str(r, "hospitalization", "dischargeDisposition", "coding") == "" && r["hospitalization"] == nil {
							t.Errorf("seed %d patient %d: a hospital stay without discharge", o.Seed, i)
						}
					}
				case "MedicationStatement":
					// Every prescribed, active medication has its prescription.
					if str(r, "status") == "active" && !slices.Contains(codes(r["category"]), "patientspecified") {
						if c := strings.Join(codes(r["medicationCodeableConcept"]), ","); !prescribed[c] {
							t.Errorf("seed %d patient %d: active medication %s without a MedicationRequest", o.Seed, i, c)
						}
					}
				case "Observation":
					for _, q := range quantities(r) {
						if str(q, "system") != "http://unitsofmeasure.org" || str(q, "code") == "" {
							t.Errorf("seed %d patient %d: observation quantity not in UCUM: %v", o.Seed, i, q)
						}
					}
				case "CareTeam":
					parts, _ := r["participant"].([]any)
					caregiver := false
					for _, p := range parts {
						if m := byURL[str(p, "member", "reference")]; m == nil {
							t.Errorf("seed %d patient %d: care team member %s not in the bundle", o.Seed, i, str(p, "member", "reference"))
						} else if str(m, "resourceType") == "RelatedPerson" {
							caregiver = true
						}
					}
					if !caregiver {
						t.Errorf("seed %d patient %d: the care team has no family caregiver", o.Seed, i)
					}
				case "Communication":
					// An answer refers to the request it answers, which is then completed.
					based, _ := r["basedOn"].([]any)
					if len(based) != 1 || str(byURL[str(based[0], "reference")], "status") != "completed" {
						t.Errorf("seed %d patient %d: a communication that answers no completed request", o.Seed, i)
					}
				}
			}
			if inpatient > 1 {
				t.Errorf("seed %d patient %d: %d hospital stays", o.Seed, i, inpatient)
			}
		}
	}
	for _, typ := range []string{"Organization", "Location", "Practitioner", "PractitionerRole", "RelatedPerson", "CareTeam",
		"Condition", "Encounter", "Observation", "Procedure", "Immunization", "MedicationRequest", "ServiceRequest",
		"CommunicationRequest", "Communication", "FamilyMemberHistory", "Schedule", "Slot", "Claim", "ClaimResponse"} {
		if types[typ] == 0 {
			t.Errorf("no %s in any data set", typ)
		}
	}
}

// quantities returns the valueQuantity of an observation and of its components.
func quantities(r resource) []any {
	var out []any
	if q, ok := r["valueQuantity"]; ok {
		out = append(out, q)
	}
	comps, _ := r["component"].([]any)
	for _, c := range comps {
		if q, ok := c.(map[string]any)["valueQuantity"]; ok {
			out = append(out, q)
		}
	}
	return out
}
