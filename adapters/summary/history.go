package summary

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// The health-history sections (issue 14 item 1): what a patient's record says beyond the coordination
// resources — diagnoses, immunizations, results, procedures, hospital stays, family history and the care
// team. Each reads the patient's resources of one type with one paged search and renders a table a patient
// or a family member can read: plain column names, calendar days, no codes where a label exists.

// LOINC codes of the health-history sections, as the IPS uses them (the care team's as C-CDA's Care Teams
// section does).
const (
	CodePastProblems  = "11348-0"
	CodeImmunizations = "11369-6"
	CodeResults       = "30954-2"
	CodeVitalSigns    = "8716-3"
	CodeProcedures    = "47519-4"
	CodeEncounters    = "46240-8"
	CodeFamilyHistory = "10157-6"
	CodeCareTeam      = "85847-2"

	// recentEncounterDays is how far back "recent encounters and hospital stays" reaches.
	recentEncounterDays = 365
)

// Read-only views of the resources the history sections read (only the elements they render).
type (
	clinicalCondition struct {
		fhirread.Head
		ID                 string                     `json:"id"`
		ClinicalStatus     *fhirread.CodeableConcept  `json:"clinicalStatus,omitempty"`
		VerificationStatus *fhirread.CodeableConcept  `json:"verificationStatus,omitempty"`
		Category           []fhirread.CodeableConcept `json:"category,omitempty"`
		Severity           *fhirread.CodeableConcept  `json:"severity,omitempty"`
		Code               *fhirread.CodeableConcept  `json:"code,omitempty"`
		OnsetDateTime      string                     `json:"onsetDateTime,omitempty"`
		OnsetPeriod        *fhirread.Period           `json:"onsetPeriod,omitempty"`
		OnsetString        string                     `json:"onsetString,omitempty"`
		AbatementDateTime  string                     `json:"abatementDateTime,omitempty"`
		AbatementPeriod    *fhirread.Period           `json:"abatementPeriod,omitempty"`
		AbatementString    string                     `json:"abatementString,omitempty"`
		RecordedDate       string                     `json:"recordedDate,omitempty"`
	}
	immunization struct {
		fhirread.Head
		ID                 string                    `json:"id"`
		Status             string                    `json:"status"`
		VaccineCode        fhirread.CodeableConcept  `json:"vaccineCode"`
		OccurrenceDateTime string                    `json:"occurrenceDateTime,omitempty"`
		OccurrenceString   string                    `json:"occurrenceString,omitempty"`
		StatusReason       *fhirread.CodeableConcept `json:"statusReason,omitempty"`
		ProtocolApplied    []struct {
			DoseNumberPositiveInt json.Number `json:"doseNumberPositiveInt,omitempty"`
			DoseNumberString      string      `json:"doseNumberString,omitempty"`
		} `json:"protocolApplied,omitempty"`
	}
	observationValue struct {
		ValueQuantity        *fhirread.Quantity        `json:"valueQuantity,omitempty"`
		ValueCodeableConcept *fhirread.CodeableConcept `json:"valueCodeableConcept,omitempty"`
		ValueString          string                    `json:"valueString,omitempty"`
		ValueBoolean         *bool                     `json:"valueBoolean,omitempty"`
		ValueInteger         json.Number               `json:"valueInteger,omitempty"`
		ValueRange           *fhirread.Range           `json:"valueRange,omitempty"`
		ValueRatio           *fhirread.Ratio           `json:"valueRatio,omitempty"`
		DataAbsentReason     *fhirread.CodeableConcept `json:"dataAbsentReason,omitempty"`
	}
	observation struct {
		fhirread.Head
		ID     string                   `json:"id"`
		Status string                   `json:"status"`
		Code   fhirread.CodeableConcept `json:"code"`
		observationValue
		EffectiveDateTime string                     `json:"effectiveDateTime,omitempty"`
		EffectivePeriod   *fhirread.Period           `json:"effectivePeriod,omitempty"`
		EffectiveInstant  string                     `json:"effectiveInstant,omitempty"`
		Issued            string                     `json:"issued,omitempty"`
		Interpretation    []fhirread.CodeableConcept `json:"interpretation,omitempty"`
		ReferenceRange    []struct {
			Low  *fhirread.Quantity `json:"low,omitempty"`
			High *fhirread.Quantity `json:"high,omitempty"`
			Text string             `json:"text,omitempty"`
		} `json:"referenceRange,omitempty"`
		Component []struct {
			Code fhirread.CodeableConcept `json:"code"`
			observationValue
		} `json:"component,omitempty"`
	}
	procedure struct {
		fhirread.Head
		ID                string                     `json:"id"`
		Status            string                     `json:"status"`
		Code              *fhirread.CodeableConcept  `json:"code,omitempty"`
		PerformedDateTime string                     `json:"performedDateTime,omitempty"`
		PerformedPeriod   *fhirread.Period           `json:"performedPeriod,omitempty"`
		PerformedString   string                     `json:"performedString,omitempty"`
		ReasonCode        []fhirread.CodeableConcept `json:"reasonCode,omitempty"`
		Outcome           *fhirread.CodeableConcept  `json:"outcome,omitempty"`
	}
	encounter struct {
		fhirread.Head
		ID          string                     `json:"id"`
		Status      string                     `json:"status"`
		Class       fhirread.Coding            `json:"class"`
		Type        []fhirread.CodeableConcept `json:"type,omitempty"`
		ServiceType *fhirread.CodeableConcept  `json:"serviceType,omitempty"`
		Period      *fhirread.Period           `json:"period,omitempty"`
		ReasonCode  []fhirread.CodeableConcept `json:"reasonCode,omitempty"`
		Hosp        *struct {
			DischargeDisposition *fhirread.CodeableConcept `json:"dischargeDisposition,omitempty"`
		} `json:"hospitalization,omitempty"`
		Location []struct {
			Location fhirread.Reference `json:"location"`
		} `json:"location,omitempty"`
		ServiceProvider *fhirread.Reference `json:"serviceProvider,omitempty"`
	}
	familyHistory struct {
		fhirread.Head
		ID              string                   `json:"id"`
		Status          string                   `json:"status"`
		Name            string                   `json:"name,omitempty"`
		Relationship    fhirread.CodeableConcept `json:"relationship"`
		DeceasedBoolean *bool                    `json:"deceasedBoolean,omitempty"`
		DeceasedAge     *fhirread.Quantity       `json:"deceasedAge,omitempty"`
		DeceasedString  string                   `json:"deceasedString,omitempty"`
		DeceasedDate    string                   `json:"deceasedDate,omitempty"`
		Condition       []struct {
			Code               fhirread.CodeableConcept  `json:"code"`
			Outcome            *fhirread.CodeableConcept `json:"outcome,omitempty"`
			ContributedToDeath *bool                     `json:"contributedToDeath,omitempty"`
			OnsetAge           *fhirread.Quantity        `json:"onsetAge,omitempty"`
			OnsetString        string                    `json:"onsetString,omitempty"`
			OnsetRange         *fhirread.Range           `json:"onsetRange,omitempty"`
			OnsetPeriod        *fhirread.Period          `json:"onsetPeriod,omitempty"`
		} `json:"condition,omitempty"`
	}
	careTeam struct {
		fhirread.Head
		ID          string                     `json:"id"`
		Status      string                     `json:"status,omitempty"`
		Name        string                     `json:"name,omitempty"`
		Category    []fhirread.CodeableConcept `json:"category,omitempty"`
		Period      *fhirread.Period           `json:"period,omitempty"`
		Participant []struct {
			Role       []fhirread.CodeableConcept `json:"role,omitempty"`
			Member     *fhirread.Reference        `json:"member,omitempty"`
			OnBehalfOf *fhirread.Reference        `json:"onBehalfOf,omitempty"`
			Period     *fhirread.Period           `json:"period,omitempty"`
		} `json:"participant,omitempty"`
	}
	// member is what the care-team section reads of a Practitioner, PractitionerRole, RelatedPerson,
	// Organization, Patient or CareTeam that is a member.
	member struct {
		fhirread.Head
		ID           string                     `json:"id"`
		Name         json.RawMessage            `json:"name,omitempty"` // HumanName list, or a string (Organization, CareTeam)
		Relationship []fhirread.CodeableConcept `json:"relationship,omitempty"`
		Code         []fhirread.CodeableConcept `json:"code,omitempty"`
		Specialty    []fhirread.CodeableConcept `json:"specialty,omitempty"`
		Practitioner *fhirread.Reference        `json:"practitioner,omitempty"`
		Organization *fhirread.Reference        `json:"organization,omitempty"`
		Telecom      []struct {
			System string `json:"system,omitempty"`
			Value  string `json:"value,omitempty"`
			Use    string `json:"use,omitempty"`
			Rank   int    `json:"rank,omitempty"`
		} `json:"telecom,omitempty"`
	}
	medicationRequest struct {
		fhirread.Head
		ID                        string                    `json:"id"`
		Status                    string                    `json:"status"`
		Intent                    string                    `json:"intent"`
		MedicationCodeableConcept *fhirread.CodeableConcept `json:"medicationCodeableConcept,omitempty"`
		MedicationReference       *fhirread.Reference       `json:"medicationReference,omitempty"`
		Contained                 []json.RawMessage         `json:"contained,omitempty"`
		AuthoredOn                string                    `json:"authoredOn,omitempty"`
		DosageInstruction         []fhirread.Dosage         `json:"dosageInstruction,omitempty"`
	}
	statementLinks struct {
		BasedOn []fhirread.Reference `json:"basedOn,omitempty"`
	}
)

