// Package summary builds a patient summary as a FHIR R4 document Bundle, modelled on the International
// Patient Summary (IPS): the first entry is a Composition (LOINC 60591-5 "Patient summary Document") whose
// subject is the patient and whose date is the reference time, followed by the patient and every
// resource the sections cite, exactly as stored (byte for byte, with their meta).
//
// Sections, in order (LOINC codes as the IPS uses them; the care team's as the C-CDA Care Teams section
// uses it, the encounters' is LOINC's "History of Hospitalizations+Outpatient visits Narrative"):
//
//	48765-2 Allergies and adverse reactions   every AllergyIntolerance except entered-in-error ones
//	10160-0 Medications                       the active medication list (medication.Service.Active) with
//	                                          plain-language instructions and allergy-conflict warnings,
//	                                          then the active prescriptions (MedicationRequest active or
//	                                          on-hold, not a proposal) the list does not already reflect
//	                                          (no statement basedOn the request or with a shared code)
//	11450-4 Problems                          active Conditions (clinical status active, recurrence,
//	                                          relapse; not refuted or entered-in-error) with the active
//	                                          care plans that address them (by reference, or by the same
//	                                          label for a problem a plan states itself); problems only a
//	                                          plan states cite that plan
//	11348-0 History of past illness           inactive, remission and resolved Conditions
//	11369-6 Immunizations                     given and not-given immunizations, latest first
//	30954-2 Results                           the latest laboratory Observation of each code at now
//	8716-3  Vital signs                       the latest vital-signs Observation of each code at now
//	47519-4 Procedures                        Procedures except preparation, not-done, entered-in-error
//	46240-8 Encounters and hospital stays     encounters started in the last 365 days (and those still in
//	                                          progress), with discharge disposition and place
//	10157-6 Family history                    FamilyMemberHistory: relative, conditions, onset, death
//	85847-2 Care team                         active CareTeams and their members (practitioners, roles,
//	                                          family caregivers as RelatedPerson) with role and contact
//	                                          points, phones first
//	18776-5 Care plans                        active CarePlans with their open activities
//	48768-6 Coverage and payers               active Coverages that have not ended at the reference time
//	56446-8 Upcoming appointments             appointments with an upcoming status from the reference time
//	                                          until Options.Until (LOINC 56446-8 "Appointment summary
//	                                          Document", as the Czech and Danish HL7 guides use it)
//
// Each section has a generated XHTML narrative and entry references to the Bundle entries; a section with
// nothing to list has emptyReason "unavailable" (careflow holds no such record, which is not the same as
// the patient having none) and a narrative saying so.
//
// Identifiers are deterministic: the Composition id, the Bundle id and the Bundle identifier (a urn:uuid)
// are derived from the patient, the reference time and the id and version of every included resource, so
// the same data at the same reference time always yields the same document, and any change yields a new
// one. Entry fullUrls are Options.BaseURL + "/Type/id" when a base is given, else urn:uuid URNs derived
// from "Type/id"; the Composition's references use the fullUrls, so they resolve inside the Bundle.
package summary

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/internal/workflows"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// ErrPatientNotFound reports a summary requested for a patient that is not stored (or is deleted).
var ErrPatientNotFound = errors.New("summary: patient not found")

// LOINC codes of the document and its sections.
const (
	LOINC              = "http://loinc.org"
	CodeDocument       = "60591-5"
	CodeAllergies      = "48765-2"
	CodeMedications    = "10160-0"
	CodeProblems       = "11450-4"
	CodeCarePlans      = "18776-5"
	CodeCoverage       = "48768-6"
	CodeAppointments   = "56446-8"
	emptyReasonSystem  = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
	defaultHorizonDays = 90
	xhtmlNamespace     = "http://www.w3.org/1999/xhtml"
	uuidNamespace      = "careflow-summary"
)

// Builder builds patient summaries from a store. It is immutable and safe for concurrent use.
type Builder struct {
	store    fetch.Searcher
	registry *search.Registry
	pageSize int
}

