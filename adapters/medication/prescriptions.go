package medication

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/storage"
)

// # Prescriptions
//
// A prescription is a MedicationRequest about the patient (subject) with status active or on-hold and an
// order intent (order, original-order, reflex-order, filler-order, instance-order; not proposal, plan or
// option). It is checked against the patient's allergies like a statement (Check), unless the active
// medication list already reflects it — an active statement is basedOn it, or has one of its codes — since
// the statement's conflict is then the one reported.

// requestStatuses are the MedicationRequest statuses of a current prescription.
const requestStatuses = "active,on-hold"

// DecodeRequest reads a stored MedicationRequest as a Medication (Informant is the requester).
func DecodeRequest(v *storage.Version) (Medication, string, error) {
	var r struct {
		fhirread.Head
		Status                    string                    `json:"status"`
		Intent                    string                    `json:"intent"`
		Subject                   fhirread.Reference        `json:"subject"`
		AuthoredOn                string                    `json:"authoredOn,omitempty"`
		Requester                 *fhirread.Reference       `json:"requester,omitempty"`
		MedicationCodeableConcept *fhirread.CodeableConcept `json:"medicationCodeableConcept,omitempty"`
		MedicationReference       *fhirread.Reference       `json:"medicationReference,omitempty"`
		Contained                 []json.RawMessage         `json:"contained,omitempty"`
		DosageInstruction         []fhirread.Dosage         `json:"dosageInstruction,omitempty"`
	}
	if err := fhirread.Decode(v.Body, "MedicationRequest", &r); err != nil {
		return Medication{}, "", fmt.Errorf("medication: MedicationRequest/%s: %w", v.ID, err)
	}
	m := Medication{Type: "MedicationRequest", ID: v.ID, Status: r.Status, Patient: r.Subject.Key(), Start: startOf(r.AuthoredOn), Resource: v}
	if r.Requester != nil {
		m.Informant = r.Requester.Key()
	}
	if err := m.name(r.MedicationCodeableConcept, r.MedicationReference, r.Contained); err != nil {
		return Medication{}, "", fmt.Errorf("medication: MedicationRequest/%s: %w", v.ID, err)
	}
	for i := range r.DosageInstruction {
		if s := instruction(&r.DosageInstruction[i]); s != "" {
			m.Instructions = append(m.Instructions, s)
		}
	}
	m.Instruction = Instruction(r.DosageInstruction)
	return m, r.Intent, nil
}

// PrescriptionConflicts returns the allergy conflicts of the current prescriptions of a patient (every
// patient when patient is empty) that the active medication list does not reflect, ordered by patient,
// medication name, medication id, then allergy id. Only the prescriptions of patients with a current
// allergy are read.
func (s *Service) PrescriptionConflicts(ctx context.Context, patient string) ([]Conflict, error) {
	byPatient, patients, _, err := s.currentAllergies(ctx, patient)
	if err != nil || len(patients) == 0 {
		return nil, err
	}
	var out []Conflict
	err = s.f.InEach(ctx, "MedicationRequest", "subject", patients, url.Values{"status": {requestStatuses}}, func(v *storage.Version) error {
		m, intent, err := DecodeRequest(v)
		if err != nil {
			return err
		}
		switch intent {
		case "proposal", "plan", "option":
			return nil
		}
		for _, a := range byPatient[m.Patient] {
			if c, ok := s.Check(m, a); ok {
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// Leave out the prescriptions the active list reflects (their statements' conflicts are reported).
	var affected []string
	seen := map[string]bool{}
	for _, c := range out {
		if !seen[c.Patient] {
			seen[c.Patient] = true
			affected = append(affected, c.Patient)
		}
	}
	reflected := map[string]bool{} // "MedicationRequest/id" or "patient\x00system|code"
	err = s.f.InEach(ctx, "MedicationStatement", "subject", affected, url.Values{"status": {activeStatuses}}, func(v *storage.Version) error {
		m, err := DecodeMedication(v)
		if err != nil {
			return err
		}
		var links struct {
			BasedOn []fhirread.Reference `json:"basedOn"`
		}
		if err := fhirread.Decode(v.Body, "MedicationStatement", &links); err != nil {
			return fmt.Errorf("medication: MedicationStatement/%s: %w", v.ID, err)
		}
		for i := range links.BasedOn {
			reflected[links.BasedOn[i].Key()] = true
		}
		for _, cd := range m.Codes {
			if cd.Code != "" {
				reflected[m.Patient+"\x00"+cd.System+"|"+cd.Code] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	kept := out[:0]
	for _, c := range out {
		r := reflected["MedicationRequest/"+c.Medication.ID]
		for _, cd := range c.Medication.Codes {
			r = r || cd.Code != "" && reflected[c.Patient+"\x00"+cd.System+"|"+cd.Code]
		}
		if !r {
			kept = append(kept, c)
		}
	}
	sortConflicts(kept)
	return s.withAllergies(ctx, kept)
}