// patientResources returns every version of typ whose patient search parameter is ref, with extra
// criteria, in the store's order.
func (b *run) patientResources(ctx context.Context, typ, ref string, extra url.Values) ([]*storage.Version, error) {
	q := url.Values{"patient": {ref}}
	for k, v := range extra {
		q[k] = v
	}
	vs, err := b.F.All(ctx, typ, q)
	if err != nil {
		return nil, fmt.Errorf("summary: %s of %s: %w", typ, ref, err)
	}
	return vs, nil
}

// dated is a resource with the instant it is sorted and shown by.
type dated[T any] struct {
	v    *storage.Version
	r    T
	when time.Time // zero when the resource states no usable date
}

// decodeAll decodes versions as typ into T, with the date when(r) gives, sorted latest first (undated
// last), then by id, so the order never depends on the store.
func decodeAll[T any](vs []*storage.Version, typ string, loc *time.Location, when func(*T) string) ([]dated[T], error) {
	out := make([]dated[T], 0, len(vs))
	for _, v := range vs {
		var r T
		if err := fhirread.Decode(v.Body, typ, &r); err != nil {
			return nil, fmt.Errorf("summary: %s/%s: %w", typ, v.ID, err)
		}
		d := dated[T]{v: v, r: r}
		if lo, _, ok := search.ParseDateTime(when(&r), loc); ok {
			d.when = lo
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.when.IsZero() != b.when.IsZero() {
			return b.when.IsZero()
		}
		if !a.when.Equal(b.when) {
			return a.when.After(b.when)
		}
		return a.v.ID < b.v.ID
	})
	return out, nil
}