// New returns a Builder that searches s, building queries with registry.
func New(s fetch.Searcher, registry *search.Registry) *Builder {
	return &Builder{store: s, registry: registry}
}

// WithPageSize returns a copy of the Builder that reads n resources per search page.
func (b *Builder) WithPageSize(n int) *Builder {
	c := *b
	c.pageSize = n
	return &c
}

// run holds the workflows of one computation, sharing one memo of repeated searches.
type run struct{ *workflows.Set }

func (b *Builder) newRun() *run { return &run{workflows.New(b.store, b.registry, b.pageSize)} }

// Options tune a summary.
type Options struct {
	// BaseURL is the public FHIR base (e.g. "https://careflow.example.org/fhir") used for entry fullUrls;
	// empty gives urn:uuid fullUrls.
	BaseURL string
	// Until ends the upcoming-appointments window [now, Until); zero means 90 days after now.
	Until time.Time
}

// entry is one Bundle entry being assembled.
type entry struct {
	typ, id  string
	version  int64
	body     json.RawMessage
	fullURL  string
	included bool
}

// doc collects the resources of the document, each once, in first-cited order.
type doc struct {
	base    string
	entries []*entry
	byKey   map[string]*entry
}

func (d *doc) add(v *storage.Version) string {
	key := v.Type + "/" + v.ID
	if e, ok := d.byKey[key]; ok {
		return e.fullURL
	}
	e := &entry{typ: v.Type, id: v.ID, version: v.VersionID, body: json.RawMessage(v.Body), fullURL: d.fullURL(v.Type, v.ID)}
	d.byKey[key] = e
	d.entries = append(d.entries, e)
	return e.fullURL
}

func (d *doc) fullURL(typ, id string) string {
	if d.base != "" {
		return strings.TrimRight(d.base, "/") + "/" + typ + "/" + id
	}
	return "urn:uuid:" + nameUUID(typ+"/"+id)
}

// nameUUID derives a version-5-style (SHA-1, name-based) UUID from name.
func nameUUID(name string) string {
	h := sha1.Sum([]byte(uuidNamespace + "\x00" + name))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// JSON shapes of the generated resources (field order is the JSON order).
type (
	coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	concept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text,omitempty"`
	}
	reference struct {
		Reference string `json:"reference,omitempty"`
		Display   string `json:"display,omitempty"`
	}
	narrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	section struct {
		Title       string      `json:"title"`
		Code        concept     `json:"code"`
		Text        narrative   `json:"text"`
		Entry       []reference `json:"entry,omitempty"`
		EmptyReason *concept    `json:"emptyReason,omitempty"`
	}
	composition struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		Text         narrative   `json:"text"`
		Status       string      `json:"status"`
		Type         concept     `json:"type"`
		Subject      reference   `json:"subject"`
		Date         string      `json:"date"`
		Author       []reference `json:"author"`
		Title        string      `json:"title"`
		Section      []section   `json:"section"`
	}
	bundleEntry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	}
	identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	bundle struct {
		ResourceType string        `json:"resourceType"`
		ID           string        `json:"id"`
		Identifier   identifier    `json:"identifier"`
		Type         string        `json:"type"`
		Timestamp    string        `json:"timestamp"`
		Entry        []bundleEntry `json:"entry"`
	}
)

// Summary returns the summary document of a patient (id or "Patient/id") at now, as Bundle JSON. It
// returns ErrPatientNotFound (wrapped) when the patient is not stored.
func (b *Builder) Summary(ctx context.Context, patient string, now time.Time, opt Options) ([]byte, error) {
	return b.newRun().summary(ctx, patient, now, opt)
}

