// Package scheduling answers a care coordinator's scheduling questions from stored Appointment and
// CarePlan resources: upcoming appointments (per patient, actor or location), follow-ups that are due or
// overdue and not yet booked, cancelled or missed appointments that still need rebooking, and a patient's
// double bookings.
//
// Every function takes the reference time as a parameter and never reads the clock, so results are
// deterministic. Values without a time zone (FHIR dates such as a scheduledPeriod of "2026-12-01") are read
// in the location of the reference time (or of the window start), so a date means the coordinator's whole
// calendar day.
//
// # Appointment statuses
//
//   - upcoming: proposed, pending, booked, arrived, checked-in, waitlist (an appointment that may still
//     take place);
//   - booked (an appointment that exists for the patient): booked, arrived, checked-in, fulfilled;
//   - double booking considers booked, arrived and checked-in appointments, and ignores participants whose
//     participation status is declined;
//   - needing rebooking: cancelled, noshow.
//
// # Follow-ups and the link from an Appointment to a CarePlan
//
// A follow-up is a CarePlan activity (by default only those with detail.kind Appointment; with
// FollowUpOptions.AllKinds any activity with a detail) of an active plan, whose detail.status is not
// completed, cancelled, stopped or entered-in-error, whose detail.doNotPerform is not true, and whose
// schedule places it on the calendar: detail.scheduledPeriod, or the outer limits of
// detail.scheduledTiming (its events and repeat.boundsPeriod, as FHIR date search reads a Timing).
// Activities scheduled only as a string or a bare frequency, and activities without a detail, are not
// follow-ups.
//
// R4 Appointment.basedOn can only point to a ServiceRequest, so careflow's convention for saying "this
// appointment books that care plan's follow-up" is:
//
//	Appointment.supportingInformation contains a Reference to the CarePlan ("CarePlan/<id>").
//
// Such an appointment, with a booked status (booked, arrived, checked-in, fulfilled), covers every follow-up
// of that plan whose scheduled window starts at or before the appointment's start (a window without a start
// is always covered). The standard R4 link in the other direction is honoured too, because it costs one
// look-up: a CarePlan activity whose activity.reference or activity.outcomeReference points to an
// Appointment with a booked status is covered whatever that appointment's date. Extensions are not
// consulted.
//
// A follow-up is due when its scheduled window overlaps [now, until), overdue when the window ended at or
// before now; its Due time is the window's start, or its end when it has no start.
//
// # Rebooking
//
// A cancelled or noshow appointment needs rebooking for one of its patients when that patient has no other
// appointment with a booked status, which the patient has not declined, starting after the cancelled one's
// start. Any appointment counts: the data does not say which service a replacement is for.
//
// # Booking (IHE ITI Scheduling $find, $hold, $book)
//
// Find proposes free Slots of active Schedules as Appointments (status proposed, deterministic ids);
// the Booker holds and books them — and, unlike the rest of the package, writes: through the transaction
// runner the operation layer passes (operation.Request.Transact), so that a booking's slots (with ifMatch
// on the versions read), Appointment and Task are one transaction. FreeSlotsEffect frees an Appointment's
// slots when any update cancels it. docs/ARCHITECTURE.md, "Booking", documents the parameters, statuses
// and conventions.
package scheduling

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Status lists (comma-separated search values).
const (
	upcomingStatuses = "proposed,pending,booked,arrived,checked-in,waitlist"
	bookedStatuses   = "booked,arrived,checked-in,fulfilled"
	overlapStatuses  = "booked,arrived,checked-in"
	missedStatuses   = "cancelled,noshow"
)

// searchPad widens date searches on Appointment.start; results are then filtered exactly in Go.
const searchPad = time.Minute

// Scheduler runs the scheduling workflows against a store. It is immutable and safe for concurrent use.
type Scheduler struct {
	f fetch.Fetcher
}

// New returns a Scheduler that searches s, building queries with registry.
func New(s fetch.Searcher, registry *search.Registry) *Scheduler {
	return &Scheduler{f: fetch.Fetcher{Store: s, Registry: registry}}
}

// WithPageSize returns a copy of the Scheduler that reads n resources per search page.
func (s *Scheduler) WithPageSize(n int) *Scheduler {
	c := *s
	c.f.PageSize = n
	return &c
}