func firstOf(s ...string) string { return firstNonEmpty(s...) }

func periodStart(p *fhirread.Period) string {
	if p == nil {
		return ""
	}
	return p.Start
}

// day renders a FHIR date or dateTime as its calendar day in loc ("2026-11-20"), a partial date as given
// ("2019", "2019-04"), and anything unparseable verbatim.
func day(s string, loc *time.Location) string {
	if s == "" {
		return ""
	}
	if len(s) <= len("2006-01-02") {
		return s
	}
	if lo, _, ok := search.ParseDateTime(s, loc); ok {
		return lo.In(loc).Format("2006-01-02")
	}
	return s
}

func conditionStatus(c *clinicalCondition) (clinical, verification string) {
	if c.ClinicalStatus != nil {
		clinical = c.ClinicalStatus.Code()
	}
	if c.VerificationStatus != nil {
		verification = c.VerificationStatus.Code()
	}
	return clinical, verification
}

// problemSections splits the patient's Conditions into the active problem list (clinical status active,
// recurrence or relapse) and past problems (inactive, remission, resolved). Refuted and entered-in-error
// conditions are in neither. An active problem that an active care plan addresses says so; a plan that
// addresses a problem careflow does not hold as an active Condition (contained, not stored, or not
// active) is still cited for it, as before the Condition type was served.
func (b *run) problemSections(ctx context.Context, d *doc, ref string, plans []careplan.Plan, loc *time.Location) (active, past section, err error) {
	active = newSection("Problem List", CodeProblems, "Problem list - Reported")
	past = newSection("History of Past Illness", CodePastProblems, "History of Past illness Narrative")
	vs, err := b.patientResources(ctx, "Condition", ref, nil)
	if err != nil {
		return active, past, err
	}
	conds, err := decodeAll(vs, "Condition", loc, func(c *clinicalCondition) string {
		return firstOf(c.OnsetDateTime, periodStart(c.OnsetPeriod), c.RecordedDate)
	})
	if err != nil {
		return active, past, err
	}
	// Which active plans address each active Condition: by reference, or — for a problem a plan states
	// itself (a contained Condition, or a reference with a display) — by the same label, so that a problem
	// recorded both ways is listed once.
	var actives []dated[clinicalCondition]
	byLabel := map[string]string{}
	for _, c := range conds {
		clinical, verification := conditionStatus(&c.r)
		if verification == "refuted" || verification == "entered-in-error" {
			continue
		}
		switch clinical {
		case "active", "recurrence", "relapse":
			actives = append(actives, c)
			if l := strings.ToLower(c.r.Code.Label()); l != "" {
				if _, dup := byLabel[l]; !dup {
					byLabel[l] = "Condition/" + c.v.ID
				}
			}
		}
	}
	listed := map[string]bool{}
	for _, c := range actives {
		listed["Condition/"+c.v.ID] = true
	}
	addressedBy := map[string][]string{} // "Condition/id" → names of the active plans addressing it
	var items []string
	var stating []*storage.Version // plans cited for problems only they state, after the Conditions
	for _, p := range plans {
		cited := false
		for _, pr := range p.Addresses {
			key := pr.Reference
			if !listed[key] {
				key = byLabel[strings.ToLower(pr.Label)]
			}
			if key != "" {
				addressedBy[key] = append(addressedBy[key], p.Name)
				continue
			}
			// A problem careflow holds only in the plan (contained, or not stored as an active Condition).
			if !cited {
				stating = append(stating, p.Resource)
				cited = true
			}
			items = append(items, "<li>"+esc(pr.Label)+" <i>(addressed by care plan "+esc(p.Name)+")</i></li>")
		}
	}
	act := table("Problem", "Since", "Status", "Severity", "Care plan")
	old := table("Problem", "Since", "Ended", "Status")
	for _, c := range conds {
		clinical, verification := conditionStatus(&c.r)
		if verification == "refuted" || verification == "entered-in-error" {
			continue
		}
		since := firstOf(day(firstOf(c.r.OnsetDateTime, periodStart(c.r.OnsetPeriod)), loc), c.r.OnsetString)
		status := clinical
		if verification != "" && verification != "confirmed" {
			status += " (" + verification + ")"
		}
		switch clinical {
		case "active", "recurrence", "relapse":
			var severity string
			if c.r.Severity != nil {
				severity = c.r.Severity.Label()
			}
			active.Entry = append(active.Entry, reference{Reference: d.add(c.v)})
			act.row(orDash(c.r.Code.Label()), orDash(since), status, orDash(severity),
				orDash(strings.Join(addressedBy["Condition/"+c.v.ID], ", ")))
		case "inactive", "remission", "resolved":
			ended := firstOf(day(firstOf(c.r.AbatementDateTime, periodStart(c.r.AbatementPeriod)), loc), c.r.AbatementString)
			past.Entry = append(past.Entry, reference{Reference: d.add(c.v)})
			old.row(orDash(c.r.Code.Label()), orDash(since), orDash(ended), status)
		}
	}
	for _, v := range stating {
		active.Entry = append(active.Entry, reference{Reference: d.add(v)})
	}
	body := ""
	if len(act.rows) > 0 {
		body = act.html()
	}
	if len(items) > 0 {
		if body != "" {
			body += "<p>Also stated by the care plans:</p>"
		}
		body += "<ul>" + strings.Join(items, "") + "</ul>"
	}
	active.finish(body, "No active problems are recorded in careflow.")
	past.finish(old.html(), "No past problems are recorded in careflow.")
	return active, past, nil
}

