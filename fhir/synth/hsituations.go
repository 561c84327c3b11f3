package synth

import (
	"fmt"
	"time"
)

// The situations of the clinical history (Options.History): the second-generation coordination workflows
// (transitional care after a hospital stay, the referral loop, outreach, prior authorization). Like the
// coordination situations, they are detected from the records (detectHistory), not asserted by construction.

// Situation codes of the clinical history.
const (
	SitPostDischargeFollowUp  = "post-discharge-follow-up-missing"
	SitDischargeMedsNotRecon  = "discharge-medication-not-reconciled"
	SitReferralNotScheduled   = "referral-not-scheduled"
	SitReferralResultMissing  = "referral-result-missing"
	SitOutreachDue            = "outreach-due"
	SitPriorAuthPendingLate   = "prior-authorization-pending-past-deadline"
	SitPriorAuthDeniedNoAlter = "prior-authorization-denied"
	SitTherapeuticDuplication = "therapeutic-duplication"
)

// referralDays is how long an open referral may wait for an appointment.
const referralDays = 14

// recentDischargeDays is how long after a discharge the transitional-care items apply.
const recentDischargeDays = 30

// historySituations are the situations only a bundle with the clinical history can exercise, with their
// exact definitions, in manifest order; Situations lists them after the coordination situations.
var historySituations = []SituationInfo{
	{Code: SitPostDischargeFollowUp, History: true, Description: fmt.Sprintf("An inpatient or emergency Encounter finished in the last %d days (and not continued by another encounter starting when it ended: an emergency visit that led to an admission counts at the discharge); 2 business days have passed since, with no completed Communication sent to the patient or a RelatedPerson within them, and no booked or fulfilled Appointment starting within 7 days of the discharge.", recentDischargeDays)},
	{Code: SitDischargeMedsNotRecon, History: true, Description: fmt.Sprintf("An active MedicationRequest written during an inpatient stay that ended in the last %d days (MedicationRequest.encounter) is for a drug that no active MedicationStatement shows.", recentDischargeDays)},
	{Code: SitReferralNotScheduled, History: true, Description: fmt.Sprintf("An active referral ServiceRequest (category SNOMED 3457005) authored %d days or more before today has no Appointment basedOn it.", referralDays)},
	{Code: SitReferralResultMissing, History: true, Description: "An Appointment basedOn an active referral ServiceRequest has ended before today, and no Procedure is basedOn the ServiceRequest (no result linked back)."},
	{Code: SitOutreachDue, History: true, Description: "An active CommunicationRequest whose occurrence is before today has no Communication basedOn it."},
	{Code: SitPriorAuthPendingLate, History: true, Description: fmt.Sprintf("A Claim with use preauthorization has no ClaimResponse, and its decision deadline (created + %d days for priority stat, + %d days otherwise) is before today.", urgentDecision, normalDecision)},
	{Code: SitPriorAuthDeniedNoAlter, History: true, Description: "A ClaimResponse to a preauthorization Claim has outcome error (denied), and no other preauthorization Claim of the patient was created on or after the denial (no alternative planned)."},
	{Code: SitTherapeuticDuplication, History: true, Description: "Two or more different drugs of the same therapeutic class (NSAID pain relievers — low-dose aspirin does not count —, penicillins, sulfonamide antibiotics; or the same WHO ATC level-4 group, for records that carry ATC codes) are current at once, as active MedicationStatements or active MedicationRequests; a drug shown both ways (a statement and its prescription) is one drug."},
}

type encRec struct {
	uuid       string
	class      coding
	start, end time.Time
}

type mrRec struct {
	uuid     string
	d        *drug
	status   string
	authored time.Time
	enc      string
	atc      bool // the medication carries its WHO ATC code
}

type srRec struct {
	uuid     string
	status   string
	referral bool
	authored time.Time
	text     string
	prac     *practitioner
	cond     *condition
}

type crRec struct {
	uuid       string
	status     string
	occurrence time.Time
}

type commRec struct {
	uuid, basedOn string
	sent          time.Time
}

// addBusinessDays returns the day n business days (clinic days) after d.
func addBusinessDays(d time.Time, n int) time.Time {
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if !closed(d) {
			n--
		}
	}
	return d
}

func (h *history) sit(code, detail string, uuids ...string) Situation {
	s := Situation{Code: code, Detail: detail}
	for _, u := range uuids {
		s.Resources = append(s.Resources, h.refs[u])
	}
	return s
}

