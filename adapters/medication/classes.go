package medication

import (
	"slices"
	"strings"

	"github.com/careflow/careflow/adapters/internal/fhirread"
)

// Code systems of the drug-class table.
const (
	RxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
	SNOMED = "http://snomed.info/sct"
)

// Code is one coded concept of the drug-class table.
type Code struct {
	System, Code, Display string
}

// DrugClass is a group of drugs an allergy to one of which (or to the class itself) makes the others
// suspect. The table is deliberately small: it flags the classic cross-reactivities a coordinator should
// raise with a clinician; it is not a drug-interaction knowledge base.
type DrugClass struct {
	// Name names the class in findings ("penicillins").
	Name string
	// Spelled is the name spelled out for a sentence ("NSAIDs (non-steroidal anti-inflammatory drugs)").
	Spelled string
	// Members are the drugs of the class, as RxNorm ingredient codes.
	Members []Code
	// AllergyCodes are codes an AllergyIntolerance records an allergy to the class with: SNOMED CT
	// "allergy to …" findings and the class substance.
	AllergyCodes []Code
	// NotDuplicates are the RxNorm codes of members that do not count for therapeutic duplication
	// (Duplications): a member the class holds for its cross-reactivity but that is mostly taken for
	// another purpose.
	NotDuplicates []string
}

// DrugClasses returns the shipped drug-class table (a fresh copy on every call).
//
// Sources and verification (checked Nov 2026 with the project's reference search, not against the
// licensed terminologies themselves):
//
//   - RxNorm 1191 aspirin, 3355 diclofenac, 4502 flurbiprofen, 10171 sulfadiazine, 10207 sulfisoxazole and
//     10831 sulfamethoxazole / trimethoprim: the drug table of the Clinical Pharmacogenetics
//     Implementation Consortium (github.com/cpicpgx/cpic-schema, drug.sql), which keys drugs by RxNorm
//     ingredient.
//   - RxNorm 7980 penicillin G: the official FHIR R4 example AllergyIntolerance/medication
//     (testdata/examples/r4/AllergyIntolerance-medication.json, "Penicillin G").
//   - RxNorm 723 amoxicillin, 5640 ibuprofen, 7258 naproxen: consistent across several independent
//     public RxCUI mappings (ibuprofen also in CPIC-derived data), not an authoritative RxNorm release.
//   - RxNorm 733 ampicillin, 7984 penicillin V, 10180 sulfamethoxazole: from the project brief; NOT
//     independently verified (public mappings were sparse or contradictory).
//   - SNOMED CT 764146007 Penicillin (substance): AllergyIntolerance examples of HL7 implementation
//     guides (HL7 Europe HDR, CH IPS, CZ HDR, AU Core).
//   - SNOMED CT 91939003 Allergy to sulfonamide (finding): HL7 Belgium Prescription Search Support IG
//     example AllergyIntolerance.
//   - SNOMED CT 387406002 Sulfonamide (substance): the US Core AllergyIntolerance example ("sulfonamide
//     antibacterial") and several public code sets.
//   - SNOMED CT 91936005 Allergy to penicillin (finding): the project brief and most public code sets
//     (one maps it to sulfonamides); NOT verified against an HL7 or SNOMED publication.
//   - SNOMED CT 373270004 Substance with penicillin structure and antibacterial mechanism of action
//     (substance), the penicillin class substance: an NHS GP Connect discussion and public code sets; NOT
//     verified against an HL7 or SNOMED publication.
//   - SNOMED CT 372665008 Non-steroidal anti-inflammatory agent (substance): consistent in several
//     independent sources (SNOMED-based query tooling, a C-CDA example); NOT verified against an HL7 or
//     SNOMED publication. No "allergy to NSAID" finding code is included: public sources gave four
//     different codes for it, so none could be trusted.
//
// Therapeutic duplication (Duplications) counts every member except aspirin: in the table for its
// cross-reactivity in NSAID hypersensitivity, but mostly taken at low dose as an antiplatelet (WHO ATC
// places it in B01AC, platelet aggregation inhibitors, as well as N02BA, analgesics), where taking it with
// an NSAID is an interaction to weigh, not two drugs doing the same job; an RxNorm ingredient code does not
// tell the dose.
//
// Deliberately left out: celecoxib (COX-2 selective; usually tolerated by patients with NSAID
// hypersensitivity) and non-antibiotic sulfonamides such as sulfasalazine (cross-reactivity with
// sulfonamide antibiotics is not established).
func DrugClasses() []DrugClass {
	return []DrugClass{
		{
			Name:    "penicillins",
			Spelled: "penicillins",
			Members: []Code{
				{RxNorm, "723", "amoxicillin"},
				{RxNorm, "733", "ampicillin"},
				{RxNorm, "7980", "penicillin G"},
				{RxNorm, "7984", "penicillin V"},
			},
			AllergyCodes: []Code{
				{SNOMED, "91936005", "Allergy to penicillin"},
				{SNOMED, "764146007", "Penicillin"},
				{SNOMED, "373270004", "Substance with penicillin structure and antibacterial mechanism of action"},
			},
		},
		{
			Name:    "sulfonamide antibiotics",
			Spelled: "sulfonamide antibiotics",
			Members: []Code{
				{RxNorm, "10180", "sulfamethoxazole"},
				{RxNorm, "10831", "sulfamethoxazole / trimethoprim"},
				{RxNorm, "10171", "sulfadiazine"},
				{RxNorm, "10207", "sulfisoxazole"},
			},
			AllergyCodes: []Code{
				{SNOMED, "91939003", "Allergy to sulfonamide"},
				{SNOMED, "387406002", "Sulfonamide"},
			},
		},
		{
			Name:    "NSAIDs",
			Spelled: "NSAIDs (non-steroidal anti-inflammatory drugs)",
			Members: []Code{
				{RxNorm, "5640", "ibuprofen"},
				{RxNorm, "7258", "naproxen"},
				{RxNorm, "1191", "aspirin"},
				{RxNorm, "3355", "diclofenac"},
				{RxNorm, "4502", "flurbiprofen"},
			},
			AllergyCodes: []Code{
				{SNOMED, "372665008", "Non-steroidal anti-inflammatory agent"},
			},
			NotDuplicates: []string{"1191"}, // aspirin
		},
	}
}

