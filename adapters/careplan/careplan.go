// Package careplan keeps care plans moving across the care team: the active plans of a patient or of a
// care-team member, activities that are overdue or have not started although their scheduled start has
// passed, plans whose period has ended while they are still active, and a validator for CarePlan.status
// and activity.detail.status changes (see transitions.go for the table).
//
// Every function takes the reference time as a parameter (dates without a time zone, such as a period end
// of "2026-12-31", are read in its location) and never reads the clock.
//
// # Participants
//
// A reference takes part in a plan when it is the plan's author, a contributor, one of its careTeam
// references, a member (participant.member) of a CareTeam contained in the plan, or a performer of one
// of its activities (activity.detail.performer). careflow does not store CareTeam resources, so members of
// a referenced, non-contained CareTeam cannot be resolved; the CareTeam reference itself matches.
//
// # Activity findings
//
// An activity is "overdue" when its scheduled window (detail.scheduledPeriod, or the outer limits of
// detail.scheduledTiming) ended at or before the reference time and its detail.status is not completed,
// cancelled, stopped or entered-in-error. It is "not-started" when its status is still not-started or
// scheduled although its window started at or before the reference time and has not ended. Activities
// without a detail or a calendar schedule have no findings.
package careplan

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Service runs the care plan workflows against a store. It is immutable and safe for concurrent use.
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

// Problem is a condition a plan addresses (CarePlan.addresses).
type Problem struct {
	Reference string // normalised reference ("Condition/c1", "#c1" for a contained one)
	Label     string // the reference's display, else the contained Condition's code, else the reference
}

// Activity is one CarePlan.activity.
type Activity struct {
	Index       int    // position in CarePlan.activity
	ID          string // the activity element's id, if any
	Kind        string
	Status      string
	Label       string // detail.description, else detail.code, else the reference's display, else "activity N"
	Scheduled   fhirread.Span
	HasSchedule bool
	// HasDetail reports that the activity has a detail; DoNotPerform is its detail.doNotPerform.
	HasDetail, DoNotPerform bool
	Performers              []string
	// References are the activity's reference and outcomeReference targets (normalised).
	References []string
}

// Plan is a stored CarePlan as the workflows see it.
type Plan struct {
	ID, Status, Intent, Name string
	Description              string
	Patient                  string // subject ("Patient/id")
	Period                   fhirread.Span
	HasPeriod                bool
	Author                   string
	// Participants are every reference that takes part in the plan (see the package documentation),
	// sorted and without duplicates.
	Participants []string
	Addresses    []Problem
	Activities   []Activity
	Resource     *storage.Version
}

// DecodePlan reads a stored CarePlan; dates without a time zone are read in loc.
func DecodePlan(v *storage.Version, loc *time.Location) (Plan, error) {
	cp, err := fhirread.DecodeCarePlan(v)
	if err != nil {
		return Plan{}, fmt.Errorf("careplan: %w", err)
	}
	return planOf(v, cp, loc)
}

// planOf is DecodePlan of v, already decoded as cp.
func planOf(v *storage.Version, cp *fhirread.CarePlan, loc *time.Location) (Plan, error) {
	p := Plan{ID: v.ID, Status: cp.Status, Intent: cp.Intent, Name: cp.Name(), Description: cp.Description,
		Patient: cp.Subject.Key(), Resource: v}
	p.Period, p.HasPeriod = fhirread.PeriodSpan(cp.Period, loc)
	parts := map[string]bool{}
	add := func(r *fhirread.Reference) {
		if k := r.Key(); k != "" && k[0] != '#' {
			parts[k] = true
		}
	}
	if cp.Author != nil {
		p.Author = cp.Author.Key()
		add(cp.Author)
	}
	for i := range cp.Contributor {
		add(&cp.Contributor[i])
	}
	for i := range cp.CareTeam {
		ref := &cp.CareTeam[i]
		add(ref)
		if raw, ok := fhirread.ContainedOf(cp.Contained, ref.Reference, "CareTeam"); ok && len(ref.Reference) > 0 && ref.Reference[0] == '#' {
			var team fhirread.CareTeam
			if err := fhirread.Decode(raw, "CareTeam", &team); err != nil {
				return Plan{}, fmt.Errorf("careplan: CarePlan/%s: contained CareTeam: %w", v.ID, err)
			}
			for _, m := range team.Participant {
				add(m.Member)
			}
		}
	}
	for i := range cp.Addresses {
		ref := &cp.Addresses[i]
		pr := Problem{Reference: ref.Key(), Label: ref.Display}
		if pr.Label == "" && len(ref.Reference) > 0 && ref.Reference[0] == '#' {
			if raw, ok := fhirread.ContainedOf(cp.Contained, ref.Reference, "Condition"); ok {
				var c fhirread.Condition
				if err := fhirread.Decode(raw, "Condition", &c); err == nil {
					pr.Label = c.Code.Label()
				}
			}
		}
		if pr.Label == "" {
			pr.Label = pr.Reference
		}
		if pr.Label != "" {
			p.Addresses = append(p.Addresses, pr)
		}
	}
	for i := range cp.Activity {
		act := &cp.Activity[i]
		a := Activity{Index: i, ID: act.ID, Label: act.Label(i)}
		if d := act.Detail; d != nil {
			a.Kind, a.Status, a.HasDetail = d.Kind, d.Status, true
			a.DoNotPerform = d.DoNotPerform != nil && *d.DoNotPerform
			for j := range d.Performer {
				if k := d.Performer[j].Key(); k != "" {
					a.Performers = append(a.Performers, k)
				}
				add(&d.Performer[j])
			}
		}
		a.Scheduled, a.HasSchedule = act.Schedule(loc)
		if act.Reference != nil {
			if k := act.Reference.Key(); k != "" {
				a.References = append(a.References, k)
			}
		}
		for j := range act.OutcomeReference {
			if k := act.OutcomeReference[j].Key(); k != "" {
				a.References = append(a.References, k)
			}
		}
		p.Activities = append(p.Activities, a)
	}
	for k := range parts {
		p.Participants = append(p.Participants, k)
	}
	sort.Strings(p.Participants)
	return p, nil
}

