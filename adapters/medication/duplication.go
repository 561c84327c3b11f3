package medication

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/storage"
)

// # Therapeutic duplication
//
// A therapeutic duplication is two or more different drugs of the same therapeutic class current at once
// for a patient — two NSAIDs (ibuprofen and naproxen), two penicillins — the classic catch of a medication
// review: the second was usually started by another prescriber, or bought over the counter, without the
// first in view.
//
// Current medications. A MedicationStatement counts when its status is active, intended (about to be
// taken: the duplication is about to happen) or on-hold (paused, expected to resume) — the active
// medication list. A MedicationRequest counts when its status is active, on-hold or draft (R4: "not yet
// actionable … needs to be run through decision support" — the moment a duplication is best caught) and its
// intent is an order (order, original-order, reflex-order, filler-order, instance-order) or a plan (the
// prescriber's intention, not yet authorised); a proposal (a suggestion nobody has adopted) and an option
// (one alternative of a RequestGroup) do not count. Completed, stopped, cancelled, not-taken, unknown and
// entered-in-error records do not count.
//
// Classes. Two drugs are of the same class when
//
//   - both are members of a class of the drug-class table (DrugClasses; by code, or by the ingredient names
//     of a product code's display, as for allergy conflicts), except the members a class lists in
//     NotDuplicates (aspirin); or
//   - both carry a WHO ATC code (system http://www.whocc.no/atc, ATCSystem) of level 5 — a chemical
//     substance, seven characters such as M01AE01 — with the same level 4, the chemical, therapeutic or
//     pharmacological subgroup (its first five characters, M01AE: propionic acid derivatives), and
//     different level-5 codes. Source: WHO Collaborating Centre for Drug Statistics Methodology, "Structure
//     and principles" of the ATC classification (whocc.no/atc/structure_and_principles): five levels, the
//     fourth a chemical/therapeutic/pharmacological subgroup, the fifth the chemical substance. Level 4 is
//     where WHO groups substances that do the same job, so two substances of one level-4 group taken
//     together are a duplication to question; level 3 (M01A, all anti-inflammatory non-steroids) would
//     also catch ibuprofen with diclofenac (M01AB05) but groups things less alike elsewhere (J01C holds
//     every beta-lactam penicillin kind), so the rule stops at level 4.
//
// The same drug recorded twice is not a duplication: two records are the same drug when they share a
// coding (system and code), a class member, or an ATC level-5 code — a statement that reflects a
// prescription, a renewed prescription. That is the reconciliation the patient summary already does; the
// records of one drug count as one. A medication's codes are those of the allergy check
// (medicationCodeableConcept, or a contained Medication's code and ingredients).
//
// Findings. One Duplication per patient and group (a class, or an ATC level-4 group) with two or more
// different drugs; a group whose records are all in another group's finding (ibuprofen and naproxen, both
// NSAIDs and both M01AE) is not reported again, the class of the table being preferred to an ATC group.
// Each drug is represented by one record: its latest prescription when it has one (the order a prescriber
// can change), else its latest statement; it started at the earliest start of its records.
//
// Cost. A day's worklist must not decode every medication of the population: the candidates are found by
// token searches on code — the duplication members' codes and the ATC system, the members' ingredient
// names with :text (product codes), and :missing (a contained Medication) — answered from the store's index
// when it can (the embedded store: no body is read; a patient whose candidate records all share a coding
// is left out), and only the candidate records of patients with two or more are read and decoded.
// Measured (BenchmarkDuplications, 2,000 generated patients with their history, about 10,000 statements and
// prescriptions, embedded store, 2 shared CPUs): 630 bodies read and about 0.2 s from the index, 1,249 and
// about 0.2 s by search only; of that, the two :missing searches (which find nothing in that data, but are
// how a contained Medication is found) cost about 0.1 s — the index holds no key for a "#" reference, so
// medication:missing=false, which costs nothing, does not find them.

// ATCSystem is the WHO ATC classification's code system.
const ATCSystem = "http://www.whocc.no/atc"

const (
	// dupRequestStatuses are the MedicationRequest statuses a duplication counts.
	dupRequestStatuses = "active,on-hold,draft"
	// dupRequestIntents are the MedicationRequest intents a duplication counts.
	dupRequestIntents = "order,original-order,reflex-order,filler-order,instance-order,plan"
)

// Duplication is a therapeutic duplication: different drugs of one class current at once.
type Duplication struct {
	Patient string
	// Class is a DrugClass's Name, or "ATC " and the level-4 code ("ATC M01AE").
	Class string
	// Spelled is the class for a sentence: DrugClass.Spelled, or "in the ATC group M01AE".
	Spelled string
	// Drugs are the different drugs, newest first (by Start, a drug without one last; then by type and id
	// of their record).
	Drugs []DuplicateDrug
}

