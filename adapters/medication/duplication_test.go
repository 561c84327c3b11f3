package medication_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

const atc = "http://www.whocc.no/atc"

// codings renders a medicationCodeableConcept with codings "system|code|display" and a text.
func codings(text string, cs ...string) string {
	var parts []string
	for _, c := range cs {
		f := strings.SplitN(c, "|", 3)
		if f[0] == "rx" {
			f[0] = rxnorm
		}
		if f[2] == "" {
			parts = append(parts, fmt.Sprintf(`{"system":%q,"code":%q}`, f[0], f[1]))
		} else {
			parts = append(parts, fmt.Sprintf(`{"system":%q,"code":%q,"display":%q}`, f[0], f[1], f[2]))
		}
	}
	return fmt.Sprintf(`"medicationCodeableConcept":{"coding":[%s],"text":%q}`, strings.Join(parts, ","), text)
}

// taking is a MedicationStatement effective from a date, reported by informant ("" for none).
func taking(patient, status, effective, informant, medication string) string {
	src := ""
	if informant != "" {
		src = fmt.Sprintf(`,"informationSource":{"reference":%q}`, informant)
	}
	return fmt.Sprintf(`{"status":%q,%s,"subject":{"reference":"Patient/%s"},"effectiveDateTime":%q%s}`, status, medication, patient, effective, src)
}

// prescribed is a MedicationRequest authored on a date by requester.
func prescribed(patient, status, intent, authored, requester, medication string) string {
	return fmt.Sprintf(`{"status":%q,"intent":%q,%s,"subject":{"reference":"Patient/%s"},"authoredOn":%q,"requester":{"reference":%q}}`,
		status, intent, medication, patient, authored, requester)
}

var (
	ibuprofenSCD = codings("Ibuprofen 600 mg tablet", "rx|197806|ibuprofen 600 MG Oral Tablet")
	naproxenSCD  = codings("Naproxen sodium 220 mg", "rx|849574|naproxen sodium 220 MG Oral Tablet")
	ibuprofenIN  = codings("Ibuprofen", "rx|5640|ibuprofen")
)

func duplicationFixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	return putDuplications(adaptertest.New(t))
}

