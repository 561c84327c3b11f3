// Package worklist derives a care coordinator's worklist — FHIR R4 Task resources — from the findings of
// the other adapters (scheduling, careplan, medication, coverage).
//
// # Tasks
//
// Every Task has status requested and intent order; Task.code is a code of the CodeSystem
// http://careflow.example/fhir/CodeSystem/worklist-item (see CodeSystem for the resource); Task.for is
// the patient; Task.focus the resource the item is about and Task.reasonReference the resource that
// explains it, if any; Task.owner the person expected to act when the data names one; Task.authoredOn
// the reference time; Task.restriction.period.end the due date; Task.description a sentence for humans.
//
//	code                            focus               reason       due                         priority
//	follow-up-due                   CarePlan            —            activity's scheduled start  routine
//	follow-up-overdue               CarePlan            —            activity's scheduled start  urgent
//	rebook-appointment              Appointment         —            the missed slot's start     routine
//	double-booking                  Appointment (1st)   Appointment  the first one's start       urgent
//	allergy-conflict                MedicationStatement Allergy…     the reference time          urgent; routine if criticality low
//	therapeutic-duplication         Medication… (newest) Medication… the reference time         urgent
//	coverage-gap (appointment)      Appointment         —            the appointment's start     urgent
//	coverage-gap (patient)          Patient             —            the reference time          routine
//	approval-required               Appointment         Coverage     the appointment's start     urgent
//	coverage-ends-before-follow-up  Coverage            CarePlan     the coverage's last day     routine
//	careplan-overdue-activity       CarePlan            —            end of the activity window  routine
//	careplan-activity-not-started   CarePlan            —            start of the activity window routine
//	careplan-period-ended           CarePlan            —            the period's last day       routine
//
// An allergy conflict whose criticality is unable-to-assess or not recorded is treated as high. A
// therapeutic duplication (medication.Duplications: two or more different drugs of one class current at
// once, as MedicationStatements or MedicationRequests) is one Task per patient and class: focus the record
// of the most recently started drug, reasonReference the next one (R4 allows one), and every drug but the
// focus in Task.input (type text "Duplicated medication", valueReference); it is urgent whatever the class —
// two NSAIDs double the risk of gastrointestinal bleeding and kidney injury, two antibiotics of one class
// the toxicity, for no added effect — and due at once, like an allergy conflict. A patient-level coverage
// gap is raised for the patients "in care" — with an active care plan or an upcoming appointment in the
// horizon — who have no coverage in force at the reference time. Care plan
// activity items are not raised for activities already reported as a follow-up item (when the follow-up
// code is among the requested codes).
//
// Owner: the activity's first performer, else the plan's author (care plan and follow-up items); the
// appointment's first Practitioner or PractitionerRole participant (appointment items); the
// MedicationStatement's informationSource or the MedicationRequest's requester when it is a Practitioner or
// PractitionerRole (allergy conflicts; for a therapeutic duplication, the focus's, else that of the first
// other drug, newest first, that has one); the patient's first generalPractitioner (patient-level coverage
// gap). No owner otherwise.
//
// # Deterministic ids
//
// A Task's id is "wl-" followed by the first 40 hex digits of SHA-256 over its code, its focus, the detail
// that distinguishes items with the same focus (activity, patient, other appointment, allergy, or the other
// medications of a duplication, sorted) and the relevant date (the due date for dated items, none for
// allergy conflicts, therapeutic duplications and patient-level coverage gaps) — so the same condition
// always yields the same id, whatever the reference time, and a changed condition (a rescheduled activity)
// a new one.
package worklist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/coverage"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/internal/workflows"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/adapters/outreach"
	"github.com/careflow/careflow/adapters/priorauth"
	"github.com/careflow/careflow/adapters/referral"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/adapters/transitions"
	"github.com/careflow/careflow/fhir/search"
)

// CodeSystemURL is the canonical URL of the worklist item codes.
const CodeSystemURL = "http://careflow.example/fhir/CodeSystem/worklist-item"