// DuplicateDrug is one drug of a Duplication.
type DuplicateDrug struct {
	// Name is the drug's ingredient name ("ibuprofen"): the class member's, or the ATC coding's display,
	// else the medication's label.
	Name string
	// Medication is the record representing the drug (its latest prescription, else latest statement).
	Medication Medication
	// Records are every current record of the drug, ordered by type then id.
	Records []Medication
	// Start is when the drug was started: the earliest Start of its records (zero when none has one).
	Start time.Time
}

// Duplications returns the therapeutic duplications of a patient (id or "Patient/id"), or of every
// patient when patient is empty, ordered by patient then class (the table's order, then ATC groups).
func (s *Service) Duplications(ctx context.Context, patient string) ([]Duplication, error) {
	byPatient, err := s.duplicationCandidates(ctx, fhirread.PatientRef(patient))
	if err != nil {
		return nil, err
	}
	patients := make([]string, 0, len(byPatient))
	for p := range byPatient {
		patients = append(patients, p)
	}
	sort.Strings(patients)
	var out []Duplication
	for _, p := range patients {
		out = append(out, s.duplicationsOf(p, byPatient[p])...)
	}
	return out, nil
}

// dupTypes are the searches of current medications: type, base parameters.
func dupTypes() []struct {
	typ    string
	params url.Values
} {
	return []struct {
		typ    string
		params url.Values
	}{
		{"MedicationStatement", url.Values{"status": {activeStatuses}}},
		{"MedicationRequest", url.Values{"status": {dupRequestStatuses}, "intent": {dupRequestIntents}}},
	}
}

// candidateQueries are the code criteria whose union holds every medication that may be in a duplication:
// a member's code or an ATC code, a member's ingredient name in a display or text (first word: :text
// matches a word by its start, and byName needs every word), no medicationCodeableConcept at all.
func (s *Service) candidateQueries() []url.Values {
	var codes, names []string
	seen := map[string]bool{}
	for _, c := range s.classes {
		for _, m := range c.Members {
			if slices.Contains(c.NotDuplicates, m.Code) {
				continue
			}
			if k := fetch.TokenValue(m.System, m.Code); !seen[k] {
				seen[k] = true
				codes = append(codes, k)
			}
			if w := strings.Fields(strings.ReplaceAll(m.Display, "/", " ")); len(w) > 0 && !seen["name:"+w[0]] {
				seen["name:"+w[0]] = true
				names = append(names, fetch.EscapeValue(w[0]))
			}
		}
	}
	codes = append(codes, fetch.TokenValue(ATCSystem, ""))
	return []url.Values{
		{"code": {strings.Join(codes, ",")}},
		{"code:text": {strings.Join(names, ",")}},
		{"code:missing": {"true"}},
	}
}

