package synth

import (
	"fmt"
	"html"
	"strconv"
	"time"
)

// Rendering of the records as FHIR R4 JSON, members in the order of the FHIR element definitions.

const (
	layoutDate     = "2006-01-02"
	layoutDateTime = "2006-01-02T15:04:05-07:00"
)

func date(t time.Time) string     { return t.Format(layoutDate) }
func dateTime(t time.Time) string { return t.Format(layoutDateTime) }

func codingObj(c coding) obj {
	var o obj
	o.set("system", c.system)
	o.set("code", c.code)
	o.set("display", c.display)
	return o
}

// concept is a CodeableConcept with one coding and an optional text.
func concept(c coding, text string) obj {
	var o obj
	o.set("coding", []any{codingObj(c)})
	o.set("text", text)
	return o
}

func textConcept(text string) obj { return obj{{"text", text}} }

func uuidRef(uuid, display string) obj {
	var o obj
	o.set("reference", "urn:uuid:"+uuid)
	o.set("display", display)
	return o
}

// practitionerRef refers to a practitioner, who is not a resource on the server: by name only, by an
// absolute URL into an external directory, or logically by NPI.
func practitionerRef(p *practitioner, form int) obj {
	var o obj
	switch form {
	case 1:
		o.set("reference", directoryBase+p.npi)
	case 2:
		o.set("type", "Practitioner")
		o.set("identifier", obj{{"system", sysNPI}, {"value", p.npi}})
	}
	o.set("display", p.name)
	return o
}

func recordIdentifier(rid string) []any {
	return []any{obj{{"system", SystemRecord}, {"value", rid}}}
}

// meta marks every resource as test data (HL7 v3 ActReason HTEST), so it can be found and purged.
func meta() obj {
	return obj{{"security", []any{obj{{"system", sysActReason}, {"code", "HTEST"}, {"display", "test health data"}}}}}
}

func period(start time.Time, end *time.Time) obj {
	o := obj{{"start", date(start)}}
	if end != nil {
		o.set("end", date(*end))
	}
	return o
}

func (g *gen) patientRef() obj { return uuidRef(g.p.uuid, g.p.displayName()) }

// ---- Patient

func (g *gen) renderPatient() obj {
	p := g.p
	var o obj
	o.set("resourceType", "Patient")
	o.set("meta", meta())
	if p.narrative {
		div := fmt.Sprintf(`<div xmlns="http://www.w3.org/1999/xhtml"><p><b>%s</b>, %s, born %s</p><p>MRN %s</p></div>`,
			html.EscapeString(p.displayName()), p.gender, date(p.birth), p.mrn)
		o.set("text", obj{{"status", "generated"}, {"div", div}})
	}
	ids := []any{obj{
		{"use", "usual"},
		{"type", concept(coding{sysV20203, "MR", "Medical record number"}, "")},
		{"system", SystemMRN},
		{"value", p.mrn},
	}}
	if p.ssn != "" {
		ids = append(ids, obj{
			{"type", concept(coding{sysV20203, "SS", "Social Security number"}, "")},
			{"system", sysSSN},
			{"value", p.ssn},
		})
	}
	o.set("identifier", ids)
	o.set("active", true)
	var name obj
	name.set("use", "official")
	if g.idx%3 == 0 {
		name.set("text", p.displayName())
	}
	name.set("family", p.family)
	name.set("given", p.given)
	if p.prefix != "" {
		name.set("prefix", []string{p.prefix})
	}
	o.set("name", []any{name})
	tel := []any{obj{{"system", "phone"}, {"value", p.phone}, {"use", p.phoneUse}}}
	if p.email != "" {
		tel = append(tel, obj{{"system", "email"}, {"value", p.email}})
	}
	o.set("telecom", tel)
	o.set("gender", p.gender)
	o.set("birthDate", date(p.birth))
	if p.birthTime != nil {
		o.set("_birthDate", obj{{"extension", []any{obj{{"url", extBirthTime}, {"valueDateTime", dateTime(*p.birthTime)}}}}})
	}
	var addr obj
	addr.set("use", "home")
	addr.set("type", "physical")
	addr.set("line", []string{p.line})
	addr.set("city", p.city.name)
	addr.set("state", p.city.state)
	addr.set("postalCode", p.city.zip)
	addr.set("country", "US")
	o.set("address", []any{addr})
	if p.lang != nil {
		o.set("communication", []any{obj{
			{"language", concept(coding{sysBCP47, p.lang.code, p.lang.display}, p.lang.text)},
			{"preferred", true},
		}})
	}
	return o
}

// ---- Coverage