func (b *run) summary(ctx context.Context, patient string, now time.Time, opt Options) ([]byte, error) {
	ref := fhirread.PatientRef(patient)
	id := fhirread.RefID(ref)
	if id == "" {
		return nil, fmt.Errorf("summary: %q is not a patient id: %w", patient, ErrPatientNotFound)
	}
	vs, err := b.F.All(ctx, "Patient", url.Values{"_id": {id}})
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("summary: Patient/%s: %w", id, ErrPatientNotFound)
	}
	var pat fhirread.Patient
	if err := fhirread.Decode(vs[0].Body, "Patient", &pat); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	until := opt.Until
	if until.IsZero() {
		until = now.AddDate(0, 0, defaultHorizonDays)
	}
	d := &doc{base: opt.BaseURL, byKey: map[string]*entry{}}
	patientURL := d.add(vs[0])

	var sections []section
	s, err := b.allergySection(ctx, d, ref)
	if err != nil {
		return nil, err
	}
	sections = append(sections, s)
	if s, err = b.medicationSection(ctx, d, ref, now.Location()); err != nil {
		return nil, err
	}
	sections = append(sections, s)
	plans, err := b.Plans.Active(ctx, ref, now)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	problems, past, err := b.problemSections(ctx, d, ref, plans, now.Location())
	if err != nil {
		return nil, err
	}
	sections = append(sections, problems, past)
	for _, build := range []func() (section, error){
		func() (section, error) { return b.immunizationSection(ctx, d, ref, now.Location()) },
		func() (section, error) {
			return b.observationSection(ctx, d, ref, "laboratory", newSection("Results", CodeResults,
				"Relevant diagnostic tests/laboratory data Narrative"), now, "No laboratory results are recorded in careflow.")
		},
		func() (section, error) {
			return b.observationSection(ctx, d, ref, "vital-signs", newSection("Vital Signs", CodeVitalSigns,
				"Vital signs"), now, "No vital signs are recorded in careflow.")
		},
		func() (section, error) { return b.procedureSection(ctx, d, ref, now.Location()) },
		func() (section, error) { return b.encounterSection(ctx, d, ref, now) },
		func() (section, error) { return b.familyHistorySection(ctx, d, ref, now.Location()) },
		func() (section, error) { return b.careTeamSection(ctx, d, ref) },
	} {
		if s, err = build(); err != nil {
			return nil, err
		}
		sections = append(sections, s)
	}
	sections = append(sections, planSection(d, plans, now))
	if s, err = b.coverageSection(ctx, d, ref, now); err != nil {
		return nil, err
	}
	sections = append(sections, s)
	if s, err = b.appointmentSection(ctx, d, ref, now, until); err != nil {
		return nil, err
	}
	sections = append(sections, s)

	// Deterministic ids from the patient, the reference time and the exact versions included.
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", ref, now.UTC().Format(time.RFC3339Nano))
	for _, e := range d.entries {
		fmt.Fprintf(h, "\x00%s/%s/_history/%d", e.typ, e.id, e.version)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	docID := "ps-" + sum[:32]
	name := pat.DisplayName()
	if name == "" {
		name = ref
	}
	comp := composition{
		ResourceType: "Composition", ID: docID,
		Text: narrative{Status: "generated", Div: div("<p>Patient summary of " + esc(name) + ", generated " +
			esc(formatTime(now)) + " by careflow.</p>")},
		Status:  "final",
		Type:    concept{Coding: []coding{{LOINC, CodeDocument, "Patient summary Document"}}},
		Subject: reference{Reference: patientURL, Display: name},
		Date:    now.Format(time.RFC3339Nano),
		Author:  []reference{{Display: "careflow"}},
		Title:   "Patient summary",
		Section: sections,
	}
	compJSON, err := marshal(comp)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	compURL := d.fullURL("Composition", docID)
	bundleUUID := nameUUID("Bundle/" + sum)
	out := bundle{
		ResourceType: "Bundle", ID: docID,
		Identifier: identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + bundleUUID},
		Type:       "document", Timestamp: now.Format(time.RFC3339Nano),
		Entry: []bundleEntry{{FullURL: compURL, Resource: compJSON}},
	}
	for _, e := range d.entries {
		out.Entry = append(out.Entry, bundleEntry{FullURL: e.fullURL, Resource: e.body})
	}
	data, err := marshal(out)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	return data, nil
}