func (b *run) immunizationSection(ctx context.Context, d *doc, ref string, loc *time.Location) (section, error) {
	s := newSection("History of Immunizations", CodeImmunizations, "History of Immunization Narrative")
	vs, err := b.patientResources(ctx, "Immunization", ref, nil)
	if err != nil {
		return s, err
	}
	imms, err := decodeAll(vs, "Immunization", loc, func(i *immunization) string { return i.OccurrenceDateTime })
	if err != nil {
		return s, err
	}
	rows := table("Vaccine", "Date", "Dose", "Status")
	for _, im := range imms {
		if im.r.Status == "entered-in-error" {
			continue
		}
		status := "given"
		if im.r.Status == "not-done" {
			status = "not given"
			if im.r.StatusReason != nil {
				status += ": " + im.r.StatusReason.Label()
			}
		}
		var dose string
		if len(im.r.ProtocolApplied) > 0 {
			dose = firstOf(string(im.r.ProtocolApplied[0].DoseNumberPositiveInt), im.r.ProtocolApplied[0].DoseNumberString)
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(im.v)})
		rows.row(orDash(im.r.VaccineCode.Label()), orDash(firstOf(day(im.r.OccurrenceDateTime, loc), im.r.OccurrenceString)), orDash(dose), status)
	}
	s.finish(rows.html(), "No immunizations are recorded in careflow.")
	return s, nil
}

