package scheduling

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/storage"
)

// FollowUpOptions tune FollowUps.
type FollowUpOptions struct {
	// AllKinds makes every activity with a detail a follow-up candidate, not only detail.kind Appointment.
	AllKinds bool
}

// FollowUp is a care plan activity that should be, and is not yet, booked.
type FollowUp struct {
	Plan     string // CarePlan id
	PlanName string // title, description or category of the plan
	Patient  string // the plan's subject, "Patient/id"
	// Activity is the activity's position in CarePlan.activity; ActivityID its element id, if any.
	Activity   int
	ActivityID string
	Kind       string // detail.kind
	Status     string // detail.status
	Label      string // detail.description, else detail.code, else "activity N"
	// Scheduled is the activity's scheduled window; Due its start, or when it has no start the start of its
	// end value (an end of "2026-12-10" is due 2026-12-10T00:00 in the reference location).
	Scheduled fhirread.Span
	Due       time.Time
	// Overdue is set when the window ended at or before the reference time; otherwise the follow-up is due.
	Overdue bool
	// Performers are detail.performer references; Author is the plan's author.
	Performers []string
	Author     string
	// Resource is the stored CarePlan.
	Resource *storage.Version
}

// recentLinked is how far before now FollowUps first looks for booked appointments linked to a plan.
const recentLinked = 24 * time.Hour

// planActivity is a follow-up candidate before the appointment check.
type planActivity struct {
	FollowUp
	direct []string // Appointment references of activity.reference / outcomeReference
}

// FollowUps returns the follow-ups of active care plans — of one patient, or of every patient when
// patient is empty — that are due in [now, until) or overdue at now, and that no booked appointment covers
// (see the package documentation). Ordered by due time, plan id, then activity position.
func (s *Scheduler) FollowUps(ctx context.Context, patient string, now, until time.Time, opt FollowUpOptions) ([]FollowUp, error) {
	p := url.Values{"status": {"active"}}
	if pref := fhirread.PatientRef(patient); pref != "" {
		p.Set("patient", pref)
	}
	plans, err := s.f.All(ctx, "CarePlan", p)
	if err != nil {
		return nil, fmt.Errorf("scheduling: %w", err)
	}
	loc := now.Location()
	var cands []planActivity
	var planRefs []string
	for _, v := range plans {
		plan, err := careplan.Cached(s.f.Store, v, loc)
		if err != nil {
			return nil, fmt.Errorf("scheduling: %w", err)
		}
		pa := candidates(plan, now, until, opt)
		if len(pa) > 0 {
			planRefs = append(planRefs, "CarePlan/"+v.ID)
		}
		cands = append(cands, pa...)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	// Booked appointments linked to the plans (supportingInformation) or to the activities (direct).
	// The linked ones are read in two steps: those starting from a day before now, which cover the
	// follow-ups whose window starts before them (a plan's next visit usually covers its follow-ups), then
	// every linked appointment of the plans that still have a follow-up not covered — not the whole
	// history of visits of every plan.
	booked := url.Values{"status": {bookedStatuses}}
	starts := map[string][]time.Time{} // CarePlan ref → starts of booked appointments linked to it
	addLinked := func(plans []string, params url.Values) error {
		// From the store's index when it can answer (the plans an appointment links to and its start are
		// all this needs), else from the appointments' bodies.
		if linked, ok, err := s.linkedStarts(ctx, plans, params); err != nil {
			return err
		} else if ok {
			for cp, st := range linked {
				starts[cp] = append(starts[cp], st...)
			}
			return nil
		}
		var decodeErr error // DecodeAppointment's errors are returned as they are
		err := s.f.InEach(ctx, "Appointment", "supporting-info", plans, params, func(v *storage.Version) error {
			a, ok, err := decodeAppointment(s.f.Store, v)
			if err != nil {
				decodeErr = err
				return err
			}
			for _, cp := range a.CarePlans {
				if ok {
					starts[cp] = append(starts[cp], a.Start)
				}
			}
			return nil
		})
		if decodeErr != nil {
			return decodeErr
		}
		if err != nil {
			return fmt.Errorf("scheduling: %w", err)
		}
		return nil
	}
	recent := url.Values{"status": {bookedStatuses}}
	setDateRange(recent, "date", now.Add(-recentLinked), time.Time{})
	if err := addLinked(planRefs, recent); err != nil {
		return nil, err
	}
	var rest []string
	for _, c := range cands {
		ref := "CarePlan/" + c.Plan
		if !coveredByLinked(c, starts[ref]) && (len(rest) == 0 || rest[len(rest)-1] != ref) {
			rest = append(rest, ref)
		}
	}
	// The plans of rest get their recent appointments a second time: harmless for the check below.
	if err := addLinked(rest, booked); err != nil {
		return nil, err
	}
	// The activities' own references are looked up only for the candidates the linked appointments do
	// not cover (in the generated data most activities list their past visits there).
	var open []planActivity
	var ids []string
	for _, c := range cands {
		if coveredByLinked(c, starts["CarePlan/"+c.Plan]) {
			continue
		}
		open = append(open, c)
		for _, ref := range c.direct {
			ids = append(ids, fhirread.RefID(ref))
		}
	}
	direct, err := s.f.In(ctx, "Appointment", "_id", ids, booked)
	if err != nil {
		return nil, fmt.Errorf("scheduling: %w", err)
	}
	bookedIDs := map[string]bool{}
	for _, v := range direct {
		bookedIDs["Appointment/"+v.ID] = true
	}
	var out []FollowUp
	for _, c := range open {
		if coveredDirectly(c, bookedIDs) {
			continue
		}
		out = append(out, c.FollowUp)
	}
	sortFollowUps(out)
	return out, nil
}

// linkedStarts returns, from the store's search index, the starts of the appointments matching params
// that link to one of plans, by CarePlan reference — what decoding them gives FollowUps (their
// supportingInformation references to a CarePlan, normalised as the index normalises them, and their
// start): ok is false when the store has no index answer, or when a start may have been rounded in it.
func (s *Scheduler) linkedStarts(ctx context.Context, plans []string, params url.Values) (map[string][]time.Time, bool, error) {
	rows, ok, err := s.f.IndexIn(ctx, "Appointment", "supporting-info", plans, params, []string{"supporting-info", "date"})
	if err != nil || !ok {
		return nil, false, err
	}
	out := map[string][]time.Time{}
	for _, r := range rows {
		if len(r.Dates[1]) != 1 {
			if len(r.Dates[1]) == 0 {
				continue // no parsable start: DecodeAppointment's ok is false
			}
			return nil, false, nil // start holds one value; let the bodies say
		}
		start, exact := r.Dates[1][0].Start()
		if !exact {
			return nil, false, nil
		}
		for _, key := range r.Keys[0] {
			if fhirread.RefType(key) == "CarePlan" {
				out[key] = append(out[key], start)
			}
		}
	}
	return out, true, nil
}

// coveredDirectly reports whether one of the activity's own references is a booked appointment.
func coveredDirectly(c planActivity, bookedIDs map[string]bool) bool {
	for _, ref := range c.direct {
		if bookedIDs[ref] {
			return true
		}
	}
	return false
}

// coveredByLinked reports whether a booked appointment linked to the plan starts no earlier than the
// activity's window.
func coveredByLinked(c planActivity, linkedStarts []time.Time) bool {
	for _, st := range linkedStarts {
		if c.Scheduled.OpenStart || !st.Before(c.Scheduled.Start) {
			return true
		}
	}
	return false
}

func sortFollowUps(fs []FollowUp) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if !a.Due.Equal(b.Due) {
			return a.Due.Before(b.Due)
		}
		if a.Plan != b.Plan {
			return a.Plan < b.Plan
		}
		return a.Activity < b.Activity
	})
}

