// Package medication explains a patient's medications and checks them against the patient's allergies.
//
// # Active medication list
//
// A patient's active medications are the MedicationStatements about them (subject) whose status is
// active, intended (about to be taken) or on-hold (paused, but still part of the regimen a clinician must
// consider); completed, stopped, not-taken, unknown and entered-in-error statements are not listed. Each
// comes with a plain-language instruction: Dosage.text when present, otherwise a sentence rendered from
// the structured dosage (see RenderDosage), e.g. "Take 1 tablet by mouth twice a day as needed for pain".
//
// # Allergy conflicts
//
// An allergy is considered when its clinicalStatus is active or absent and its verificationStatus is
// confirmed, unconfirmed or absent: refuted and entered-in-error records, and inactive or resolved
// allergies, are ignored. Its codes are AllergyIntolerance.code and every reaction.substance.
//
// A medication's codes are medicationCodeableConcept, or — for a medicationReference to a contained
// Medication — that Medication's code and its ingredients' itemCodeableConcept. (careflow does not store
// Medication resources, so a reference to a non-contained Medication has no codes.)
//
// A medication conflicts with an allergy when
//
//   - a medication code and an allergy code are the same system and code ("code" match), or
//   - a medication code is a member of a drug class of DrugClasses and an allergy code is that class's
//     allergy code or another member of it ("drug-class" match: an allergy to penicillin G flags
//     amoxicillin).
//
// One conflict is reported per statement and allergy: a code match if there is one, else the first class
// match. The allergy's criticality (low, high, unable-to-assess, or empty) is carried into the conflict.
package medication

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// activeStatuses are the MedicationStatement statuses of the active list.
const activeStatuses = "active,intended,on-hold"

// Service runs the medication workflows against a store. It is immutable and safe for concurrent use.
type Service struct {
	f       fetch.Fetcher
	classes []DrugClass
	index   classIndex
}

// New returns a Service that searches s, building queries with registry, and checks conflicts with the
// shipped drug-class table.
func New(s fetch.Searcher, registry *search.Registry) *Service {
	classes := DrugClasses()
	return &Service{f: fetch.Fetcher{Store: s, Registry: registry}, classes: classes, index: newClassIndex(classes)}
}

// WithPageSize returns a copy of the Service that reads n resources per search page.
func (s *Service) WithPageSize(n int) *Service {
	c := *s
	c.f.PageSize = n
	return &c
}

// Medication is a MedicationStatement — or a MedicationRequest, a prescription (Type) — as the workflows see
// it.
type Medication struct {
	// Type is the resource type: MedicationStatement, or MedicationRequest for a prescription.
	Type    string
	ID      string
	Status  string
	Patient string // subject, "Patient/id"
	Name    string // the medication's label
	// Codes are the medication's codes, then its contained Medication's ingredient codes.
	Codes []fhirread.Coding
	// Instructions has one plain-language instruction per dosage with something to say, in order;
	// Instruction combines them (see Instruction).
	Instructions []string
	Instruction  string
	// Informant is informationSource (normalised reference), if any.
	Informant string
	// Start is when the medication was started: a statement's effective[x] (its start), else its
	// dateAsserted; a prescription's authoredOn. Zero when none parses.
	Start    time.Time
	Resource *storage.Version
}

// DecodeMedication reads a stored MedicationStatement.
func DecodeMedication(v *storage.Version) (Medication, error) {
	var ms fhirread.MedicationStatement
	if err := fhirread.Decode(v.Body, "MedicationStatement", &ms); err != nil {
		return Medication{}, fmt.Errorf("medication: MedicationStatement/%s: %w", v.ID, err)
	}
	m := Medication{Type: "MedicationStatement", ID: v.ID, Status: ms.Status, Patient: ms.Subject.Key(), Resource: v}
	if ms.InformationSource != nil {
		m.Informant = ms.InformationSource.Key()
	}
	effective := ms.EffectiveDateTime
	if ms.EffectivePeriod != nil {
		effective = ms.EffectivePeriod.Start
	}
	m.Start = startOf(effective, ms.DateAsserted)
	if err := m.name(ms.MedicationCodeableConcept, ms.MedicationReference, ms.Contained); err != nil {
		return Medication{}, fmt.Errorf("medication: MedicationStatement/%s: %w", v.ID, err)
	}
	for i := range ms.Dosage {
		if s := instruction(&ms.Dosage[i]); s != "" {
			m.Instructions = append(m.Instructions, s)
		}
	}
	m.Instruction = Instruction(ms.Dosage)
	return m, nil
}

