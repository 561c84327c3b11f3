package worklist

import (
	"fmt"
	"time"

	"github.com/careflow/careflow/adapters/outreach"
	"github.com/careflow/careflow/adapters/priorauth"
	"github.com/careflow/careflow/adapters/referral"
	"github.com/careflow/careflow/adapters/transitions"
)

// The second generation of items (issue 14): transitional care after a discharge, the referral loop,
// outreach and prior authorization. Their rules are in the packages that find them (transitions, referral,
// outreach, priorauth); here they become items:
//
//	code                                 focus                reason            due                                   priority
//	post-discharge-follow-up (contact)   Encounter (the stay) —                 end of the 2nd business day after it  urgent
//	post-discharge-follow-up (visit)     Encounter (the stay) —                 7 days after the discharge            urgent
//	discharge-medication-reconciliation  MedicationRequest    Encounter         end of the 2nd business day after it  urgent
//	referral-not-scheduled               ServiceRequest       —                 14 days after it was written (3 urgent) routine; urgent when the referral is
//	referral-result-missing              ServiceRequest       Appointment/Enc.  7 days after the visit                routine
//	outreach-due                         CommunicationRequest —                 its occurrence                        the request's
//	prior-authorization-pending          Claim                —                 the decision deadline                 urgent when stat, else routine
//	prior-authorization-denied           Claim                ClaimResponse     the denial                            urgent
//
// The owner is the referral's first performer for referral items, and none otherwise (the pools of the
// team worklist take them).

func secondGeneration(stays []transitions.Discharge, unrecon []transitions.Unreconciled, refs []referral.Referral,
	outs []outreach.Request, auths []priorauth.Request, now time.Time) []item {
	loc := now.Location()
	var items []item
	for _, d := range stays {
		if !d.Contacted {
			items = append(items, item{code: PostDischargeFollowUp, priority: "urgent", patient: d.Patient, focus: d.Encounter,
				detail: "contact", due: d.ContactDue, dated: true, topic: d.Label,
				description: fmt.Sprintf("Contact the patient after the %s that ended %s: no call, message or visit since the discharge (due within 2 business days).",
					d.Label, clock(d.Discharge, loc))})
		}
		if !d.Visited {
			items = append(items, item{code: PostDischargeFollowUp, priority: "urgent", patient: d.Patient, focus: d.Encounter,
				detail: "visit", due: d.VisitDue, dated: true, topic: d.Label,
				description: fmt.Sprintf("Book a follow-up visit within 7 days of the %s that ended %s (by %s): none is booked.",
					d.Label, clock(d.Discharge, loc), day(d.VisitDue, loc))})
		}
	}
	for _, u := range unrecon {
		items = append(items, item{code: DischargeMedication, priority: "urgent", patient: u.Patient, focus: "MedicationRequest/" + u.Resource.ID,
			reason: u.Encounter, detail: u.Encounter, due: u.Due, dated: true, topic: u.Name,
			description: fmt.Sprintf("%s was started during the hospital stay and is not on the medication list: reconcile the patient's medications.", u.Name)})
	}
	for _, r := range refs {
		owner := ""
		if t := r.Performer; len(t) > 0 && (typeOf(t) == "Practitioner" || typeOf(t) == "PractitionerRole" || typeOf(t) == "Organization" || typeOf(t) == "CareTeam") {
			owner = t
		}
		switch {
		case r.NotScheduled():
			prio := "routine"
			if r.Priority == "urgent" || r.Priority == "asap" || r.Priority == "stat" {
				prio = "urgent"
			}
			written := "on an unknown date"
			if !r.Authored.IsZero() {
				written = day(r.Authored, loc)
			}
			items = append(items, item{code: ReferralNotScheduled, priority: prio, patient: r.Patient, focus: "ServiceRequest/" + r.ID,
				owner: owner, detail: "schedule", due: r.Due, dated: !r.Authored.IsZero(), topic: r.Label,
				description: fmt.Sprintf("Schedule the referral %q written %s: no appointment is based on it.", r.Label, written)})
		case r.ResultMissing(now):
			items = append(items, item{code: ReferralResultMissing, priority: "routine", patient: r.Patient, focus: "ServiceRequest/" + r.ID,
				reason: r.VisitRef, owner: owner, detail: r.VisitRef, due: r.Due, dated: !r.Visit.IsZero(), topic: r.Label,
				description: fmt.Sprintf("Obtain the result of the referral %q: the visit was %s and nothing has come back.", r.Label, visitDay(r.Visit, loc))})
		}
	}
	for _, o := range outs {
		prio := o.Priority
		if rank(prio) == 0 {
			prio = "routine"
		}
		to := "the patient"
		for _, rc := range o.Recipients {
			if typeOf(rc) == "RelatedPerson" {
				to = "the family (" + rc + ")"
			}
		}
		items = append(items, item{code: OutreachDue, priority: prio, patient: o.Patient, focus: "CommunicationRequest/" + o.ID,
			detail: "outreach", due: o.Due, dated: o.Dated, topic: o.Text,
			description: fmt.Sprintf("Reach %s: %q was planned for %s and has not been done.", to, o.Text, day(o.Due, loc))})
	}
	for _, a := range auths {
		switch {
		case a.Late(now):
			prio, how := "routine", "standard, 7 days"
			if a.Urgent {
				prio, how = "urgent", "urgent, 72 hours"
			}
			items = append(items, item{code: PriorAuthPending, priority: prio, patient: a.Patient, focus: "Claim/" + a.ID,
				detail: "pending", due: a.Deadline, dated: true, topic: a.Label,
				description: fmt.Sprintf("Chase the payer: the prior authorization for %q requested %s has no decision (%s deadline passed %s).",
					a.Label, day(a.Created, loc), how, clock(a.Deadline, loc))})
		case a.NeedsAlternative():
			items = append(items, item{code: PriorAuthDenied, priority: "urgent", patient: a.Patient, focus: "Claim/" + a.ID,
				reason: a.Response, detail: a.Response, due: a.DecidedAt, dated: true, topic: a.Label,
				description: fmt.Sprintf("The payer denied the prior authorization for %q on %s: plan an alternative or appeal.", a.Label, day(a.DecidedAt, loc))})
		}
	}
	return items
}

func visitDay(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "on an unknown date"
	}
	return "on " + day(t, loc)
}

// typeOf is the resource type of a normalised reference ("" for other forms).
func typeOf(ref string) string {
	for i := 0; i < len(ref); i++ {
		switch ref[i] {
		case '/':
			return ref[:i]
		case ':':
			return ""
		}
	}
	return ""
}
