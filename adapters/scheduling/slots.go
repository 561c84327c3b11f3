package scheduling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// HoldExtensionURL marks a Slot held by $hold (status busy-tentative): a complex extension with
// "appointment" (valueReference, the pending Appointment holding it) and "expires" (valueInstant). A held
// slot whose hold has expired counts as free.
const HoldExtensionURL = "http://careflow.example/fhir/StructureDefinition/slot-hold"

// slotStatuses are the Slot statuses $find reads: free slots, and held ones whose hold may have expired.
const slotStatuses = "free,busy-tentative"

// Schedule is a stored Schedule as booking reads it.
type Schedule struct {
	fhirread.Head
	ID              string                     `json:"id"`
	Active          *bool                      `json:"active,omitempty"`
	ServiceCategory []fhirread.CodeableConcept `json:"serviceCategory,omitempty"`
	ServiceType     []fhirread.CodeableConcept `json:"serviceType,omitempty"`
	Specialty       []fhirread.CodeableConcept `json:"specialty,omitempty"`
	Actor           []fhirread.Reference       `json:"actor,omitempty"`
	PlanningHorizon *fhirread.Period           `json:"planningHorizon,omitempty"`
}

// Slot is a stored Slot as booking reads it.
type Slot struct {
	fhirread.Head
	ID              string                     `json:"id"`
	Schedule        fhirread.Reference         `json:"schedule"`
	Status          string                     `json:"status"`
	Start           string                     `json:"start"`
	End             string                     `json:"end"`
	ServiceCategory []fhirread.CodeableConcept `json:"serviceCategory,omitempty"`
	ServiceType     []fhirread.CodeableConcept `json:"serviceType,omitempty"`
	Specialty       []fhirread.CodeableConcept `json:"specialty,omitempty"`
	AppointmentType *fhirread.CodeableConcept  `json:"appointmentType,omitempty"`
	Overbooked      bool                       `json:"overbooked,omitempty"`
	Extension       []slotExtension            `json:"extension,omitempty"`

	start, end time.Time
	version    *storage.Version
}

type slotExtension struct {
	URL            string              `json:"url"`
	ValueInstant   string              `json:"valueInstant,omitempty"`
	ValueReference *fhirread.Reference `json:"valueReference,omitempty"`
	Extension      []slotExtension     `json:"extension,omitempty"`
}

// hold returns the appointment holding the slot and when the hold expires (ok false: no hold).
func (s *Slot) hold() (appointment string, expires time.Time, ok bool) {
	for _, e := range s.Extension {
		if e.URL != HoldExtensionURL {
			continue
		}
		for _, sub := range e.Extension {
			switch sub.URL {
			case "appointment":
				appointment = sub.ValueReference.Key()
			case "expires":
				expires, _, _ = search.ParseDateTime(sub.ValueInstant, time.UTC)
			}
		}
		return appointment, expires, true
	}
	return "", time.Time{}, false
}

// availableTo reports whether the slot can be taken at now by the Appointment key holder ("" for a new
// booking): free, or held by holder, or held with an expired hold.
func (s *Slot) availableTo(holder string, now time.Time) bool {
	switch s.Status {
	case "free":
		return true
	case "busy-tentative":
		appt, expires, ok := s.hold()
		if !ok {
			return false // held by someone else than $hold: not ours to take
		}
		return holder != "" && appt == holder || !expires.IsZero() && !now.Before(expires)
	}
	return false
}

func decodeSlot(v *storage.Version) (*Slot, bool, error) {
	var s Slot
	if err := fhirread.Decode(v.Body, "Slot", &s); err != nil {
		return nil, false, fmt.Errorf("scheduling: Slot/%s: %w", v.ID, err)
	}
	s.version = v
	var ok1, ok2 bool
	s.start, _, ok1 = search.ParseDateTime(s.Start, time.UTC)
	s.end, _, ok2 = search.ParseDateTime(s.End, time.UTC)
	return &s, ok1 && ok2 && s.end.After(s.start), nil
}

// Token is a code parameter value: system|code, or a code in any system.
type Token struct{ System, Code string }

// ParseToken reads "system|code" or "code".
func ParseToken(v string) Token {
	if i := strings.IndexByte(v, '|'); i >= 0 {
		return Token{System: v[:i], Code: v[i+1:]}
	}
	return Token{Code: v}
}

// matchesAny reports whether one of concepts has one of tokens.
func matchesAny(concepts []fhirread.CodeableConcept, tokens []Token) bool {
	for i := range concepts {
		for _, t := range tokens {
			if concepts[i].HasCode(t.System, t.Code) {
				return true
			}
		}
	}
	return false
}