func (g *gen) renderCoverage(c *coverageRec) obj {
	var o obj
	o.set("resourceType", "Coverage")
	o.set("meta", meta())
	if c.payorForm == 2 {
		org := obj{{"resourceType", "Organization"}, {"id", "payor"}}
		if c.payor.naic != "" {
			org.set("identifier", []any{obj{{"system", sysNAIC}, {"value", c.payor.naic}}})
		}
		org.set("active", true)
		org.set("name", c.payor.name)
		org.set("telecom", []any{obj{{"system", "phone"}, {"value", c.payor.phone}}})
		o.set("contained", []any{org})
	}
	if c.priorAuth != "" {
		o.set("extension", []any{obj{
			{"url", ExtPriorAuthorization},
			{"extension", []any{
				obj{{"url", "required"}, {"valueBoolean", true}},
				obj{{"url", "service"}, {"valueCodeableConcept", textConcept(c.priorAuth)}},
				obj{{"url", "phone"}, {"valueString", c.payor.phone}},
			}},
		}})
	}
	o.set("identifier", []any{
		obj{{"system", SystemRecord}, {"value", c.rid}},
		obj{{"type", concept(coding{sysV20203, "MB", "Member Number"}, "")}, {"value", c.memberID}},
	})
	o.set("status", c.status)
	if c.public {
		o.set("type", concept(coding{sysActCode, "PUBLICPOL", "public healthcare"}, ""))
	} else {
		o.set("type", concept(coding{sysActCode, "HIP", "health insurance plan policy"}, ""))
	}
	if c.relationship == "self" {
		o.set("policyHolder", g.patientRef())
		o.set("subscriber", g.patientRef())
	} else {
		o.set("policyHolder", obj{{"display", c.subscriber}})
		o.set("subscriber", obj{{"display", c.subscriber}})
	}
	o.set("subscriberId", c.memberID)
	o.set("beneficiary", g.patientRef())
	if c.relationship == "child" {
		o.set("dependent", "01")
	}
	o.set("relationship", concept(coding{sysSubscriberRel, c.relationship, map[string]string{"self": "Self", "spouse": "Spouse", "child": "Child"}[c.relationship]}, ""))
	o.set("period", period(c.start, c.end))
	switch c.payorForm {
	case 0:
		o.set("payor", []any{obj{{"display", c.payor.name}}})
	case 1:
		if c.payor.naic != "" {
			o.set("payor", []any{obj{{"type", "Organization"}, {"identifier", obj{{"system", sysNAIC}, {"value", c.payor.naic}}}, {"display", c.payor.name}}})
		} else {
			o.set("payor", []any{obj{{"type", "Organization"}, {"display", c.payor.name}}})
		}
	default:
		o.set("payor", []any{obj{{"reference", "#payor"}, {"display", c.payor.name}}})
	}
	classes := []any{obj{{"type", concept(coding{sysCoverageClass, "plan", "Plan"}, "")}, {"value", planCode(c.plan)}, {"name", c.plan}}}
	if c.group != "" {
		classes = append([]any{obj{{"type", concept(coding{sysCoverageClass, "group", "Group"}, "")}, {"value", c.group}, {"name", "Employer group " + c.group[4:]}}}, classes...)
	}
	o.set("class", classes)
	if c.copays {
		o.set("costToBeneficiary", []any{
			obj{{"type", concept(coding{sysCopayType, "gpvisit", "GP Office Visit"}, "")}, {"valueMoney", obj{{"value", dec("25.00")}, {"currency", "USD"}}}},
			obj{{"type", concept(coding{sysCopayType, "spvisit", "Specialist Office Visit"}, "")}, {"valueMoney", obj{{"value", dec("50.00")}, {"currency", "USD"}}}},
			obj{{"type", concept(coding{sysCopayType, "copaypct", "Copay Percentage"}, "")}, {"valueQuantity", obj{{"value", dec("20")}, {"unit", "%"}, {"system", sysUCUM}, {"code", "%"}}}},
		})
	}
	return o
}

// planCode derives a short plan code such as "AGPPO" from a plan name.
func planCode(name string) string {
	out := []byte{}
	word := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == ' ':
			word = true
		case word && c >= 'A' && c <= 'Z':
			out = append(out, c)
			word = false
		default:
			word = false
		}
	}
	return string(out) + "-" + strconv.Itoa(len(name))
}

// ---- AllergyIntolerance