// classIndex maps "system|code" to the classes a drug belongs to and the classes an allergy code names.
type classIndex struct {
	members map[string][]string // drug code → class names
	allergy map[string][]string // allergy code (class code or member) → class names
	names   []memberName        // ingredient names, for product codes (see byName)
	// dup maps a drug code to the class members it is, among those that count for therapeutic
	// duplication (see duplicates).
	dup map[string][]member
}

// member is one member of a drug class.
type member struct {
	class string // DrugClass.Name
	code  Code
}

// memberName is a class member's ingredient name.
type memberName struct {
	words []string // lower-case words of the name ("sulfamethoxazole", "trimethoprim")
	class string
	m     member
	dup   bool // the member counts for therapeutic duplication
}

// byName returns the classes whose member ingredient names all appear as words in a product label
// ("Ibuprofen 600 MG Oral Tablet" → NSAIDs). RxNorm product (SCD/SBD) labels start with their
// ingredients, so this recognises the products of the table's ingredients without shipping RxNorm.
func (ix classIndex) byName(label string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range ix.named(label) {
		if !seen[n.class] {
			seen[n.class] = true
			out = append(out, n.class)
		}
	}
	return out
}

// named returns the members whose ingredient names all appear as words in a label, in table order.
func (ix classIndex) named(label string) []memberName {
	if label == "" {
		return nil
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(label), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) {
		words[w] = true
	}
	var out []memberName
	for _, n := range ix.names {
		all := len(n.words) > 0
		for _, w := range n.words {
			all = all && words[w]
		}
		if all {
			out = append(out, n)
		}
	}
	return out
}

// duplicates returns the class members a medication coding is, among those that count for therapeutic
// duplication: by its code, else — like Check, for a product code — by the ingredient names in its
// display.
func (ix classIndex) duplicates(c fhirread.Coding) []member {
	if ms, ok := ix.dup[c.System+"|"+c.Code]; ok {
		return ms
	}
	if len(ix.members[c.System+"|"+c.Code]) > 0 {
		return nil // a member that does not count (aspirin)
	}
	var out []member
	for _, n := range ix.named(c.Display) {
		if n.dup {
			out = append(out, n.m)
		}
	}
	return out
}

func newClassIndex(classes []DrugClass) classIndex {
	ix := classIndex{members: map[string][]string{}, allergy: map[string][]string{}, dup: map[string][]member{}}
	for _, c := range classes {
		for _, m := range c.Members {
			k := m.System + "|" + m.Code
			ix.members[k] = append(ix.members[k], c.Name)
			ix.allergy[k] = append(ix.allergy[k], c.Name)
			dup := !slices.Contains(c.NotDuplicates, m.Code)
			if dup {
				ix.dup[k] = append(ix.dup[k], member{c.Name, m})
			}
			var words []string
			for _, w := range strings.FieldsFunc(strings.ToLower(m.Display), func(r rune) bool { return r == ' ' || r == '/' }) {
				words = append(words, w)
			}
			ix.names = append(ix.names, memberName{words: words, class: c.Name, m: member{c.Name, m}, dup: dup})
		}
		for _, a := range c.AllergyCodes {
			k := a.System + "|" + a.Code
			ix.allergy[k] = append(ix.allergy[k], c.Name)
		}
	}
	return ix
}
