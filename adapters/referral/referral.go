// Package referral closes the referral loop: a referral must be scheduled, and once the patient has been
// seen its result must come back to the referrer (the "closed loop referral" of IHE 360X and HL7 BSeR).
//
// # Referrals
//
// A referral is a ServiceRequest about a patient (subject) whose category has SNOMED CT 3457005 "Patient
// referral" (as US Core's ServiceRequest category value set uses it), with status active and an order
// intent (not proposal or option). The loop is closed — no item — when the ServiceRequest is completed,
// revoked, entered-in-error, on hold or a draft: only an active referral is waiting for something.
//
// # Not scheduled
//
// A referral is scheduled when an Appointment or an Encounter is basedOn it (Appointment.basedOn,
// Encounter.basedOn) and that appointment is not cancelled, noshow or entered-in-error (an encounter that
// is not cancelled or entered-in-error). An unscheduled referral is due to be scheduled SchedulingDays
// after it was authored (UrgentSchedulingDays for priority urgent, asap or stat); an unscheduled referral
// without authoredOn is due at once (its age is unknown).
//
// # Result missing
//
// A scheduled referral whose latest appointment or encounter started ResultGraceDays ago or more expects a
// result linked back: a DiagnosticReport, Observation, Procedure or Communication (status completed) basedOn
// the referral, or a DocumentReference whose context.related references it. Without one, the result is
// missing, due ResultGraceDays after the visit.
package referral

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

// Timelines, in days.
const (
	SchedulingDays       = 14
	UrgentSchedulingDays = 3
	ResultGraceDays      = 7
)

// SNOMEDReferral is the SNOMED CT code of a patient referral (ServiceRequest.category).
const SNOMEDReferral = "3457005"

const snomed = "http://snomed.info/sct"

// Service runs the referral workflows against a store. It is immutable and safe for concurrent use.
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

// Referral is an active referral and where its loop stands.
type Referral struct {
	ID       string
	Patient  string // "Patient/id"
	Label    string // what is referred for (code), else "referral"
	Priority string // ServiceRequest.priority ("routine" when absent)
	// Performer is the first performer (who the patient is referred to), "" when none.
	Performer string
	Authored  time.Time // zero when unknown
	// Scheduled reports an appointment or encounter basedOn the referral; Visit is the latest one's start.
	Scheduled bool
	Visit     time.Time
	// VisitRef is that appointment or encounter ("Appointment/id").
	VisitRef string
	// ResultLinked reports a result linked back (see the package documentation).
	ResultLinked bool
	// Due is when the referral should be scheduled (unscheduled) or its result back (scheduled).
	Due time.Time
	// Resource is the ServiceRequest.
	Resource *storage.Version
}

// NotScheduled reports whether the referral waits to be scheduled.
func (r *Referral) NotScheduled() bool { return !r.Scheduled }

// ResultMissing reports whether the referral's visit has passed by the grace period at now without a
// result linked back.
func (r *Referral) ResultMissing(now time.Time) bool {
	return r.Scheduled && !r.ResultLinked && !r.Due.After(now)
}

type (
	serviceRequest struct {
		fhirread.Head
		Status     string                     `json:"status"`
		Intent     string                     `json:"intent"`
		Category   []fhirread.CodeableConcept `json:"category,omitempty"`
		Priority   string                     `json:"priority,omitempty"`
		Code       *fhirread.CodeableConcept  `json:"code,omitempty"`
		Subject    fhirread.Reference         `json:"subject"`
		AuthoredOn string                     `json:"authoredOn,omitempty"`
		Performer  []fhirread.Reference       `json:"performer,omitempty"`
	}
	basedOn struct {
		fhirread.Head
		Status  string               `json:"status"`
		BasedOn []fhirread.Reference `json:"basedOn,omitempty"`
		Start   string               `json:"start,omitempty"`
		Period  *fhirread.Period     `json:"period,omitempty"`
		Context *struct {
			Related []fhirread.Reference `json:"related,omitempty"`
		} `json:"context,omitempty"`
	}
)

