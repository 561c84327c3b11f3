// Package transitions finds what a care coordinator owes a patient after a hospital or emergency stay
// (transitional care): the contact within two business days of the discharge, the follow-up visit within
// seven days, and the medications started during the stay that the patient's active medication list does
// not reflect yet. The timelines are those of the CMS transitional care management services (an interactive
// contact within 2 business days of discharge; a face-to-face visit within 7 days for high-complexity
// decision making).
//
// # Discharges
//
// A discharge is an Encounter whose class is inpatient or emergency (v3 ActCode IMP, ACUTE, NONAC, EMER,
// OBSENC), whose status is finished and whose period ends (the discharge) in the lookback window
// (DischargeLookback, 30 days) before the reference time, and that no other stay of the patient continues:
// an emergency visit that led to an admission (a stay starting within ContinuedWithin of its end and
// ending later, or still going on) is followed up at the end of the admission, not twice. Encounters of
// other classes, unfinished ones, and ones without a period end are not discharges. A patient discharged several times is followed up for
// each discharge; a later stay does not close an earlier one.
//
// # Contact within two business days
//
// The contact is due at the end of the second business day after the discharge day (Monday to Friday; no
// public holidays are known to careflow). It is made by a Communication with status completed about the
// patient (subject), sent (Communication.sent, else its lastUpdated is not used: an unsent message is no
// contact) at or after the discharge, or by an Encounter of the patient that is not an inpatient or
// emergency stay (an office, home, virtual or telephone encounter: classes AMB, HH, VR, and any other
// non-stay class) with status arrived, triaged, in-progress, onleave or finished, starting at or after the
// discharge. A contact made after the deadline closes the item too (late, but made).
//
// # Follow-up visit within seven days
//
// The visit is due seven days after the discharge. It is covered by an Appointment of the patient (the
// patient a participant that has not declined) with status booked, arrived, checked-in or fulfilled starting
// in [discharge, discharge + 7 days), or by such an Encounter (see contacts) starting in that window that
// is not a telephone or virtual one. A visit booked later than the window does not cover it: the item stays
// (overdue) so that the coordinator can try to bring it forward.
//
// # Medication reconciliation after discharge
//
// A medication started during the stay is a MedicationRequest of the patient with status active or
// on-hold, an order intent (not proposal, plan or option), and either its encounter is the discharge
// Encounter or it was authored (authoredOn) within the stay's period. It is reflected when an active
// MedicationStatement (status active, intended or on-hold) of the patient is basedOn the request, or
// states the same medication (a shared system|code, or the same text when neither is coded). The item is
// due with the contact (end of the second business day).
//
// Every function takes the reference time as a parameter: the same data and time give the same answer.
package transitions

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

// Timelines.
const (
	// DischargeLookback is how far back discharges are followed up.
	DischargeLookback = 30 * 24 * time.Hour
	// ContactBusinessDays is the number of business days after the discharge day the contact is due by.
	ContactBusinessDays = 2
	// VisitWithin is the window after the discharge the follow-up visit is due in.
	VisitWithin = 7 * 24 * time.Hour
	// ContinuedWithin is how soon after a stay another stay must start to continue it (a transfer, or an
	// admission from the emergency department).
	ContinuedWithin = 6 * time.Hour
)

// stayClasses are the ActCode encounter classes of an inpatient or emergency stay.
var stayClasses = map[string]bool{"IMP": true, "ACUTE": true, "NONAC": true, "EMER": true, "OBSENC": true}

// remoteClasses are the encounter classes that are a contact but not a visit.
var remoteClasses = map[string]bool{"VR": true}

// Service runs the transitional-care workflows against a store. It is immutable and safe for concurrent
// use.
type Service struct {
	f fetch.Fetcher
}

// New returns a Service that searches s, building queries with registry.
func New(s fetch.Searcher, registry *search.Registry) *Service {
	return &Service{f: fetch.Fetcher{Store: s, Registry: registry}}
}

// WithPageSize returns a copy of the Service that reads n resources per search page.
func (s *Service) WithPageSize(n int) *Service {
	c := *s
	c.f.PageSize = n
	return &c
}

// Discharge is a recent inpatient or emergency stay and what its follow-up still lacks.
type Discharge struct {
	Patient   string // "Patient/id"
	Encounter string // "Encounter/id"
	Class     string // the ActCode class code
	// Label names the stay for humans: its type or reason, else "hospital stay" / "emergency visit".
	Label     string
	Admitted  time.Time
	Discharge time.Time
	// ContactDue is the end of the second business day after the discharge day; Contacted reports a
	// contact (see the package documentation) since the discharge.
	ContactDue time.Time
	Contacted  bool
	// VisitDue is seven days after the discharge; Visited reports a visit booked or held in the window.
	VisitDue time.Time
	Visited  bool
	// Resource is the Encounter.
	Resource *storage.Version
}