func (g *gen) renderAllergy(a *allergyRec) obj {
	var o obj
	o.set("resourceType", "AllergyIntolerance")
	o.set("meta", meta())
	o.set("identifier", recordIdentifier(a.rid))
	o.set("clinicalStatus", concept(coding{sysAllergyClin, a.clinical, titleCase(a.clinical)}, ""))
	o.set("verificationStatus", concept(coding{sysAllergyVer, a.verification, titleCase(a.verification)}, ""))
	o.set("type", a.a.typ)
	o.set("category", []string{a.a.category})
	o.set("criticality", a.criticality)
	o.set("code", concept(a.code, a.a.text))
	o.set("patient", g.patientRef())
	if a.onset != nil {
		o.set("onsetDateTime", date(*a.onset))
	} else {
		o.set("onsetString", a.onsetString)
	}
	o.set("recordedDate", date(a.recorded))
	o.set("recorder", obj{{"display", a.recorder}})
	if a.lastOccurrence != nil {
		o.set("lastOccurrence", date(*a.lastOccurrence))
	}
	if a.note != "" {
		o.set("note", []any{obj{{"text", a.note}}})
	}
	if len(a.reactions) > 0 {
		var ms []any
		sev := ""
		for _, r := range a.reactions {
			ms = append(ms, concept(r.manifestation, ""))
			if severityRank(r.severity) > severityRank(sev) {
				sev = r.severity
			}
		}
		var r obj
		r.set("manifestation", ms)
		r.set("severity", sev)
		o.set("reaction", []any{r})
	}
	return o
}