// duplicationCandidates returns, by patient, the decoded current medications that may be in a
// duplication: those of patients with two or more candidates (see Duplications' Cost).
func (s *Service) duplicationCandidates(ctx context.Context, patient string) (map[string][]Medication, error) {
	queries := s.candidateQueries()
	type candidate struct {
		typ, id string
		patient string
		codes   []string // "s:" index keys; nil when read from a body
	}
	var cands []candidate
	bodies := map[string]*storage.Version{} // "Type/id" → version, when read by search
	seen := map[string]bool{}
	for _, t := range dupTypes() {
		for _, q := range queries {
			p := url.Values{}
			for k, v := range t.params {
				p[k] = v
			}
			for k, v := range q {
				p[k] = v
			}
			if patient != "" {
				p.Set("subject", patient)
			}
			rows, ok, err := s.f.IndexAll(ctx, t.typ, p, []string{"subject", "code"})
			if err != nil {
				return nil, fmt.Errorf("medication: %w", err)
			}
			if ok {
				for _, r := range rows {
					if seen[t.typ+"/"+r.ID] {
						continue
					}
					seen[t.typ+"/"+r.ID] = true
					if len(r.Keys[0]) != 1 { // not one subject the index holds: read it
						cands = append(cands, candidate{typ: t.typ, id: r.ID})
						continue
					}
					var codes []string
					for _, k := range r.Keys[1] {
						if strings.HasPrefix(k, "s:") {
							codes = append(codes, k)
						}
					}
					cands = append(cands, candidate{typ: t.typ, id: r.ID, patient: r.Keys[0][0], codes: codes})
				}
				continue
			}
			vs, err := s.f.All(ctx, t.typ, p)
			if err != nil {
				return nil, fmt.Errorf("medication: %w", err)
			}
			for _, v := range vs {
				if k := t.typ + "/" + v.ID; !seen[k] {
					seen[k] = true
					bodies[k] = v
					cands = append(cands, candidate{typ: t.typ, id: v.ID})
				}
			}
		}
	}
	// Patients with two or more candidates, some two of which share no coding; a candidate whose patient
	// the index does not tell is read.
	byPatient := map[string][]candidate{}
	var read []candidate
	for _, c := range cands {
		if c.patient == "" {
			read = append(read, c)
			continue
		}
		byPatient[c.patient] = append(byPatient[c.patient], c)
	}
	for _, cs := range byPatient {
		if len(cs) < 2 {
			continue
		}
		distinct := false
		for i := range cs {
			for j := i + 1; j < len(cs); j++ {
				shared := false
				for _, k := range cs[i].codes {
					shared = shared || slices.Contains(cs[j].codes, k)
				}
				distinct = distinct || !shared
			}
		}
		if distinct {
			read = append(read, cs...)
		}
	}
	// Read (when the index answered) and decode the candidates.
	ids := map[string][]string{}
	for _, c := range read {
		if bodies[c.typ+"/"+c.id] == nil {
			ids[c.typ] = append(ids[c.typ], c.id)
		}
	}
	for typ, list := range ids {
		sort.Strings(list)
		vs, err := s.f.In(ctx, typ, "_id", list, nil)
		if err != nil {
			return nil, fmt.Errorf("medication: %w", err)
		}
		for _, v := range vs {
			bodies[typ+"/"+v.ID] = v
		}
	}
	keys := make([]string, 0, len(bodies))
	for k := range bodies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string][]Medication{}
	for _, k := range keys {
		m, current, err := decodeCurrent(bodies[k])
		if err != nil {
			return nil, err
		}
		if !current || (patient != "" && m.Patient != patient) {
			continue
		}
		out[m.Patient] = append(out[m.Patient], m)
	}
	for p, ms := range out {
		if len(ms) < 2 {
			delete(out, p)
		}
	}
	return out, nil
}

// decodeCurrent decodes a statement or prescription and reports whether it counts for a duplication.
func decodeCurrent(v *storage.Version) (Medication, bool, error) {
	if v.Type == "MedicationRequest" {
		m, intent, err := DecodeRequest(v)
		if err != nil {
			return Medication{}, false, err
		}
		return m, slices.Contains(strings.Split(dupRequestStatuses, ","), m.Status) &&
			slices.Contains(strings.Split(dupRequestIntents, ","), intent), nil
	}
	m, err := DecodeMedication(v)
	if err != nil {
		return Medication{}, false, err
	}
	return m, slices.Contains(strings.Split(activeStatuses, ","), m.Status), nil
}

// traits are what a medication is, for duplication: its codings, its class members and its ATC codes.
type traits struct {
	codes   map[string]bool   // "system|code"
	members map[string]member // "class|member code" → member
	atc     map[string]string // ATC level-5 code → display
}

func (s *Service) traitsOf(m Medication) traits {
	t := traits{codes: map[string]bool{}, members: map[string]member{}, atc: map[string]string{}}
	for _, c := range m.Codes {
		if c.System != "" && c.Code != "" {
			t.codes[c.System+"|"+c.Code] = true
		}
		if c.System == ATCSystem && atcSubstance(c.Code) {
			if _, ok := t.atc[c.Code]; !ok || t.atc[c.Code] == "" {
				t.atc[c.Code] = c.Display
			}
		}
		for _, mb := range s.index.duplicates(c) {
			t.members[mb.class+"|"+mb.code.Code] = mb
		}
	}
	return t
}

// atcSubstance reports whether code is an ATC level-5 code: letter, 2 digits, 2 letters, 2 digits.
func atcSubstance(code string) bool {
	if len(code) != 7 {
		return false
	}
	for i := 0; i < 7; i++ {
		c := code[i]
		letter := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		switch i {
		case 0, 3, 4:
			if !letter {
				return false
			}
		default:
			if !digit {
				return false
			}
		}
	}
	return true
}

// same reports whether two medications are the same drug: a shared coding, class member or ATC level-5
// code.
func same(a, b traits) bool {
	for k := range a.codes {
		if b.codes[k] {
			return true
		}
	}
	for k := range a.members {
		if _, ok := b.members[k]; ok {
			return true
		}
	}
	for k := range a.atc {
		if _, ok := b.atc[k]; ok {
			return true
		}
	}
	return false
}