// putDuplications writes the duplication fixture into e's store.
func putDuplications(e *adaptertest.Env) *adaptertest.Env {
	// p1: OTC ibuprofen (statement, product code) and naproxen prescribed later (request): one finding.
	e.Put("MedicationStatement", "p1-ibu", taking("p1", "active", "2026-10-01", "Patient/p1", ibuprofenSCD))
	e.Put("MedicationRequest", "p1-nap", prescribed("p1", "active", "order", "2026-11-20", "Practitioner/ortho", naproxenSCD))
	// p2: the same drug twice (a statement reflecting the prescription, ingredient vs product code): none.
	e.Put("MedicationStatement", "p2-ibu", taking("p2", "active", "2026-10-01", "", ibuprofenIN))
	e.Put("MedicationRequest", "p2-ibu-rx", prescribed("p2", "active", "order", "2026-09-30", "Practitioner/gp", ibuprofenSCD))
	// p3: a penicillin and an NSAID: none.
	e.Put("MedicationStatement", "p3-amox", taking("p3", "active", "2026-11-01", "", codings("Amoxicillin", "rx|723|amoxicillin")))
	e.Put("MedicationStatement", "p3-ibu", taking("p3", "active", "2026-11-02", "", ibuprofenIN))
	// p4: ATC codes only (no display naming an ingredient of the table), M01AE01 and M01AE02: a finding in
	// the ATC group.
	e.Put("MedicationStatement", "p4-a", taking("p4", "active", "2026-11-01", "", codings("Brufen 400", atc+"|M01AE01|")))
	e.Put("MedicationStatement", "p4-b", taking("p4", "intended", "2026-11-10", "", codings("Naprosyn 250", atc+"|M01AE02|")))
	// p5: ATC M01AE01 and M01AB05 (another level-4 group): none by ATC. (With displays naming ibuprofen and
	// diclofenac, the drug-class table would find them both NSAIDs.)
	e.Put("MedicationStatement", "p5-a", taking("p5", "active", "2026-11-01", "", codings("Brufen 400", atc+"|M01AE01|")))
	e.Put("MedicationStatement", "p5-b", taking("p5", "active", "2026-11-10", "", codings("Voltaren 50", atc+"|M01AB05|")))
	// p6: the second NSAID is stopped, completed, or only proposed: none.
	e.Put("MedicationStatement", "p6-ibu", taking("p6", "active", "2026-10-01", "", ibuprofenIN))
	e.Put("MedicationStatement", "p6-nap", taking("p6", "stopped", "2026-10-05", "", naproxenSCD))
	e.Put("MedicationRequest", "p6-nap-rx", prescribed("p6", "completed", "order", "2026-10-05", "Practitioner/gp", naproxenSCD))
	e.Put("MedicationRequest", "p6-nap-prop", prescribed("p6", "active", "proposal", "2026-11-05", "Practitioner/gp", naproxenSCD))
	// p7: the second NSAID was entered in error: none.
	e.Put("MedicationStatement", "p7-ibu", taking("p7", "active", "2026-10-01", "", ibuprofenIN))
	e.Put("MedicationStatement", "p7-nap", taking("p7", "entered-in-error", "2026-10-05", "", naproxenSCD))
	e.Put("MedicationRequest", "p7-nap-rx", prescribed("p7", "entered-in-error", "order", "2026-10-05", "Practitioner/gp", naproxenSCD))
	// p8: low-dose aspirin and ibuprofen: aspirin does not count for duplication (an interaction, not a
	// duplicate): none.
	e.Put("MedicationStatement", "p8-asa", taking("p8", "active", "2026-01-01", "", codings("Aspirin 81 mg", "rx|243670|aspirin 81 MG Oral Tablet")))
	e.Put("MedicationStatement", "p8-asa2", taking("p8", "active", "2026-01-01", "", codings("Aspirin", "rx|1191|aspirin")))
	e.Put("MedicationStatement", "p8-ibu", taking("p8", "active", "2026-11-01", "", ibuprofenIN))
	// p9: a contained Medication (ibuprofen ingredient) and naproxen on hold: a finding.
	e.Put("MedicationStatement", "p9-ibu", `{"contained":[{"resourceType":"Medication","id":"m","code":{"text":"Advil"},
	  "ingredient":[{"itemCodeableConcept":{"coding":[{"system":"`+rxnorm+`","code":"5640","display":"ibuprofen"}]}}]}],
	  "status":"active","medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/p9"},"effectiveDateTime":"2026-11-15"}`)
	e.Put("MedicationStatement", "p9-nap", taking("p9", "on-hold", "2026-08-01", "", naproxenSCD))
	// p10: RxNorm and ATC on both: one finding (NSAIDs), not a second one for M01AE.
	e.Put("MedicationStatement", "p10-ibu", taking("p10", "active", "2026-10-01", "", codings("Ibuprofen 400", "rx|5640|ibuprofen", atc+"|M01AE01|ibuprofen")))
	e.Put("MedicationRequest", "p10-nap", prescribed("p10", "active", "original-order", "2026-10-02", "PractitionerRole/rheum", codings("Naproxen 500", "rx|7258|naproxen", atc+"|M01AE02|naproxen")))
	// p11: three NSAIDs, one a draft prescription: one finding with three drugs.
	e.Put("MedicationStatement", "p11-ibu", taking("p11", "active", "2026-09-01", "", ibuprofenIN))
	e.Put("MedicationStatement", "p11-nap", taking("p11", "active", "2026-10-01", "", naproxenSCD))
	e.Put("MedicationRequest", "p11-dic", prescribed("p11", "draft", "plan", "2026-11-24", "Practitioner/gp", codings("Diclofenac 50", "rx|3355|diclofenac")))
	// p12: amoxicillin as a statement and its prescription (the same coding), and an unrelated drug: none.
	e.Put("MedicationStatement", "p12-amox", taking("p12", "active", "2026-11-01", "", codings("Amoxicillin 500", "rx|308191|amoxicillin 500 MG Oral Capsule")))
	e.Put("MedicationRequest", "p12-amox-rx", prescribed("p12", "active", "order", "2026-11-01", "Practitioner/gp", codings("Amoxicillin 500", "rx|308191|amoxicillin 500 MG Oral Capsule")))
	e.Put("MedicationStatement", "p12-lis", taking("p12", "active", "2026-01-01", "", codings("Lisinopril", "rx|314076|lisinopril 10 MG Oral Tablet")))
	return e
}