// Appointment is a stored Appointment as the workflows see it.
type Appointment struct {
	ID     string
	Status string
	// Start is Appointment.start; End is Appointment.end, else start + minutesDuration, else Start.
	Start, End time.Time
	// Patients, Practitioners (Practitioner and PractitionerRole), Locations and Actors (all of them) are the
	// participants' normalised references ("Patient/p1").
	Patients, Practitioners, Locations, Actors []string
	// Declined lists the actors whose participation status is declined.
	Declined []string
	// CarePlans are the CarePlans referenced from supportingInformation (the follow-up link).
	CarePlans []string
	// Description is Appointment.description, else the service type, appointment type or specialty.
	Description string
	// ServiceCodes are the codings of serviceCategory, serviceType, specialty and appointmentType.
	ServiceCodes []fhirread.Coding
	// Extensions are the Appointment's extensions.
	Extensions []fhirread.Extension
	// Resource is the stored version.
	Resource *storage.Version
}

// DecodeAppointment reads a stored Appointment. ok is false when it has no parsable start.
func DecodeAppointment(v *storage.Version) (Appointment, bool, error) {
	var a fhirread.Appointment
	if err := fhirread.Decode(v.Body, "Appointment", &a); err != nil {
		return Appointment{}, false, fmt.Errorf("scheduling: Appointment/%s: %w", v.ID, err)
	}
	out := Appointment{ID: v.ID, Status: a.Status, Resource: v, Extensions: a.Extension, Description: a.Description}
	start, _, ok := search.ParseDateTime(a.Start, time.UTC)
	if !ok {
		return out, false, nil
	}
	out.Start, out.End = start, start
	if end, _, ok := search.ParseDateTime(a.End, time.UTC); ok && end.After(start) {
		out.End = end
	} else if a.MinutesDuration != nil && *a.MinutesDuration > 0 {
		out.End = start.Add(time.Duration(*a.MinutesDuration) * time.Minute)
	}
	for _, p := range a.Participant {
		key := p.Actor.Key()
		if key == "" {
			continue
		}
		out.Actors = append(out.Actors, key)
		if p.Status == "declined" {
			out.Declined = append(out.Declined, key)
		}
		switch fhirread.RefType(key) {
		case "Patient":
			out.Patients = append(out.Patients, key)
		case "Practitioner", "PractitionerRole":
			out.Practitioners = append(out.Practitioners, key)
		case "Location":
			out.Locations = append(out.Locations, key)
		}
	}
	for i := range a.SupportingInformation {
		if key := a.SupportingInformation[i].Key(); fhirread.RefType(key) == "CarePlan" {
			out.CarePlans = append(out.CarePlans, key)
		}
	}
	concepts := append(append(append([]fhirread.CodeableConcept{}, a.ServiceCategory...), a.ServiceType...), a.Specialty...)
	if a.AppointmentType != nil {
		concepts = append(concepts, *a.AppointmentType)
	}
	for i := range concepts {
		out.ServiceCodes = append(out.ServiceCodes, concepts[i].Coding...)
	}
	if out.Description == "" {
		for _, group := range [][]fhirread.CodeableConcept{a.ServiceType, optional(a.AppointmentType), a.Specialty} {
			for i := range group {
				if l := group[i].Label(); l != "" && out.Description == "" {
					out.Description = l
				}
			}
		}
	}
	if out.Description == "" {
		out.Description = "Appointment"
	}
	return out, true, nil
}

func optional(c *fhirread.CodeableConcept) []fhirread.CodeableConcept {
	if c == nil {
		return nil
	}
	return []fhirread.CodeableConcept{*c}
}

// attends reports whether ref takes part in a (is an actor and did not decline).
func (a *Appointment) attends(ref string) bool {
	for _, d := range a.Declined {
		if d == ref {
			return false
		}
	}
	for _, x := range a.Actors {
		if x == ref {
			return true
		}
	}
	return false
}

// Selector narrows Upcoming; empty fields do not restrict. All given fields must hold.
type Selector struct {
	Patient  string // patient id or "Patient/id"
	Actor    string // any participant reference ("Practitioner/dr1", "PractitionerRole/x", "Patient/p1")
	Location string // "Location/id"
}

// Upcoming returns the appointments with an upcoming status (see the package documentation) that start in
// [from, to), ordered by start then id.
func (s *Scheduler) Upcoming(ctx context.Context, sel Selector, from, to time.Time) ([]Appointment, error) {
	if sel.Actor == "" && sel.Location == "" {
		// Every appointment with an upcoming status starting in [from, to) is in the window's.
		if appts, ok, err := s.window(ctx, fhirread.PatientRef(sel.Patient), from, to); err != nil {
			return nil, err
		} else if ok {
			var out []Appointment
			for _, a := range appts {
				if !a.Start.Before(from) && a.Start.Before(to) {
					out = append(out, a)
				}
			}
			sortAppointments(out)
			return out, nil
		}
	}
	p := url.Values{"status": {upcomingStatuses}}
	setDateRange(p, "date", from.Add(-searchPad), to.Add(searchPad))
	if sel.Patient != "" {
		p.Set("patient", fhirread.PatientRef(sel.Patient))
	}
	if sel.Actor != "" {
		p.Set("actor", fhirread.RefKey(sel.Actor))
	}
	if sel.Location != "" {
		p.Set("location", fhirread.RefKey(sel.Location))
	}
	appts, err := s.appointments(ctx, p)
	if err != nil {
		return nil, err
	}
	out := appts[:0]
	for _, a := range appts {
		if !a.Start.Before(from) && a.Start.Before(to) {
			out = append(out, a)
		}
	}
	sortAppointments(out)
	return out, nil
}

