package synth

import (
	"fmt"
	"strings"
)

// Coordination situations a care-coordination application should notice. Each generated patient is built to
// exercise some of them (see scenarios.go); the manifest lists, per patient, the situations actually found
// in its records, with the resources involved.
const (
	SitDrugAllergyConflict         = "drug-allergy-conflict"
	SitUnconfirmedHighCriticality  = "unconfirmed-high-criticality-allergy"
	SitNegativeControl             = "allergy-conflict-negative-control"
	SitStoppedForReaction          = "medication-stopped-for-reaction"
	SitNSAIDDuplication            = "nsaid-duplication"
	SitAnticoagulantNSAID          = "anticoagulant-nsaid-interaction"
	SitPolypharmacy                = "polypharmacy"
	SitOverlappingAppointments     = "overlapping-appointments"
	SitOverdueFollowUp             = "overdue-follow-up"
	SitMissedNotRebooked           = "missed-appointment-not-rebooked"
	SitStaleBooked                 = "stale-booked-appointment"
	SitCancelledRebooked           = "cancelled-then-rebooked"
	SitUninsuredUpcoming           = "uninsured-upcoming-appointment"
	SitCoverageLapsed              = "coverage-lapsed"
	SitCoverageEndsBeforeFollowUp  = "coverage-ends-before-follow-up"
	SitCoverageExpiredActive       = "coverage-expired-but-active"
	SitPriorAuthorization          = "prior-authorization-required"
	SitDependentMinor              = "dependent-minor-coverage"
	SitPlanEndedActive             = "care-plan-period-ended-still-active"
	SitDraftPlan                   = "draft-care-plan"
	SitCompletedPlanOpenActivities = "completed-plan-open-activities"
	SitMultipleActivePlans         = "multiple-active-care-plans"
)

// SituationInfo describes a situation code.
type SituationInfo struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	// History: only a bundle with the clinical history (Options.History) can exercise it.
	History bool `json:"history,omitempty"`
}

// Situations lists every situation code with its exact definition, in manifest order: the coordination
// situations, then those of the clinical history (hsituations.go).
var Situations = append(coordinationSituations, historySituations...)

var coordinationSituations = []SituationInfo{
	{Code: SitDrugAllergyConflict, Description: "An active MedicationStatement is for a drug of the class (penicillin, sulfonamide antibiotic, NSAID) of an active, not refuted AllergyIntolerance."},
	{Code: SitUnconfirmedHighCriticality, Description: "An active AllergyIntolerance is unconfirmed but of high criticality: it needs confirming before the next prescription."},
	{Code: SitNegativeControl, Description: "The patient has an allergy and a medicine of the same class, but the allergy is refuted or no longer active, or the medicine is no longer taken: a correct checker raises no alert for that class."},
	{Code: SitStoppedForReaction, Description: "A MedicationStatement was stopped with a reason, and an allergy to its drug class is now recorded."},
	{Code: SitNSAIDDuplication, Description: "Two or more NSAID pain relievers are active at the same time (therapeutic duplication)."},
	{Code: SitAnticoagulantNSAID, Description: "An anticoagulant (warfarin) and an NSAID are active at the same time (bleeding risk)."},
	{Code: SitPolypharmacy, Description: "Five or more medicines are active."},
	{Code: SitOverlappingAppointments, Description: "Two booked appointments of the patient overlap in time."},
	{Code: SitOverdueFollowUp, Description: "An active CarePlan has a follow-up visit activity (kind Appointment) that is not started or scheduled, whose scheduledPeriod ended before today, and no booked or fulfilled Appointment of that plan since the period began."},
	{Code: SitMissedNotRebooked, Description: "A no-show Appointment has no booked Appointment after today for the same care plan (or, without a plan, at all)."},
	{Code: SitStaleBooked, Description: "An Appointment that ended before today is still booked (neither fulfilled, no-show nor cancelled)."},
	{Code: SitCancelledRebooked, Description: "A cancelled Appointment has been replaced by a booked one for the same care plan."},
	{Code: SitUninsuredUpcoming, Description: "The patient has no Coverage at all and a booked Appointment after today."},
	{Code: SitCoverageLapsed, Description: "The patient has Coverage records, none in force today (cancelled or ended), and a booked Appointment after today."},
	{Code: SitCoverageEndsBeforeFollowUp, Description: "A Coverage in force today ends before a booked Appointment, and no other Coverage is in force on the appointment day."},
	{Code: SitCoverageExpiredActive, Description: "A Coverage has status active although its period ended before today."},
	{Code: SitPriorAuthorization, Description: "A Coverage in force today requires prior authorization (extension " + ExtPriorAuthorization + ") and the patient has a booked specialist Appointment."},
	{Code: SitDependentMinor, Description: "The patient is under 18 and covered as a dependent (Coverage.relationship child, someone else is the subscriber)."},
	{Code: SitPlanEndedActive, Description: "A CarePlan still has status active although its period ended before today."},
	{Code: SitDraftPlan, Description: "A CarePlan is a draft awaiting review."},
	{Code: SitCompletedPlanOpenActivities, Description: "A completed CarePlan still has activities not started, scheduled or in progress."},
	{Code: SitMultipleActivePlans, Description: "The patient has two or more active CarePlans to coordinate."},
}