var duplicationsWant = []string{
	"Patient/p1 NSAIDs (NSAIDs (non-steroidal anti-inflammatory drugs)): naproxen=MedicationRequest/p1-nap@2026-11-20[p1-nap] ibuprofen=MedicationStatement/p1-ibu@2026-10-01[p1-ibu]",
	"Patient/p10 NSAIDs (NSAIDs (non-steroidal anti-inflammatory drugs)): naproxen=MedicationRequest/p10-nap@2026-10-02[p10-nap] ibuprofen=MedicationStatement/p10-ibu@2026-10-01[p10-ibu]",
	"Patient/p11 NSAIDs (NSAIDs (non-steroidal anti-inflammatory drugs)): diclofenac=MedicationRequest/p11-dic@2026-11-24[p11-dic] naproxen=MedicationStatement/p11-nap@2026-10-01[p11-nap] ibuprofen=MedicationStatement/p11-ibu@2026-09-01[p11-ibu]",
	"Patient/p4 ATC M01AE (in the ATC group M01AE): Naprosyn 250=MedicationStatement/p4-b@2026-11-10[p4-b] Brufen 400=MedicationStatement/p4-a@2026-11-01[p4-a]",
	"Patient/p9 NSAIDs (NSAIDs (non-steroidal anti-inflammatory drugs)): ibuprofen=MedicationStatement/p9-ibu@2026-11-15[p9-ibu] naproxen=MedicationStatement/p9-nap@2026-08-01[p9-nap]",
}

// TestDuplicationsMongo: the same findings on the MongoDB store (FerretDB), which answers the candidate
// searches (:text, :missing) itself and has no index answers.
func TestDuplicationsMongo(t *testing.T) {
	mongotest.Require(t)
	e := adaptertest.New(t)
	e.Store = mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: e.Registry})
	putDuplications(e)
	got, err := medication.New(e.Store, e.Registry).Duplications(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if g := describe(got); !reflect.DeepEqual(g, duplicationsWant) {
		t.Errorf("duplications\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(duplicationsWant, "\n"))
	}
}

func describe(ds []medication.Duplication) []string {
	var out []string
	for _, d := range ds {
		var drugs []string
		for _, dr := range d.Drugs {
			var recs []string
			for _, r := range dr.Records {
				recs = append(recs, r.ID)
			}
			drugs = append(drugs, fmt.Sprintf("%s=%s/%s@%s[%s]", dr.Name, dr.Medication.Type, dr.Medication.ID,
				dr.Start.Format(time.DateOnly), strings.Join(recs, ",")))
		}
		out = append(out, fmt.Sprintf("%s %s (%s): %s", d.Patient, d.Class, d.Spelled, strings.Join(drugs, " ")))
	}
	return out
}

// TestDuplications: exact findings on hand-written statements and prescriptions, with and without the
// store's index answers (the embedded store has them; a plain Searcher does not).
func TestDuplications(t *testing.T) {
	e := duplicationFixture(t)
	want := duplicationsWant
	ctx := context.Background()
	indexed := &readRecorder{s: e.Store, read: map[string]bool{}}
	plain := &readRecorder{s: e.Store, read: map[string]bool{}}
	for name, s := range map[string]*medication.Service{
		"index": medication.New(indexedRecorder{indexed, batchOf{e.Store.(indexStore), 500}}, e.Registry),
		"plain": medication.New(plain, e.Registry).WithPageSize(2),
	} {
		got, err := s.Duplications(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if g := describe(got); !reflect.DeepEqual(g, want) {
			t.Errorf("%s: duplications\n%s\nwant\n%s", name, strings.Join(g, "\n"), strings.Join(want, "\n"))
		}
		// One patient's are those of every patient's for that patient.
		for _, p := range []string{"p1", "Patient/p4", "p2", "p12"} {
			one, err := s.Duplications(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var wantOne []string
			for _, w := range want {
				if strings.HasPrefix(w, "Patient/"+strings.TrimPrefix(p, "Patient/")+" ") {
					wantOne = append(wantOne, w)
				}
			}
			if g := describe(one); !reflect.DeepEqual(g, wantOne) {
				t.Errorf("%s: duplications of %s: %v, want %v", name, p, g, wantOne)
			}
		}
	}
	// With the index, the records of a patient whose candidates all share a coding (p12's amoxicillin)
	// and non-candidates (lisinopril) are never read; without it the candidates are read, never the others.
	for id, want := range map[string]bool{"MedicationStatement/p12-amox": false, "MedicationRequest/p12-amox-rx": false,
		"MedicationStatement/p12-lis": false, "MedicationStatement/p1-ibu": true, "MedicationRequest/p1-nap": true,
		"MedicationStatement/p9-ibu": true, "MedicationStatement/p2-ibu": true} {
		if indexed.read[id] != want {
			t.Errorf("index: %s read %t, want %t", id, indexed.read[id], want)
		}
	}
	if plain.read["MedicationStatement/p12-lis"] || !plain.read["MedicationRequest/p12-amox-rx"] {
		t.Errorf("plain: read %v", plain.read)
	}
}
