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

// TestTherapeuticDuplicationTask: a duplication becomes one urgent Task due at the reference time — focus
// the newest drug, reason the next, the others in Task.input, owner the prescriber — with an id that does
// not depend on the reference time; the same drug as a statement and a prescription raises none.
func TestTherapeuticDuplicationTask(t *testing.T) {
	e := adaptertest.New(t)
	const rx = "http://www.nlm.nih.gov/research/umls/rxnorm"
	med := func(code, display, text string) string {
		return fmt.Sprintf(`"medicationCodeableConcept":{"coding":[{"system":%q,"code":%q,"display":%q}],"text":%q}`, rx, code, display, text)
	}
	ibuprofen := med("197806", "ibuprofen 600 MG Oral Tablet", "Ibuprofen 600 mg tablet")
	naproxen := med("849574", "naproxen sodium 220 MG Oral Tablet", "Naproxen sodium 220 mg")
	// n1: OTC ibuprofen the patient reports, naproxen prescribed by the orthopaedist later.
	e.Put("MedicationStatement", "n1-ibu", `{"status":"active",`+ibuprofen+`,"subject":{"reference":"Patient/n1"},"effectiveDateTime":"2026-09-15","informationSource":{"reference":"Patient/n1"}}`)
	e.Put("MedicationRequest", "n1-nap", `{"status":"active","intent":"order",`+naproxen+`,"subject":{"reference":"Patient/n1"},"authoredOn":"2026-11-20T10:00:00Z","requester":{"reference":"Practitioner/ortho"}}`)
	// n2: three NSAIDs; the newest (a draft) has no requester, the next one's informant is a practitioner.
	e.Put("MedicationStatement", "n2-ibu", `{"status":"active",`+ibuprofen+`,"subject":{"reference":"Patient/n2"},"effectiveDateTime":"2026-06-01"}`)
	e.Put("MedicationStatement", "n2-nap", `{"status":"active",`+naproxen+`,"subject":{"reference":"Patient/n2"},"effectiveDateTime":"2026-10-01","informationSource":{"reference":"PractitionerRole/gp-role"}}`)
	e.Put("MedicationRequest", "n2-dic", `{"status":"draft","intent":"order",`+med("3355", "diclofenac", "Diclofenac 50 mg")+`,"subject":{"reference":"Patient/n2"},"authoredOn":"2026-11-24"}`)
	// n3 (control): ibuprofen on the list and its prescription — the same drug.
	e.Put("MedicationStatement", "n3-ibu", `{"status":"active",`+med("5640", "ibuprofen", "Ibuprofen")+`,"subject":{"reference":"Patient/n3"},"effectiveDateTime":"2026-09-15"}`)
	e.Put("MedicationRequest", "n3-ibu-rx", `{"status":"active","intent":"order",`+ibuprofen+`,"subject":{"reference":"Patient/n3"},"authoredOn":"2026-09-15","requester":{"reference":"Practitioner/gp"}}`)

	ctx := context.Background()
	w := worklist.New(e.Store, e.Registry)
	var first []worklist.Task
	for i, at := range []time.Time{now, now.Add(36 * time.Hour)} {
		got, err := w.Build(ctx, at, worklist.Options{Codes: []string{worklist.TherapeuticDuplication}})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, task := range got {
			e.Validate("Task", task.Resource)
			lines = append(lines, fmt.Sprintf("%s %s %s reason=%s owner=%s due=%s %s: %s", task.Code, task.Patient, task.Focus, task.Reason,
				task.Owner, task.Due.UTC().Format(time.RFC3339), task.Priority, task.Description))
		}
		due := at.UTC().Format(time.RFC3339)
		want := []string{
			"therapeutic-duplication Patient/n1 MedicationRequest/n1-nap reason=MedicationStatement/n1-ibu owner=Practitioner/ortho due=" + due +
				" urgent: Ibuprofen and naproxen are both NSAIDs (non-steroidal anti-inflammatory drugs): check with the prescriber whether both are intended.",
			"therapeutic-duplication Patient/n2 MedicationRequest/n2-dic reason=MedicationStatement/n2-nap owner=PractitionerRole/gp-role due=" + due +
				" urgent: Ibuprofen, naproxen and diclofenac are all NSAIDs (non-steroidal anti-inflammatory drugs): check with the prescriber whether all are intended.",
		}
		if g := strings.Join(lines, "\n"); g != strings.Join(sortByID(got, want), "\n") {
			t.Errorf("at %s:\n%s\nwant:\n%s", at, g, strings.Join(want, "\n"))
		}
		if i == 0 {
			first = got
			continue
		}
		for k := range got {
			if k < len(first) && got[k].ID != first[k].ID {
				t.Errorf("the id of %s changed with the reference time: %s, then %s", got[k].Focus, first[k].ID, got[k].ID)
			}
		}
	}
	// The id is the scheme's: code, focus, the other drugs' records sorted, no date.
	for _, task := range first {
		var want string
		switch task.Patient {
		case "Patient/n1":
			want = worklist.TaskID(worklist.TherapeuticDuplication, "MedicationRequest/n1-nap", "MedicationStatement/n1-ibu", time.Time{}, false)
		case "Patient/n2":
			want = worklist.TaskID(worklist.TherapeuticDuplication, "MedicationRequest/n2-dic", "MedicationStatement/n2-ibu,MedicationStatement/n2-nap", time.Time{}, false)
		}
		if task.ID != want {
			t.Errorf("%s: id %s, want %s", task.Patient, task.ID, want)
		}
		// Task.input lists every other drug.
		var r struct {
			Input []struct {
				Type           struct{ Text string }
				ValueReference struct{ Reference string }
			}
		}
		if err := json.Unmarshal(task.Resource, &r); err != nil {
			t.Fatal(err)
		}
		var inputs []string
		for _, in := range r.Input {
			inputs = append(inputs, in.Type.Text+"="+in.ValueReference.Reference)
		}
		wantInputs := map[string]string{
			"Patient/n1": "Duplicated medication=MedicationStatement/n1-ibu",
			"Patient/n2": "Duplicated medication=MedicationStatement/n2-nap,Duplicated medication=MedicationStatement/n2-ibu",
		}[task.Patient]
		if g := strings.Join(inputs, ","); g != wantInputs {
			t.Errorf("%s: input %s, want %s", task.Patient, g, wantInputs)
		}
	}
}

// sortByID orders expected lines as the worklist orders Tasks with one due date and priority: by id.
func sortByID(got []worklist.Task, want []string) []string {
	if len(got) != len(want) {
		return want
	}
	byFocus := map[string]string{}
	for _, w := range want {
		byFocus[strings.Fields(w)[2]] = w
	}
	var out []string
	for _, task := range got {
		if w, ok := byFocus[task.Focus]; ok {
			out = append(out, w)
		} else {
			return want
		}
	}
	return out
}