// marshal encodes without HTML escaping (the narrative stays readable) and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func newSection(title, code, display string) section {
	return section{Title: title, Code: concept{Coding: []coding{{LOINC, code, display}}}}
}

// finish sets the narrative, or marks the section empty.
func (s *section) finish(body, empty string) {
	if len(s.Entry) == 0 {
		s.Text = narrative{Status: "generated", Div: div("<p>" + esc(empty) + "</p>")}
		s.EmptyReason = &concept{Coding: []coding{{emptyReasonSystem, "unavailable", "Unavailable"}}}
		return
	}
	s.Text = narrative{Status: "generated", Div: div(body)}
}

func (b *run) allergySection(ctx context.Context, d *doc, ref string) (section, error) {
	s := newSection("Allergies and Intolerances", CodeAllergies, "Allergies and adverse reactions Document")
	all, err := b.Meds.Allergies(ctx, ref)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	rows := table("Allergy or intolerance", "Clinical status", "Verification", "Criticality")
	for _, a := range all {
		if a.VerificationStatus == "entered-in-error" {
			continue
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(a.Resource)})
		rows.row(a.Label, orDash(a.ClinicalStatus), orDash(a.VerificationStatus), orDash(a.Criticality))
	}
	s.finish(rows.html(), "No allergies or intolerances are recorded in careflow.")
	return s, nil
}

func (b *run) medicationSection(ctx context.Context, d *doc, ref string, loc *time.Location) (section, error) {
	s := newSection("Medication Summary", CodeMedications, "History of Medication use Narrative")
	meds, err := b.Meds.Active(ctx, ref)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	conflicts, err := b.Meds.Conflicts(ctx, ref)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	rxConflicts, err := b.Meds.PrescriptionConflicts(ctx, ref)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	conflicts = append(conflicts, rxConflicts...)
	rows := table("Medication", "Status", "Instructions")
	for _, m := range meds {
		s.Entry = append(s.Entry, reference{Reference: d.add(m.Resource)})
		rows.row(m.Name, m.Status, orDash(m.Instruction))
	}
	rx, err := b.prescriptions(ctx, ref, meds, loc)
	if err != nil {
		return s, err
	}
	for _, r := range rx {
		s.Entry = append(s.Entry, reference{Reference: d.add(r.v)})
		status := "prescribed"
		if r.r.Status == "on-hold" {
			status = "prescribed, on hold"
		}
		rows.row(orDash(requestConcept(&r.r).Label()), status, orDash(medication.Instruction(r.r.DosageInstruction)))
	}
	body := rows.html()
	if len(conflicts) > 0 {
		var items []string
		for _, c := range conflicts {
			how := "same code"
			if c.Match == medication.MatchDrugClass {
				how = "drug class " + c.Class
			}
			items = append(items, "<li>"+esc(fmt.Sprintf("%s conflicts with the allergy to %s (%s; criticality %s)",
				c.Medication.Name, c.Allergy.Label, how, orDash(c.Criticality)))+"</li>")
		}
		body += "<p><b>Allergy warnings</b></p><ul>" + strings.Join(items, "") + "</ul>"
	}
	s.finish(body, "No active medications are recorded in careflow.")
	return s, nil
}

func planSection(d *doc, plans []careplan.Plan, now time.Time) section {
	s := newSection("Plan of Care", CodeCarePlans, "Plan of care note")
	var items []string
	for _, p := range plans {
		s.Entry = append(s.Entry, reference{Reference: d.add(p.Resource)})
		line := esc(p.Name) + " — " + esc(p.Status)
		if p.HasPeriod {
			line += ", " + esc(formatSpan(p.Period, now.Location()))
		}
		var acts []string
		for _, a := range p.Activities {
			switch a.Status {
			case "completed", "cancelled", "stopped", "entered-in-error":
				continue
			}
			txt := a.Label
			if a.Status != "" {
				txt += " (" + a.Status
				if a.HasSchedule {
					txt += ", " + formatSpan(a.Scheduled, now.Location())
				}
				txt += ")"
			}
			acts = append(acts, "<li>"+esc(txt)+"</li>")
		}
		if len(acts) > 0 {
			line += "<ul>" + strings.Join(acts, "") + "</ul>"
		}
		items = append(items, "<li>"+line+"</li>")
	}
	s.finish("<ul>"+strings.Join(items, "")+"</ul>", "No active care plans are recorded in careflow.")
	return s
}

