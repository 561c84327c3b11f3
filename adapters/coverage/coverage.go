// Package coverage checks insurance coverage and approval requirements for scheduled care.
//
// # Coverage in force
//
// A Coverage is in force for a patient at an instant when its status is active, its beneficiary is the
// patient, it names at least one payor, and its period contains the instant (a missing start or end is
// open; Period.end "2026-12-31" includes the whole of 31 December in the reference time's location; no
// period at all means no time limit). Other statuses (cancelled, draft, entered-in-error) never count.
//
// # Approval (prior authorization) convention
//
// R4 Coverage has no element saying that services need the payer's prior approval, so careflow defines
// one extension on Coverage:
//
//	url: http://careflow.example/fhir/StructureDefinition/prior-authorization-required
//	valueBoolean true         — every appointment under this coverage needs approval;
//	valueCodeableConcept      — appointments whose serviceCategory, serviceType, specialty or
//	                            appointmentType has a coding with the same system and code need approval
//	                            (a coding without system matches on code alone).
//
// The extension may repeat. An appointment records that approval was obtained with the extension
//
//	url: http://careflow.example/fhir/StructureDefinition/prior-authorization
//	valueIdentifier (the authorization number), valueReference (e.g. a ClaimResponse) or valueString
//
// and is then no longer flagged. Only coverages in force on the appointment's date are consulted.
//
// # Findings
//
// CheckAppointments checks every upcoming appointment (scheduling.Upcoming) for each patient taking part:
// covered or not, and whether approval is needed. EndingBeforeFollowUps finds coverages in force now that
// end before a due follow-up (scheduling.FollowUps) when no other coverage is in force on the follow-up's
// date (the later of its due time and now). Uninsured lists patients with no coverage in force at an
// instant.
package coverage

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Extension URLs of the approval convention.
const (
	PriorAuthRequiredURL = "http://careflow.example/fhir/StructureDefinition/prior-authorization-required"
	PriorAuthURL         = "http://careflow.example/fhir/StructureDefinition/prior-authorization"
)

// Service runs the coverage workflows against a store. It is immutable and safe for concurrent use.
type Service struct {
	f     fetch.Fetcher
	sched *scheduling.Scheduler
}

// New returns a Service that searches s, building queries with registry.
func New(s fetch.Searcher, registry *search.Registry) *Service {
	return &Service{f: fetch.Fetcher{Store: s, Registry: registry}, sched: scheduling.New(s, registry)}
}

// WithPageSize returns a copy of the Service that reads n resources per search page.
func (s *Service) WithPageSize(n int) *Service {
	c := *s
	c.f.PageSize = n
	c.sched = s.sched.WithPageSize(n)
	return &c
}

// ApprovalRule is one prior-authorization-required extension of a Coverage: All, or the service codes it
// names.
type ApprovalRule struct {
	All   bool
	Codes []fhirread.Coding
}

// Policy is a stored Coverage as the workflows see it.
type Policy struct {
	ID, Status  string
	Beneficiary string // normalised reference
	Period      fhirread.Span
	HasPeriod   bool
	Payors      []string // normalised references (or displays of payors given by display only)
	Type        string   // Coverage.type label
	Approval    []ApprovalRule
	Resource    *storage.Version
}

// DecodePolicy reads a stored Coverage; dates without a time zone are read in loc.
func DecodePolicy(v *storage.Version, loc *time.Location) (Policy, error) {
	var c fhirread.Coverage
	if err := fhirread.Decode(v.Body, "Coverage", &c); err != nil {
		return Policy{}, fmt.Errorf("coverage: Coverage/%s: %w", v.ID, err)
	}
	p := Policy{ID: v.ID, Status: c.Status, Beneficiary: c.Beneficiary.Key(), Type: c.Type.Label(), Resource: v}
	p.Period, p.HasPeriod = fhirread.PeriodSpan(c.Period, loc)
	for i := range c.Payor {
		switch {
		case c.Payor[i].Key() != "":
			p.Payors = append(p.Payors, c.Payor[i].Key())
		case c.Payor[i].Display != "":
			p.Payors = append(p.Payors, c.Payor[i].Display)
		case c.Payor[i].Identifier != nil && c.Payor[i].Identifier.Value != "":
			p.Payors = append(p.Payors, c.Payor[i].Identifier.Value)
		}
	}
	for _, x := range c.Extension {
		if x.URL != PriorAuthRequiredURL {
			continue
		}
		switch {
		case x.ValueBoolean != nil && *x.ValueBoolean:
			p.Approval = append(p.Approval, ApprovalRule{All: true})
		case x.ValueCodeableConcept != nil && len(x.ValueCodeableConcept.Coding) > 0:
			p.Approval = append(p.Approval, ApprovalRule{Codes: x.ValueCodeableConcept.Coding})
		}
	}
	return p, nil
}

// InForce reports whether the policy is in force at t (see the package documentation; the beneficiary
// is checked by the caller).
func (p *Policy) InForce(t time.Time) bool {
	if p.Status != "active" || len(p.Payors) == 0 {
		return false
	}
	return !p.HasPeriod || p.Period.Contains(t)
}