// observationSection lists the latest observation of each code in a category (laboratory results or
// vital signs) effective at or before now: what a reader wants is the current value, and the full series
// stays one search away. Cancelled, entered-in-error and not-yet-available (registered) ones are left out.
func (b *run) observationSection(ctx context.Context, d *doc, ref, category string, s section, now time.Time, empty string) (section, error) {
	loc := now.Location()
	vs, err := b.patientResources(ctx, "Observation", ref, url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|" + category}})
	if err != nil {
		return s, err
	}
	obs, err := decodeAll(vs, "Observation", loc, func(o *observation) string {
		return firstOf(o.EffectiveDateTime, periodStart(o.EffectivePeriod), o.EffectiveInstant, o.Issued)
	})
	if err != nil {
		return s, err
	}
	seen := map[string]bool{}
	rows := table("Test", "Result", "Normal range", "Interpretation", "Date")
	for _, o := range obs {
		switch o.r.Status {
		case "cancelled", "entered-in-error", "registered":
			continue
		}
		if o.when.After(now) {
			continue
		}
		key := codeKey(&o.r.Code)
		if seen[key] {
			continue
		}
		seen[key] = true
		result := o.r.observationValue.text()
		for _, c := range o.r.Component {
			if v := c.observationValue.text(); v != "" {
				result = joinNonEmpty("; ", result, c.Code.Label()+": "+v)
			}
		}
		var ranges, interp []string
		for _, rr := range o.r.ReferenceRange {
			switch {
			case rr.Text != "":
				ranges = append(ranges, rr.Text)
			case rr.Low != nil && rr.High != nil:
				ranges = append(ranges, string(rr.Low.Value)+"–"+quantityText(rr.High))
			case rr.Low != nil:
				ranges = append(ranges, "at least "+quantityText(rr.Low))
			case rr.High != nil:
				ranges = append(ranges, "at most "+quantityText(rr.High))
			}
		}
		for i := range o.r.Interpretation {
			interp = append(interp, o.r.Interpretation[i].Label())
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(o.v)})
		when := ""
		if !o.when.IsZero() {
			when = o.when.In(loc).Format("2006-01-02")
		}
		rows.row(orDash(o.r.Code.Label()), orDash(result), orDash(strings.Join(ranges, "; ")), orDash(strings.Join(interp, ", ")), orDash(when))
	}
	s.finish(rows.html(), empty)
	return s, nil
}

// codeKey identifies an observation's code for "latest per code": its first coding's system|code, else
// its text.
func codeKey(c *fhirread.CodeableConcept) string {
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.System + "|" + cd.Code
		}
	}
	return "text:" + c.Text
}

func (v *observationValue) text() string {
	switch {
	case v.ValueQuantity != nil:
		return quantityText(v.ValueQuantity)
	case v.ValueCodeableConcept != nil:
		return v.ValueCodeableConcept.Label()
	case v.ValueString != "":
		return v.ValueString
	case v.ValueBoolean != nil:
		if *v.ValueBoolean {
			return "yes"
		}
		return "no"
	case v.ValueInteger != "":
		return string(v.ValueInteger)
	case v.ValueRange != nil:
		return rangeText(v.ValueRange)
	case v.ValueRatio != nil && v.ValueRatio.Numerator != nil && v.ValueRatio.Denominator != nil:
		return quantityText(v.ValueRatio.Numerator) + " / " + quantityText(v.ValueRatio.Denominator)
	case v.DataAbsentReason != nil:
		return "no value (" + v.DataAbsentReason.Label() + ")"
	}
	return ""
}

// quantityText renders a quantity as a reader sees it: comparator, value and the human unit (else the
// code).
func quantityText(q *fhirread.Quantity) string {
	if q == nil {
		return ""
	}
	return strings.TrimSpace(q.Comparator + string(q.Value) + " " + firstOf(q.Unit, q.Code))
}

func rangeText(r *fhirread.Range) string {
	switch {
	case r.Low != nil && r.High != nil:
		return string(r.Low.Value) + "–" + quantityText(r.High)
	case r.Low != nil:
		return "from " + quantityText(r.Low)
	case r.High != nil:
		return "up to " + quantityText(r.High)
	}
	return ""
}

func joinNonEmpty(sep string, s ...string) string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, sep)
}

func labels(cs []fhirread.CodeableConcept) string {
	var out []string
	for i := range cs {
		if l := cs[i].Label(); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, ", ")
}