// appointments fetches and decodes appointments, dropping those without a start.
func (s *Scheduler) appointments(ctx context.Context, p url.Values) ([]Appointment, error) {
	vs, err := s.f.All(ctx, "Appointment", p)
	if err != nil {
		return nil, fmt.Errorf("scheduling: %w", err)
	}
	return s.decodeAll(vs)
}

// decodedAppointment is DecodeAppointment's answer, as the memo keeps it.
type decodedAppointment struct {
	A  Appointment // exported, so that the memo can detach its strings (see fetch.Decode)
	OK bool
}

// decodeAppointment is DecodeAppointment once per version for the computation of s (see fetch.Decode).
// The memo keeps the Appointment without its Resource, so that it does not hold the body.
func decodeAppointment(s fetch.Searcher, v *storage.Version) (Appointment, bool, error) {
	d, err := fetch.Decode(s, "scheduling.Appointment", v, func(v *storage.Version) (decodedAppointment, error) {
		a, ok, err := DecodeAppointment(v)
		a.Resource = nil
		return decodedAppointment{a, ok}, err
	})
	d.A.Resource = v
	return d.A, d.OK, err
}

func (s *Scheduler) decodeAll(vs []*storage.Version) ([]Appointment, error) {
	var out []Appointment
	for _, v := range vs {
		a, ok, err := decodeAppointment(s.f.Store, v)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func sortAppointments(as []Appointment) {
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].Start.Equal(as[j].Start) {
			return as[i].Start.Before(as[j].Start)
		}
		return as[i].ID < as[j].ID
	})
}