func (b *run) coverageSection(ctx context.Context, d *doc, ref string, now time.Time) (section, error) {
	s := newSection("Health Insurance and Payment Information", CodeCoverage, "Payment sources Document")
	pols, err := b.Cov.Policies(ctx, ref, now.Location())
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	rows := table("Coverage", "Payor", "Period", "In force now")
	for _, p := range pols {
		if p.HasPeriod && p.Period.EndsBefore(now) {
			continue
		}
		s.Entry = append(s.Entry, reference{Reference: d.add(p.Resource)})
		period := "no limit"
		if p.HasPeriod {
			period = formatSpan(p.Period, now.Location())
		}
		inForce := "no"
		if p.InForce(now) {
			inForce = "yes"
		}
		rows.row(firstNonEmpty(p.Type, "Coverage "+p.ID), orDash(strings.Join(p.Payors, ", ")), period, inForce)
	}
	s.finish(rows.html(), "No current coverage is recorded in careflow.")
	return s, nil
}

func (b *run) appointmentSection(ctx context.Context, d *doc, ref string, now, until time.Time) (section, error) {
	s := newSection("Upcoming Appointments", CodeAppointments, "Appointment summary Document")
	appts, err := b.Sched.Upcoming(ctx, scheduling.Selector{Patient: ref}, now, until)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	rows := table("When", "What", "Status", "With")
	for _, a := range appts {
		s.Entry = append(s.Entry, reference{Reference: d.add(a.Resource)})
		with := append(append([]string{}, a.Practitioners...), a.Locations...)
		rows.row(formatTime(a.Start.In(now.Location())), a.Description, a.Status, orDash(strings.Join(with, ", ")))
	}
	s.finish(rows.html(), "No upcoming appointments are recorded in careflow until "+formatTime(until.In(now.Location()))+".")
	return s, nil
}

// htmlTable builds an XHTML table.
type htmlTable struct {
	head []string
	rows [][]string
}

func table(head ...string) *htmlTable { return &htmlTable{head: head} }

func (t *htmlTable) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *htmlTable) html() string {
	var b strings.Builder
	b.WriteString("<table><thead><tr>")
	for _, h := range t.head {
		b.WriteString("<th>" + esc(h) + "</th>")
	}
	b.WriteString("</tr></thead><tbody>")
	for _, r := range t.rows {
		b.WriteString("<tr>")
		for _, c := range r {
			b.WriteString("<td>" + esc(c) + "</td>")
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

func div(body string) string {
	return `<div xmlns="` + xhtmlNamespace + `">` + body + `</div>`
}

// esc escapes text for XHTML (the five XML special characters).
func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	return r.Replace(s)
}

func orDash(s string) string { return firstNonEmpty(s, "—") }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func formatTime(t time.Time) string { return t.Format("2006-01-02 15:04 -07:00") }

// formatSpan renders a span by calendar days in loc ("2026-01-01 to 2026-12-31", "from 2026-11-20",
// "until 2026-11-30").
func formatSpan(s fhirread.Span, loc *time.Location) string {
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	switch {
	case s.OpenStart && s.OpenEnd:
		return "no dates"
	case s.OpenStart:
		return "until " + day(s.Last)
	case s.OpenEnd:
		return "from " + day(s.Start)
	}
	if day(s.Start) == day(s.Last) {
		return day(s.Start)
	}
	return day(s.Start) + " to " + day(s.Last)
}