func (b *run) procedureSection(ctx context.Context, d *doc, ref string, loc *time.Location) (section, error) {
	s := newSection("History of Procedures", CodeProcedures, "History of Procedures Document")
	vs, err := b.patientResources(ctx, "Procedure", ref, nil)
	if err != nil {
		return s, err
	}
	procs, err := decodeAll(vs, "Procedure", loc, func(p *procedure) string {
		return firstOf(p.PerformedDateTime, periodStart(p.PerformedPeriod))
	})
	if err != nil {
		return s, err
	}
	rows := table("Procedure", "Date", "Reason", "Status")
	for _, p := range procs {
		switch p.r.Status {
		case "entered-in-error", "not-done", "preparation":
			continue
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(p.v)})
		date := firstOf(day(firstOf(p.r.PerformedDateTime, periodStart(p.r.PerformedPeriod)), loc), p.r.PerformedString)
		rows.row(orDash(p.r.Code.Label()), orDash(date), orDash(labels(p.r.ReasonCode)), p.r.Status)
	}
	s.finish(rows.html(), "No procedures are recorded in careflow.")
	return s, nil
}

// encounterKinds names the ActCode encounter classes for a reader.
var encounterKinds = map[string]string{
	"IMP": "hospital stay", "ACUTE": "hospital stay", "NONAC": "hospital stay", "EMER": "emergency visit",
	"AMB": "outpatient visit", "HH": "home visit", "VR": "virtual visit", "OBSENC": "observation stay",
	"SS": "day surgery", "PRENC": "pre-admission visit", "FLD": "field visit",
}

// encounterSection lists the encounters that started in the last year up to now, and the ones still in
// progress, latest first; hospital and emergency stays say when the patient was discharged and where to.
func (b *run) encounterSection(ctx context.Context, d *doc, ref string, now time.Time) (section, error) {
	loc := now.Location()
	s := newSection("Encounters and Hospital Stays", CodeEncounters, "History of Hospitalizations+Outpatient visits Narrative")
	from := now.AddDate(0, 0, -recentEncounterDays)
	vs, err := b.patientResources(ctx, "Encounter", ref, url.Values{"date": {"ge" + from.UTC().Format(time.RFC3339)}})
	if err != nil {
		return s, err
	}
	encs, err := decodeAll(vs, "Encounter", loc, func(e *encounter) string { return periodStart(e.Period) })
	if err != nil {
		return s, err
	}
	rows := table("Visit", "From", "Until", "Reason", "Where", "Discharged to")
	for _, e := range encs {
		switch e.r.Status {
		case "cancelled", "entered-in-error", "planned", "unknown":
			continue
		}
		if e.when.IsZero() || e.when.After(now) || e.when.Before(from) && e.r.Status != "in-progress" {
			continue
		}
		kind := firstOf(encounterKinds[e.r.Class.Code], e.r.Class.Display, e.r.Class.Code)
		if t := labels(e.r.Type); t != "" {
			kind += " (" + t + ")"
		}
		until := ""
		if e.r.Period != nil {
			until = day(e.r.Period.End, loc)
		}
		if until == "" && e.r.Status == "in-progress" {
			until = "ongoing"
		}
		var where []string
		for _, l := range e.r.Location {
			where = append(where, firstOf(l.Location.Display, l.Location.Reference))
		}
		if len(where) == 0 && e.r.ServiceProvider != nil {
			where = append(where, firstOf(e.r.ServiceProvider.Display, e.r.ServiceProvider.Reference))
		}
		var disposition string
		if e.r.Hosp != nil && e.r.Hosp.DischargeDisposition != nil {
			disposition = e.r.Hosp.DischargeDisposition.Label()
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(e.v)})
		rows.row(kind, e.when.In(loc).Format("2006-01-02"), orDash(until), orDash(labels(e.r.ReasonCode)),
			orDash(strings.Join(where, ", ")), orDash(disposition))
	}
	s.finish(rows.html(), "No encounters since "+from.In(loc).Format("2006-01-02")+" are recorded in careflow.")
	return s, nil
}