// startOf returns the start of the first of values that parses (dates in UTC), or zero.
func startOf(values ...string) time.Time {
	for _, v := range values {
		if lo, _, ok := search.ParseDateTime(v, time.UTC); ok {
			return lo
		}
	}
	return time.Time{}
}

// name sets the medication's Name and Codes from medication[x]: its code, or a contained Medication's
// code and ingredients.
func (m *Medication) name(code *fhirread.CodeableConcept, ref *fhirread.Reference, contained []json.RawMessage) error {
	switch {
	case code != nil:
		m.Name = code.Label()
		m.Codes = append(m.Codes, code.Coding...)
	case ref != nil:
		m.Name = ref.Display
		if raw, ok := fhirread.ContainedOf(contained, ref.Reference, "Medication"); ok && strings.HasPrefix(ref.Reference, "#") {
			var med fhirread.Medication
			if err := fhirread.Decode(raw, "Medication", &med); err != nil {
				return fmt.Errorf("contained Medication: %w", err)
			}
			if med.Code != nil {
				m.Codes = append(m.Codes, med.Code.Coding...)
				if m.Name == "" {
					m.Name = med.Code.Label()
				}
			}
			var ingredients []string
			for _, ing := range med.Ingredient {
				if ing.ItemCodeableConcept != nil {
					m.Codes = append(m.Codes, ing.ItemCodeableConcept.Coding...)
					if l := ing.ItemCodeableConcept.Label(); l != "" {
						ingredients = append(ingredients, l)
					}
				}
			}
			if m.Name == "" {
				m.Name = strings.Join(ingredients, " / ")
			}
		}
		if m.Name == "" {
			m.Name = ref.Reference
		}
	}
	if m.Name == "" {
		m.Name = "Unnamed medication"
	}
	return nil
}

// Active returns the active medication list of a patient (id or "Patient/id"), or of every patient when
// patient is empty, ordered by name (case-insensitive) then id. The list depends on statuses only, not on
// a reference time.
func (s *Service) Active(ctx context.Context, patient string) ([]Medication, error) {
	p := url.Values{"status": {activeStatuses}}
	if ref := fhirread.PatientRef(patient); ref != "" {
		p.Set("subject", ref)
	}
	vs, err := s.f.All(ctx, "MedicationStatement", p)
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	return medicationList(vs)
}