// FindRequest selects the free slots $find proposes.
type FindRequest struct {
	// Start and End bound the window: a proposal starts in [Start, End) and not before now (the slots
	// combined with its first may start later).
	Start, End time.Time
	// Actors are groups of references ("Practitioner/p1", "PractitionerRole/r", "Location/l",
	// "Organization/o"): a schedule qualifies when its actors include one of each group's references (OR
	// within a group, AND across groups).
	Actors [][]string
	// Specialty and ServiceType filter on the slot's codes, or the schedule's when the slot has none (any
	// of the tokens).
	Specialty, ServiceType []Token
	// Patient ("Patient/id"), when set, is a participant of each proposal.
	Patient string
	// Duration, when longer than a slot, combines consecutive slots of one schedule (each starting where
	// the previous ends) until they last at least Duration.
	Duration time.Duration
	// Count bounds the number of proposals (0: all).
	Count int
}

// Proposal is a proposed Appointment over one or more consecutive free slots of one schedule.
type Proposal struct {
	// ID is the proposed Appointment's id: "bk-" + 40 hex digits of SHA-256 of its slots' references, the
	// same for the same slots whoever asks.
	ID         string
	Start, End time.Time
	Schedule   *Schedule
	Slots      []*Slot
	// Resource is the proposed Appointment (status proposed).
	Resource []byte
}

// ProposalID is the deterministic id of the proposed Appointment over slots (their ids, in order).
func ProposalID(slotIDs []string) string {
	h := sha256.Sum256([]byte("Slot/" + strings.Join(slotIDs, "\nSlot/")))
	return "bk-" + hex.EncodeToString(h[:20])
}