func (b *run) familyHistorySection(ctx context.Context, d *doc, ref string, loc *time.Location) (section, error) {
	s := newSection("Family History", CodeFamilyHistory, "History of family member diseases Narrative")
	vs, err := b.patientResources(ctx, "FamilyMemberHistory", ref, nil)
	if err != nil {
		return s, err
	}
	fams, err := decodeAll(vs, "FamilyMemberHistory", loc, func(*familyHistory) string { return "" })
	if err != nil {
		return s, err
	}
	rows := table("Family member", "Conditions", "Deceased")
	for _, f := range fams {
		if f.r.Status == "entered-in-error" || f.r.Status == "health-unknown" && len(f.r.Condition) == 0 {
			continue
		}
		who := f.r.Relationship.Label()
		if f.r.Name != "" {
			who = joinNonEmpty(" ", who, "("+f.r.Name+")")
		}
		var conds []string
		for _, c := range f.r.Condition {
			line := c.Code.Label()
			switch {
			case c.OnsetAge != nil:
				line += ", from age " + quantityText(c.OnsetAge)
			case c.OnsetRange != nil:
				line += ", onset " + rangeText(c.OnsetRange)
			case c.OnsetString != "":
				line += ", " + c.OnsetString
			}
			if c.ContributedToDeath != nil && *c.ContributedToDeath {
				line += ", contributed to death"
			}
			conds = append(conds, line)
		}
		deceased := "no"
		switch {
		case f.r.DeceasedAge != nil:
			deceased = "yes, at age " + quantityText(f.r.DeceasedAge)
		case f.r.DeceasedDate != "":
			deceased = "yes, " + f.r.DeceasedDate
		case f.r.DeceasedString != "":
			deceased = "yes, " + f.r.DeceasedString
		case f.r.DeceasedBoolean != nil && *f.r.DeceasedBoolean:
			deceased = "yes"
		case f.r.DeceasedBoolean == nil:
			deceased = "—"
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(f.v)})
		rows.row(orDash(who), orDash(strings.Join(conds, "; ")), deceased)
	}
	s.finish(rows.html(), "No family history is recorded in careflow.")
	return s, nil
}

// careTeamSection lists the patient's active care teams and, for each member, the role, the name and the
// contact points (phone first), so that a family member knows whom to call. Members careflow holds are
// cited too; a member that is not stored is shown by its reference's display.
func (b *run) careTeamSection(ctx context.Context, d *doc, ref string) (section, error) {
	s := newSection("Care Team", CodeCareTeam, "Patient Care team information")
	vs, err := b.patientResources(ctx, "CareTeam", ref, url.Values{"status": {"active"}})
	if err != nil {
		return s, err
	}
	teams, err := decodeAll(vs, "CareTeam", time.UTC, func(*careTeam) string { return "" })
	if err != nil {
		return s, err
	}
	// Read the stored members, a type at a time, once each.
	byType := map[string][]string{}
	for _, t := range teams {
		for _, p := range t.r.Participant {
			if k := p.Member.Key(); memberTypes[fhirread.RefType(k)] {
				byType[fhirread.RefType(k)] = append(byType[fhirread.RefType(k)], fhirread.RefID(k))
			}
		}
	}
	members := map[string]*storage.Version{}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		found, err := b.F.In(ctx, t, "_id", byType[t], nil)
		if err != nil {
			return s, fmt.Errorf("summary: care team members: %w", err)
		}
		for _, v := range found {
			members[v.Type+"/"+v.ID] = v
		}
	}
	// A PractitionerRole is shown with its practitioner's name.
	var roleDoctors []string
	for _, v := range members {
		if v.Type == "PractitionerRole" {
			var m member
			if fhirread.Decode(v.Body, v.Type, &m) == nil && fhirread.RefType(m.Practitioner.Key()) == "Practitioner" {
				if _, ok := members[m.Practitioner.Key()]; !ok {
					roleDoctors = append(roleDoctors, fhirread.RefID(m.Practitioner.Key()))
				}
			}
		}
	}
	if len(roleDoctors) > 0 {
		found, err := b.F.In(ctx, "Practitioner", "_id", roleDoctors, nil)
		if err != nil {
			return s, fmt.Errorf("summary: care team members: %w", err)
		}
		for _, v := range found {
			members[v.Type+"/"+v.ID] = v
		}
	}
	rows := table("Care team", "Member", "Role", "Contact")
	for _, t := range teams {
		s.Entry = append(s.Entry, reference{Reference: d.add(t.v)})
		teamName := firstOf(t.r.Name, labels(t.r.Category), "Care team")
		for _, p := range t.r.Participant {
			if p.Member == nil {
				continue
			}
			name, role, contact := firstOf(p.Member.Display, p.Member.Reference), labels(p.Role), ""
			if v, ok := members[p.Member.Key()]; ok {
				s.Entry = append(s.Entry, reference{Reference: d.add(v)})
				var m member
				if err := fhirread.Decode(v.Body, v.Type, &m); err != nil {
					return s, fmt.Errorf("summary: %s/%s: %w", v.Type, v.ID, err)
				}
				name = firstOf(memberName(&m, members), name)
				if role == "" {
					role = firstOf(labels(m.Relationship), labels(m.Code), labels(m.Specialty))
				} else if rel := labels(m.Relationship); rel != "" && !strings.Contains(role, rel) {
					role += " (" + rel + ")"
				}
				contact = telecomText(&m)
			}
			rows.row(teamName, orDash(name), orDash(role), orDash(contact))
		}
	}
	s.finish(rows.html(), "No active care team is recorded in careflow.")
	return s, nil
}

