package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The clinical history (Options.History): what an EHR holds around the coordination records — the care
// team and its directory (Organization, Location, Practitioner, PractitionerRole, RelatedPerson, CareTeam),
// diagnoses (Condition), visits and hospital stays (Encounter), vital signs and laboratory results with UCUM
// quantities (Observation), procedures, immunizations, prescriptions next to the medication statements
// (MedicationRequest), referrals and orders (ServiceRequest), outreach (CommunicationRequest, Communication)
// and family history (FamilyMemberHistory).
//
// It is drawn from a second random stream of the patient (seeded with (Seed, index) like the first, on
// another sequence), after the coordination records are complete, and it only reads them: a patient's
// coordination records, their situations and their bytes are the same with and without the history. The
// history's entries follow the coordination entries in the Bundle.
//
// Directory resources are shared by every bundle of a data set: their conditional create matches on a
// stable identifier (the NPI of a practitioner, careflow's own identifiers of the organizations, locations,
// roles and coordinators), so loading many bundles creates each of them once.

// Identifier systems of the directory resources.
const (
	// SystemOrganization identifies the generated organizations (the clinic network and the hospital).
	SystemOrganization = "https://careflow.example.org/fhir/sid/organization"
	// SystemLocation identifies the generated locations (clinic sites and hospital wards).
	SystemLocation = "https://careflow.example.org/fhir/sid/location"
	// SystemStaff identifies the care coordinators (who have no NPI) and every PractitionerRole.
	SystemStaff = "https://careflow.example.org/fhir/sid/staff"
)