// Find returns the proposals over free slots that req selects, at reference time now: slots with status
// free (or held with an expired hold), of active schedules, inside each schedule's planningHorizon when it
// has one, starting in the window and not before now; ordered by start, then schedule id, then first slot
// id.
func (s *Scheduler) Find(ctx context.Context, req FindRequest, now time.Time) ([]Proposal, error) {
	from := req.Start
	if from.Before(now) {
		from = now
	}
	if !from.Before(req.End) {
		return nil, nil
	}
	sp := url.Values{}
	for _, g := range req.Actors {
		sp.Add("actor", strings.Join(g, ","))
	}
	svs, err := s.f.All(ctx, "Schedule", sp)
	if err != nil {
		return nil, fmt.Errorf("scheduling: schedules: %w", err)
	}
	schedules := map[string]*Schedule{}
	var keys []string
	loc := now.Location()
	for _, v := range svs {
		var sc Schedule
		if err := fhirread.Decode(v.Body, "Schedule", &sc); err != nil {
			return nil, fmt.Errorf("scheduling: Schedule/%s: %w", v.ID, err)
		}
		if sc.Active != nil && !*sc.Active {
			continue
		}
		if sc.PlanningHorizon != nil {
			if span, ok := fhirread.PeriodSpan(sc.PlanningHorizon, loc); ok && !span.End.IsZero() && !span.End.After(from) {
				continue
			}
		}
		schedules["Schedule/"+v.ID] = &sc
		keys = append(keys, "Schedule/"+v.ID)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	p := url.Values{"status": {slotStatuses}}
	// A proposal starts in the window; the slots combined with its first may start after it.
	setDateRange(p, "start", from, req.End.Add(req.Duration))
	vs, err := s.f.In(ctx, "Slot", "schedule", keys, p)
	if err != nil {
		return nil, fmt.Errorf("scheduling: slots: %w", err)
	}
	bySchedule := map[string][]*Slot{}
	for _, v := range vs {
		sl, ok, err := decodeSlot(v)
		if err != nil {
			return nil, err
		}
		sc := schedules[sl.Schedule.Key()]
		if !ok || sc == nil || !sl.availableTo("", now) || sl.start.Before(from) || !sl.start.Before(req.End.Add(req.Duration)) {
			continue
		}
		if sc.PlanningHorizon != nil {
			if span, ok := fhirread.PeriodSpan(sc.PlanningHorizon, loc); ok &&
				(!span.Start.IsZero() && sl.start.Before(span.Start) || !span.End.IsZero() && sl.end.After(span.End)) {
				continue
			}
		}
		if len(req.Specialty) > 0 && !matchesAny(orSchedule(sl.Specialty, sc.Specialty), req.Specialty) ||
			len(req.ServiceType) > 0 && !matchesAny(orSchedule(sl.ServiceType, sc.ServiceType), req.ServiceType) {
			continue
		}
		bySchedule[sl.Schedule.Key()] = append(bySchedule[sl.Schedule.Key()], sl)
	}
	var out []Proposal
	for key, slots := range bySchedule {
		sort.Slice(slots, func(i, j int) bool {
			if !slots[i].start.Equal(slots[j].start) {
				return slots[i].start.Before(slots[j].start)
			}
			return slots[i].ID < slots[j].ID
		})
		for i := range slots {
			if !slots[i].start.Before(req.End) {
				break
			}
			run := []*Slot{slots[i]}
			for j := i + 1; j < len(slots) && run[len(run)-1].end.Sub(run[0].start) < req.Duration; j++ {
				if !slots[j].start.Equal(run[len(run)-1].end) {
					break
				}
				run = append(run, slots[j])
			}
			if run[len(run)-1].end.Sub(run[0].start) < req.Duration {
				continue
			}
			out = append(out, Proposal{ID: ProposalID(slotIDs(run)), Start: run[0].start, End: run[len(run)-1].end, Schedule: schedules[key], Slots: run})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Slots[0].Schedule.Key() != b.Slots[0].Schedule.Key() {
			return a.Slots[0].Schedule.Key() < b.Slots[0].Schedule.Key()
		}
		return a.ID < b.ID
	})
	if req.Count > 0 && len(out) > req.Count {
		out = out[:req.Count]
	}
	for i := range out {
		out[i].Resource = proposedBody(out[i], req.Patient) // only for the proposals returned
	}
	return out, nil
}

func slotIDs(run []*Slot) []string {
	ids := make([]string, len(run))
	for i, sl := range run {
		ids[i] = sl.ID
	}
	return ids
}

// orSchedule returns the slot's codes, or the schedule's when the slot has none.
func orSchedule(slot, schedule []fhirread.CodeableConcept) []fhirread.CodeableConcept {
	if len(slot) > 0 {
		return slot
	}
	return schedule
}

// proposedAppointment is the Appointment a proposal answers with (field order is the R4 element order).
type proposedAppointment struct {
	ResourceType    string                     `json:"resourceType"`
	ID              string                     `json:"id"`
	Status          string                     `json:"status"`
	ServiceCategory []fhirread.CodeableConcept `json:"serviceCategory,omitempty"`
	ServiceType     []fhirread.CodeableConcept `json:"serviceType,omitempty"`
	Specialty       []fhirread.CodeableConcept `json:"specialty,omitempty"`
	AppointmentType *fhirread.CodeableConcept  `json:"appointmentType,omitempty"`
	Start           string                     `json:"start"`
	End             string                     `json:"end"`
	MinutesDuration int                        `json:"minutesDuration"`
	Slot            []fhirread.Reference       `json:"slot"`
	Participant     []participant              `json:"participant"`
}

type participant struct {
	Actor    fhirread.Reference `json:"actor"`
	Required string             `json:"required"`
	Status   string             `json:"status"`
}

// proposedBody is the proposed Appointment of p.
func proposedBody(p Proposal, patient string) []byte {
	sc, run := p.Schedule, p.Slots
	refs := make([]fhirread.Reference, len(run))
	for i, sl := range run {
		refs[i] = fhirread.Reference{Reference: "Slot/" + sl.ID}
	}
	first, last := run[0], run[len(run)-1]
	a := proposedAppointment{ResourceType: "Appointment", ID: p.ID, Status: "proposed",
		ServiceCategory: orSchedule(first.ServiceCategory, sc.ServiceCategory),
		ServiceType:     orSchedule(first.ServiceType, sc.ServiceType),
		Specialty:       orSchedule(first.Specialty, sc.Specialty),
		AppointmentType: first.AppointmentType,
		Start:           first.Start, End: last.End, MinutesDuration: int(p.End.Sub(p.Start) / time.Minute), Slot: refs}
	if patient != "" {
		a.Participant = append(a.Participant, participant{Actor: fhirread.Reference{Reference: patient}, Required: "required", Status: "needs-action"})
	}
	for _, act := range sc.Actor {
		if act.Reference == "" {
			continue
		}
		a.Participant = append(a.Participant, participant{Actor: fhirread.Reference{Reference: act.Reference, Display: act.Display}, Required: "required", Status: "needs-action"})
	}
	body, _ := json.Marshal(a) // strings, ints and slices of them: cannot fail
	return body
}