// memberTypes are the types CareTeam.participant.member may reference (R4).
var memberTypes = map[string]bool{"Practitioner": true, "PractitionerRole": true, "RelatedPerson": true, "Patient": true,
	"Organization": true, "CareTeam": true}

// memberName is a member's display name: a person's HumanName, an organization's or team's name, or a
// PractitionerRole's practitioner.
func memberName(m *member, members map[string]*storage.Version) string {
	if len(m.Name) > 0 {
		var s string
		if json.Unmarshal(m.Name, &s) == nil {
			return s
		}
		var p fhirread.Patient
		if json.Unmarshal(append(append([]byte(`{"name":`), m.Name...), '}'), &p) == nil {
			return p.DisplayName()
		}
	}
	if m.ResourceType == "PractitionerRole" && m.Practitioner != nil {
		if v, ok := members[m.Practitioner.Key()]; ok {
			var doc member
			if fhirread.Decode(v.Body, v.Type, &doc) == nil {
				if n := memberName(&doc, members); n != "" {
					return n
				}
			}
		}
		return m.Practitioner.Display
	}
	return ""
}

// telecomText lists a member's phone numbers first, then other contact points, by rank.
func telecomText(m *member) string {
	tc := append(m.Telecom[:0:0], m.Telecom...)
	sort.SliceStable(tc, func(i, j int) bool {
		pi, pj := tc[i].System == "phone", tc[j].System == "phone"
		if pi != pj {
			return pi
		}
		ri, rj := tc[i].Rank, tc[j].Rank
		if ri == 0 {
			ri = 1 << 30
		}
		if rj == 0 {
			rj = 1 << 30
		}
		return ri < rj
	})
	var out []string
	for _, t := range tc {
		if t.Value == "" || t.Use == "old" {
			continue
		}
		line := t.Value
		if t.System != "" {
			line = t.System + " " + line
		}
		if t.Use != "" {
			line += " (" + t.Use + ")"
		}
		out = append(out, line)
	}
	return strings.Join(out, ", ")
}

// prescriptions returns the patient's active prescriptions (MedicationRequest with status active or
// on-hold and an order-type intent) that the active medication list does not already reflect: no active
// MedicationStatement is basedOn the request, or states the same medication (a shared system|code, or
// the same label when neither is coded).
func (b *run) prescriptions(ctx context.Context, ref string, meds []medication.Medication, loc *time.Location) ([]dated[medicationRequest], error) {
	vs, err := b.patientResources(ctx, "MedicationRequest", ref, url.Values{"status": {"active,on-hold"}})
	if err != nil {
		return nil, err
	}
	reqs, err := decodeAll(vs, "MedicationRequest", loc, func(r *medicationRequest) string { return r.AuthoredOn })
	if err != nil {
		return nil, err
	}
	based, codes, names := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range meds {
		var l statementLinks
		if err := json.Unmarshal(m.Resource.Body, &l); err != nil {
			return nil, fmt.Errorf("summary: MedicationStatement/%s: %w", m.ID, err)
		}
		for i := range l.BasedOn {
			based[l.BasedOn[i].Key()] = true
		}
		for _, c := range m.Codes {
			codes[c.System+"|"+c.Code] = true
		}
		names[strings.ToLower(m.Name)] = true
	}
	var out []dated[medicationRequest]
	for _, r := range reqs {
		switch r.r.Intent {
		case "proposal", "option":
			continue
		}
		if based["MedicationRequest/"+r.v.ID] {
			continue
		}
		concept := requestConcept(&r.r)
		dup := false
		if concept != nil {
			for _, c := range concept.Coding {
				if c.Code != "" && codes[c.System+"|"+c.Code] {
					dup = true
				}
			}
			if len(concept.Coding) == 0 && names[strings.ToLower(concept.Label())] {
				dup = true
			}
		}
		if !dup {
			out = append(out, r)
		}
	}
	return out, nil
}

// requestConcept is the medication a request orders: its code, or its contained Medication's code.
func requestConcept(r *medicationRequest) *fhirread.CodeableConcept {
	if r.MedicationCodeableConcept != nil {
		return r.MedicationCodeableConcept
	}
	if r.MedicationReference != nil {
		if raw, ok := fhirread.ContainedOf(r.Contained, r.MedicationReference.Reference, "Medication"); ok {
			var m fhirread.Medication
			if json.Unmarshal(raw, &m) == nil && m.Code != nil {
				return m.Code
			}
		}
		return &fhirread.CodeableConcept{Text: r.MedicationReference.Display}
	}
	return nil
}