// Worklist item codes.
const (
	FollowUpDue                = "follow-up-due"
	FollowUpOverdue            = "follow-up-overdue"
	RebookAppointment          = "rebook-appointment"
	DoubleBooking              = "double-booking"
	AllergyConflict            = "allergy-conflict"
	CoverageGap                = "coverage-gap"
	CoverageEndsBeforeFollowUp = "coverage-ends-before-follow-up"
	ApprovalRequired           = "approval-required"
	CarePlanOverdueActivity    = "careplan-overdue-activity"
	CarePlanActivityNotStarted = "careplan-activity-not-started"
	CarePlanPeriodEnded        = "careplan-period-ended"
	PostDischargeFollowUp      = "post-discharge-follow-up"
	DischargeMedication        = "discharge-medication-reconciliation"
	ReferralNotScheduled       = "referral-not-scheduled"
	ReferralResultMissing      = "referral-result-missing"
	OutreachDue                = "outreach-due"
	PriorAuthPending           = "prior-authorization-pending"
	PriorAuthDenied            = "prior-authorization-denied"
	TherapeuticDuplication     = "therapeutic-duplication"
)

// Item describes one code of the CodeSystem.
type Item struct {
	Code, Display, Definition string
}

// Items returns the worklist item codes (a fresh copy on every call), in CodeSystem order.
func Items() []Item {
	return []Item{
		{FollowUpDue, "Follow-up due", "A care plan follow-up scheduled within the horizon has no booked appointment."},
		{FollowUpOverdue, "Follow-up overdue", "A care plan follow-up's scheduled window has passed without a booked appointment."},
		{RebookAppointment, "Rebook appointment", "A cancelled or missed appointment has no later booked appointment for the patient."},
		{DoubleBooking, "Double booking", "Two booked appointments of the patient overlap in time."},
		{AllergyConflict, "Allergy conflict", "An active medication matches a current allergy of the patient (same code or drug class)."},
		{CoverageGap, "Coverage gap", "No coverage is in force for an upcoming appointment, or for a patient in care."},
		{CoverageEndsBeforeFollowUp, "Coverage ends before follow-up", "The coverage in force ends before a due follow-up and no other coverage covers it."},
		{ApprovalRequired, "Approval required", "The coverage requires prior approval for an upcoming appointment and none is recorded."},
		{CarePlanOverdueActivity, "Care plan activity overdue", "A care plan activity's scheduled window has ended and the activity is not completed."},
		{CarePlanActivityNotStarted, "Care plan activity not started", "A care plan activity has not started although its scheduled start has passed."},
		{CarePlanPeriodEnded, "Care plan period ended", "A care plan is still active although its period has ended."},
		{PostDischargeFollowUp, "Post-discharge follow-up", "A patient discharged from a hospital or emergency stay in the last 30 days has had no contact since (due by the end of the second business day), or no follow-up visit within 7 days of the discharge."},
		{DischargeMedication, "Medication reconciliation after discharge", "A medication started during a recent stay is not reflected by the patient's active medication list."},
		{ReferralNotScheduled, "Referral not scheduled", "An active referral has no appointment 14 days after it was written (3 days when urgent)."},
		{ReferralResultMissing, "Referral result missing", "The visit of an active referral took place 7 days ago or more and no result has been linked back to the referral."},
		{OutreachDue, "Outreach due", "A planned message or call to the patient or a family member is due and has not been made."},
		{PriorAuthPending, "Prior authorization pending", "The payer has not decided a prior authorization request by its deadline (72 hours when urgent, 7 days otherwise)."},
		{PriorAuthDenied, "Prior authorization denied", "The payer denied a prior authorization request and no other request has been made since."},
		{TherapeuticDuplication, "Therapeutic duplication", "Two or more different drugs of the same therapeutic class (a drug class, or a WHO ATC level-4 group) are current for the patient at once, as medication statements or prescriptions."},
	}
}

// CodeSystem returns the FHIR CodeSystem resource (JSON) defining the worklist item codes.
func CodeSystem() []byte {
	type concept struct {
		Code       string `json:"code"`
		Display    string `json:"display"`
		Definition string `json:"definition"`
	}
	cs := struct {
		ResourceType  string    `json:"resourceType"`
		ID            string    `json:"id"`
		URL           string    `json:"url"`
		Name          string    `json:"name"`
		Title         string    `json:"title"`
		Status        string    `json:"status"`
		Publisher     string    `json:"publisher"`
		Description   string    `json:"description"`
		CaseSensitive bool      `json:"caseSensitive"`
		Content       string    `json:"content"`
		Count         int       `json:"count"`
		Concept       []concept `json:"concept"`
	}{ResourceType: "CodeSystem", ID: "worklist-item", URL: CodeSystemURL, Name: "CareflowWorklistItem",
		Title: "careflow worklist item", Status: "active", Publisher: "careflow",
		Description:   "The kinds of work item careflow derives for care coordinators (Task.code of the $worklist operation).",
		CaseSensitive: true, Content: "complete"}
	for _, it := range Items() {
		cs.Concept = append(cs.Concept, concept(it))
	}
	cs.Count = len(cs.Concept)
	data, _ := marshal(cs) // a fixed structure of strings: cannot fail
	return data
}