// RequiresApproval reports whether the policy requires approval for a service with the given codes.
func (p *Policy) RequiresApproval(codes []fhirread.Coding) bool {
	for _, r := range p.Approval {
		if r.All {
			return true
		}
		for _, rc := range r.Codes {
			for _, c := range codes {
				if rc.Code != "" && rc.Code == c.Code && (rc.System == "" || rc.System == c.System) {
					return true
				}
			}
		}
	}
	return false
}

// policies returns the active coverages of the given patients by beneficiary, each list ordered by id.
// Within one computation (a worklist: its workflows ask for the coverages of overlapping lists of
// patients, a population's in all) each patient's coverages are read once.
func (s *Service) policies(ctx context.Context, patients []string, loc *time.Location) (map[string][]Policy, error) {
	kind := fmt.Sprintf("coverage.Policy@%p", loc) // a Policy depends on the location of its zone-less dates
	if c, ok := fetch.Shared(s.f.Store, "coverage.policyCache/"+kind, newPolicyCache); ok && literalPatients(patients) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var missing []string
		for _, p := range patients {
			if !c.read[p] {
				c.read[p] = true
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			got, err := s.readPolicies(ctx, missing, loc, kind)
			if err != nil {
				for _, p := range missing {
					delete(c.read, p)
				}
				return nil, err
			}
			for b, ps := range got {
				c.by[b] = ps
			}
		}
		out := map[string][]Policy{}
		for _, p := range patients {
			if ps, ok := c.by[p]; ok {
				out[p] = slices.Clone(ps)
			}
		}
		return out, nil
	}
	return s.readPolicies(ctx, patients, loc, kind)
}

// policyCache holds the coverages read in one computation: by beneficiary, and which patients' were read.
type policyCache struct {
	mu   sync.Mutex
	read map[string]bool
	by   map[string][]Policy
}

func newPolicyCache() *policyCache {
	return &policyCache{read: map[string]bool{}, by: map[string][]Policy{}}
}

// literalPatients reports whether every value is a literal "Patient/id" reference, which a beneficiary
// search matches by that key alone (so the coverages found for it have it as their Beneficiary).
func literalPatients(refs []string) bool {
	for _, r := range refs {
		if fhirread.RefType(r) != "Patient" || strings.Contains(fhirread.RefID(r), "/") {
			return false
		}
	}
	return true
}

