// Package priorauth follows prior authorization requests to the payer: a Claim with use preauthorization
// and the payer's ClaimResponse. A coordinator chases a decision that is late and plans an alternative when
// approval is denied.
//
// # Requests and decisions
//
// A request is a Claim with use preauthorization and status active about a patient. Its decision is due
// UrgentDecision after it was created (Claim.created) when its priority is stat (processpriority), and
// StandardDecision after otherwise — the 72-hour and 7-day limits of expedited and standard prior
// authorization decisions. The payer's answer is a ClaimResponse (status active) whose request is the
// Claim: outcome queued is no decision yet; complete and partial are decisions (approved in whole or in
// part); error is a denial.
//
// # Pending past the deadline
//
// A request without a decision (no ClaimResponse, or only queued ones) is pending; it is late once its
// decision deadline has passed.
//
// # Denied with no alternative
//
// A denied request (a ClaimResponse with outcome error, and no later decision for the same Claim) has an
// alternative planned when another preauthorization Claim of the patient was created on or after the
// denial (ClaimResponse.created); without one, the coordinator must plan one.
package priorauth

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

// Decision deadlines.
const (
	UrgentDecision   = 72 * time.Hour
	StandardDecision = 7 * 24 * time.Hour
)

// Service runs the prior authorization workflows against a store. It is immutable and safe for concurrent
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

// Request is a preauthorization Claim and where its decision stands.
type Request struct {
	ID      string
	Patient string // "Patient/id"
	// Label names what approval is asked for: the first item's service, else the claim type, else
	// "prior authorization".
	Label    string
	Urgent   bool // priority stat
	Created  time.Time
	Deadline time.Time
	// Decided reports a decision (outcome complete, partial or error); Denied an error outcome as the latest
	// decision; DecidedAt is its ClaimResponse.created; Response the ClaimResponse ("ClaimResponse/id").
	Decided, Denied bool
	DecidedAt       time.Time
	Response        string
	// Alternative reports, for a denied request, another preauthorization Claim of the patient created on
	// or after the denial.
	Alternative bool
	// Resource is the Claim.
	Resource *storage.Version
}

// Late reports whether the request waits for a decision past its deadline at now.
func (r *Request) Late(now time.Time) bool { return !r.Decided && !r.Deadline.After(now) }

// NeedsAlternative reports whether the request was denied and nothing else was asked for since.
func (r *Request) NeedsAlternative() bool { return r.Denied && !r.Alternative }

type (
	claim struct {
		fhirread.Head
		Status   string                    `json:"status"`
		Use      string                    `json:"use"`
		Type     *fhirread.CodeableConcept `json:"type,omitempty"`
		Patient  fhirread.Reference        `json:"patient"`
		Created  string                    `json:"created"`
		Priority *fhirread.CodeableConcept `json:"priority,omitempty"`
		Item     []struct {
			ProductOrService fhirread.CodeableConcept `json:"productOrService"`
		} `json:"item,omitempty"`
	}
	claimResponse struct {
		fhirread.Head
		Status  string             `json:"status"`
		Outcome string             `json:"outcome"`
		Request fhirread.Reference `json:"request"`
		Created string             `json:"created"`
	}
)

// Requests returns the active preauthorization requests of patient ("" for every patient) with their
// decision state, ordered by creation, then id.
func (s *Service) Requests(ctx context.Context, patient string, now time.Time) ([]Request, error) {
	q := url.Values{"use": {"preauthorization"}, "status": {"active"}}
	if patient != "" {
		q.Set("patient", fhirread.PatientRef(patient))
	}
	vs, err := s.f.All(ctx, "Claim", q)
	if err != nil {
		return nil, fmt.Errorf("priorauth: %w", err)
	}
	loc := now.Location()
	var out []Request
	for _, v := range vs {
		var c claim
		if err := fhirread.Decode(v.Body, "Claim", &c); err != nil {
			return nil, fmt.Errorf("priorauth: Claim/%s: %w", v.ID, err)
		}
		if c.Use != "preauthorization" || c.Status != "active" || fhirread.RefType(c.Patient.Key()) != "Patient" {
			continue
		}
		r := Request{ID: v.ID, Patient: c.Patient.Key(), Label: "prior authorization", Resource: v}
		if len(c.Item) > 0 && c.Item[0].ProductOrService.Label() != "" {
			r.Label = c.Item[0].ProductOrService.Label()
		} else if l := c.Type.Label(); l != "" {
			r.Label = l
		}
		r.Urgent = c.Priority.HasCode("", "stat")
		created, _, ok := search.ParseDateTime(c.Created, loc)
		if !ok {
			continue // Claim.created is mandatory; without it no deadline can be stated
		}
		r.Created = created
		r.Deadline = created.Add(StandardDecision)
		if r.Urgent {
			r.Deadline = created.Add(UrgentDecision)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, nil
	}
	byRef := map[string]*Request{}
	refs := make([]string, 0, len(out))
	for i := range out {
		byRef["Claim/"+out[i].ID] = &out[i]
		refs = append(refs, "Claim/"+out[i].ID)
	}
	err = s.f.InEach(ctx, "ClaimResponse", "request", refs, url.Values{"status": {"active"}}, func(v *storage.Version) error {
		var cr claimResponse
		if err := fhirread.Decode(v.Body, "ClaimResponse", &cr); err != nil {
			return fmt.Errorf("priorauth: ClaimResponse/%s: %w", v.ID, err)
		}
		r := byRef[cr.Request.Key()]
		if r == nil || cr.Outcome == "queued" || cr.Outcome == "" {
			return nil
		}
		at, _, _ := search.ParseDateTime(cr.Created, loc)
		// The latest decision wins (ties by id).
		if r.Decided && (at.Before(r.DecidedAt) || at.Equal(r.DecidedAt) && "ClaimResponse/"+v.ID < r.Response) {
			return nil
		}
		r.Decided, r.Denied, r.DecidedAt, r.Response = true, cr.Outcome == "error", at, "ClaimResponse/"+v.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Alternatives: another request of the patient created on or after the denial.
	for i := range out {
		r := &out[i]
		if !r.Denied {
			continue
		}
		for j := range out {
			if j != i && out[j].Patient == r.Patient && !out[j].Created.Before(r.DecidedAt) {
				r.Alternative = true
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
