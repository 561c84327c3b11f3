// Package outreach finds the messages a care team owes a patient or the patient's family: an active
// CommunicationRequest (to the patient, or to a RelatedPerson such as a family caregiver) whose time has
// come and that no Communication answers yet.
//
// # Outreach due
//
// A CommunicationRequest about a patient (subject) with status active is due at its occurrence
// (occurrenceDateTime; for occurrencePeriod, its end, else its start); one without an occurrence is due when
// it was authored (authoredOn), else at once. It is answered — no item — when a Communication with status
// completed is basedOn it. Requests on hold, completed, revoked or entered-in-error wait for nothing.
package outreach

import (
	"context"
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

// Service runs the outreach workflows against a store. It is immutable and safe for concurrent use.
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

// Request is an active CommunicationRequest no Communication answers yet.
type Request struct {
	ID      string
	Patient string // "Patient/id"
	// Recipients are the normalised references of CommunicationRequest.recipient.
	Recipients []string
	// Text is the first payload's contentString, else the category's label, else "message".
	Text     string
	Priority string // "routine" when absent
	Due      time.Time
	// Dated reports that Due comes from the request (occurrence or authoredOn), not from the reference time.
	Dated bool
	// Resource is the CommunicationRequest.
	Resource *storage.Version
}

type communicationRequest struct {
	fhirread.Head
	Status             string                     `json:"status"`
	Category           []fhirread.CodeableConcept `json:"category,omitempty"`
	Priority           string                     `json:"priority,omitempty"`
	Subject            fhirread.Reference         `json:"subject"`
	Recipient          []fhirread.Reference       `json:"recipient,omitempty"`
	OccurrenceDateTime string                     `json:"occurrenceDateTime,omitempty"`
	OccurrencePeriod   *fhirread.Period           `json:"occurrencePeriod,omitempty"`
	AuthoredOn         string                     `json:"authoredOn,omitempty"`
	Payload            []struct {
		ContentString string `json:"contentString,omitempty"`
	} `json:"payload,omitempty"`
}

// Due returns the unanswered active CommunicationRequests of patient ("" for every patient), ordered by due
// date, then id.
func (s *Service) Due(ctx context.Context, patient string, now time.Time) ([]Request, error) {
	q := url.Values{"status": {"active"}}
	if patient != "" {
		q.Set("subject", fhirread.PatientRef(patient))
	}
	vs, err := s.f.All(ctx, "CommunicationRequest", q)
	if err != nil {
		return nil, fmt.Errorf("outreach: %w", err)
	}
	var out []Request
	byRef := map[string]int{}
	var refs []string
	for _, v := range vs {
		var cr communicationRequest
		if err := fhirread.Decode(v.Body, "CommunicationRequest", &cr); err != nil {
			return nil, fmt.Errorf("outreach: CommunicationRequest/%s: %w", v.ID, err)
		}
		if cr.Status != "active" || fhirread.RefType(cr.Subject.Key()) != "Patient" {
			continue
		}
		r := Request{ID: v.ID, Patient: cr.Subject.Key(), Priority: cr.Priority, Resource: v, Text: "message"}
		if r.Priority == "" {
			r.Priority = "routine"
		}
		for i := range cr.Recipient {
			if k := cr.Recipient[i].Key(); k != "" {
				r.Recipients = append(r.Recipients, k)
			}
		}
		for _, p := range cr.Payload {
			if t := strings.TrimSpace(p.ContentString); t != "" {
				r.Text = t
				break
			}
		}
		if r.Text == "message" {
			for i := range cr.Category {
				if l := cr.Category[i].Label(); l != "" {
					r.Text = l
					break
				}
			}
		}
		when := cr.OccurrenceDateTime
		if when == "" && cr.OccurrencePeriod != nil {
			when = cr.OccurrencePeriod.End
			if when == "" {
				when = cr.OccurrencePeriod.Start
			}
		}
		if when == "" {
			when = cr.AuthoredOn
		}
		if at, _, ok := search.ParseDateTime(when, now.Location()); ok {
			r.Due, r.Dated = at, true
		} else {
			r.Due = now
		}
		byRef["CommunicationRequest/"+v.ID] = len(out)
		refs = append(refs, "CommunicationRequest/"+v.ID)
		out = append(out, r)
	}
	answered := map[int]bool{}
	err = s.f.InEach(ctx, "Communication", "based-on", refs, url.Values{"status": {"completed"}}, func(v *storage.Version) error {
		var c struct {
			fhirread.Head
			BasedOn []fhirread.Reference `json:"basedOn,omitempty"`
		}
		if err := fhirread.Decode(v.Body, "Communication", &c); err != nil {
			return fmt.Errorf("outreach: Communication/%s: %w", v.ID, err)
		}
		for i := range c.BasedOn {
			if k, ok := byRef[c.BasedOn[i].Key()]; ok {
				answered[k] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, r := range out {
		if !answered[i] {
			kept = append(kept, r)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if !kept[i].Due.Equal(kept[j].Due) {
			return kept[i].Due.Before(kept[j].Due)
		}
		return kept[i].ID < kept[j].ID
	})
	return kept, nil
}