func display(code string) string {
	for _, it := range Items() {
		if it.Code == code {
			return it.Display
		}
	}
	return code
}

// Builder derives worklists from a store. It is safe for concurrent use.
type Builder struct {
	store    fetch.Searcher
	registry *search.Registry
	pageSize int
	// day keeps the last whole build (see incremental.go); nil when the store has no change feed.
	day *wholeDay
}

// New returns a Builder that searches s, building queries with registry. When s also has the change feed
// of a storage.Store, a whole build (every patient, every code) is kept and brought up to date from the
// feed on the next one with the same reference time and horizon.
func New(s fetch.Searcher, registry *search.Registry) *Builder {
	b := &Builder{store: s, registry: registry}
	if f, ok := s.(changeFeed); ok {
		b.day = newWholeDay(f)
	}
	return b
}

// Uncached returns a copy of the Builder that derives every worklist from scratch.
func (b *Builder) Uncached() *Builder {
	c := *b
	c.day = nil
	return &c
}

// WithPageSize returns a copy of the Builder that reads n resources per search page.
func (b *Builder) WithPageSize(n int) *Builder {
	c := *b
	c.pageSize = n
	return &c
}

// run holds the workflows of one computation, sharing one memo of repeated searches.
type run struct{ *workflows.Set }

// newRun's memo keeps the pages of care plan searches only: the workflows read the active care plans
// several times, every other search once (and holding its pages would hold the population's bodies).
func (b *Builder) newRun() *run {
	return &run{workflows.New(b.store, b.registry, b.pageSize, "CarePlan")}
}

// Options select the worklist.
type Options struct {
	// Since and Until bound the horizon: appointments and follow-ups starting in [now, Until) are checked,
	// and cancelled or missed appointments starting in [Since, Until). Zero values mean 30 days before and
	// 30 days after now. Overdue items are raised whatever their age.
	Since, Until time.Time
	// Patient restricts the worklist to one patient (id or "Patient/id").
	Patient string
	// Owner keeps only the Tasks owned by this reference ("Practitioner/dr1").
	Owner string
	// DueFrom and DueTo keep only the Tasks due in [DueFrom, DueTo); zero values do not restrict.
	DueFrom, DueTo time.Time
	// Codes keeps only the Tasks with these item codes (all when empty).
	Codes []string
	// FollowUpAllKinds treats every scheduled care plan activity as a follow-up, not only appointments.
	FollowUpAllKinds bool
	// Statuses keeps only the Tasks with these statuses (stored status, else requested); OpenStatuses
	// when empty.
	Statuses []string
	// Unassigned keeps only the Tasks nobody has taken: no owner, or a pool, and not claimed (team.go).
	Unassigned bool
	// Escalate raises the priority of the items not yet stored that are past due (team.go).
	Escalate bool
}

// Task is one worklist item.
type Task struct {
	ID       string
	Code     string
	Patient  string // Task.for
	Focus    string // Task.focus
	Reason   string // Task.reasonReference ("" when none)
	Owner    string // Task.owner ("" when none)
	Priority string
	Due      time.Time // Task.restriction.period.end
	// Description is Task.description.
	Description string
	// Topic names what the item is about in words a patient understands (the follow-up's activity, the
	// missed appointment, the stay, the referral, the planned message); "" when the item has none.
	Topic string
	// Status is Task.status: the stored Task's, requested when the item has not been stored.
	Status string
	// BusinessStatus is the code of the stored Task's businessStatus in BusinessStatusURL ("claimed",
	// "released"), "" when none.
	BusinessStatus string
	// PerformerTypes are the stored Task's performerType codes (system|code).
	PerformerTypes []string
	// Stored reports that a coordinator has stored this Task (Resource is then the stored version).
	Stored bool
	// Resource is the Task resource (JSON).
	Resource json.RawMessage
}

const defaultHorizon = 30 * 24 * time.Hour

// item is a Task before rendering.
type item struct {
	code, patient, focus, reason, owner, priority, detail, description string
	topic                                                              string // what the item is about, for a message to the patient
	due                                                                time.Time
	dated                                                              bool // the due date identifies the item
	// inputs are references listed in Task.input (the other medications of a therapeutic duplication).
	inputs []string
}