// Referrals returns the active referrals of patient ("" for every patient) with the state of their loop
// at now, ordered by due date, then id.
func (s *Service) Referrals(ctx context.Context, patient string, now time.Time) ([]Referral, error) {
	q := url.Values{"category": {snomed + "|" + SNOMEDReferral}, "status": {"active"}}
	if patient != "" {
		q.Set("subject", fhirread.PatientRef(patient))
	}
	vs, err := s.f.All(ctx, "ServiceRequest", q)
	if err != nil {
		return nil, fmt.Errorf("referral: %w", err)
	}
	var out []Referral
	byRef := map[string]*Referral{}
	var refs []string
	for _, v := range vs {
		var sr serviceRequest
		if err := fhirread.Decode(v.Body, "ServiceRequest", &sr); err != nil {
			return nil, fmt.Errorf("referral: ServiceRequest/%s: %w", v.ID, err)
		}
		if sr.Status != "active" || sr.Intent == "proposal" || sr.Intent == "option" || fhirread.RefType(sr.Subject.Key()) != "Patient" {
			continue
		}
		r := Referral{ID: v.ID, Patient: sr.Subject.Key(), Label: "referral", Priority: sr.Priority, Resource: v}
		if l := sr.Code.Label(); l != "" {
			r.Label = l
		}
		if r.Priority == "" {
			r.Priority = "routine"
		}
		if len(sr.Performer) > 0 {
			r.Performer = firstNonEmpty(sr.Performer[0].Key(), sr.Performer[0].Display)
		}
		if at, _, ok := search.ParseDateTime(sr.AuthoredOn, now.Location()); ok {
			r.Authored = at
		}
		out = append(out, r)
	}
	for i := range out {
		key := "ServiceRequest/" + out[i].ID
		byRef[key] = &out[i]
		refs = append(refs, key)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	// Visits: appointments and encounters based on the referrals.
	for _, typ := range []string{"Appointment", "Encounter"} {
		err := s.f.InEach(ctx, typ, "based-on", refs, nil, func(v *storage.Version) error {
			var b basedOn
			if err := fhirread.Decode(v.Body, typ, &b); err != nil {
				return fmt.Errorf("referral: %s/%s: %w", typ, v.ID, err)
			}
			switch b.Status {
			case "cancelled", "noshow", "entered-in-error":
				return nil
			}
			start := b.Start
			if typ == "Encounter" && b.Period != nil {
				start = b.Period.Start
			}
			at, _, ok := search.ParseDateTime(start, now.Location())
			for i := range b.BasedOn {
				r := byRef[b.BasedOn[i].Key()]
				if r == nil {
					continue
				}
				r.Scheduled = true
				if ok && (r.Visit.IsZero() || at.After(r.Visit) || at.Equal(r.Visit) && typ+"/"+v.ID < r.VisitRef) {
					r.Visit, r.VisitRef = at, typ+"/"+v.ID
				}
				if r.VisitRef == "" {
					r.VisitRef = typ + "/" + v.ID
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Results linked back.
	link := func(refs []fhirread.Reference) {
		for i := range refs {
			if r := byRef[refs[i].Key()]; r != nil {
				r.ResultLinked = true
			}
		}
	}
	for _, typ := range []string{"DiagnosticReport", "Observation", "Procedure", "Communication"} {
		err := s.f.InEach(ctx, typ, "based-on", refs, nil, func(v *storage.Version) error {
			var b basedOn
			if err := fhirread.Decode(v.Body, typ, &b); err != nil {
				return fmt.Errorf("referral: %s/%s: %w", typ, v.ID, err)
			}
			switch {
			case b.Status == "entered-in-error", b.Status == "cancelled", typ == "Communication" && b.Status != "completed":
				return nil
			case typ == "Procedure" && b.Status != "completed":
				return nil
			}
			link(b.BasedOn)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = s.f.InEach(ctx, "DocumentReference", "related", refs, nil, func(v *storage.Version) error {
		var b basedOn
		if err := fhirread.Decode(v.Body, "DocumentReference", &b); err != nil {
			return fmt.Errorf("referral: DocumentReference/%s: %w", v.ID, err)
		}
		if b.Status == "entered-in-error" || b.Context == nil {
			return nil
		}
		link(b.Context.Related)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		r := &out[i]
		switch {
		case r.Scheduled && !r.Visit.IsZero():
			r.Due = r.Visit.AddDate(0, 0, ResultGraceDays)
		case r.Scheduled:
			r.Due = now // a visit without a usable start: its result is expected now
		case r.Authored.IsZero():
			r.Due = now
		default:
			days := SchedulingDays
			switch r.Priority {
			case "urgent", "asap", "stat":
				days = UrgentSchedulingDays
			}
			r.Due = r.Authored.AddDate(0, 0, days)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