// duplicationsOf returns the duplications among one patient's current medications.
func (s *Service) duplicationsOf(patient string, meds []Medication) []Duplication {
	sort.Slice(meds, func(i, j int) bool {
		if meds[i].Type != meds[j].Type {
			return meds[i].Type < meds[j].Type
		}
		return meds[i].ID < meds[j].ID
	})
	ts := make([]traits, len(meds))
	for i := range meds {
		ts[i] = s.traitsOf(meds[i])
	}
	type group struct {
		class, spelled string
		in             []int              // the group's medications
		name           func(i int) string // a medication's drug name in the group ("" when it has none)
	}
	var groups []group
	for _, c := range s.classes {
		g := group{class: c.Name, spelled: c.Spelled}
		for i := range meds {
			for _, mb := range ts[i].members {
				if mb.class == c.Name {
					g.in = append(g.in, i)
					break
				}
			}
		}
		cls := c.Name
		g.name = func(i int) string {
			var best string
			for _, mb := range ts[i].members {
				if mb.class == cls && (best == "" || mb.code.Display < best) {
					best = mb.code.Display
				}
			}
			return best
		}
		groups = append(groups, g)
	}
	var atc4 []string
	for i := range meds {
		for code := range ts[i].atc {
			if !slices.Contains(atc4, code[:5]) {
				atc4 = append(atc4, code[:5])
			}
		}
	}
	sort.Strings(atc4)
	for _, l4 := range atc4 {
		g := group{class: "ATC " + l4, spelled: "in the ATC group " + l4}
		for i := range meds {
			for code := range ts[i].atc {
				if code[:5] == l4 {
					g.in = append(g.in, i)
					break
				}
			}
		}
		level4 := l4
		g.name = func(i int) string {
			var codes []string
			for code := range ts[i].atc {
				if code[:5] == level4 {
					codes = append(codes, code)
				}
			}
			sort.Strings(codes)
			for _, c := range codes {
				if d := ts[i].atc[c]; d != "" {
					return d
				}
			}
			return ""
		}
		groups = append(groups, g)
	}

	var out []Duplication
	var taken [][]int // the medications of each finding
	for _, g := range groups {
		if len(g.in) < 2 {
			continue
		}
		// The drugs: the group's medications joined by sameness.
		drug := map[int]int{} // medication → drug (its first medication)
		for _, i := range g.in {
			drug[i] = i
		}
		var find func(int) int
		find = func(i int) int {
			for drug[i] != i {
				i = drug[i]
			}
			return i
		}
		for a, i := range g.in {
			for _, j := range g.in[a+1:] {
				if same(ts[i], ts[j]) {
					if ri, rj := find(i), find(j); ri != rj {
						drug[max(ri, rj)] = min(ri, rj)
					}
				}
			}
		}
		byDrug := map[int][]int{}
		var roots []int
		for _, i := range g.in {
			r := find(i)
			if byDrug[r] == nil {
				roots = append(roots, r)
			}
			byDrug[r] = append(byDrug[r], i)
		}
		if len(roots) < 2 {
			continue
		}
		covered := false
		for _, t := range taken {
			all := true
			for _, i := range g.in {
				all = all && slices.Contains(t, i)
			}
			covered = covered || all
		}
		if covered {
			continue
		}
		taken = append(taken, g.in)
		d := Duplication{Patient: patient, Class: g.class, Spelled: g.spelled}
		for _, r := range roots {
			recs := byDrug[r]
			dd := DuplicateDrug{}
			rep := -1
			for _, i := range recs {
				dd.Records = append(dd.Records, meds[i])
				if rep < 0 || better(meds[i], meds[rep]) {
					rep = i
				}
			}
			dd.Medication, dd.Start = meds[rep], meds[rep].Start
			dd.Name = g.name(rep)
			for _, i := range recs {
				if dd.Name == "" {
					dd.Name = g.name(i)
				}
			}
			if dd.Name == "" {
				dd.Name = meds[rep].Name
			}
			// The drug started at the earliest start of its records.
			for _, i := range recs {
				if st := meds[i].Start; !st.IsZero() && (dd.Start.IsZero() || st.Before(dd.Start)) {
					dd.Start = st
				}
			}
			d.Drugs = append(d.Drugs, dd)
		}
		sort.SliceStable(d.Drugs, func(i, j int) bool {
			if a, b := d.Drugs[i].Start, d.Drugs[j].Start; !a.Equal(b) {
				return a.After(b)
			}
			a, b := d.Drugs[i].Medication, d.Drugs[j].Medication
			if a.Type != b.Type {
				return a.Type < b.Type
			}
			return a.ID < b.ID
		})
		out = append(out, d)
	}
	return out
}

// better reports whether record a represents a drug better than b: a prescription before a statement,
// then the later start, then the smaller id.
func better(a, b Medication) bool {
	if (a.Type == "MedicationRequest") != (b.Type == "MedicationRequest") {
		return a.Type == "MedicationRequest"
	}
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.ID < b.ID
}