func severityRank(s string) int {
	return map[string]int{"mild": 1, "moderate": 2, "severe": 3}[s]
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	switch s {
	case "entered-in-error":
		return "Entered in Error"
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// ---- MedicationStatement

func (g *gen) renderMed(m *medRec) obj {
	d := m.d
	var o obj
	o.set("resourceType", "MedicationStatement")
	o.set("meta", meta())
	o.set("identifier", recordIdentifier(m.rid))
	if m.plan != nil {
		o.set("basedOn", []any{uuidRef(m.plan.uuid, m.plan.title)})
	}
	o.set("status", m.status)
	if m.statusReason != "" {
		o.set("statusReason", []any{textConcept(m.statusReason)})
	}
	o.set("category", concept(coding{sysMedStmtCat, m.category, map[string]string{"community": "Community", "outpatient": "Outpatient", "patientspecified": "Patient Specified"}[m.category]}, ""))
	o.set("medicationCodeableConcept", concept(d.code, d.text))
	o.set("subject", g.patientRef())
	o.set("effectivePeriod", period(m.start, m.end))
	o.set("dateAsserted", date(m.asserted))
	if m.source != "" {
		o.set("informationSource", obj{{"display", m.source}})
	}
	if m.reason != nil {
		o.set("reasonCode", []any{concept(m.reason.code, m.reason.text)})
	}
	if m.note != "" {
		o.set("note", []any{obj{{"text", m.note}}})
	}
	var dose obj
	if m.dosageForm == 0 {
		dose.set("text", d.sig)
		o.set("dosage", []any{dose})
		return o
	}
	dose.set("sequence", 1)
	if m.dosageForm == 2 {
		dose.set("text", d.sig)
	}
	var rep obj
	if d.courseDays > 0 && m.status == "active" {
		rep.set("boundsDuration", obj{{"value", dec(strconv.Itoa(d.courseDays))}, {"unit", "days"}, {"system", sysUCUM}, {"code", "d"}})
	}
	rep.set("frequency", d.freq)
	rep.set("period", dec(strconv.Itoa(d.period)))
	rep.set("periodUnit", d.periodUnit)
	if d.when != "" {
		rep.set("when", []string{d.when})
	}
	timing := obj{{"repeat", rep}}
	if d.gts != "" && m.dosageForm == 2 {
		timing.set("code", concept(coding{sysGTSAbbrev, d.gts, ""}, ""))
	}
	dose.set("timing", timing)
	if d.asNeeded {
		dose.set("asNeededBoolean", true)
	}
	dose.set("route", concept(d.route, ""))
	q := obj{{"value", d.doseValue}, {"unit", d.doseText}}
	if d.formCode != "" && m.dosageForm == 2 {
		q.set("system", sysDrugForm)
		q.set("code", d.formCode)
	} else {
		q.set("system", sysUCUM)
		q.set("code", d.doseUnit)
	}
	dose.set("doseAndRate", []any{obj{
		{"type", concept(coding{sysDoseRateType, "ordered", "Ordered"}, "")},
		{"doseQuantity", q},
	}})
	o.set("dosage", []any{dose})
	return o
}

// ---- CarePlan

func (g *gen) renderPlan(p *planRec) obj {
	var o obj
	o.set("resourceType", "CarePlan")
	o.set("meta", meta())
	if p.contained {
		cond := obj{{"resourceType", "Condition"}, {"id", "condition"}}
		cond.set("clinicalStatus", concept(coding{sysCondClin, "active", "Active"}, ""))
		cond.set("verificationStatus", concept(coding{sysCondVer, "confirmed", "Confirmed"}, ""))
		cond.set("category", []any{concept(coding{sysCondCategory, "problem-list-item", "Problem List Item"}, "")})
		cond.set("code", concept(p.cond.code, p.cond.text))
		cond.set("subject", g.patientRef())
		cond.set("onsetDateTime", date(p.start.AddDate(0, -g.between(1, 36), 0)))
		o.set("contained", []any{cond})
	}
	o.set("identifier", recordIdentifier(p.rid))
	o.set("status", p.status)
	o.set("intent", "plan")
	o.set("category", []any{
		concept(coding{sysUSCoreCPCat, "assess-plan", "Assessment and Plan of Treatment"}, ""),
		concept(p.cond.planCode, ""),
	})
	o.set("title", p.title)
	o.set("description", p.desc)
	o.set("subject", g.patientRef())
	o.set("period", period(p.start, p.end))
	o.set("created", date(p.created))
	o.set("author", obj{{"display", p.author}})
	if p.contained {
		o.set("addresses", []any{obj{{"reference", "#condition"}, {"display", p.cond.text}}})
	} else {
		o.set("addresses", []any{obj{{"display", p.cond.text}}})
	}
	var acts []any
	for _, a := range p.activities {
		acts = append(acts, g.renderActivity(a))
	}
	o.set("activity", acts)
	if p.note != "" {
		o.set("note", []any{obj{{"text", p.note}}})
	}
	return o
}

func (g *gen) renderActivity(a *activityRec) obj {
	var act obj
	var outs []any
	for _, ap := range a.outcomes {
		outs = append(outs, uuidRef(ap.uuid, "Visit on "+date(ap.start)))
	}
	act.set("outcomeReference", outs)
	var d obj
	d.set("kind", a.t.kind)
	if a.t.code != nil {
		d.set("code", concept(*a.t.code, a.t.text))
	} else {
		d.set("code", textConcept(a.t.text))
	}
	d.set("status", a.status)
	if a.statusNote != "" {
		d.set("statusReason", textConcept(a.statusNote))
	}
	switch a.schedKind {
	case "timing":
		rep := obj{{"boundsPeriod", period(a.start, a.end)}, {"frequency", 1}, {"period", dec(strconv.Itoa(a.t.everyMonths))}, {"periodUnit", "mo"}}
		d.set("scheduledTiming", obj{{"repeat", rep}})
	case "period":
		d.set("scheduledPeriod", period(a.start, a.end))
	case "string":
		d.set("scheduledString", a.schedText)
	}
	d.set("performer", []any{practitionerRef(a.performer, a.perfForm)})
	d.set("description", a.t.description)
	act.set("detail", d)
	return act
}

// ---- Appointment

func (g *gen) renderAppt(a *apptRec) obj {
	var o obj
	o.set("resourceType", "Appointment")
	o.set("meta", meta())
	o.set("identifier", recordIdentifier(a.rid))
	o.set("status", a.status)
	if a.cancelReason != nil {
		o.set("cancelationReason", concept(*a.cancelReason, ""))
	}
	o.set("serviceType", []any{textConcept(a.specialty.text + " visit")})
	o.set("specialty", []any{concept(a.specialty.code, "")})
	o.set("appointmentType", concept(a.typ, ""))
	if a.reason != nil {
		o.set("reasonCode", []any{concept(a.reason.code, a.reason.text)})
	}
	o.set("description", a.description)
	if a.plan != nil {
		// Appointment.basedOn may only refer to a ServiceRequest in R4: the care plan the visit belongs to is
		// linked as supporting information (Reference(Any)).
		o.set("supportingInformation", []any{uuidRef(a.plan.uuid, a.plan.title)})
	}
	o.set("start", dateTime(a.start))
	o.set("end", dateTime(a.end))
	o.set("minutesDuration", int(a.end.Sub(a.start).Minutes()))
	if a.slot != "" {
		o.set("slot", []any{uuidRef(a.slot, "")})
	}
	o.set("created", dateTime(a.created))
	o.set("comment", a.comment)
	o.set("patientInstruction", a.instruction)
	if a.basedOn != "" {
		o.set("basedOn", []any{uuidRef(a.basedOn, "")})
	}
	pstatus := map[string]string{"booked": "accepted", "fulfilled": "accepted", "noshow": "accepted", "cancelled": "declined"}[a.status]
	prac := practitionerRef(a.prac, a.pracForm)
	if a.pracUUID != "" {
		prac = uuidRef(a.pracUUID, a.prac.name)
	}
	o.set("participant", []any{
		obj{{"actor", g.patientRef()}, {"required", "required"}, {"status", pstatus}},
		obj{{"type", []any{concept(coding{"http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF", "primary performer"}, "")}},
			{"actor", prac}, {"required", "required"}, {"status", "accepted"}},
	})
	return o
}