// Build returns the worklist at now, ordered by due date, then priority (most urgent first), then id.
func (b *Builder) Build(ctx context.Context, now time.Time, opt Options) ([]Task, error) {
	if b.day == nil || !cacheable(opt) {
		return b.newRun().build(ctx, now, opt)
	}
	derived, err := b.day.derived(ctx, b, now, opt)
	if err != nil {
		return nil, err // with its context
	}
	return b.newRun().finish(ctx, derived, now, opt)
}

func (b *run) build(ctx context.Context, now time.Time, opt Options) ([]Task, error) {
	derived, err := b.derive(ctx, now, opt)
	if err != nil {
		return nil, err
	}
	return b.finish(ctx, derived, now, opt)
}

// derive returns the Tasks the workflows raise at now (with opt's horizon, patient and codes), rendered
// and not yet merged with the stored ones, in the order of the workflows.
func (b *run) derive(ctx context.Context, now time.Time, opt Options) ([]Task, error) {
	since, until := opt.Since, opt.Until
	if since.IsZero() {
		since = now.Add(-defaultHorizon)
	}
	if until.IsZero() {
		until = now.Add(defaultHorizon)
	}
	want := func(codes ...string) bool {
		if len(opt.Codes) == 0 {
			return true
		}
		for _, c := range codes {
			for _, w := range opt.Codes {
				if c == w {
					return true
				}
			}
		}
		return false
	}
	patient := fhirread.PatientRef(opt.Patient)
	loc := now.Location()
	fu := scheduling.FollowUpOptions{AllKinds: opt.FollowUpAllKinds}

	// The workflows read the store independently, so they run concurrently (the memo shares their
	// searches and decodings); their findings become items below in a fixed order. A workflow that needs
	// another's findings (or reads what another reads first) starts as soon as that one has finished, not
	// when every other has: the allergy conflicts, the longest, overlap with the rest.
	var (
		fus         []scheduling.FollowUp
		issues      []careplan.ActivityIssue
		ended       []careplan.Plan
		rebooks     []scheduling.Rebook
		overlaps    []scheduling.Overlap
		conflicts   []medication.Conflict
		checks      []coverage.AppointmentCheck
		endings     []coverage.Ending
		plans       []careplan.Plan
		rxConflicts []medication.Conflict
		dups        []medication.Duplication
		stays       []transitions.Discharge
		unrecon     []transitions.Unreconciled
		referrals   []referral.Referral
		outreachs   []outreach.Request
		preauths    []priorauth.Request
	)
	var all tasks
	var followUps, active, checked *task // nil when not run
	if want(FollowUpDue, FollowUpOverdue) || want(CoverageEndsBeforeFollowUp) {
		followUps = all.run(func() (err error) { fus, err = b.Sched.FollowUps(ctx, patient, now, until, fu); return })
	}
	if want(CarePlanOverdueActivity, CarePlanActivityNotStarted) || want(CarePlanPeriodEnded) || want(CoverageGap) {
		active = all.run(func() (err error) { plans, err = b.Plans.Active(ctx, patient, now); return })
	}
	if want(RebookAppointment) {
		all.run(func() (err error) { rebooks, err = b.Sched.Rebooking(ctx, patient, since, until); return })
	}
	if want(DoubleBooking) {
		all.run(func() (err error) { overlaps, err = b.Sched.DoubleBookings(ctx, patient, now, until); return })
	}
	if want(AllergyConflict) {
		all.run(func() (err error) { conflicts, err = b.Meds.Conflicts(ctx, patient); return })
		all.run(func() (err error) { rxConflicts, err = b.Meds.PrescriptionConflicts(ctx, patient); return })
	}
	if want(TherapeuticDuplication) {
		all.run(func() (err error) { dups, err = b.Meds.Duplications(ctx, patient); return })
	}
	if want(CoverageGap, ApprovalRequired) {
		checked = all.run(func() (err error) { checks, err = b.Cov.CheckAppointments(ctx, patient, now, until); return })
	}
	if want(PostDischargeFollowUp, DischargeMedication) {
		all.run(func() (err error) {
			if stays, err = b.Transitions.Discharges(ctx, patient, now); err != nil || !want(DischargeMedication) {
				return err
			}
			unrecon, err = b.Transitions.Unreconciled(ctx, stays)
			return err
		})
	}
	if want(ReferralNotScheduled, ReferralResultMissing) {
		all.run(func() (err error) { referrals, err = b.Referrals.Referrals(ctx, patient, now); return })
	}
	if want(OutreachDue) {
		all.run(func() (err error) { outreachs, err = b.Outreach.Due(ctx, patient, now); return })
	}
	if want(PriorAuthPending, PriorAuthDenied) {
		all.run(func() (err error) { preauths, err = b.PriorAuth.Requests(ctx, patient, now); return })
	}
	// Then those that read the active care plans again (from the memo), or need other findings.
	if want(CarePlanOverdueActivity, CarePlanActivityNotStarted) {
		all.run(func() (err error) { issues, err = b.Plans.ActivityIssues(ctx, patient, now); return }, active)
	}
	if want(CarePlanPeriodEnded) {
		all.run(func() (err error) { ended, err = b.Plans.PeriodEnded(ctx, patient, now); return }, active)
	}
	if want(CoverageEndsBeforeFollowUp) {
		all.run(func() (err error) { endings, err = b.Cov.EndingBefore(ctx, fus, now); return }, followUps)
	}
	var uninsured []string
	var gps map[string]string
	if want(CoverageGap) {
		all.run(func() (err error) {
			var inCare []string
			for _, c := range checks {
				inCare = append(inCare, c.Patient)
			}
			for _, p := range plans {
				if fhirread.RefType(p.Patient) == "Patient" { // not a plan of a Group: no coverage of its own
					inCare = append(inCare, p.Patient)
				}
			}
			if len(inCare) == 0 {
				return nil
			}
			if uninsured, err = b.Cov.Uninsured(ctx, inCare, now); err != nil {
				return err
			}
			gps, err = b.generalPractitioners(ctx, uninsured)
			return err
		}, checked, active)
	}
	if err := all.wait(); err != nil {
		return nil, fmt.Errorf("worklist: %w", err)
	}

	var items []item
	followed := map[string]bool{} // "planID#activity" reported as follow-ups
	if want(FollowUpDue, FollowUpOverdue) {
		for _, f := range fus {
			it := item{code: FollowUpDue, priority: "routine", patient: f.Patient, focus: "CarePlan/" + f.Plan,
				owner: first(f.Performers, f.Author), detail: activityKey(f.ActivityID, f.Activity), due: f.Due, dated: true, topic: f.Label,
				description: fmt.Sprintf("Book the follow-up %q of care plan %q, due %s.", f.Label, f.PlanName, day(f.Due, loc))}
			if f.Overdue {
				it.code, it.priority = FollowUpOverdue, "urgent"
				it.description = fmt.Sprintf("The follow-up %q of care plan %q was due %s and has no booked appointment.", f.Label, f.PlanName, day(f.Due, loc))
			}
			if want(it.code) {
				followed[f.Plan+"#"+strconv.Itoa(f.Activity)] = true
			}
			items = append(items, it)
		}
	}
	for _, is := range issues {
		if followed[is.Plan.ID+"#"+strconv.Itoa(is.Activity.Index)] {
			continue
		}
		it := item{code: CarePlanOverdueActivity, priority: "routine", patient: is.Plan.Patient, focus: "CarePlan/" + is.Plan.ID,
			owner: first(is.Activity.Performers, is.Plan.Author), detail: activityKey(is.Activity.ID, is.Activity.Index),
			due: is.Since, dated: true,
			description: fmt.Sprintf("Activity %q of care plan %q (%s) was scheduled to end %s.", is.Activity.Label, is.Plan.Name, is.Activity.Status, day(is.Since, loc))}
		if is.Kind == careplan.NotStarted {
			it.code = CarePlanActivityNotStarted
			it.description = fmt.Sprintf("Activity %q of care plan %q is still %s although it was scheduled to start %s.", is.Activity.Label, is.Plan.Name, is.Activity.Status, day(is.Since, loc))
		}
		items = append(items, it)
	}
	for _, p := range ended {
		items = append(items, item{code: CarePlanPeriodEnded, priority: "routine", patient: p.Patient, focus: "CarePlan/" + p.ID,
			owner: p.Author, due: p.Period.Last, dated: true,
			description: fmt.Sprintf("Care plan %q is still active although its period ended %s: complete, revoke or extend it.", p.Name, day(p.Period.Last, loc))})
	}
	for _, r := range rebooks {
		what := "cancelled"
		if r.Appointment.Status == "noshow" {
			what = "missed"
		}
		items = append(items, item{code: RebookAppointment, priority: "routine", patient: r.Patient, focus: "Appointment/" + r.Appointment.ID,
			owner: first(r.Appointment.Practitioners, ""), detail: r.Patient, due: r.Appointment.Start, dated: true, topic: r.Appointment.Description,
			description: fmt.Sprintf("Rebook the %s appointment %q of %s.", what, r.Appointment.Description, clock(r.Appointment.Start, loc))})
	}
	for _, o := range overlaps {
		items = append(items, item{code: DoubleBooking, priority: "urgent", patient: o.Patient, focus: "Appointment/" + o.First.ID,
			reason: "Appointment/" + o.Second.ID, owner: first(o.First.Practitioners, ""), detail: o.Second.ID + "|" + o.Patient,
			due: o.First.Start, dated: true,
			description: fmt.Sprintf("Appointments %q at %s and %q at %s overlap: keep one.", o.First.Description, clock(o.First.Start, loc),
				o.Second.Description, clock(o.Second.Start, loc))})
	}
	for _, c := range append(conflicts, rxConflicts...) {
		prio := "urgent"
		if c.Criticality == "low" {
			prio = "routine"
		}
		how := "same code"
		if c.Match == medication.MatchDrugClass {
			how = "drug class " + c.Class
		}
		owner := ""
		if t := fhirread.RefType(c.Medication.Informant); t == "Practitioner" || t == "PractitionerRole" {
			owner = c.Medication.Informant
		}
		items = append(items, item{code: AllergyConflict, priority: prio, patient: c.Patient, focus: c.Medication.Type + "/" + c.Medication.ID,
			reason: "AllergyIntolerance/" + c.Allergy.ID, owner: owner, detail: c.Allergy.ID, due: now,
			description: fmt.Sprintf("%s conflicts with the recorded allergy to %s (%s, criticality %s): ask the prescriber to review.",
				c.Medication.Name, c.Allergy.Label, how, firstNonEmpty(c.Criticality, "not recorded"))})
	}
	for _, d := range dups {
		items = append(items, duplicationItem(d, now))
	}
	for _, c := range checks {
		a := c.Appointment
		if !c.Covered {
			items = append(items, item{code: CoverageGap, priority: "urgent", patient: c.Patient, focus: "Appointment/" + a.ID,
				owner: first(a.Practitioners, ""), detail: c.Patient, due: a.Start, dated: true,
				description: fmt.Sprintf("No coverage is in force for the appointment %q of %s.", a.Description, clock(a.Start, loc))})
		}
		if c.NeedsApproval {
			items = append(items, item{code: ApprovalRequired, priority: "urgent", patient: c.Patient, focus: "Appointment/" + a.ID,
				reason: "Coverage/" + c.ApprovalBy[0].ID, owner: first(a.Practitioners, ""), detail: c.Patient, due: a.Start, dated: true,
				description: fmt.Sprintf("Obtain the payer's approval for the appointment %q of %s (required by coverage %s).",
					a.Description, clock(a.Start, loc), c.ApprovalBy[0].ID)})
		}
	}
	for _, e := range endings {
		f := e.FollowUp
		items = append(items, item{code: CoverageEndsBeforeFollowUp, priority: "routine", patient: f.Patient, focus: "Coverage/" + e.Policy.ID,
			reason: "CarePlan/" + f.Plan, owner: first(f.Performers, f.Author),
			detail: f.Plan + "#" + activityKey(f.ActivityID, f.Activity) + "@" + f.Due.UTC().Format(time.RFC3339),
			due:    e.Policy.Period.Last, dated: true,
			description: fmt.Sprintf("Coverage %s ends %s, before the follow-up %q of care plan %q due %s: renew it or find other coverage.",
				e.Policy.ID, day(e.Policy.Period.Last, loc), f.Label, f.PlanName, day(f.Due, loc))})
	}
	for _, p := range uninsured {
		items = append(items, item{code: CoverageGap, priority: "routine", patient: p, focus: p, owner: gps[p], due: now,
			description: "The patient is in care but no coverage is in force: record or arrange coverage."})
	}
	items = append(items, secondGeneration(stays, unrecon, referrals, outreachs, preauths, now)...)

	var derived []Task
	for _, it := range items {
		if !want(it.code) {
			continue
		}
		t, err := render(it, now)
		if err != nil {
			return nil, err
		}
		derived = append(derived, t)
	}
	return derived, nil
}