// medicationList decodes statements in the order of the active list: by name (case-insensitive), then id.
func medicationList(vs []*storage.Version) ([]Medication, error) {
	out := make([]Medication, 0, len(vs))
	for _, v := range vs {
		m, err := DecodeMedication(v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := strings.ToLower(out[i].Name), strings.ToLower(out[j].Name)
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Allergy is an AllergyIntolerance as the workflows see it.
type Allergy struct {
	ID                 string
	Patient            string
	Label              string // code label, else the first reaction substance, else "Unspecified allergy"
	ClinicalStatus     string // code, "" when absent
	VerificationStatus string // code, "" when absent
	Criticality        string
	Category           []string
	// Codes are AllergyIntolerance.code then every reaction.substance coding.
	Codes    []fhirread.Coding
	Resource *storage.Version
}

// Current reports whether the allergy counts for conflict checking: not inactive or resolved, not
// refuted or entered-in-error.
func (a *Allergy) Current() bool {
	switch a.ClinicalStatus {
	case "inactive", "resolved":
		return false
	}
	switch a.VerificationStatus {
	case "refuted", "entered-in-error":
		return false
	}
	return true
}

// DecodeAllergy reads a stored AllergyIntolerance.
func DecodeAllergy(v *storage.Version) (Allergy, error) {
	var ai fhirread.AllergyIntolerance
	if err := fhirread.Decode(v.Body, "AllergyIntolerance", &ai); err != nil {
		return Allergy{}, fmt.Errorf("medication: AllergyIntolerance/%s: %w", v.ID, err)
	}
	a := Allergy{ID: v.ID, Patient: ai.Patient.Key(), Criticality: ai.Criticality, Category: ai.Category,
		ClinicalStatus: ai.ClinicalStatus.Code(), VerificationStatus: ai.VerificationStatus.Code(), Resource: v}
	a.Label = ai.Code.Label()
	if ai.Code != nil {
		a.Codes = append(a.Codes, ai.Code.Coding...)
	}
	for _, r := range ai.Reaction {
		if r.Substance != nil {
			a.Codes = append(a.Codes, r.Substance.Coding...)
			if a.Label == "" {
				a.Label = r.Substance.Label()
			}
		}
	}
	if a.Label == "" {
		a.Label = "Unspecified allergy"
	}
	return a, nil
}

// Allergies returns every AllergyIntolerance of a patient (id or "Patient/id"), current or not, ordered
// by id.
func (s *Service) Allergies(ctx context.Context, patient string) ([]Allergy, error) {
	ref := fhirread.PatientRef(patient)
	if ref == "" {
		return nil, fmt.Errorf("medication: Allergies needs a patient")
	}
	return s.allergies(ctx, []string{ref})
}

func (s *Service) allergies(ctx context.Context, patients []string) ([]Allergy, error) {
	vs, err := s.f.In(ctx, "AllergyIntolerance", "patient", patients, nil)
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	return allergyList(vs)
}

// allergyList decodes allergies, ordered by id.
func allergyList(vs []*storage.Version) ([]Allergy, error) {
	out := make([]Allergy, 0, len(vs))
	for _, v := range vs {
		a, err := DecodeAllergy(v)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Match kinds of a Conflict.
const (
	MatchCode      = "code"
	MatchDrugClass = "drug-class"
)

// Conflict is an active medication a current allergy of the same patient warns against.
type Conflict struct {
	Patient    string
	Medication Medication
	Allergy    Allergy
	// Match is MatchCode or MatchDrugClass; Class names the drug class of a class match.
	Match string
	Class string
	// MedicationCode and AllergyCode are the codes that matched.
	MedicationCode, AllergyCode fhirread.Coding
	// Criticality is the allergy's criticality.
	Criticality string
}

// Conflicts returns the allergy conflicts of the active medications of a patient, or of every patient
// when patient is empty, ordered by patient, medication name, medication id, then allergy id.
//
// The allergies are read first, and only the medications of patients with a current allergy: most
// patients have none, and their medications cannot conflict.
func (s *Service) Conflicts(ctx context.Context, patient string) ([]Conflict, error) {
	byPatient, patients, literal, err := s.currentAllergies(ctx, patient)
	if err != nil || len(patients) == 0 {
		return nil, err
	}
	if patient == "" && literal {
		out, err := s.conflictsOf(ctx, patients, byPatient)
		if err != nil {
			return nil, err
		}
		return s.withAllergies(ctx, out)
	}
	meds, err := s.Active(ctx, patient)
	if err != nil {
		return nil, err
	}
	var out []Conflict
	for _, m := range meds {
		for _, a := range byPatient[m.Patient] {
			if c, ok := s.Check(m, a); ok {
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Patient != b.Patient {
			return a.Patient < b.Patient
		}
		return false // otherwise keep the medication-list order, then allergy id order
	})
	return out, nil
}

// currentAllergies returns the current allergies of a patient (every patient when patient is empty) by
// patient, the patients in first-seen order, and whether every one is a "Patient/id" reference (which a
// subject search matches).
func (s *Service) currentAllergies(ctx context.Context, patient string) (byPatient map[string][]Allergy, patients []string, literal bool, err error) {
	var all []Allergy
	ok := false
	if ref := fhirread.PatientRef(patient); ref != "" {
		all, err = s.allergies(ctx, []string{ref})
	} else if all, ok, err = s.indexedAllergies(ctx); err == nil && !ok {
		var vs []*storage.Version
		if vs, err = s.f.All(ctx, "AllergyIntolerance", nil); err != nil {
			return nil, nil, false, fmt.Errorf("medication: %w", err)
		}
		all, err = allergyList(vs)
	}
	if err != nil {
		return nil, nil, false, err
	}
	byPatient = map[string][]Allergy{}
	literal = true
	for _, a := range all {
		if !a.Current() {
			continue
		}
		if _, seen := byPatient[a.Patient]; !seen {
			patients = append(patients, a.Patient)
			literal = literal && fhirread.RefType(a.Patient) == "Patient"
		}
		byPatient[a.Patient] = append(byPatient[a.Patient], a)
	}
	return byPatient, patients, literal, nil
}

// conflictsOf is Conflicts for the active statements of patients ("Patient/id" references), checked
// against their current allergies (byPatient, each list ordered by id) one batch of statements at a time,
// keeping only the conflicts. The order is Conflicts': patient, medication name (case-insensitive) and id
// (the active list's order), then allergy id.
func (s *Service) conflictsOf(ctx context.Context, patients []string, byPatient map[string][]Allergy) ([]Conflict, error) {
	var out []Conflict
	var decodeErr error // DecodeMedication's errors are returned as they are
	check := func(v *storage.Version) error {
		m, err := DecodeMedication(v)
		if err != nil {
			decodeErr = err
			return err
		}
		for _, a := range byPatient[m.Patient] {
			if c, ok := s.Check(m, a); ok {
				out = append(out, c)
			}
		}
		return nil
	}
	active := url.Values{"status": {activeStatuses}}
	wide, ids, err := s.candidates(ctx, patients, byPatient)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		err = s.f.InEach(ctx, "MedicationStatement", "_id", ids, active, check)
	}
	if err == nil {
		err = s.f.InEach(ctx, "MedicationStatement", "subject", wide, active, check)
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	sortConflicts(out)
	return out, nil
}

// sortConflicts orders conflicts by patient, medication name (case-insensitive), medication id, then
// allergy id.
func sortConflicts(out []Conflict) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Patient != b.Patient {
			return a.Patient < b.Patient
		}
		if an, bn := strings.ToLower(a.Medication.Name), strings.ToLower(b.Medication.Name); an != bn {
			return an < bn
		}
		if a.Medication.ID != b.Medication.ID {
			return a.Medication.ID < b.Medication.ID
		}
		return a.Allergy.ID < b.Allergy.ID
	})
}

// indexedAllergies returns every allergy as the store's index describes it, for finding conflicts: ID,
// Patient, ClinicalStatus, VerificationStatus and the Codes that have a system and a code — all that
// Current and Check depend on, since the drug-class table names codes with both (Resource is nil:
// withAllergies reads the allergies of the conflicts found). An allergy the index cannot describe
// exactly (a status with codings of different codes, a code key that does not split into system and
// code) is read and decoded. ok is false when the store has no index answer or the class table names a
// code without a system or a code.
func (s *Service) indexedAllergies(ctx context.Context) (all []Allergy, ok bool, err error) {
	for k := range s.index.allergy {
		if sys, code, _ := strings.Cut(k, "|"); sys == "" || code == "" || strings.Contains(code, "|") {
			return nil, false, nil
		}
	}
	rows, ok, err := s.f.IndexAll(ctx, "AllergyIntolerance", nil, []string{"patient", "clinical-status", "verification-status", "code"})
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("medication: %w", err)
		}
		return nil, false, err
	}
	// The index reports the allergies that have one of the fields; every stored allergy must be there.
	if n, err := s.f.Count(ctx, "AllergyIntolerance", nil); err != nil {
		return nil, false, fmt.Errorf("medication: %w", err)
	} else if n != len(rows) {
		return nil, false, nil
	}
	single := func(keys []string) (string, bool) { // the code of the status's codings, as CodeableConcept.Code
		code := ""
		for _, k := range keys {
			c, isCode := strings.CutPrefix(k, "c:") // a code with a system, or without one ("n:")
			if !isCode {
				c, isCode = strings.CutPrefix(k, "n:")
			}
			if isCode {
				if code != "" && c != code {
					return "", false
				}
				code = c
			}
		}
		return code, true
	}
	var unclear []string
	for _, r := range rows {
		a := Allergy{ID: r.ID}
		clinical, ok1 := single(r.Keys[1])
		verification, ok2 := single(r.Keys[2])
		exact := ok1 && ok2 && len(r.Keys[0]) == 1 // a patient the index holds (not a contained one)
		a.ClinicalStatus, a.VerificationStatus = clinical, verification
		if exact {
			a.Patient = r.Keys[0][0]
		}
		for _, k := range r.Keys[3] {
			if !strings.HasPrefix(k, "s:") {
				continue
			}
			sys, code, ok := search.CodingOfKey(k)
			if !ok || strings.Count(k, "|") != 1 {
				exact = false
				break
			}
			a.Codes = append(a.Codes, fhirread.Coding{System: sys, Code: code})
		}
		if !exact {
			unclear = append(unclear, r.ID)
			continue
		}
		all = append(all, a)
	}
	if len(unclear) > 0 {
		vs, err := s.f.In(ctx, "AllergyIntolerance", "_id", unclear, nil)
		if err != nil {
			return nil, false, fmt.Errorf("medication: %w", err)
		}
		decoded, err := allergyList(vs)
		if err != nil {
			return nil, false, err
		}
		all = append(all, decoded...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all, true, nil
}

// withAllergies replaces the allergies of conflicts found with indexedAllergies' descriptions by the
// stored allergies, checked again (the same coding pair as reading every allergy gives); a conflict whose
// allergy is no longer current, or gone, is dropped.
func (s *Service) withAllergies(ctx context.Context, conflicts []Conflict) ([]Conflict, error) {
	var ids []string
	for _, c := range conflicts {
		if c.Allergy.Resource == nil {
			ids = append(ids, c.Allergy.ID)
		}
	}
	if len(ids) == 0 {
		return conflicts, nil
	}
	vs, err := s.f.In(ctx, "AllergyIntolerance", "_id", ids, nil)
	if err != nil {
		return nil, fmt.Errorf("medication: %w", err)
	}
	stored := map[string]Allergy{}
	for _, v := range vs {
		a, err := DecodeAllergy(v)
		if err != nil {
			return nil, err
		}
		stored[a.ID] = a
	}
	out := conflicts[:0]
	for _, c := range conflicts {
		if c.Allergy.Resource == nil {
			a, found := stored[c.Allergy.ID]
			if !found || !a.Current() || a.Patient != c.Patient {
				continue
			}
			var ok bool
			if c, ok = s.Check(c.Medication, a); !ok {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// candidates splits the allergic patients: wide are those whose medications must all be read (one of
// their current allergies has a code that names or belongs to a drug class, so a medication may match
// by class, even by its display); for the others, a medication conflicts only when one of its codings
// (with a system and a code) is one of their allergies' codings, and ids are those of their active
// medications that the store's index shows to carry such a code, or whose codes it does not hold (a
// contained Medication). Without an index answer every patient is wide.
func (s *Service) candidates(ctx context.Context, patients []string, byPatient map[string][]Allergy) (wide, ids []string, err error) {
	keys := map[string]map[string]bool{} // narrow patient → token keys of its allergies' codings
	var narrow []string
	for _, p := range patients {
		ks, byClass := map[string]bool{}, false
		for _, a := range byPatient[p] {
			for _, c := range a.Codes {
				if len(s.index.allergy[c.System+"|"+c.Code]) > 0 {
					byClass = true
				}
				if c.System != "" && c.Code != "" {
					ks[search.TokenKey(search.Value{System: c.System, Code: c.Code, HasSystem: true})] = true
				}
			}
		}
		if byClass {
			wide = append(wide, p)
		} else {
			narrow = append(narrow, p)
			keys[p] = ks
		}
	}
	if len(narrow) == 0 {
		return wide, nil, nil
	}
	rows, ok, err := s.f.IndexIn(ctx, "MedicationStatement", "subject", narrow, url.Values{"status": {activeStatuses}}, []string{"code", "subject"})
	if err != nil {
		return nil, nil, fmt.Errorf("medication: %w", err)
	}
	if !ok {
		return patients, nil, nil
	}
	for _, r := range rows {
		coded, match := false, false
		for _, k := range r.Keys[0] {
			if strings.HasPrefix(k, "s:") { // a coding with a system and a code (medicationCodeableConcept)
				coded = true
				for _, p := range r.Keys[1] {
					match = match || keys[p][k]
				}
			}
		}
		if !coded || match {
			ids = append(ids, r.ID)
		}
	}
	return wide, ids, nil
}

// Check reports whether medication m conflicts with allergy a (whatever a's status: callers filter with
// Allergy.Current).
func (s *Service) Check(m Medication, a Allergy) (Conflict, bool) {
	c := Conflict{Patient: m.Patient, Medication: m, Allergy: a, Criticality: a.Criticality}
	for _, mc := range m.Codes {
		for _, ac := range a.Codes {
			if mc.System != "" && mc.Code != "" && mc.System == ac.System && mc.Code == ac.Code {
				c.Match, c.MedicationCode, c.AllergyCode = MatchCode, mc, ac
				return c, true
			}
		}
	}
	for _, mc := range m.Codes {
		classes := s.index.members[mc.System+"|"+mc.Code]
		if len(classes) == 0 {
			// Medication statements usually carry a product code (RxNorm SCD "ibuprofen 600 MG Oral
			// Tablet"), not the ingredient: fall back to the ingredient names in its display.
			classes = s.index.byName(mc.Display)
		}
		if len(classes) == 0 {
			continue
		}
		for _, ac := range a.Codes {
			for _, ca := range s.index.allergy[ac.System+"|"+ac.Code] {
				for _, cm := range classes {
					if ca == cm {
						c.Match, c.Class, c.MedicationCode, c.AllergyCode = MatchDrugClass, cm, mc, ac
						return c, true
					}
				}
			}
		}
	}
	return Conflict{}, false
}
