package synth

import (
	"sort"
	"strings"
	"time"
)

// Therapeutic duplication (the clinical history): for some adult patients who take no NSAID, have no NSAID
// allergy and no anticoagulant, the history records naproxen bought over the counter for back pain — a
// MedicationStatement the patient reported at a visit — and, weeks later, ibuprofen 600 mg prescribed by the
// primary care clinician (a MedicationRequest) who did not have it in view: the classic catch of a
// medication review. Both carry their RxNorm code and their WHO ATC code (http://www.whocc.no/atc).
// The situation itself (SitTherapeuticDuplication) is detected from every current medication record, so the
// two-NSAID patients of the coordination scenarios are labelled too.

// sysATC is the WHO ATC classification.
const sysATC = "http://www.whocc.no/atc"

// atcOf are the WHO ATC codes (level 5, chemical substance) of the drugs the duplication records carry:
// ibuprofen M01AE01 and naproxen M01AE02, both in M01AE (propionic acid derivatives). Consistent across
// several independent public drug tables; not checked against the WHO ATC/DDD Index itself (licensed).
var atcOf = map[string]coding{
	"ibuprofen": {sysATC, "M01AE01", "ibuprofen"},
	"naproxen":  {sysATC, "M01AE02", "naproxen"},
}

// otcRec is a medicine the patient buys over the counter, recorded by the history.
type otcRec struct {
	uuid  string
	d     *drug
	start time.Time
	atc   bool
}

// medConcept is a drug's medicationCodeableConcept with its RxNorm and ATC codings.
func medConcept(d *drug, text string) obj {
	var o obj
	o.set("coding", []any{codingObj(d.code), codingObj(atcOf[d.key])})
	o.set("text", text)
	return o
}

// duplicateNSAIDs adds, for about one in ten eligible patients, the over-the-counter naproxen and the
// later ibuprofen prescription. It runs last in the history: a patient it passes over draws nothing more,
// and one it picks gains two entries at the end of the bundle.
func (h *history) duplicateNSAIDs() {
	g := h.g
	if g.p.age < 18 || g.activeMeds() > 3 {
		return
	}
	for _, m := range g.meds {
		if hasClass(m.d, classNSAID) || m.d.anticoagulant {
			return
		}
	}
	for _, a := range g.alls {
		if a.a.class == classNSAID {
			return
		}
	}
	if !h.chance(0.1) {
		return
	}
	nap, ibu := drugs["naproxen"], drugs["ibuprofen"]
	start := g.day(-h.between(30, 180))
	asserted := start.AddDate(0, 0, h.between(3, 20))
	u := h.record("MedicationStatement", "MS", func(o *obj) {
		o.set("status", "active")
		o.set("category", concept(coding{sysMedStmtCat, "patientspecified", "Patient Specified"}, ""))
		o.set("medicationCodeableConcept", medConcept(nap, nap.text))
		o.set("subject", g.patientRef())
		o.set("effectivePeriod", period(start, nil))
		o.set("dateAsserted", date(asserted))
		o.set("informationSource", g.patientRef())
		o.set("note", []any{obj{{"text", "Buys naproxen (Aleve) over the counter for back pain; reported at a visit."}}})
		o.set("dosage", []any{obj{{"text", nap.sig}}})
	})
	h.otc = append(h.otc, &otcRec{uuid: u, d: nap, start: start, atc: true})
	authored := g.day(-h.between(1, 14)).Add(time.Duration(9+h.intn(8)) * time.Hour)
	m := h.medRequestOf(ibu, medConcept(ibu, ibu.text), "active", authored, h.practitioner(h.pcp), h.pcp.name, nil, "", nil)
	m.atc = true
}

// duplications finds the therapeutic duplications among the current medication records: the active
// statements (of the coordination records and of the history) and the active prescriptions. A drug is
// one drug however many records show it.
func (h *history) duplications() []Situation {
	g := h.g
	type current struct {
		d   *drug
		ref ResourceRef
		atc bool
	}
	var cur []current
	for _, m := range g.meds {
		if m.status == "active" {
			cur = append(cur, current{m.d, g.refTo(m), false})
		}
	}
	for _, m := range h.otc {
		cur = append(cur, current{m.d, h.refs[m.uuid], m.atc})
	}
	for _, m := range h.mrs {
		if m.status == "active" {
			cur = append(cur, current{m.d, h.refs[m.uuid], m.atc})
		}
	}
	type group struct {
		name string
		in   func(c current) bool
	}
	groups := []group{
		{"NSAID pain relievers", func(c current) bool { return c.d.analgesicNSAID }},
		{"penicillins", func(c current) bool { return hasClass(c.d, classPenicillin) }},
		{"sulfonamide antibiotics", func(c current) bool { return hasClass(c.d, classSulfonamide) }},
	}
	var atc4 []string
	for _, c := range cur {
		if a, ok := atcOf[c.d.key]; ok && c.atc && !strings.Contains(strings.Join(atc4, ","), a.code[:5]) {
			atc4 = append(atc4, a.code[:5])
		}
	}
	sort.Strings(atc4)
	for _, l4 := range atc4 {
		groups = append(groups, group{"ATC group " + l4, func(c current) bool { return c.atc && strings.HasPrefix(atcOf[c.d.key].code, l4) }})
	}
	var out []Situation
	var taken []map[string]bool
	for _, gr := range groups {
		var refs []ResourceRef
		var names []string
		seen := map[*drug]bool{}
		urls := map[string]bool{}
		for _, c := range cur {
			if !gr.in(c) {
				continue
			}
			refs = append(refs, c.ref)
			urls[c.ref.FullURL] = true
			if !seen[c.d] {
				seen[c.d] = true
				names = append(names, c.d.key)
			}
		}
		if len(seen) < 2 {
			continue
		}
		covered := false
		for _, t := range taken {
			all := true
			for u := range urls {
				all = all && t[u]
			}
			covered = covered || all
		}
		if covered {
			continue
		}
		taken = append(taken, urls)
		out = append(out, Situation{Code: SitTherapeuticDuplication, Detail: gr.name + ": " + strings.Join(names, " + "), Resources: refs})
	}
	return out
}