// detect finds the history's situations, in the order of HistorySituations.
func (h *history) detect() []Situation {
	g := h.g
	today := g.today
	var out []Situation
	appts := append(append([]*apptRec{}, g.appts...), h.appts...)

	// Transitional care.
	for _, e := range h.encs {
		if e.class != encInpatient && e.class != encEmergency {
			continue
		}
		continued := false
		for _, f := range h.encs {
			if f != e && f.start.Equal(e.end) {
				continued = true
			}
		}
		end := dateOf(e.end)
		if continued || end.Before(today.AddDate(0, 0, -recentDischargeDays)) {
			continue
		}
		contactBy := addBusinessDays(end, 2)
		if !contactBy.Before(today) {
			continue
		}
		contacted := false
		for _, c := range h.comms {
			if d := dateOf(c.sent); !d.Before(end) && !d.After(contactBy) {
				contacted = true
			}
		}
		followed := false
		for _, a := range appts {
			if d := dateOf(a.start); (a.status == "booked" || a.status == "fulfilled") && !d.Before(end) && !d.After(end.AddDate(0, 0, 7)) {
				followed = true
			}
		}
		if !contacted && !followed {
			out = append(out, h.sit(SitPostDischargeFollowUp, fmt.Sprintf("%s encounter ended %s: no contact by %s, no visit by %s",
				e.class.display, date(end), date(contactBy), date(end.AddDate(0, 0, 7))), e.uuid))
		}
	}
	for _, m := range h.mrs {
		var stay *encRec
		for _, e := range h.encs {
			if e.uuid == m.enc && e.class == encInpatient && !dateOf(e.end).Before(today.AddDate(0, 0, -recentDischargeDays)) {
				stay = e
			}
		}
		if stay == nil || m.status != "active" {
			continue
		}
		shown := false
		for _, s := range g.meds {
			if s.status == "active" && s.d.code == m.d.code {
				shown = true
			}
		}
		if !shown {
			out = append(out, h.sit(SitDischargeMedsNotRecon, fmt.Sprintf("%s started in hospital (discharged %s) is not on the medication list", m.d.code.display, date(stay.end)), m.uuid, stay.uuid))
		}
	}

	// The referral loop.
	for _, sr := range h.srs {
		if !sr.referral || sr.status != "active" || sr.authored.After(today.AddDate(0, 0, -referralDays)) {
			continue
		}
		booked := false
		for _, a := range appts {
			if a.basedOn == sr.uuid {
				booked = true
			}
		}
		if !booked {
			out = append(out, h.sit(SitReferralNotScheduled, fmt.Sprintf("%s referral sent %s, no appointment", sr.text, date(sr.authored)), sr.uuid))
		}
	}
	for _, sr := range h.srs {
		if !sr.referral || sr.status != "active" || h.results[sr.uuid] {
			continue
		}
		for _, a := range appts {
			if a.basedOn == sr.uuid && dateOf(a.end).Before(today) {
				out = append(out, h.sit(SitReferralResultMissing, fmt.Sprintf("%s: seen %s, no result linked", sr.text, date(a.start)), sr.uuid, a.uuid))
			}
		}
	}

	// Outreach.
	for _, cr := range h.crs {
		if cr.status != "active" || !cr.occurrence.Before(today) {
			continue
		}
		answered := false
		for _, c := range h.comms {
			if c.basedOn == cr.uuid {
				answered = true
			}
		}
		if !answered {
			out = append(out, h.sit(SitOutreachDue, "due "+date(cr.occurrence)+", not made", cr.uuid))
		}
	}

	// Prior authorization.
	for _, cl := range h.claims {
		answered := false
		for _, r := range h.claimRes {
			if r.request == cl {
				answered = true
			}
		}
		if !answered && cl.deadline().Before(today) {
			out = append(out, h.sit(SitPriorAuthPendingLate, fmt.Sprintf("%s (%s) requested %s, decision due %s", cl.service, cl.priority, date(cl.created), date(cl.deadline())), cl.uuid))
		}
	}
	for _, r := range h.claimRes {
		if r.outcome != "error" {
			continue
		}
		alternative := false
		for _, cl := range h.claims {
			if cl != r.request && !cl.created.Before(r.created) {
				alternative = true
			}
		}
		if !alternative {
			out = append(out, h.sit(SitPriorAuthDeniedNoAlter, fmt.Sprintf("%s denied %s", r.request.service, date(r.created)), r.request.uuid, r.uuid))
		}
	}

	// Medication safety.
	out = append(out, h.duplications()...)
	return out
}