// Cached is DecodePlan(v, loc), decoded once per version and location for the computation of s (see
// fetch.Decode). The memo keeps the Plan without its Resource, so that it does not hold the body.
func Cached(s fetch.Searcher, v *storage.Version, loc *time.Location) (Plan, error) {
	kind := fmt.Sprintf("careplan.Plan@%p", loc) // a Plan depends on the location of its zone-less dates
	p, err := fetch.Decode(s, kind, v, func(v *storage.Version) (Plan, error) {
		p, err := DecodePlan(v, loc)
		p.Resource = nil
		return p, err
	})
	p.Resource = v
	return p, err
}

// HasParticipant reports whether ref (normalised) takes part in the plan.
func (p *Plan) HasParticipant(ref string) bool {
	i := sort.SearchStrings(p.Participants, ref)
	return i < len(p.Participants) && p.Participants[i] == ref
}

// plans fetches and decodes the plans matching params, sorted by id.
func (s *Service) plans(ctx context.Context, params url.Values, loc *time.Location) ([]Plan, error) {
	vs, err := s.f.All(ctx, "CarePlan", params)
	if err != nil {
		return nil, fmt.Errorf("careplan: %w", err)
	}
	out := make([]Plan, 0, len(vs))
	for _, v := range vs {
		p, err := Cached(s.f.Store, v, loc)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func activeParams(patient string) url.Values {
	p := url.Values{"status": {"active"}}
	if ref := fhirread.PatientRef(patient); ref != "" {
		p.Set("patient", ref)
	}
	return p
}

// Active returns the active plans of a patient (id or "Patient/id"), or of every patient when patient is
// empty, ordered by id.
func (s *Service) Active(ctx context.Context, patient string, now time.Time) ([]Plan, error) {
	return s.plans(ctx, activeParams(patient), now.Location())
}

// ActiveForParticipant returns the active plans in which ref (e.g. "Practitioner/dr1",
// "CareTeam/team1") takes part, ordered by id. It reads every active plan: most participant roles have no
// search parameter.
func (s *Service) ActiveForParticipant(ctx context.Context, ref string, now time.Time) ([]Plan, error) {
	all, err := s.Active(ctx, "", now)
	if err != nil {
		return nil, err
	}
	key := fhirread.RefKey(ref)
	var out []Plan
	for _, p := range all {
		if p.HasParticipant(key) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Finding kinds of ActivityIssue.
const (
	Overdue    = "overdue"
	NotStarted = "not-started"
)

// ActivityIssue is an activity of an active plan that needs attention.
type ActivityIssue struct {
	Plan     Plan
	Activity Activity
	// Kind is Overdue or NotStarted.
	Kind string
	// Since is when the activity became an issue: the end of its window (Overdue, as the start of the end
	// value: "2026-12-10" gives 10 December 00:00) or its start (NotStarted).
	Since time.Time
}

// closed lists the activity statuses that need nothing more.
func closed(status string) bool {
	switch status {
	case "completed", "cancelled", "stopped", "entered-in-error":
		return true
	}
	return false
}

// ActivityIssues returns the overdue and not-started activities of the active plans of a patient (or of
// every patient when patient is empty) at now, ordered by Since, plan id, then activity position.
func (s *Service) ActivityIssues(ctx context.Context, patient string, now time.Time) ([]ActivityIssue, error) {
	plans, err := s.Active(ctx, patient, now)
	if err != nil {
		return nil, err
	}
	var out []ActivityIssue
	for _, p := range plans {
		out = append(out, Issues(p, now)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Since.Equal(b.Since) {
			return a.Since.Before(b.Since)
		}
		if a.Plan.ID != b.Plan.ID {
			return a.Plan.ID < b.Plan.ID
		}
		return a.Activity.Index < b.Activity.Index
	})
	return out, nil
}

// Issues returns the activity findings of one plan at now, in activity order.
func Issues(p Plan, now time.Time) []ActivityIssue {
	var out []ActivityIssue
	for _, a := range p.Activities {
		if !a.HasSchedule || closed(a.Status) || a.Status == "" {
			continue
		}
		sp := a.Scheduled
		switch {
		case sp.EndsBefore(now):
			out = append(out, ActivityIssue{Plan: p, Activity: a, Kind: Overdue, Since: sp.Last})
		case (a.Status == "not-started" || a.Status == "scheduled") && !sp.OpenStart && !sp.Start.After(now):
			out = append(out, ActivityIssue{Plan: p, Activity: a, Kind: NotStarted, Since: sp.Start})
		}
	}
	return out
}

// PeriodEnded returns the plans of a patient (or of every patient when patient is empty) that are still
// active although their period ended at or before now (Period.end "2026-11-30" ends when 1 December begins
// in now's location), ordered by id.
func (s *Service) PeriodEnded(ctx context.Context, patient string, now time.Time) ([]Plan, error) {
	plans, err := s.Active(ctx, patient, now)
	if err != nil {
		return nil, err
	}
	var out []Plan
	for _, p := range plans {
		if p.HasPeriod && p.Period.EndsBefore(now) {
			out = append(out, p)
		}
	}
	return out, nil
}