const (
	sysObsCategory    = "http://terminology.hl7.org/CodeSystem/observation-category"
	sysInterpretation = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	sysRoleCode       = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	sysCVX            = "http://hl7.org/fhir/sid/cvx"
	sysDischarge      = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
	sysAdmitSource    = "http://terminology.hl7.org/CodeSystem/admit-source"
	sysDiagnosisRole  = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
	sysCommCategory   = "http://terminology.hl7.org/CodeSystem/communication-category"
	sysParticipation  = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysOrgType        = "http://terminology.hl7.org/CodeSystem/organization-type"
	sysLocPhysType    = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	sysAdminGender    = "http://hl7.org/fhir/administrative-gender"
	sysCareTeamCat    = "http://loinc.org"
	sysV3ActCodeClass = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

var (
	encAmbulatory = coding{sysV3ActCodeClass, "AMB", "ambulatory"}
	encInpatient  = coding{sysV3ActCodeClass, "IMP", "inpatient encounter"}
	encEmergency  = coding{sysV3ActCodeClass, "EMER", "emergency"}

	catVitalSigns = coding{sysObsCategory, "vital-signs", "Vital Signs"}
	catLaboratory = coding{sysObsCategory, "laboratory", "Laboratory"}

	interpHigh   = coding{sysInterpretation, "H", "High"}
	interpNormal = coding{sysInterpretation, "N", "Normal"}

	catReferral   = coding{sysSNOMED, "3457005", "Patient referral (procedure)"}
	catLabProc    = coding{sysSNOMED, "108252007", "Laboratory procedure (procedure)"}
	catEvaluation = coding{sysSNOMED, "386053000", "Evaluation procedure (procedure)"}
)

// A laboratory test the history records for a condition, with its normal range.
type labTest struct {
	code         coding
	unit, ucum   string
	low, high    float64 // reference range; 0 high: none
	typical      [2]float64
	decimals     int
	orderedEvery int // months
}

var labs = map[string][]labTest{
	"diabetes":       {{coding{sysLOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"}, "%", "%", 4, 5.6, [2]float64{6.4, 9.2}, 1, 3}},
	"hypertension":   {{coding{sysLOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"}, "mg/dL", "mg/dL", 0.6, 1.3, [2]float64{0.7, 1.6}, 2, 12}, {coding{sysLOINC, "2823-3", "Potassium [Moles/volume] in Serum or Plasma"}, "mmol/L", "mmol/L", 3.5, 5.1, [2]float64{3.6, 5.4}, 1, 12}},
	"heart-failure":  {{coding{sysLOINC, "33762-6", "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma"}, "pg/mL", "pg/mL", 0, 125, [2]float64{300, 4200}, 0, 3}},
	"afib":           {{coding{sysLOINC, "6301-6", "INR in Platelet poor plasma by Coagulation assay"}, "INR", "{INR}", 2, 3, [2]float64{1.6, 3.6}, 1, 1}},
	"hyperlipidemia": {{coding{sysLOINC, "18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay"}, "mg/dL", "mg/dL", 0, 100, [2]float64{70, 190}, 0, 12}},
}

type vaccine struct {
	code     coding
	minAge   int
	maxAge   int
	everyYrs int // 0: once
}

var vaccines = []vaccine{
	{coding{sysCVX, "140", "Influenza, seasonal, injectable, preservative free"}, 0, 200, 1},
	{coding{sysCVX, "208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"}, 12, 200, 1},
	{coding{sysCVX, "115", "Tdap"}, 11, 200, 10},
	{coding{sysCVX, "33", "pneumococcal polysaccharide vaccine, 23 valent"}, 65, 200, 0},
	{coding{sysCVX, "20", "DTaP"}, 0, 6, 0},
	{coding{sysCVX, "03", "MMR"}, 1, 17, 0},
	{coding{sysCVX, "08", "Hep B, adolescent or pediatric"}, 0, 17, 0},
}

// Drugs started in hospital for a condition (the discharge prescriptions of an inpatient stay).
var dischargeDrugs = map[string]*drug{
	"heart-failure": {key: "furosemide", code: coding{sysRxNorm, "313988", "furosemide 40 MG Oral Tablet"}, text: "Furosemide 40 mg tablet",
		doseValue: "40", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (40 mg) by mouth every morning; weigh yourself daily"},
	"copd": {key: "albuterol", code: coding{sysRxNorm, "745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"}, text: "Albuterol 90 mcg inhaler",
		doseValue: "2", doseUnit: "{puff}", doseText: "puff", route: routeInhaled, freq: 1, period: 4, periodUnit: "h", asNeeded: true,
		sig: "Inhale 2 puffs every 4 hours as needed for shortness of breath"},
}

var familyConditions = []coding{
	{sysSNOMED, "22298006", "Myocardial infarction (disorder)"},
	{sysSNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"},
	{sysSNOMED, "254837009", "Malignant neoplasm of breast (disorder)"},
	{sysSNOMED, "230690007", "Cerebrovascular accident (disorder)"},
	{sysSNOMED, "363406005", "Malignant neoplasm of colon (disorder)"},
}

var relatives = []struct {
	code     coding
	sex      string
	relative string
}{
	{coding{sysRoleCode, "FTH", "father"}, "male", "Father"},
	{coding{sysRoleCode, "MTH", "mother"}, "female", "Mother"},
	{coding{sysRoleCode, "BRO", "brother"}, "male", "Brother"},
	{coding{sysRoleCode, "SIS", "sister"}, "female", "Sister"},
}

// hentry is one history entry of the Bundle.
type hentry struct {
	uuid, typ, ident string
	res              obj
}

// history holds the clinical history of one patient while it is built.
type history struct {
	g         *gen
	r         *rand.Rand
	entries   []hentry
	shared    map[string]string // directory identifier → fullUrl uuid in this bundle
	conds     map[string]string // condition key → Condition uuid
	carer     caregiver         // the family caregiver (RelatedPerson)
	coord     string            // the care coordinator's Practitioner uuid
	coordName string
	schedules map[string]string // NPI → Schedule uuid
	offered   map[string]bool   // NPI → the schedule's free slots are in the bundle
	refs      map[string]ResourceRef
	pcp       *practitioner

	// What the history's situations are detected from (hsituations.go).
	appts    []*apptRec // appointments of the history (referral visits, the visit after a hospital stay)
	encs     []*encRec
	mrs      []*mrRec
	otc      []*otcRec // medicines bought over the counter that the history records (duplication.go)
	srs      []*srRec
	results  map[string]bool // ServiceRequest uuid → a Procedure is basedOn it (the result linked back)
	crs      []*crRec
	comms    []*commRec
	claims   []*claimRec
	claimRes []*claimResRec
}

type caregiver struct {
	uuid, name string
	rel        coding
}

func (h *history) intn(n int) int         { return h.r.IntN(n) }
func (h *history) chance(p float64) bool  { return h.r.Float64() < p }
func (h *history) between(lo, hi int) int { return lo + h.r.IntN(hi-lo+1) }

func (h *history) uuid() string { return newUUID(h.r) }

func (h *history) add(typ, ident string, res obj) string {
	u := h.uuid()
	h.entries = append(h.entries, hentry{u, typ, ident, res})
	h.refs[u] = ResourceRef{typ, "urn:uuid:" + u, ident}
	return u
}

// record adds a patient record with the next identifier of its kind.
func (h *history) record(typ, kind string, build func(o *obj)) string {
	rid := h.g.rid(kind)
	var o obj
	o.set("resourceType", typ)
	o.set("meta", meta())
	o.set("identifier", recordIdentifier(rid))
	build(&o)
	return h.add(typ, SystemRecord+"|"+rid, o)
}

// directory adds a shared resource once per bundle and returns its fullUrl uuid.
func (h *history) directory(typ, system, value string, build func(o *obj)) string {
	key := system + "|" + value
	if u, ok := h.shared[key]; ok {
		return u
	}
	var o obj
	o.set("resourceType", typ)
	o.set("meta", meta())
	o.set("identifier", []any{obj{{"system", system}, {"value", value}}})
	build(&o)
	u := h.add(typ, key, o)
	h.shared[key] = u
	return u
}

func ref(uuid, display string) obj { return uuidRef(uuid, display) }

// ---- directory

func (h *history) clinic() string {
	return h.directory("Organization", SystemOrganization, "CCHN", func(o *obj) {
		o.set("active", true)
		o.set("type", []any{concept(coding{sysOrgType, "prov", "Healthcare Provider"}, "")})
		o.set("name", "Careflow Community Health Network")
		o.set("telecom", []any{obj{{"system", "phone"}, {"value", "1-800-555-0190"}, {"use", "work"}}})
	})
}

func (h *history) hospital() string {
	return h.directory("Organization", SystemOrganization, "RGH", func(o *obj) {
		o.set("active", true)
		o.set("type", []any{concept(coding{sysOrgType, "prov", "Healthcare Provider"}, "")})
		o.set("name", "Riverside General Hospital")
		o.set("telecom", []any{obj{{"system", "phone"}, {"value", "1-800-555-0199"}, {"use", "work"}}})
	})
}

func (h *history) clinicSite() string {
	c := h.g.p.city
	org := h.clinic()
	return h.directory("Location", SystemLocation, "CCHN-"+c.zip, func(o *obj) {
		o.set("status", "active")
		o.set("name", "Careflow Community Health, "+c.name)
		o.set("mode", "instance")
		o.set("telecom", []any{obj{{"system", "phone"}, {"value", fmt.Sprintf("(%s) 555-0100", c.area)}, {"use", "work"}}})
		o.set("address", obj{{"use", "work"}, {"city", c.name}, {"state", c.state}, {"postalCode", c.zip}, {"country", "US"}})
		o.set("physicalType", concept(coding{sysLocPhysType, "bu", "Building"}, ""))
		o.set("managingOrganization", ref(org, "Careflow Community Health Network"))
	})
}

func (h *history) ward() string {
	org := h.hospital()
	return h.directory("Location", SystemLocation, "RGH-4W", func(o *obj) {
		o.set("status", "active")
		o.set("name", "Riverside General Hospital, ward 4 West (medicine)")
		o.set("mode", "instance")
		o.set("physicalType", concept(coding{sysLocPhysType, "wa", "Ward"}, ""))
		o.set("managingOrganization", ref(org, "Riverside General Hospital"))
	})
}

// practitioner adds a clinician and their role at the clinic network; it returns the Practitioner's uuid.
func (h *history) practitioner(p *practitioner) string {
	u := h.directory("Practitioner", sysNPI, p.npi, func(o *obj) {
		o.set("active", true)
		given, family := splitName(strings.TrimPrefix(p.name, "Dr. "))
		o.set("name", []any{obj{{"use", "official"}, {"text", p.name}, {"family", family}, {"given", given}, {"prefix", []string{"Dr."}}}})
		o.set("qualification", []any{obj{{"code", concept(coding{"http://terminology.hl7.org/CodeSystem/v2-0360/2.7", "MD", "Doctor of Medicine"}, "")}}})
	})
	org, site := h.clinic(), h.clinicSite()
	role := h.directory("PractitionerRole", SystemStaff, "ROLE-"+p.npi+"-"+h.g.p.city.zip, func(o *obj) {
		o.set("active", true)
		o.set("practitioner", ref(u, p.name))
		o.set("organization", ref(org, "Careflow Community Health Network"))
		o.set("code", []any{concept(coding{sysSNOMED, "158965000", "Doctor"}, "")})
		o.set("specialty", []any{concept(p.specialty.code, p.specialty.text)})
		o.set("location", []any{ref(site, "Careflow Community Health, "+h.g.p.city.name)})
	})
	if _, ok := h.schedules[p.npi]; !ok {
		h.schedule(p, u, role, site)
	}
	return u
}

// coordinator adds one of the care coordinators (staff without an NPI) and returns their uuid.
func (h *history) coordinator(name string) string {
	id := "CC-" + strconv.Itoa(indexOf(careCoordinators, name)+1)
	return h.directory("Practitioner", SystemStaff, id, func(o *obj) {
		o.set("active", true)
		person, _, _ := strings.Cut(name, ",")
		given, family := splitName(person)
		o.set("name", []any{obj{{"use", "official"}, {"text", name}, {"family", family}, {"given", given}}})
	})
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}

func splitName(s string) (given []string, family string) {
	parts := strings.Fields(s)
	return parts[:len(parts)-1], parts[len(parts)-1]
}

// ---- the patient's history

// buildHistory builds the history of g's patient from the coordination records, drawing from r.
func (g *gen) buildHistory(r *rand.Rand) []hentry {
	h := &history{g: g, r: r, shared: map[string]string{}, conds: map[string]string{}, schedules: map[string]string{},
		offered: map[string]bool{}, refs: map[string]ResourceRef{}, results: map[string]bool{}}
	g.h = h
	pcp := pickFrom(h.r, practitionerBySpecialty(spGP))
	if g.p.age < 18 {
		pcp = practitionerBySpecialty(spPeds)[0]
	}
	h.pcp = pcp
	h.conditions()
	h.caregiverAndTeam(pcp)
	h.encounters()
	h.stay()
	h.emergencyVisit()
	h.prescriptions(pcp)
	h.referrals()
	h.immunizations()
	h.familyHistory()
	h.outreach()
	h.bookings()
	h.priorAuthorizations()
	h.duplicateNSAIDs() // last: it draws from the stream only after everything else
	return h.entries
}

// conditions records a Condition for every problem the coordination records mention: the condition of
// each care plan (active unless the plan is completed) and the reasons of medications.
func (h *history) conditions() {
	g := h.g
	type problem struct {
		c        *condition
		onset    time.Time
		resolved *time.Time
	}
	var probs []problem
	seen := map[string]int{}
	note := func(c *condition, onset time.Time, resolved *time.Time) {
		if i, ok := seen[c.key]; ok {
			if onset.Before(probs[i].onset) {
				probs[i].onset = onset
			}
			if resolved == nil {
				probs[i].resolved = nil
			}
			return
		}
		seen[c.key] = len(probs)
		probs = append(probs, problem{c, onset, resolved})
	}
	for _, p := range g.plans {
		var res *time.Time
		if p.status == "completed" {
			res = p.end
		}
		note(p.cond, p.start.AddDate(0, -h.between(1, 24), 0), res)
	}
	for _, m := range g.meds {
		if m.reason == nil {
			continue
		}
		var res *time.Time
		if m.reason.acute {
			end := m.start.AddDate(0, 0, 10)
			if m.end != nil {
				end = *m.end
			}
			if end.Before(g.today) {
				res = &end
			}
		}
		note(m.reason, m.start.AddDate(0, 0, -h.between(0, 3)), res)
	}
	for _, pr := range probs {
		status, display, cat := "active", "Active", coding{sysCondCategory, "problem-list-item", "Problem List Item"}
		if pr.resolved != nil {
			status, display = "resolved", "Resolved"
		}
		if pr.c.acute {
			cat = coding{sysCondCategory, "encounter-diagnosis", "Encounter Diagnosis"}
		}
		u := h.record("Condition", "CND", func(o *obj) {
			o.set("clinicalStatus", concept(coding{sysCondClin, status, display}, ""))
			o.set("verificationStatus", concept(coding{sysCondVer, "confirmed", "Confirmed"}, ""))
			o.set("category", []any{concept(cat, "")})
			o.set("code", concept(pr.c.code, pr.c.text))
			o.set("subject", g.patientRef())
			o.set("onsetDateTime", date(pr.onset))
			if pr.resolved != nil {
				o.set("abatementDateTime", date(*pr.resolved))
			}
			o.set("recordedDate", date(pr.onset.AddDate(0, 0, h.between(0, 14))))
		})
		h.conds[pr.c.key] = u
	}
}

func (h *history) condRef(c *condition) any {
	if c == nil {
		return nil
	}
	if u, ok := h.conds[c.key]; ok {
		return []any{ref(u, c.text)}
	}
	return nil
}

// caregiverAndTeam adds a family caregiver (RelatedPerson) and the patient's CareTeam: the primary care
// clinician, the specialists of the active plans, a care coordinator and the caregiver.
func (h *history) caregiverAndTeam(pcp *practitioner) {
	g := h.g
	p := g.p
	var rel coding
	switch {
	case p.age < 18:
		rel = pickFrom(h.r, []coding{{sysRoleCode, "MTH", "mother"}, {sysRoleCode, "FTH", "father"}})
	case p.age >= 70:
		rel = pickFrom(h.r, []coding{{sysRoleCode, "DAU", "natural daughter"}, {sysRoleCode, "SON", "natural son"}, {sysRoleCode, "SPS", "spouse"}})
	default:
		rel = coding{sysRoleCode, "SPS", "spouse"}
	}
	given := pickFrom(h.r, append(append([]string{}, givenFemale...), givenMale...))
	fam := p.family
	if rel.code == "SPS" && h.chance(0.3) {
		fam = pickFrom(h.r, family)
	}
	name := given + " " + fam
	u := h.record("RelatedPerson", "RP", func(o *obj) {
		o.set("active", true)
		o.set("patient", g.patientRef())
		o.set("relationship", []any{concept(rel, "")})
		o.set("name", []any{obj{{"use", "official"}, {"family", fam}, {"given", []string{given}}}})
		o.set("telecom", []any{obj{{"system", "phone"}, {"value", fmt.Sprintf("(%s) 555-01%02d", p.city.area, h.intn(100))}, {"use", "mobile"}}})
		o.set("address", []any{obj{{"use", "home"}, {"line", []string{p.line}}, {"city", p.city.name}, {"state", p.city.state}, {"postalCode", p.city.zip}, {"country", "US"}}})
		if p.lang != nil {
			o.set("communication", []any{obj{{"language", concept(coding{sysBCP47, p.lang.code, p.lang.display}, p.lang.text)}, {"preferred", true}}})
		}
	})
	h.carer = caregiver{uuid: u, name: name, rel: rel}

	pcpU := h.practitioner(pcp)
	coord := pickFrom(h.r, careCoordinators)
	coordU := h.coordinator(coord)
	members := []any{
		obj{{"role", []any{concept(coding{sysSNOMED, "446050000", "Primary care physician (occupation)"}, "")}}, {"member", ref(pcpU, pcp.name)}},
		obj{{"role", []any{concept(coding{sysSNOMED, "224535009", "Registered nurse (occupation)"}, "Care coordinator")}}, {"member", ref(coordU, coord)}},
	}
	seen := map[string]bool{pcp.npi: true}
	for _, pl := range g.plans {
		if pl.status != "active" {
			continue
		}
		for _, a := range pl.activities {
			if a.performer == nil || seen[a.performer.npi] {
				continue
			}
			seen[a.performer.npi] = true
			members = append(members, obj{{"role", []any{concept(a.performer.specialty.code, a.performer.specialty.text)}}, {"member", ref(h.practitioner(a.performer), a.performer.name)}})
		}
	}
	members = append(members, obj{{"role", []any{concept(coding{sysSNOMED, "133932002", "Caregiver (person)"}, "")}}, {"member", ref(u, name)}})
	start := g.today.AddDate(0, -h.between(3, 60), 0)
	h.record("CareTeam", "CT", func(o *obj) {
		o.set("status", "active")
		o.set("category", []any{concept(coding{sysCareTeamCat, "LA27976-2", "Longitudinal care-coordination focused care team"}, "")})
		o.set("name", "Care team of "+p.displayName())
		o.set("subject", g.patientRef())
		o.set("period", obj{{"start", date(start)}})
		o.set("participant", members)
		o.set("managingOrganization", []any{ref(h.clinic(), "Careflow Community Health Network")})
		o.set("telecom", []any{obj{{"system", "phone"}, {"value", "1-800-555-0190"}, {"use", "work"}}})
	})
	h.coord, h.coordName = coordU, coord
}

// encounters records an ambulatory Encounter for every fulfilled appointment, with vital signs and, for
// the visits of plans that monitor a laboratory value, the result taken before the visit.
func (h *history) encounters() {
	g := h.g
	site := h.clinicSite()
	org := h.clinic()
	baseWeight := 55 + float64(h.intn(45))
	if g.p.age < 12 {
		baseWeight = 4 + 3*float64(g.p.age)
	}
	height := 150 + float64(h.intn(40))
	if g.p.age < 18 {
		height = min(height, 55+float64(g.p.age)*7)
	}
	hypertensive := h.conds["hypertension"] != ""
	appts := append([]*apptRec{}, g.appts...)
	sort.SliceStable(appts, func(i, j int) bool { return appts[i].start.Before(appts[j].start) })
	for _, a := range appts {
		if a.status != "fulfilled" {
			continue
		}
		pu := h.practitioner(a.prac)
		enc := h.record("Encounter", "ENC", func(o *obj) {
			o.set("status", "finished")
			o.set("class", codingObj(encAmbulatory))
			o.set("type", []any{concept(a.typ, "")})
			o.set("serviceType", concept(a.specialty.code, a.specialty.text))
			o.set("subject", g.patientRef())
			o.set("participant", []any{obj{{"type", []any{concept(coding{sysParticipation, "PPRF", "primary performer"}, "")}}, {"individual", ref(pu, a.prac.name)}}})
			o.set("appointment", []any{ref(a.uuid, a.description)})
			o.set("period", obj{{"start", dateTime(a.start)}, {"end", dateTime(a.end)}})
			o.set("reasonReference", h.condRef(a.reason))
			o.set("location", []any{obj{{"location", ref(site, "Careflow Community Health, "+g.p.city.name)}}})
			o.set("serviceProvider", ref(org, "Careflow Community Health Network"))
		})
		at := a.start.Add(10 * time.Minute)
		sys, dia := 108+h.intn(22), 64+h.intn(16)
		if hypertensive {
			sys, dia = 128+h.intn(34), 78+h.intn(18)
		}
		if g.p.age >= 3 {
			h.vital(enc, at, coding{sysLOINC, "85354-9", "Blood pressure panel with all children optional"}, "", "", "", []any{
				component(coding{sysLOINC, "8480-6", "Systolic blood pressure"}, strconv.Itoa(sys), "mm[Hg]", "mmHg"),
				component(coding{sysLOINC, "8462-4", "Diastolic blood pressure"}, strconv.Itoa(dia), "mm[Hg]", "mmHg"),
			}, sys >= 140 || dia >= 90)
		}
		h.vital(enc, at, coding{sysLOINC, "8867-4", "Heart rate"}, strconv.Itoa(58+h.intn(38)), "/min", "beats/minute", nil, false)
		w := baseWeight + float64(h.intn(41)-20)/10
		h.vital(enc, at, coding{sysLOINC, "29463-7", "Body weight"}, strconv.FormatFloat(w, 'f', 1, 64), "kg", "kg", nil, false)
		if a.typ == apptCheckup {
			h.vital(enc, at, coding{sysLOINC, "8302-2", "Body height"}, strconv.FormatFloat(height, 'f', 0, 64), "cm", "cm", nil, false)
			bmi := w / (height / 100) / (height / 100)
			h.vital(enc, at, coding{sysLOINC, "39156-5", "Body mass index (BMI) [Ratio]"}, strconv.FormatFloat(bmi, 'f', 1, 64), "kg/m2", "kg/m2", nil, bmi >= 30)
		}
		if a.plan != nil {
			for _, t := range labs[a.plan.cond.key] {
				h.lab(t, a.start.AddDate(0, 0, -h.between(2, 6)), a.plan.cond)
			}
		}
	}
	for key, ts := range labs {
		if key != "hyperlipidemia" || h.conds[key] == "" {
			continue
		}
		for _, t := range ts {
			h.lab(t, g.today.AddDate(0, 0, -h.between(20, 300)), conditions[key])
		}
	}
}

func component(c coding, value, ucum, unit string) obj {
	return obj{{"code", concept(c, "")}, {"valueQuantity", quantity(value, ucum, unit)}}
}

func quantity(value, ucum, unit string) obj {
	return obj{{"value", dec(value)}, {"unit", unit}, {"system", sysUCUM}, {"code", ucum}}
}

// vital records a vital-signs Observation (a value, or components when value is "").
func (h *history) vital(enc string, at time.Time, code coding, value, ucum, unit string, comps []any, high bool) {
	h.record("Observation", "OBS", func(o *obj) {
		o.set("status", "final")
		o.set("category", []any{concept(catVitalSigns, "")})
		o.set("code", concept(code, ""))
		o.set("subject", h.g.patientRef())
		o.set("encounter", ref(enc, ""))
		o.set("effectiveDateTime", dateTime(at))
		if value != "" {
			o.set("valueQuantity", quantity(value, ucum, unit))
		}
		if high {
			o.set("interpretation", []any{concept(interpHigh, "")})
		}
		o.set("component", comps)
	})
}

// lab records a final laboratory result for a condition's monitoring test.
func (h *history) lab(t labTest, day time.Time, c *condition) {
	g := h.g
	v := t.typical[0] + h.r.Float64()*(t.typical[1]-t.typical[0])
	value := strconv.FormatFloat(v, 'f', t.decimals, 64)
	v, _ = strconv.ParseFloat(value, 64)
	at := time.Date(day.Year(), day.Month(), day.Day(), 7+h.intn(4), 5*h.intn(12), 0, 0, g.zone(day))
	h.record("Observation", "OBS", func(o *obj) {
		o.set("status", "final")
		o.set("category", []any{concept(catLaboratory, "")})
		o.set("code", concept(t.code, ""))
		o.set("subject", g.patientRef())
		o.set("effectiveDateTime", dateTime(at))
		o.set("issued", at.Add(time.Duration(3+h.intn(20))*time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
		o.set("valueQuantity", quantity(value, t.ucum, t.unit))
		interp := interpNormal
		if (t.high > 0 && v > t.high) || v < t.low {
			interp = interpHigh
			if v < t.low {
				interp = coding{sysInterpretation, "L", "Low"}
			}
		}
		o.set("interpretation", []any{concept(interp, "")})
		rr := obj{}
		if t.low > 0 {
			rr.set("low", quantity(strconv.FormatFloat(t.low, 'f', t.decimals, 64), t.ucum, t.unit))
		}
		if t.high > 0 {
			rr.set("high", quantity(strconv.FormatFloat(t.high, 'f', t.decimals, 64), t.ucum, t.unit))
		}
		if c.key == "afib" {
			rr.set("text", "Therapeutic range on warfarin")
		}
		o.set("referenceRange", []any{rr})
	})
}

// stay records, for some patients with heart failure or COPD and some older patients, an inpatient stay
// that ended recently: the hospital Encounter with its discharge, a procedure, and the prescription
// started in hospital (which the medication statements do not show yet: what a reconciliation after
// discharge must catch).
func (h *history) stay() {
	g := h.g
	var c *condition
	for _, k := range []string{"heart-failure", "copd"} {
		if h.conds[k] != "" && h.chance(0.7) {
			c = conditions[k]
			break
		}
	}
	if c == nil {
		if g.p.age < 65 || !h.chance(0.15) {
			return
		}
		c = conditions["uti"]
	}
	ward, hosp := h.ward(), h.hospital()
	discharge := g.today.AddDate(0, 0, -h.between(1, 25))
	admit := discharge.AddDate(0, 0, -h.between(2, 6))
	admitAt := time.Date(admit.Year(), admit.Month(), admit.Day(), h.between(0, 23), h.intn(60), 0, 0, g.zone(admit))
	dischargeAt := time.Date(discharge.Year(), discharge.Month(), discharge.Day(), h.between(10, 17), h.intn(60), 0, 0, g.zone(discharge))
	hospitalist := practitioners[1]
	hu := h.practitioner(hospitalist)
	diag := h.condRef(c)
	if diag == nil {
		diag = []any{ref(h.record("Condition", "CND", func(o *obj) {
			o.set("clinicalStatus", concept(coding{sysCondClin, "resolved", "Resolved"}, ""))
			o.set("verificationStatus", concept(coding{sysCondVer, "confirmed", "Confirmed"}, ""))
			o.set("category", []any{concept(coding{sysCondCategory, "encounter-diagnosis", "Encounter Diagnosis"}, "")})
			o.set("code", concept(c.code, c.text))
			o.set("subject", g.patientRef())
			o.set("onsetDateTime", date(admit))
			o.set("abatementDateTime", date(discharge))
			o.set("recordedDate", date(admit))
		}), c.text)}
	}
	ed := h.record("Encounter", "ENC", func(o *obj) {
		o.set("status", "finished")
		o.set("class", codingObj(encEmergency))
		o.set("subject", g.patientRef())
		o.set("period", obj{{"start", dateTime(admitAt.Add(-3 * time.Hour))}, {"end", dateTime(admitAt)}})
		o.set("reasonCode", []any{concept(c.code, c.text)})
		o.set("serviceProvider", ref(hosp, "Riverside General Hospital"))
	})
	enc := h.record("Encounter", "ENC", func(o *obj) {
		o.set("status", "finished")
		o.set("class", codingObj(encInpatient))
		o.set("subject", g.patientRef())
		o.set("participant", []any{obj{{"type", []any{concept(coding{sysParticipation, "ATND", "attender"}, "")}}, {"individual", ref(hu, hospitalist.name)}}})
		o.set("period", obj{{"start", dateTime(admitAt)}, {"end", dateTime(dischargeAt)}})
		o.set("reasonCode", []any{concept(c.code, c.text)})
		o.set("diagnosis", []any{obj{{"condition", diag.([]any)[0]}, {"use", concept(coding{sysDiagnosisRole, "DD", "Discharge diagnosis"}, "")}, {"rank", 1}}})
		o.set("hospitalization", obj{
			{"admitSource", concept(coding{sysAdmitSource, "emd", "From accident/emergency department"}, "")},
			{"dischargeDisposition", concept(coding{sysDischarge, "home", "Home"}, "")},
		})
		o.set("location", []any{obj{{"location", ref(ward, "Riverside General Hospital, ward 4 West (medicine)")}, {"status", "completed"}, {"period", obj{{"start", dateTime(admitAt)}, {"end", dateTime(dischargeAt)}}}}})
		o.set("serviceProvider", ref(hosp, "Riverside General Hospital"))
	})
	h.encs = append(h.encs, &encRec{uuid: ed, class: encEmergency, start: admitAt.Add(-3 * time.Hour), end: admitAt},
		&encRec{uuid: enc, class: encInpatient, start: admitAt, end: dischargeAt})
	proc := coding{sysSNOMED, "399208008", "Plain chest X-ray (procedure)"}
	if c.key == "heart-failure" {
		proc = coding{sysSNOMED, "40701008", "Echocardiography (procedure)"}
	}
	h.record("Procedure", "PRC", func(o *obj) {
		o.set("status", "completed")
		o.set("code", concept(proc, ""))
		o.set("subject", g.patientRef())
		o.set("encounter", ref(enc, ""))
		o.set("performedDateTime", dateTime(admitAt.Add(time.Duration(4+h.intn(20))*time.Hour)))
		o.set("performer", []any{obj{{"actor", ref(hu, hospitalist.name)}}})
		o.set("location", ref(ward, ""))
		o.set("reasonReference", diag)
	})
	// The prescription at discharge: a drug started in hospital, which the medication statements do not
	// show (a reconciliation must catch it), or sometimes a home medicine continued (nothing to reconcile).
	var home []*medRec
	for _, m := range g.meds {
		if m.status == "active" {
			home = append(home, m)
		}
	}
	if d := dischargeDrugs[c.key]; d != nil {
		if len(home) > 0 && h.chance(0.3) {
			d = pickFrom(h.r, home).d
		}
		h.medRequest(d, "active", dischargeAt, hu, hospitalist.name, diag, enc, nil)
	}
	h.transition(enc, "Hospital stay", discharge, c, "Post-discharge call: symptoms, medications started in hospital, follow-up visit within 7 days.")
}

// emergencyVisit records, for some patients who had no hospital stay, a recent visit to the emergency
// department that ended at home (treat and release), with the transitional care that follows.
func (h *history) emergencyVisit() {
	g := h.g
	if len(h.encs) > 0 || !h.chance(0.25) {
		return
	}
	c := conditions["uti"]
	for _, k := range []string{"asthma", "copd", "afib", "diabetes"} {
		if h.conds[k] != "" {
			c = conditions[k]
			break
		}
	}
	hosp := h.hospital()
	day := g.today.AddDate(0, 0, -h.between(1, 20))
	start := time.Date(day.Year(), day.Month(), day.Day(), h.between(0, 20), h.intn(60), 0, 0, g.zone(day))
	end := start.Add(time.Duration(2+h.intn(4)) * time.Hour)
	enc := h.record("Encounter", "ENC", func(o *obj) {
		o.set("status", "finished")
		o.set("class", codingObj(encEmergency))
		o.set("subject", g.patientRef())
		o.set("period", obj{{"start", dateTime(start)}, {"end", dateTime(end)}})
		o.set("reasonCode", []any{concept(c.code, c.text)})
		o.set("hospitalization", obj{{"dischargeDisposition", concept(coding{sysDischarge, "home", "Home"}, "")}})
		o.set("serviceProvider", ref(hosp, "Riverside General Hospital"))
	})
	h.encs = append(h.encs, &encRec{uuid: enc, class: encEmergency, start: start, end: end})
	h.transition(enc, "Emergency visit", dateOf(end), c, "Call after the emergency visit: symptoms, new medicines, follow-up visit within 7 days.")
}

// transition records the transitional care after a discharge: the coordinator's call, due two days after
// it (sometimes made, sometimes late), and for some patients a follow-up visit within a week (when it is
// already past).
func (h *history) transition(enc, about string, discharge time.Time, c *condition, text string) {
	g := h.g
	if h.chance(0.5) {
		off := g.clinicDay(int(discharge.Sub(g.today).Hours()/24) + h.between(2, 6))
		if off < 0 && !g.usedDays[off] {
			g.usedDays[off] = true
			at := g.at(off, h.between(8, 15), 15*h.intn(4))
			h.visit(h.pcp, "fulfilled", at, 30, apptFollowUp, "Follow-up visit after the "+strings.ToLower(about), "", c)
		}
	}
	due := discharge.AddDate(0, 0, 2)
	made := due.Before(g.today) && h.chance(0.5)
	status := "active"
	if made {
		status = "completed"
	}
	cr := h.record("CommunicationRequest", "CR", func(o *obj) {
		o.set("status", status)
		o.set("category", []any{concept(coding{sysCommCategory, "instruction", "Instruction"}, "")})
		o.set("priority", "urgent")
		o.set("subject", g.patientRef())
		o.set("about", []any{ref(enc, about)})
		o.set("payload", []any{obj{{"contentString", text}}})
		o.set("occurrenceDateTime", date(due))
		o.set("authoredOn", date(discharge))
		o.set("requester", ref(h.coord, h.coordName))
		o.set("recipient", []any{g.patientRef()})
	})
	h.crs = append(h.crs, &crRec{uuid: cr, status: status, occurrence: due})
	if made {
		// Sometimes made late, after the two business days.
		sent := due
		if h.chance(0.3) {
			sent = min2(addBusinessDays(discharge, 2+h.between(1, 3)), g.today.AddDate(0, 0, -1))
		}
		sentAt := time.Date(sent.Year(), sent.Month(), sent.Day(), h.between(9, 16), h.intn(60), 0, 0, g.zone(sent))
		com := h.record("Communication", "COM", func(o *obj) {
			o.set("basedOn", []any{ref(cr, "")})
			o.set("status", "completed")
			o.set("category", []any{concept(coding{sysCommCategory, "instruction", "Instruction"}, "")})
			o.set("subject", g.patientRef())
			o.set("about", []any{ref(enc, about)})
			o.set("sent", dateTime(sentAt))
			o.set("recipient", []any{g.patientRef()})
			o.set("sender", ref(h.coord, h.coordName))
			o.set("payload", []any{obj{{"contentString", text}}})
		})
		h.comms = append(h.comms, &commRec{uuid: com, basedOn: cr, sent: sentAt})
	}
}

// prescriptions records the MedicationRequest behind every prescribed medication statement (not the ones
// the patient reports on their own).
func (h *history) prescriptions(pcp *practitioner) {
	g := h.g
	for _, m := range g.meds {
		if m.source != "" && m.category == "patientspecified" {
			continue
		}
		prescriber := pcp
		if m.plan != nil {
			prescriber = practitionerBySpecialty(m.plan.cond.specialty)[0]
		}
		status := map[string]string{"active": "active", "completed": "completed", "stopped": "stopped"}[m.status]
		if status == "" {
			continue
		}
		var plan any
		if m.plan != nil {
			plan = []any{ref(m.plan.uuid, m.plan.title)}
		}
		h.medRequest(m.d, status, m.start.Add(time.Duration(9+h.intn(8))*time.Hour), h.practitioner(prescriber), prescriber.name, h.condRef(m.reason), "", plan)
	}
}

func (h *history) medRequest(d *drug, status string, authored time.Time, prescriber, prescriberName string, reason any, enc string, basedOn any) *mrRec {
	return h.medRequestOf(d, concept(d.code, d.text), status, authored, prescriber, prescriberName, reason, enc, basedOn)
}

// medRequestOf is medRequest with the medicationCodeableConcept given.
func (h *history) medRequestOf(d *drug, medication obj, status string, authored time.Time, prescriber, prescriberName string, reason any, enc string, basedOn any) *mrRec {
	g := h.g
	u := h.record("MedicationRequest", "MR", func(o *obj) {
		o.set("basedOn", basedOn)
		o.set("status", status)
		o.set("intent", "order")
		o.set("medicationCodeableConcept", medication)
		o.set("subject", g.patientRef())
		if enc != "" {
			o.set("encounter", ref(enc, ""))
		}
		o.set("authoredOn", dateTime(authored))
		o.set("requester", ref(prescriber, prescriberName))
		o.set("reasonReference", reason)
		o.set("dosageInstruction", []any{obj{{"text", d.sig}}})
		days := d.courseDays
		if days == 0 {
			days = 90
		}
		o.set("dispenseRequest", obj{
			{"numberOfRepeatsAllowed", map[bool]int{true: 0, false: 3}[d.courseDays > 0]},
			{"expectedSupplyDuration", obj{{"value", dec(strconv.Itoa(days))}, {"unit", "days"}, {"system", sysUCUM}, {"code", "d"}}},
		})
	})
	m := &mrRec{uuid: u, d: d, status: status, authored: authored, enc: enc}
	h.mrs = append(h.mrs, m)
	return m
}

// referrals records the ServiceRequest behind every test and referral activity of the care plans, and a
// Procedure for the completed ones. A one-off referral (category SNOMED 3457005, "Patient referral") that
// is still open is in one of the states of a referral loop (IHE 360X / BSeR): sent recently, not scheduled
// for weeks, seen by the specialist with the result returned (the loop closes: the request is completed and
// a Procedure is basedOn it), or seen with no result back yet. Recurring tests are standing orders
// (laboratory, or evaluation procedures such as spirometry), not referrals.
func (h *history) referrals() {
	g := h.g
	for _, p := range g.plans {
		for _, a := range p.activities {
			if a.t.kind != "ServiceRequest" {
				continue
			}
			status := map[string]string{"completed": "completed", "in-progress": "active", "scheduled": "active", "not-started": "active"}[a.status]
			if p.status == "draft" {
				status = "draft"
			}
			if status == "" {
				continue
			}
			cat := catReferral
			switch {
			case a.t.code != nil && a.t.code.system == sysLOINC:
				cat = catLabProc
			case a.t.everyMonths > 0:
				cat = catEvaluation
			}
			perf := a.performer
			if perf == nil {
				perf = practitionerBySpecialty(p.cond.specialty)[0]
			}
			pu := h.practitioner(perf)
			authored := a.start
			if authored.IsZero() || authored.After(g.today) {
				authored = g.today.AddDate(0, 0, -h.between(1, 20))
			}
			var code obj
			if a.t.code != nil {
				code = concept(*a.t.code, a.t.text)
			} else {
				code = textConcept(a.t.text)
			}
			// The state of an open referral.
			loop := -1
			if status == "active" && cat == catReferral {
				loop = h.intn(4)
				switch loop {
				case 0: // sent recently
					authored = g.today.AddDate(0, 0, -h.between(2, 10))
				case 1: // not scheduled for weeks
					authored = g.today.AddDate(0, 0, -h.between(referralDays+6, 60))
				default: // seen by the specialist
					authored = g.today.AddDate(0, 0, -h.between(30, 70))
				}
				if loop == 2 {
					status = "completed"
				}
			}
			sr := h.record("ServiceRequest", "SR", func(o *obj) {
				o.set("basedOn", []any{ref(p.uuid, p.title)})
				o.set("status", status)
				o.set("intent", "order")
				o.set("category", []any{concept(cat, "")})
				o.set("priority", "routine")
				o.set("code", code)
				o.set("subject", g.patientRef())
				if a.schedKind == "period" && a.end != nil && loop < 2 {
					o.set("occurrencePeriod", period(a.start, a.end))
				}
				o.set("authoredOn", date(authored))
				o.set("requester", ref(pu, perf.name))
				o.set("reasonReference", h.condRef(p.cond))
				o.set("patientInstruction", a.t.description)
			})
			h.srs = append(h.srs, &srRec{uuid: sr, status: status, referral: cat == catReferral, authored: authored, text: a.t.text, prac: perf, cond: p.cond})
			if loop >= 2 {
				// The specialist visit, based on the referral, on a free clinic day before today.
				off := g.freeDay(int(authored.Sub(g.today).Hours()/24)+h.between(7, 20), 1)
				if off >= 0 {
					off = g.freeDay(-2, -1)
				}
				at := g.at(off, h.between(8, 15), 15*h.intn(4))
				h.visit(perf, "fulfilled", at, 40, apptRoutine, a.t.description, sr, p.cond)
				if loop == 2 {
					h.record("Procedure", "PRC", func(o *obj) {
						o.set("basedOn", []any{ref(sr, a.t.text)})
						o.set("status", "completed")
						o.set("code", code)
						o.set("subject", g.patientRef())
						o.set("performedDateTime", dateTime(at))
						o.set("performer", []any{obj{{"actor", ref(pu, perf.name)}}})
						o.set("reasonReference", h.condRef(p.cond))
					})
					h.results[sr] = true
				}
				continue
			}
			if status == "completed" && cat == catReferral && a.t.code != nil {
				done := authored.AddDate(0, 0, h.between(7, 30))
				if done.After(g.today) {
					done = g.today.AddDate(0, 0, -1)
				}
				h.record("Procedure", "PRC", func(o *obj) {
					o.set("basedOn", []any{ref(sr, a.t.text)})
					o.set("status", "completed")
					o.set("code", concept(*a.t.code, a.t.text))
					o.set("subject", g.patientRef())
					o.set("performedDateTime", date(done))
					o.set("reasonReference", h.condRef(p.cond))
				})
				h.results[sr] = true
			}
		}
	}
}

// visit adds an appointment of the history (a referral visit, the visit after a hospital stay) with its
// Slot, and returns it.
func (h *history) visit(p *practitioner, status string, start time.Time, minutes int, typ coding, desc, basedOn string, reason *condition) *apptRec {
	g := h.g
	a := &apptRec{rid: g.rid("AP"), status: status, start: start, end: start.Add(time.Duration(minutes) * time.Minute),
		prac: p, typ: typ, specialty: p.specialty, reason: reason, description: desc, basedOn: basedOn, pracUUID: h.practitioner(p)}
	a.created = start.AddDate(0, 0, -h.between(3, 20))
	a.slot = h.slotFor(p, a.specialty, typ, status, a.start, a.end)
	a.uuid = h.add("Appointment", SystemRecord+"|"+a.rid, g.renderAppt(a))
	h.appts = append(h.appts, a)
	return a
}

// immunizations records the vaccines due for the patient's age, on past dates.
func (h *history) immunizations() {
	g := h.g
	site := h.clinicSite()
	for _, v := range vaccines {
		if g.p.age < v.minAge || g.p.age > v.maxAge {
			continue
		}
		doses := 1
		if v.everyYrs == 1 {
			doses = min(2, g.p.age+1)
		}
		for k := 0; k < doses; k++ {
			var day time.Time
			if v.everyYrs == 1 {
				day = time.Date(g.today.Year()-k, time.October, 1+h.intn(28), 0, 0, 0, 0, time.UTC)
				if day.After(g.today) {
					day = day.AddDate(-1, 0, 0)
				}
			} else {
				day = g.p.birth.AddDate(max(v.minAge, 0), h.intn(6), h.intn(28))
				if v.everyYrs > 0 {
					day = g.today.AddDate(-h.between(1, v.everyYrs*12)/12, -h.intn(12), 0)
				}
				if day.After(g.today) {
					day = g.today.AddDate(0, 0, -h.between(1, 60))
				}
			}
			if day.Before(g.p.birth) {
				continue
			}
			h.record("Immunization", "IMM", func(o *obj) {
				o.set("status", "completed")
				o.set("vaccineCode", concept(v.code, ""))
				o.set("patient", g.patientRef())
				o.set("occurrenceDateTime", date(day))
				o.set("primarySource", h.chance(0.8))
				o.set("location", ref(site, ""))
				o.set("lotNumber", fmt.Sprintf("%c%c%04d", 'A'+rune(h.intn(26)), 'A'+rune(h.intn(26)), h.intn(10000)))
			})
		}
	}
}

// familyHistory records up to two relatives' conditions.
func (h *history) familyHistory() {
	g := h.g
	for n := h.intn(3); n > 0; n-- {
		r := relatives[h.intn(len(relatives))]
		c := familyConditions[h.intn(len(familyConditions))]
		age := 45 + h.intn(30)
		h.record("FamilyMemberHistory", "FMH", func(o *obj) {
			o.set("status", "completed")
			o.set("patient", g.patientRef())
			o.set("date", date(g.today.AddDate(0, -h.between(1, 30), 0)))
			o.set("relationship", concept(r.code, r.relative))
			o.set("sex", concept(coding{sysAdminGender, r.sex, titleCase(r.sex)}, ""))
			o.set("condition", []any{obj{{"code", concept(c, "")}, {"onsetAge", obj{{"value", age}, {"unit", "years"}, {"system", sysUCUM}, {"code", "a"}}}}})
		})
	}
}

// outreach records the coordinator's outreach to the patient or their caregiver: reminders of booked
// appointments (some answered by a Communication, some still open) and a call after a hospital stay.
func (h *history) outreach() {
	g := h.g
	for _, a := range g.appts {
		recent := a.status == "fulfilled" && a.start.After(g.today.AddDate(0, 0, -60))
		if !(a.status == "booked" || recent) || !h.chance(0.6) {
			continue
		}
		toCaregiver := g.p.age < 18 || (g.p.age >= 75 && h.chance(0.5))
		recipient := g.patientRef()
		if toCaregiver {
			recipient = ref(h.carer.uuid, h.carer.name)
		}
		when := a.start.AddDate(0, 0, -2)
		if when.After(g.today.AddDate(0, 0, 14)) {
			when = a.start.AddDate(0, 0, -7)
		}
		due := when.Before(g.today)
		answered := recent || due && h.chance(0.6)
		status := "active"
		if answered {
			status = "completed"
		}
		text := fmt.Sprintf("Reminder: %s on %s at %s. Reply or call 1-800-555-0190 to reschedule.", a.description, a.start.Format("Monday, January 2"), a.start.Format("3:04 PM"))
		cr := h.record("CommunicationRequest", "CR", func(o *obj) {
			o.set("status", status)
			o.set("category", []any{concept(coding{sysCommCategory, "reminder", "Reminder"}, "")})
			o.set("priority", "routine")
			o.set("subject", g.patientRef())
			o.set("about", []any{ref(a.uuid, a.description)})
			o.set("payload", []any{obj{{"contentString", text}}})
			o.set("occurrenceDateTime", date(when))
			o.set("authoredOn", date(min2(when, g.today).AddDate(0, 0, -h.between(1, 10))))
			o.set("requester", ref(h.coord, h.coordName))
			o.set("recipient", []any{recipient})
		})
		h.crs = append(h.crs, &crRec{uuid: cr, status: status, occurrence: when})
		if answered {
			sent := time.Date(when.Year(), when.Month(), when.Day(), h.between(9, 16), h.intn(60), 0, 0, g.zone(when))
			com := h.record("Communication", "COM", func(o *obj) {
				o.set("basedOn", []any{ref(cr, "")})
				o.set("status", "completed")
				o.set("category", []any{concept(coding{sysCommCategory, "reminder", "Reminder"}, "")})
				o.set("subject", g.patientRef())
				o.set("about", []any{ref(a.uuid, a.description)})
				o.set("sent", dateTime(sent))
				o.set("recipient", []any{recipient})
				o.set("sender", ref(h.coord, h.coordName))
				o.set("payload", []any{obj{{"contentString", text}}})
			})
			h.comms = append(h.comms, &commRec{uuid: com, basedOn: cr, sent: sent})
		}
	}
}

func min2(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