// Unreconciled is a medication started during a stay that the active medication list does not reflect.
type Unreconciled struct {
	Patient   string // "Patient/id"
	Encounter string // the discharge Encounter
	Name      string // the medication's label
	Due       time.Time
	Resource  *storage.Version // the MedicationRequest
}

type (
	encounter struct {
		fhirread.Head
		Status     string                     `json:"status"`
		Class      fhirread.Coding            `json:"class"`
		Type       []fhirread.CodeableConcept `json:"type,omitempty"`
		ReasonCode []fhirread.CodeableConcept `json:"reasonCode,omitempty"`
		Subject    fhirread.Reference         `json:"subject"`
		Period     *fhirread.Period           `json:"period,omitempty"`
	}
	communication struct {
		fhirread.Head
		Status  string             `json:"status"`
		Subject fhirread.Reference `json:"subject"`
		Sent    string             `json:"sent,omitempty"`
	}
	medicationRequest struct {
		fhirread.Head
		Status                    string                    `json:"status"`
		Intent                    string                    `json:"intent"`
		Subject                   fhirread.Reference        `json:"subject"`
		Encounter                 *fhirread.Reference       `json:"encounter,omitempty"`
		AuthoredOn                string                    `json:"authoredOn,omitempty"`
		MedicationCodeableConcept *fhirread.CodeableConcept `json:"medicationCodeableConcept,omitempty"`
		MedicationReference       *fhirread.Reference       `json:"medicationReference,omitempty"`
		Contained                 []json.RawMessage         `json:"contained,omitempty"`
	}
	medicationStatement struct {
		fhirread.Head
		Status                    string                    `json:"status"`
		Subject                   fhirread.Reference        `json:"subject"`
		BasedOn                   []fhirread.Reference      `json:"basedOn,omitempty"`
		MedicationCodeableConcept *fhirread.CodeableConcept `json:"medicationCodeableConcept,omitempty"`
		MedicationReference       *fhirread.Reference       `json:"medicationReference,omitempty"`
		Contained                 []json.RawMessage         `json:"contained,omitempty"`
	}
)