// readPolicies reads the active coverages of patients (see policies).
func (s *Service) readPolicies(ctx context.Context, patients []string, loc *time.Location, kind string) (map[string][]Policy, error) {
	out := map[string][]Policy{}
	var decodeErr error // DecodePolicy's errors are returned as they are
	err := s.f.InEach(ctx, "Coverage", "beneficiary", patients, url.Values{"status": {"active"}}, func(v *storage.Version) error {
		p, err := fetch.Decode(s.f.Store, kind, v, func(v *storage.Version) (Policy, error) {
			p, err := DecodePolicy(v, loc)
			p.Resource = nil // the memo does not hold the body
			return p, err
		})
		if err != nil {
			decodeErr = err
			return err
		}
		p.Resource = v
		out[p.Beneficiary] = append(out[p.Beneficiary], p)
		return nil
	})
	if decodeErr != nil {
		return nil, decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	for _, ps := range out {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	}
	return out, nil
}

// Policies returns the active coverages (status active) of a patient (id or "Patient/id"), ordered by id,
// whatever their period; dates without a time zone are read in loc.
func (s *Service) Policies(ctx context.Context, patient string, loc *time.Location) ([]Policy, error) {
	ref := fhirread.PatientRef(patient)
	if ref == "" {
		return nil, fmt.Errorf("coverage: Policies needs a patient")
	}
	m, err := s.policies(ctx, []string{ref}, loc)
	if err != nil {
		return nil, err
	}
	return m[ref], nil
}

func inForce(ps []Policy, t time.Time) []Policy {
	var out []Policy
	for _, p := range ps {
		if p.InForce(t) {
			out = append(out, p)
		}
	}
	return out
}

// AppointmentCheck is the coverage of one patient for one upcoming appointment.
type AppointmentCheck struct {
	Appointment scheduling.Appointment
	Patient     string
	// InForce are the patient's coverages in force at the appointment's start; Covered is len(InForce) > 0.
	InForce []Policy
	Covered bool
	// ApprovalBy are the coverages in force that require approval for the appointment's service;
	// Approved is set when the appointment records an approval; NeedsApproval is ApprovalBy without Approved.
	ApprovalBy    []Policy
	Approved      bool
	NeedsApproval bool
}

func approved(a scheduling.Appointment) bool {
	for _, x := range a.Extensions {
		if x.URL == PriorAuthURL && (x.ValueIdentifier != nil || x.ValueReference != nil || x.ValueString != "") {
			return true
		}
	}
	return false
}

// CheckAppointments checks the coverage of the upcoming appointments in [from, to) of a patient (or of
// every patient when patient is empty), one check per appointment and participating (not declined)
// patient, in appointment order then patient.
func (s *Service) CheckAppointments(ctx context.Context, patient string, from, to time.Time) ([]AppointmentCheck, error) {
	appts, err := s.sched.Upcoming(ctx, scheduling.Selector{Patient: patient}, from, to)
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	pref := fhirread.PatientRef(patient)
	type pair struct {
		a  scheduling.Appointment
		pt string
	}
	var pairs []pair
	var patients []string
	for _, a := range appts {
		pts := append([]string(nil), a.Patients...)
		sort.Strings(pts)
		for _, pt := range pts {
			if (pref != "" && pt != pref) || declined(a, pt) {
				continue
			}
			pairs = append(pairs, pair{a, pt})
			patients = append(patients, pt)
		}
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	pols, err := s.policies(ctx, patients, from.Location())
	if err != nil {
		return nil, err
	}
	out := make([]AppointmentCheck, 0, len(pairs))
	for _, p := range pairs {
		c := AppointmentCheck{Appointment: p.a, Patient: p.pt, InForce: inForce(pols[p.pt], p.a.Start)}
		c.Covered = len(c.InForce) > 0
		for _, pol := range c.InForce {
			if pol.RequiresApproval(p.a.ServiceCodes) {
				c.ApprovalBy = append(c.ApprovalBy, pol)
			}
		}
		c.Approved = approved(p.a)
		c.NeedsApproval = len(c.ApprovalBy) > 0 && !c.Approved
		out = append(out, c)
	}
	return out, nil
}

func declined(a scheduling.Appointment, ref string) bool {
	for _, d := range a.Declined {
		if d == ref {
			return true
		}
	}
	return false
}

// Ending is a coverage in force now that ends before a due follow-up no other coverage covers.
type Ending struct {
	FollowUp scheduling.FollowUp
	Policy   Policy
	// On is the date checked: the follow-up's due time, or now when that is earlier.
	On time.Time
}

// EndingBeforeFollowUps returns, for the follow-ups of a patient (or of every patient when patient is
// empty) due in [now, until), the coverages in force at now that are no longer in force on the follow-up's
// date when no other coverage of the patient is. Overdue follow-ups are not checked. Ordered as the
// follow-ups, then by coverage id.
func (s *Service) EndingBeforeFollowUps(ctx context.Context, patient string, now, until time.Time, opt scheduling.FollowUpOptions) ([]Ending, error) {
	fus, err := s.sched.FollowUps(ctx, patient, now, until, opt)
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	return s.EndingBefore(ctx, fus, now)
}

// EndingBefore is EndingBeforeFollowUps for follow-ups already computed (scheduling.FollowUps at now).
func (s *Service) EndingBefore(ctx context.Context, fus []scheduling.FollowUp, now time.Time) ([]Ending, error) {
	var patients []string
	for _, f := range fus {
		// A plan of a Group has no coverage of its own (a beneficiary is a Patient): no policy ends.
		if !f.Overdue && fhirread.RefType(f.Patient) == "Patient" {
			patients = append(patients, f.Patient)
		}
	}
	if len(patients) == 0 {
		return nil, nil
	}
	pols, err := s.policies(ctx, patients, now.Location())
	if err != nil {
		return nil, err
	}
	var out []Ending
	for _, f := range fus {
		if f.Overdue {
			continue
		}
		on := f.Due
		if on.Before(now) {
			on = now
		}
		ps := pols[f.Patient]
		if len(inForce(ps, on)) > 0 {
			continue
		}
		for _, p := range inForce(ps, now) {
			out = append(out, Ending{FollowUp: f, Policy: p, On: on})
		}
	}
	return out, nil
}

// Uninsured returns the patients (normalised references, sorted) with no coverage in force at at. With
// patients nil, every stored Patient that is not marked inactive (active false) or deceased is checked.
func (s *Service) Uninsured(ctx context.Context, patients []string, at time.Time) ([]string, error) {
	var refs []string
	if patients == nil {
		vs, err := s.f.All(ctx, "Patient", nil)
		if err != nil {
			return nil, fmt.Errorf("coverage: %w", err)
		}
		for _, v := range vs {
			var p fhirread.Patient
			if err := fhirread.Decode(v.Body, "Patient", &p); err != nil {
				return nil, fmt.Errorf("coverage: Patient/%s: %w", v.ID, err)
			}
			if (p.Active != nil && !*p.Active) || p.Deceased() {
				continue
			}
			refs = append(refs, "Patient/"+v.ID)
		}
	} else {
		for _, p := range patients {
			if ref := fhirread.PatientRef(p); ref != "" {
				refs = append(refs, ref)
			}
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	pols, err := s.policies(ctx, refs, at.Location())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		if !seen[r] && len(inForce(pols[r], at)) == 0 {
			out = append(out, r)
		}
		seen[r] = true
	}
	sort.Strings(out)
	return out, nil
}