// Situation is one occurrence of a situation in a patient's bundle.
type Situation struct {
	Code      string        `json:"code"`
	Detail    string        `json:"detail"`
	Resources []ResourceRef `json:"resources"`
}

// ResourceRef names a resource of a bundle by its fullUrl and by the identifier it keeps once stored.
type ResourceRef struct {
	Type       string `json:"type"`
	FullURL    string `json:"fullUrl"`
	Identifier string `json:"identifier"`
}

func (g *gen) refTo(v any) ResourceRef {
	switch r := v.(type) {
	case *medRec:
		return ResourceRef{"MedicationStatement", "urn:uuid:" + r.uuid, SystemRecord + "|" + r.rid}
	case *allergyRec:
		return ResourceRef{"AllergyIntolerance", "urn:uuid:" + r.uuid, SystemRecord + "|" + r.rid}
	case *coverageRec:
		return ResourceRef{"Coverage", "urn:uuid:" + r.uuid, SystemRecord + "|" + r.rid}
	case *planRec:
		return ResourceRef{"CarePlan", "urn:uuid:" + r.uuid, SystemRecord + "|" + r.rid}
	case *apptRec:
		return ResourceRef{"Appointment", "urn:uuid:" + r.uuid, SystemRecord + "|" + r.rid}
	case *patientRec:
		return ResourceRef{"Patient", "urn:uuid:" + r.uuid, SystemMRN + "|" + r.mrn}
	}
	panic("synth: no reference for this record")
}

func (g *gen) sit(code, detail string, recs ...any) Situation {
	s := Situation{Code: code, Detail: detail}
	for _, r := range recs {
		s.Resources = append(s.Resources, g.refTo(r))
	}
	return s
}

func hasClass(d *drug, class string) bool {
	for _, c := range d.classes {
		if c == class {
			return true
		}
	}
	return false
}

// future reports whether an appointment starts on or after today (in the patient's local calendar).
func (g *gen) future(a *apptRec) bool { return !dateOf(a.start).Before(g.today) }

func (g *gen) apptDesc(a *apptRec) string {
	return fmt.Sprintf("%s %s visit %s", a.status, strings.ToLower(a.specialty.text), a.start.Format("2006-01-02 15:04"))
}

func medDesc(m *medRec) string { return fmt.Sprintf("%s (%s)", m.d.code.display, m.status) }

func allergyDesc(a *allergyRec) string {
	return fmt.Sprintf("%s allergy (%s, %s, criticality %s)", strings.ToLower(a.a.text), a.clinical, a.verification, a.criticality)
}