// setDateRange adds name=ge<from>&name=lt<to> (instants in UTC; zero times are skipped).
func setDateRange(p url.Values, name string, from, to time.Time) {
	if !from.IsZero() {
		p.Add(name, "ge"+from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		p.Add(name, "lt"+to.UTC().Format(time.RFC3339))
	}
}

// Rebook is a cancelled or missed appointment that one of its patients still needs rebooked.
type Rebook struct {
	Appointment Appointment
	Patient     string // "Patient/id"
}

// Rebooking returns the cancelled and noshow appointments starting in [from, to) that still need
// rebooking for a patient (only patient when not empty), ordered by start, appointment id, then patient.
func (s *Scheduler) Rebooking(ctx context.Context, patient string, from, to time.Time) ([]Rebook, error) {
	p := url.Values{"status": {missedStatuses}}
	setDateRange(p, "date", from.Add(-searchPad), to.Add(searchPad))
	pref := fhirread.PatientRef(patient)
	if pref != "" {
		p.Set("patient", pref)
	}
	missed, err := s.appointments(ctx, p)
	if err != nil {
		return nil, err
	}
	type cand struct {
		a       Appointment
		patient string
	}
	var cands []cand
	var patients []string
	var earliest time.Time
	for _, a := range missed {
		if a.Start.Before(from) || !a.Start.Before(to) {
			continue
		}
		for _, pt := range a.Patients {
			if pref != "" && pt != pref {
				continue
			}
			cands = append(cands, cand{a, pt})
			patients = append(patients, pt)
			if earliest.IsZero() || a.Start.Before(earliest) {
				earliest = a.Start
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	q := url.Values{"status": {bookedStatuses}}
	setDateRange(q, "date", earliest.Add(-searchPad), time.Time{})
	vs, err := s.f.In(ctx, "Appointment", "patient", patients, q)
	if err != nil {
		return nil, fmt.Errorf("scheduling: %w", err)
	}
	booked, err := s.decodeAll(vs)
	if err != nil {
		return nil, err
	}
	byPatient := map[string][]Appointment{}
	for _, b := range booked {
		for _, pt := range b.Patients {
			byPatient[pt] = append(byPatient[pt], b)
		}
	}
	var out []Rebook
	for _, c := range cands {
		rebooked := false
		for _, b := range byPatient[c.patient] {
			if b.ID != c.a.ID && b.attends(c.patient) && b.Start.After(c.a.Start) {
				rebooked = true
				break
			}
		}
		if !rebooked {
			out = append(out, Rebook{Appointment: c.a, Patient: c.patient})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Appointment.Start.Equal(b.Appointment.Start) {
			return a.Appointment.Start.Before(b.Appointment.Start)
		}
		if a.Appointment.ID != b.Appointment.ID {
			return a.Appointment.ID < b.Appointment.ID
		}
		return a.Patient < b.Patient
	})
	return out, nil
}

// windowRead is the window's appointments, read once per computation (see window).
type windowRead struct {
	once  sync.Once
	appts []Appointment
	err   error
}

// window returns, within one computation (when s searches through a fetch.Memo; ok is false otherwise),
// the appointments with an upcoming status of patient (everyone's when empty) that the search
// date=ge(from - overlapLookback)&date=lt(to + searchPad) selects — the search of DoubleBookings with the
// statuses of Upcoming, which include its own: a worklist asks both for the same window, and the
// appointments are read and decoded once. The slice is shared: callers must not modify it.
func (s *Scheduler) window(ctx context.Context, patient string, from, to time.Time) ([]Appointment, bool, error) {
	key := fmt.Sprintf("scheduling.window\x00%s\x00%d\x00%d", patient, from.UnixNano(), to.UnixNano())
	w, ok := fetch.Shared(s.f.Store, key, func() *windowRead { return &windowRead{} })
	if !ok {
		return nil, false, nil
	}
	w.once.Do(func() {
		p := url.Values{"status": {upcomingStatuses}}
		setDateRange(p, "date", from.Add(-overlapLookback), to.Add(searchPad))
		if patient != "" {
			p.Set("patient", patient)
		}
		w.appts, w.err = s.appointments(ctx, p)
	})
	return w.appts, true, w.err
}

// Overlap is a pair of a patient's booked appointments whose times overlap; First starts no later than
// Second (ties broken by id).
type Overlap struct {
	Patient       string
	First, Second Appointment
}

// overlapLookback is how far before the window DoubleBookings looks for appointments that may still be
// running when the window starts.
const overlapLookback = 24 * time.Hour

// DoubleBookings returns, for one patient (or every patient when patient is empty), the pairs of booked,
// arrived or checked-in appointments that overlap in time, where at least one of the two starts in
// [from, to). Two appointments overlap when each starts before the other ends; appointments without an
// end or duration overlap another only when they start at the same instant or inside it. Participants who
// declined are ignored. Ordered by patient, first start, first id, second id.
func (s *Scheduler) DoubleBookings(ctx context.Context, patient string, from, to time.Time) ([]Overlap, error) {
	pref := fhirread.PatientRef(patient)
	appts, ok, err := s.window(ctx, pref, from, to)
	if err != nil {
		return nil, err
	}
	if ok {
		var keep []Appointment // the window's have an upcoming status, a superset of these
		for _, a := range appts {
			switch a.Status {
			case "booked", "arrived", "checked-in": // overlapStatuses
				keep = append(keep, a)
			}
		}
		appts = keep
	} else {
		p := url.Values{"status": {overlapStatuses}}
		setDateRange(p, "date", from.Add(-overlapLookback), to.Add(searchPad))
		if pref != "" {
			p.Set("patient", pref)
		}
		if appts, err = s.appointments(ctx, p); err != nil {
			return nil, err
		}
	}
	sortAppointments(appts)
	byPatient := map[string][]Appointment{}
	var patients []string
	for _, a := range appts {
		for _, pt := range a.Patients {
			if (pref != "" && pt != pref) || !a.attends(pt) {
				continue
			}
			if _, seen := byPatient[pt]; !seen {
				patients = append(patients, pt)
			}
			byPatient[pt] = append(byPatient[pt], a)
		}
	}
	sort.Strings(patients)
	inWindow := func(a Appointment) bool { return !a.Start.Before(from) && a.Start.Before(to) }
	var out []Overlap
	for _, pt := range patients {
		list := byPatient[pt]
		for i := range list {
			for j := i + 1; j < len(list); j++ {
				a, b := list[i], list[j]
				if !b.Start.Before(a.End) && !b.Start.Equal(a.Start) {
					break // sorted by start: no later appointment overlaps a either
				}
				if (inWindow(a) || inWindow(b)) && overlaps(a, b) {
					out = append(out, Overlap{Patient: pt, First: a, Second: b})
				}
			}
		}
	}
	return out, nil
}

// overlaps reports whether two appointments, a starting no later than b, overlap.
func overlaps(a, b Appointment) bool {
	return b.Start.Before(a.End) || b.Start.Equal(a.Start)
}