// Discharges returns the discharges of patient ("" for every patient) in the lookback window before now
// with what their follow-up lacks, ordered by discharge, then encounter. Discharges whose contact and visit
// are both done are included (Contacted and Visited true): callers pick what they report.
func (s *Service) Discharges(ctx context.Context, patient string, now time.Time) ([]Discharge, error) {
	stays, err := s.stays(ctx, patient, now)
	if err != nil || len(stays) == 0 {
		return nil, err
	}
	patients := patientsOf(stays)
	from := stays[0].Discharge
	for _, d := range stays {
		if d.Discharge.Before(from) {
			from = d.Discharge
		}
	}
	contacts := map[string][]time.Time{} // patient → contact instants
	visits := map[string][]time.Time{}   // patient → visit starts
	// Communications made.
	err = s.f.InEach(ctx, "Communication", "subject", patients, url.Values{"status": {"completed"}, "sent": {"ge" + from.UTC().Format(time.RFC3339)}}, func(v *storage.Version) error {
		var c communication
		if err := fhirread.Decode(v.Body, "Communication", &c); err != nil {
			return fmt.Errorf("transitions: Communication/%s: %w", v.ID, err)
		}
		if at, _, ok := search.ParseDateTime(c.Sent, time.UTC); ok {
			contacts[c.Subject.Key()] = append(contacts[c.Subject.Key()], at)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Encounters that are contacts or visits.
	err = s.f.InEach(ctx, "Encounter", "subject", patients, url.Values{"date": {"ge" + from.UTC().Format(time.RFC3339)}}, func(v *storage.Version) error {
		var e encounter
		if err := fhirread.Decode(v.Body, "Encounter", &e); err != nil {
			return fmt.Errorf("transitions: Encounter/%s: %w", v.ID, err)
		}
		switch e.Status {
		case "arrived", "triaged", "in-progress", "onleave", "finished":
		default:
			return nil
		}
		if stayClasses[e.Class.Code] || e.Period == nil {
			return nil
		}
		start, _, ok := search.ParseDateTime(e.Period.Start, time.UTC)
		if !ok {
			return nil
		}
		p := e.Subject.Key()
		contacts[p] = append(contacts[p], start)
		if !remoteClasses[e.Class.Code] {
			visits[p] = append(visits[p], start)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Appointments booked or held.
	err = s.f.InEach(ctx, "Appointment", "patient", patients, url.Values{"status": {"booked,arrived,checked-in,fulfilled"}, "date": {"ge" + from.UTC().Format(time.RFC3339)}}, func(v *storage.Version) error {
		var a fhirread.Appointment
		if err := fhirread.Decode(v.Body, "Appointment", &a); err != nil {
			return fmt.Errorf("transitions: Appointment/%s: %w", v.ID, err)
		}
		start, _, ok := search.ParseDateTime(a.Start, time.UTC)
		if !ok {
			return nil
		}
		for _, pt := range a.Participant {
			if k := pt.Actor.Key(); fhirread.RefType(k) == "Patient" && pt.Status != "declined" {
				visits[k] = append(visits[k], start)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range stays {
		d := &stays[i]
		for _, at := range contacts[d.Patient] {
			if !at.Before(d.Discharge) {
				d.Contacted = true
			}
		}
		for _, at := range visits[d.Patient] {
			if !at.Before(d.Discharge) && at.Before(d.Discharge.Add(VisitWithin)) {
				d.Visited = true
			}
		}
	}
	return stays, nil
}

// stays returns the discharges of the lookback window, without their follow-up state.
func (s *Service) stays(ctx context.Context, patient string, now time.Time) ([]Discharge, error) {
	loc := now.Location()
	from := now.Add(-DischargeLookback)
	q := url.Values{"class": {"IMP,ACUTE,NONAC,EMER,OBSENC"}, "date": {"ge" + from.UTC().Format(time.RFC3339)}}
	if patient != "" {
		q.Set("subject", fhirread.PatientRef(patient))
	}
	vs, err := s.f.All(ctx, "Encounter", q)
	if err != nil {
		return nil, fmt.Errorf("transitions: discharges: %w", err)
	}
	// Every stay of the window, to find those another continues.
	type span struct {
		start, end time.Time
		open       bool
	}
	spans := map[string][]span{}
	decoded := make([]encounter, len(vs))
	for i, v := range vs {
		e := &decoded[i]
		if err := fhirread.Decode(v.Body, "Encounter", e); err != nil {
			return nil, fmt.Errorf("transitions: Encounter/%s: %w", v.ID, err)
		}
		if e.Period == nil || e.Status == "cancelled" || e.Status == "entered-in-error" || e.Status == "planned" {
			continue
		}
		start, _, ok := search.ParseDateTime(e.Period.Start, loc)
		if !ok {
			continue
		}
		end, _, hasEnd := search.ParseDateTime(e.Period.End, loc)
		spans[e.Subject.Key()] = append(spans[e.Subject.Key()], span{start, end, !hasEnd})
	}
	continued := func(patient string, end time.Time) bool {
		for _, sp := range spans[patient] {
			if !sp.start.Before(end) && sp.start.Sub(end) <= ContinuedWithin && (sp.open || sp.end.After(end)) {
				return true
			}
		}
		return false
	}
	var out []Discharge
	for i, v := range vs {
		e := &decoded[i]
		if !stayClasses[e.Class.Code] || e.Status != "finished" || e.Period == nil || fhirread.RefType(e.Subject.Key()) != "Patient" {
			continue
		}
		end, _, ok := search.ParseDateTime(e.Period.End, loc)
		if !ok || end.Before(from) || end.After(now) || continued(e.Subject.Key(), end) {
			continue
		}
		start, _, _ := search.ParseDateTime(e.Period.Start, loc)
		label := firstLabel(e.Type)
		if label == "" {
			label = firstLabel(e.ReasonCode)
		}
		if label == "" {
			label = "hospital stay"
			if e.Class.Code == "EMER" {
				label = "emergency visit"
			}
		}
		out = append(out, Discharge{Patient: e.Subject.Key(), Encounter: "Encounter/" + v.ID, Class: e.Class.Code, Label: label,
			Admitted: start, Discharge: end, ContactDue: BusinessDaysAfter(end, ContactBusinessDays), VisitDue: end.Add(VisitWithin),
			Resource: v})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Discharge.Equal(out[j].Discharge) {
			return out[i].Discharge.Before(out[j].Discharge)
		}
		return out[i].Encounter < out[j].Encounter
	})
	return out, nil
}

// BusinessDaysAfter returns the end (midnight after) of the n-th business day (Monday to Friday) after t's
// calendar day, in t's location.
func BusinessDaysAfter(t time.Time, n int) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d.AddDate(0, 0, 1)
}

// Unreconciled returns the medications started during the stays of discharges (from Discharges) that the
// active medication list does not reflect, in the order of the discharges, then by request id.
func (s *Service) Unreconciled(ctx context.Context, discharges []Discharge) ([]Unreconciled, error) {
	if len(discharges) == 0 {
		return nil, nil
	}
	patients := patientsOf(discharges)
	reqs := map[string][]*storage.Version{}
	err := s.f.InEach(ctx, "MedicationRequest", "subject", patients, url.Values{"status": {"active,on-hold"}}, func(v *storage.Version) error {
		var r medicationRequest
		if err := fhirread.Decode(v.Body, "MedicationRequest", &r); err != nil {
			return fmt.Errorf("transitions: MedicationRequest/%s: %w", v.ID, err)
		}
		reqs[r.Subject.Key()] = append(reqs[r.Subject.Key()], v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	type listed struct{ based, codes, names map[string]bool }
	lists := map[string]*listed{}
	err = s.f.InEach(ctx, "MedicationStatement", "subject", patients, url.Values{"status": {"active,intended,on-hold"}}, func(v *storage.Version) error {
		var m medicationStatement
		if err := fhirread.Decode(v.Body, "MedicationStatement", &m); err != nil {
			return fmt.Errorf("transitions: MedicationStatement/%s: %w", v.ID, err)
		}
		l := lists[m.Subject.Key()]
		if l == nil {
			l = &listed{map[string]bool{}, map[string]bool{}, map[string]bool{}}
			lists[m.Subject.Key()] = l
		}
		for i := range m.BasedOn {
			l.based[m.BasedOn[i].Key()] = true
		}
		c := medicationConcept(m.MedicationCodeableConcept, m.MedicationReference, m.Contained)
		for _, cd := range c.Coding {
			if cd.Code != "" {
				l.codes[cd.System+"|"+cd.Code] = true
			}
		}
		if len(c.Coding) == 0 && c.Text != "" {
			l.names[strings.ToLower(c.Text)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Unreconciled
	for _, d := range discharges {
		l := lists[d.Patient]
		if l == nil {
			l = &listed{}
		}
		var found []Unreconciled
		for _, v := range reqs[d.Patient] {
			var r medicationRequest
			if err := fhirread.Decode(v.Body, "MedicationRequest", &r); err != nil {
				return nil, fmt.Errorf("transitions: MedicationRequest/%s: %w", v.ID, err)
			}
			switch r.Intent {
			case "proposal", "plan", "option":
				continue
			}
			during := r.Encounter.Key() == d.Encounter
			if !during {
				if at, _, ok := search.ParseDateTime(r.AuthoredOn, d.Discharge.Location()); ok && !d.Admitted.IsZero() {
					during = !at.Before(d.Admitted) && !at.After(d.Discharge)
				}
			}
			if !during || l.based["MedicationRequest/"+v.ID] {
				continue
			}
			c := medicationConcept(r.MedicationCodeableConcept, r.MedicationReference, r.Contained)
			reflected := false
			for _, cd := range c.Coding {
				if cd.Code != "" && l.codes[cd.System+"|"+cd.Code] {
					reflected = true
				}
			}
			if len(c.Coding) == 0 && l.names[strings.ToLower(c.Text)] {
				reflected = true
			}
			if !reflected {
				found = append(found, Unreconciled{Patient: d.Patient, Encounter: d.Encounter, Name: firstNonEmpty(c.Label(), "medication"),
					Due: d.ContactDue, Resource: v})
			}
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Resource.ID < found[j].Resource.ID })
		out = append(out, found...)
	}
	return out, nil
}

func patientsOf(ds []Discharge) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range ds {
		if !seen[d.Patient] {
			seen[d.Patient] = true
			out = append(out, d.Patient)
		}
	}
	sort.Strings(out)
	return out
}

func firstLabel(cs []fhirread.CodeableConcept) string {
	for i := range cs {
		if l := cs[i].Label(); l != "" {
			return l
		}
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// medicationConcept is the medication a request or statement names: its code, or its contained
// Medication's code, or the reference's display.
func medicationConcept(code *fhirread.CodeableConcept, ref *fhirread.Reference, contained []json.RawMessage) fhirread.CodeableConcept {
	if code != nil {
		return *code
	}
	if ref != nil {
		if raw, ok := fhirread.ContainedOf(contained, ref.Reference, "Medication"); ok {
			var m fhirread.Medication
			if json.Unmarshal(raw, &m) == nil && m.Code != nil {
				return *m.Code
			}
		}
		return fhirread.CodeableConcept{Text: ref.Display}
	}
	return fhirread.CodeableConcept{}
}