// detect finds every situation in the patient's records, in the order of Situations.
func (g *gen) detect() []Situation {
	var out []Situation
	today := g.today
	var active []*medRec
	for _, m := range g.meds {
		if m.status == "active" {
			active = append(active, m)
		}
	}
	var bookedFuture []*apptRec
	for _, a := range g.appts {
		if a.status == "booked" && g.future(a) {
			bookedFuture = append(bookedFuture, a)
		}
	}

	conflictClass := map[string]bool{}
	for _, m := range active {
		for _, a := range g.alls {
			if a.a.class != "" && a.relevant() && hasClass(m.d, a.a.class) {
				conflictClass[a.a.class] = true
				out = append(out, g.sit(SitDrugAllergyConflict, medDesc(m)+" vs "+allergyDesc(a), m, a))
			}
		}
	}
	for _, a := range g.alls {
		if a.clinical == "active" && a.verification == "unconfirmed" && a.criticality == "high" {
			out = append(out, g.sit(SitUnconfirmedHighCriticality, allergyDesc(a), a))
		}
	}
	for _, class := range []string{classPenicillin, classSulfonamide, classNSAID} {
		if conflictClass[class] {
			continue
		}
		var recs []any
		var descs []string
		for _, a := range g.alls {
			if a.a.class == class {
				recs = append(recs, a)
				descs = append(descs, allergyDesc(a))
			}
		}
		if len(recs) == 0 {
			continue
		}
		n := len(recs)
		for _, m := range g.meds {
			if hasClass(m.d, class) {
				recs = append(recs, m)
				descs = append(descs, medDesc(m))
			}
		}
		if len(recs) > n {
			out = append(out, g.sit(SitNegativeControl, class+": "+strings.Join(descs, "; ")+": no alert expected", recs...))
		}
	}
	for _, m := range g.meds {
		if m.status != "stopped" || m.statusReason == "" {
			continue
		}
		for _, a := range g.alls {
			if a.a.class != "" && hasClass(m.d, a.a.class) {
				out = append(out, g.sit(SitStoppedForReaction, medDesc(m)+": "+m.statusReason, m, a))
			}
		}
	}
	var nsaids, anticoag, allNSAIDs []any
	var nsaidNames, interactionNames []string
	for _, m := range active {
		if m.d.analgesicNSAID {
			nsaids = append(nsaids, m)
			nsaidNames = append(nsaidNames, m.d.code.display)
		}
		if m.d.anticoagulant {
			anticoag = append(anticoag, m)
			interactionNames = append(interactionNames, m.d.code.display)
		}
	}
	if len(nsaids) >= 2 {
		out = append(out, g.sit(SitNSAIDDuplication, strings.Join(nsaidNames, " + "), nsaids...))
	}
	if len(anticoag) > 0 {
		for _, m := range active {
			if hasClass(m.d, classNSAID) {
				allNSAIDs = append(allNSAIDs, m)
				interactionNames = append(interactionNames, m.d.code.display)
			}
		}
		if len(allNSAIDs) > 0 {
			out = append(out, g.sit(SitAnticoagulantNSAID, strings.Join(interactionNames, " + "), append(anticoag, allNSAIDs...)...))
		}
	}
	if len(active) >= 5 {
		recs := make([]any, len(active))
		for i, m := range active {
			recs[i] = m
		}
		out = append(out, g.sit(SitPolypharmacy, fmt.Sprintf("%d active medicines", len(active)), recs...))
	}
	for i, a := range g.appts {
		for _, b := range g.appts[i+1:] {
			if a.status == "booked" && b.status == "booked" && a.start.Before(b.end) && b.start.Before(a.end) {
				out = append(out, g.sit(SitOverlappingAppointments, g.apptDesc(a)+" overlaps "+g.apptDesc(b), a, b))
			}
		}
	}
	for _, p := range g.plans {
		if p.status != "active" {
			continue
		}
		for _, act := range p.activities {
			due := act.due()
			if act.t.kind != "Appointment" || (act.status != "not-started" && act.status != "scheduled") || due == nil || !due.Before(today) {
				continue
			}
			handled := false
			for _, a := range g.appts {
				if a.plan == p && (a.status == "booked" || a.status == "fulfilled") && !dateOf(a.start).Before(act.start) {
					handled = true
				}
			}
			if !handled {
				out = append(out, g.sit(SitOverdueFollowUp, fmt.Sprintf("%s (%s plan) was due by %s and is still %s", act.t.text, p.title, date(*due), act.status), p))
			}
		}
	}
	for _, a := range g.appts {
		if a.status != "noshow" {
			continue
		}
		rebooked := false
		for _, b := range bookedFuture {
			if a.plan == nil || b.plan == a.plan {
				rebooked = true
			}
		}
		if !rebooked {
			out = append(out, g.sit(SitMissedNotRebooked, g.apptDesc(a)+": nothing booked since", a))
		}
	}
	for _, a := range g.appts {
		if a.status == "booked" && dateOf(a.end).Before(today) {
			out = append(out, g.sit(SitStaleBooked, g.apptDesc(a)+" is in the past", a))
		}
	}
	for _, a := range g.appts {
		if a.status != "cancelled" || a.plan == nil {
			continue
		}
		for _, b := range bookedFuture {
			if b.plan == a.plan {
				out = append(out, g.sit(SitCancelledRebooked, g.apptDesc(a)+" replaced by "+g.apptDesc(b), a, b))
			}
		}
	}
	inForceToday := false
	for _, c := range g.covs {
		if c.inForce(today) {
			inForceToday = true
		}
	}
	if len(g.covs) == 0 && len(bookedFuture) > 0 {
		out = append(out, g.sit(SitUninsuredUpcoming, "no Coverage; next: "+g.apptDesc(bookedFuture[0]), bookedFuture[0]))
	}
	if len(g.covs) > 0 && !inForceToday && len(bookedFuture) > 0 {
		recs := []any{}
		for _, c := range g.covs {
			recs = append(recs, c)
		}
		out = append(out, g.sit(SitCoverageLapsed, "no Coverage in force; next: "+g.apptDesc(bookedFuture[0]), append(recs, bookedFuture[0])...))
	}
	for _, c := range g.covs {
		if !c.inForce(today) || c.end == nil {
			continue
		}
		for _, a := range bookedFuture {
			day := dateOf(a.start)
			if !day.After(*c.end) {
				continue
			}
			covered := false
			for _, o := range g.covs {
				if o.inForce(day) {
					covered = true
				}
			}
			if !covered {
				out = append(out, g.sit(SitCoverageEndsBeforeFollowUp, fmt.Sprintf("%s coverage ends %s, before %s", c.payor.name, date(*c.end), g.apptDesc(a)), c, a))
			}
		}
	}
	for _, c := range g.covs {
		if c.status == "active" && c.end != nil && c.end.Before(today) {
			out = append(out, g.sit(SitCoverageExpiredActive, fmt.Sprintf("%s coverage ended %s but is still active", c.payor.name, date(*c.end)), c))
		}
	}
	for _, c := range g.covs {
		if !c.inForce(today) || c.priorAuth == "" {
			continue
		}
		for _, a := range bookedFuture {
			if a.specialty != spGP && a.specialty != spPeds {
				out = append(out, g.sit(SitPriorAuthorization, fmt.Sprintf("%s requires prior authorization (%s) for %s", c.payor.name, c.priorAuth, g.apptDesc(a)), c, a))
			}
		}
	}
	if g.p.age < 18 {
		for _, c := range g.covs {
			if c.relationship == "child" {
				out = append(out, g.sit(SitDependentMinor, fmt.Sprintf("age %d, subscriber %s", g.p.age, c.subscriber), c, g.p))
			}
		}
	}
	var activePlans []any
	for _, p := range g.plans {
		switch {
		case p.status == "active" && p.end != nil && p.end.Before(today):
			out = append(out, g.sit(SitPlanEndedActive, fmt.Sprintf("%s ended %s", p.title, date(*p.end)), p))
		}
	}
	for _, p := range g.plans {
		if p.status == "draft" {
			out = append(out, g.sit(SitDraftPlan, fmt.Sprintf("%s, created %s", p.title, date(p.created)), p))
		}
	}
	for _, p := range g.plans {
		if p.status != "completed" {
			continue
		}
		for _, act := range p.activities {
			if act.status == "not-started" || act.status == "scheduled" || act.status == "in-progress" {
				out = append(out, g.sit(SitCompletedPlanOpenActivities, fmt.Sprintf("%s is completed but %s is still %s", p.title, act.t.text, act.status), p))
			}
		}
	}
	for _, p := range g.plans {
		if p.status == "active" {
			activePlans = append(activePlans, p)
		}
	}
	if len(activePlans) >= 2 {
		var titles []string
		for _, p := range activePlans {
			titles = append(titles, p.(*planRec).title)
		}
		out = append(out, g.sit(SitMultipleActivePlans, strings.Join(titles, " + "), activePlans...))
	}
	if g.h != nil {
		out = append(out, g.h.detect()...)
	}
	return out
}