// finish merges the derived Tasks with the stored ones, keeps those opt selects and orders them. It
// changes the elements of derived.
func (b *run) finish(ctx context.Context, derived []Task, now time.Time, opt Options) ([]Task, error) {
	loc := now.Location()
	var owners *pools
	if opt.Owner != "" {
		var err error
		if owners, err = b.poolsOf(ctx, opt.Owner); err != nil {
			return nil, err
		}
		// Only the items the owner's pools can hold are merged (ownerCandidates): the whole day's
		// thousands need not be looked up for one coordinator's few hundred.
		if derived, err = b.ownerCandidates(ctx, derived, owners); err != nil {
			return nil, err
		}
	}
	// The stored state (status, owner, priority, due date) decides what is shown.
	if err := b.merge(ctx, derived, loc); err != nil {
		return nil, err
	}
	statuses := opt.Statuses
	if len(statuses) == 0 {
		statuses = OpenStatuses()
	}
	var out []Task
	for _, t := range derived {
		if !slices.Contains(statuses, t.Status) || (owners != nil && !owners.accepts(&t)) || (opt.Unassigned && !unassigned(&t)) ||
			(!opt.DueFrom.IsZero() && t.Due.Before(opt.DueFrom)) || (!opt.DueTo.IsZero() && !t.Due.Before(opt.DueTo)) {
			continue
		}
		if opt.Escalate && !t.Stored {
			if p := escalate(t.Priority, t.Due, now); p != t.Priority {
				body, err := withPriority(t.Resource, p)
				if err != nil {
					return nil, err
				}
				t.Priority, t.Resource = p, body
			}
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Due.Equal(b.Due) {
			return a.Due.Before(b.Due)
		}
		if rank(a.Priority) != rank(b.Priority) {
			return rank(a.Priority) > rank(b.Priority)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// tasks runs functions concurrently and reports the first error in the order they were started.
type tasks struct {
	list []*task
}

// task is one function of tasks: done is closed when it has returned (or was skipped) and err is set.
type task struct {
	done chan struct{}
	err  error
}

// run starts f once every task of after (nil ones ignored) has finished; f is skipped when one of them
// failed (that error, reported first since it started first, is the one wait returns).
func (t *tasks) run(f func() error, after ...*task) *task {
	k := &task{done: make(chan struct{})}
	t.list = append(t.list, k)
	go func() {
		defer close(k.done)
		for _, d := range after {
			if d == nil {
				continue
			}
			<-d.done
			if d.err != nil {
				return
			}
		}
		k.err = f()
	}()
	return k
}

// wait waits for every task and returns the first error in the order they were started.
func (t *tasks) wait() error {
	for _, k := range t.list {
		<-k.done
	}
	for _, k := range t.list {
		if k.err != nil {
			return k.err
		}
	}
	return nil
}

// generalPractitioners maps patients to their first generalPractitioner reference.
func (b *run) generalPractitioners(ctx context.Context, patients []string) (map[string]string, error) {
	var ids []string
	for _, p := range patients {
		ids = append(ids, fhirread.RefID(p))
	}
	vs, err := b.F.In(ctx, "Patient", "_id", ids, url.Values{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, v := range vs {
		var p fhirread.Patient
		if err := fhirread.Decode(v.Body, "Patient", &p); err != nil {
			return nil, fmt.Errorf("Patient/%s: %w", v.ID, err)
		}
		if len(p.GeneralPractitioner) > 0 {
			out["Patient/"+v.ID] = p.GeneralPractitioner[0].Key()
		}
	}
	return out, nil
}

func rank(priority string) int {
	switch priority {
	case "stat":
		return 3
	case "asap":
		return 2
	case "urgent":
		return 1
	}
	return 0
}

func activityKey(id string, index int) string {
	if id != "" {
		return "id:" + id
	}
	return "index:" + strconv.Itoa(index)
}

func first(list []string, fallback string) string {
	if len(list) > 0 {
		return list[0]
	}
	return fallback
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func day(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

func clock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04 -07:00")
}

// TaskID returns the deterministic id of an item.
func TaskID(code, focus, detail string, date time.Time, dated bool) string {
	h := sha256.New()
	d := ""
	if dated {
		d = date.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", code, focus, detail, d)
	return "wl-" + hex.EncodeToString(h.Sum(nil))[:40]
}

type (
	ref struct {
		Reference string `json:"reference"`
	}
	coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	}
	// taskResource is the JSON of a derived Task (field order is the JSON order).
	taskResource struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Text         struct {
			Status string `json:"status"`
			Div    string `json:"div"`
		} `json:"text"`
		Status   string `json:"status"`
		Intent   string `json:"intent"`
		Priority string `json:"priority"`
		Code     struct {
			Coding []coding `json:"coding"`
		} `json:"code"`
		Description     string `json:"description"`
		Focus           ref    `json:"focus"`
		For             ref    `json:"for"`
		AuthoredOn      string `json:"authoredOn"`
		Owner           *ref   `json:"owner,omitempty"`
		ReasonReference *ref   `json:"reasonReference,omitempty"`
		Restriction     struct {
			Period struct {
				End string `json:"end"`
			} `json:"period"`
		} `json:"restriction"`
		Input []taskInput `json:"input,omitempty"`
	}
	// taskInput is a Task.input holding a reference.
	taskInput struct {
		Type struct {
			Text string `json:"text"`
		} `json:"type"`
		ValueReference ref `json:"valueReference"`
	}
)

// render builds the Task resource of an item.
func render(it item, now time.Time) (Task, error) {
	id := TaskID(it.code, it.focus, it.detail, it.due, it.dated)
	task := taskResource{ResourceType: "Task", ID: id, Status: "requested", Intent: "order", Priority: it.priority,
		Description: it.description, Focus: ref{it.focus}, For: ref{it.patient}, AuthoredOn: now.Format(time.RFC3339Nano)}
	task.Text.Status = "generated"
	task.Text.Div = `<div xmlns="http://www.w3.org/1999/xhtml"><p>` + esc(display(it.code)+": "+it.description) + `</p></div>`
	task.Code.Coding = []coding{{CodeSystemURL, it.code, display(it.code)}}
	if it.owner != "" {
		task.Owner = &ref{it.owner}
	}
	if it.reason != "" {
		task.ReasonReference = &ref{it.reason}
	}
	task.Restriction.Period.End = it.due.In(now.Location()).Format(time.RFC3339Nano)
	for _, in := range it.inputs {
		var ti taskInput
		ti.Type.Text, ti.ValueReference = "Duplicated medication", ref{in}
		task.Input = append(task.Input, ti)
	}
	data, err := marshal(task)
	if err != nil {
		return Task{}, fmt.Errorf("worklist: %w", err)
	}
	return Task{ID: id, Code: it.code, Patient: it.patient, Focus: it.focus, Reason: it.reason, Owner: it.owner,
		Priority: it.priority, Due: it.due, Description: it.description, Topic: it.topic, Resource: data}, nil
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// duplicationItem is the item of a therapeutic duplication: focus the newest drug's record, reason the
// next newest, every other drug in Task.input, owner the first prescriber or informant (Practitioner or
// PractitionerRole) of the drugs from the newest, due at the reference time.
func duplicationItem(d medication.Duplication, now time.Time) item {
	focus := d.Drugs[0].Medication
	var others []string
	owner := ""
	for _, dr := range d.Drugs {
		if t := fhirread.RefType(dr.Medication.Informant); owner == "" && (t == "Practitioner" || t == "PractitionerRole") {
			owner = dr.Medication.Informant
		}
	}
	for _, dr := range d.Drugs[1:] {
		others = append(others, dr.Medication.Type+"/"+dr.Medication.ID)
	}
	detail := slices.Clone(others)
	sort.Strings(detail)
	// The names from the oldest drug to the newest: "Ibuprofen and naproxen are both NSAIDs (…)".
	var names []string
	for i := len(d.Drugs) - 1; i >= 0; i-- {
		names = append(names, d.Drugs[i].Name)
	}
	list, both := names[0]+" and "+names[1], "both"
	if len(names) > 2 {
		list, both = strings.Join(names[:len(names)-1], ", ")+" and "+names[len(names)-1], "all"
	}
	if r := []rune(list); len(r) > 0 {
		list = strings.ToUpper(string(r[0])) + string(r[1:])
	}
	return item{code: TherapeuticDuplication, priority: "urgent", patient: d.Patient, focus: focus.Type + "/" + focus.ID,
		reason: others[0], owner: owner, detail: strings.Join(detail, ","), due: now, topic: d.Drugs[0].Name, inputs: others,
		description: fmt.Sprintf("%s are %s %s: check with the prescriber whether %s are intended.", list, both, d.Spelled, both)}
}