// closedActivity lists the detail.status values of activities that need nothing more.
func closedActivity(status string) bool {
	switch status {
	case "completed", "cancelled", "stopped", "entered-in-error":
		return true
	}
	return false
}

// candidates lists the due or overdue follow-up activities of one active plan.
func candidates(p careplan.Plan, now, until time.Time, opt FollowUpOptions) []planActivity {
	var out []planActivity
	for _, a := range p.Activities {
		if !a.HasDetail || closedActivity(a.Status) || a.DoNotPerform {
			continue
		}
		if !opt.AllKinds && a.Kind != "Appointment" {
			continue
		}
		if !a.HasSchedule {
			continue
		}
		span := a.Scheduled
		overdue := span.EndsBefore(now)
		due := (span.OpenStart || span.Start.Before(until)) && (span.OpenEnd || span.End.After(now))
		if !overdue && !due {
			continue
		}
		f := FollowUp{
			Plan: p.ID, PlanName: p.Name, Patient: p.Patient,
			Activity: a.Index, ActivityID: a.ID, Kind: a.Kind, Status: a.Status, Label: a.Label,
			Scheduled: span, Overdue: overdue, Author: p.Author, Performers: a.Performers, Resource: p.Resource,
		}
		f.Due = span.Start
		if span.OpenStart {
			f.Due = span.Last
		}
		pa := planActivity{FollowUp: f}
		for _, ref := range a.References {
			if fhirread.RefType(ref) == "Appointment" {
				pa.direct = append(pa.direct, ref)
			}
		}
		out = append(out, pa)
	}
	return out
}
