package synth

import (
	"fmt"
	"time"
)

// Prior authorization (Options.History): where approval is required, the clinic asks the payer with a
// Claim of use "preauthorization" and the payer answers with a ClaimResponse.
//
// Approval is required for every booked specialist Appointment under a Coverage in force today that carries
// the prior-authorization extension (the Coverage rule of the prior-authorization-required situation), and
// for every open specialist referral (ServiceRequest) of a patient with coverage in force today.
// Each request is stat (urgent: the payer decides within 72 hours) or normal (standard: 7 days), and is in one
// of these states: waiting, within or past the decision deadline (no ClaimResponse yet); approved (outcome
// complete, with preAuthRef and preAuthPeriod) or partly approved (partial); denied (outcome error), with or
// without a new request for an alternative made after the denial.

const (
	sysClaimType   = "http://terminology.hl7.org/CodeSystem/claim-type"
	sysPriority    = "http://terminology.hl7.org/CodeSystem/processpriority"
	sysClaimInfo   = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
	urgentDecision = 3 // days (72 hours)
	normalDecision = 7 // days
)

var claimProfessional = coding{sysClaimType, "professional", "Professional"}

type claimRec struct {
	uuid     string
	priority string // stat or normal
	created  time.Time
	service  string
	cov      *coverageRec
	appt     *apptRec // the appointment it asks approval for (or nil)
	sr       *srRec   // the referral it asks approval for (or nil)
}

// deadline is the day by which the payer must decide.
func (c *claimRec) deadline() time.Time {
	if c.priority == "stat" {
		return c.created.AddDate(0, 0, urgentDecision)
	}
	return c.created.AddDate(0, 0, normalDecision)
}

type claimResRec struct {
	uuid     string
	request  *claimRec
	outcome  string // complete, partial, error
	created  time.Time
	preAuth  string
	decision string
}

func (h *history) priorAuthorizations() {
	g := h.g
	for _, c := range g.covs {
		if !c.inForce(g.today) || c.priorAuth == "" {
			continue
		}
		for _, a := range g.appts {
			if a.status == "booked" && g.future(a) && a.specialty != spGP && a.specialty != spPeds {
				h.preauth(c, a.prac, a.specialty.text+" visit", dateOf(a.start), a, nil)
			}
		}
	}
	var cov *coverageRec
	for _, c := range g.covs {
		if c.inForce(g.today) && cov == nil {
			cov = c
		}
	}
	if cov == nil {
		return
	}
	for _, sr := range h.srs {
		if sr.referral && sr.status == "active" && sr.prac.specialty != spGP {
			h.preauth(cov, sr.prac, sr.text, time.Time{}, nil, sr)
		}
	}
}

// preauth asks the payer to approve a service and, for most requests, records the answer.
func (h *history) preauth(c *coverageRec, prac *practitioner, service string, day time.Time, a *apptRec, sr *srRec) {
	g := h.g
	priority := "normal"
	if h.chance(0.3) {
		priority = "stat"
	}
	// 0: waiting within the deadline, 1, 2: past it, 3: approved, 4: partly approved, 5, 6: denied
	state := h.intn(7)
	created := g.today.AddDate(0, 0, -h.between(1, 2))
	if state != 0 {
		created = g.today.AddDate(0, 0, -h.between(normalDecision+2, 21))
		if priority == "stat" {
			created = g.today.AddDate(0, 0, -h.between(urgentDecision+2, 10))
		}
	}
	cl := &claimRec{priority: priority, created: created, service: service, cov: c, appt: a, sr: sr}
	h.claim(cl, prac, day)
	switch state {
	case 0, 1, 2:
		return
	case 5, 6:
		r := h.claimResponse(cl, "error", "Denied: not medically necessary on the information provided; a peer-to-peer review may be requested.")
		if h.chance(0.3) {
			// An alternative is planned: a new request, after the denial, for another service.
			alt := &claimRec{priority: "normal", created: min2(r.created.AddDate(0, 0, h.between(1, 3)), g.today), cov: c, appt: a, sr: sr,
				service: service + ", with the additional clinical information requested"}
			h.claim(alt, prac, day)
		}
	case 4:
		h.claimResponse(cl, "partial", "Partly approved: fewer visits than requested.")
	default:
		h.claimResponse(cl, "complete", "Approved.")
	}
}

func (h *history) insurer(c *coverageRec) obj {
	o := obj{{"type", "Organization"}}
	if c.payor.naic != "" {
		o.set("identifier", obj{{"system", sysNAIC}, {"value", c.payor.naic}})
	}
	o.set("display", c.payor.name)
	return o
}

func (h *history) claim(cl *claimRec, prac *practitioner, day time.Time) {
	g := h.g
	pu := h.practitioner(prac)
	cl.uuid = h.record("Claim", "CLM", func(o *obj) {
		o.set("status", "active")
		o.set("type", concept(claimProfessional, ""))
		o.set("use", "preauthorization")
		o.set("patient", g.patientRef())
		o.set("created", date(cl.created))
		o.set("insurer", h.insurer(cl.cov))
		o.set("provider", ref(pu, prac.name))
		o.set("priority", concept(coding{sysPriority, cl.priority, map[string]string{"stat": "Immediate", "normal": "Normal"}[cl.priority]}, ""))
		if cl.sr != nil {
			o.set("referral", ref(cl.sr.uuid, cl.sr.text))
		}
		if cl.appt != nil {
			o.set("supportingInfo", []any{obj{{"sequence", 1}, {"category", concept(coding{sysClaimInfo, "info", "Information"}, "")},
				{"valueReference", ref(cl.appt.uuid, cl.appt.description)}}})
		}
		o.set("insurance", []any{obj{{"sequence", 1}, {"focal", true}, {"coverage", ref(cl.cov.uuid, cl.cov.plan)}}})
		item := obj{{"sequence", 1}, {"productOrService", textConcept(cl.service)}}
		if !day.IsZero() {
			item.set("servicedDate", date(day))
		}
		o.set("item", []any{item})
	})
	h.claims = append(h.claims, cl)
}

func (h *history) claimResponse(cl *claimRec, outcome, disposition string) *claimResRec {
	g := h.g
	decided := cl.created.AddDate(0, 0, h.between(1, 3))
	r := &claimResRec{request: cl, outcome: outcome, created: decided, decision: disposition}
	if outcome != "error" {
		r.preAuth = fmt.Sprintf("PA-%s-%04d", decided.Format("20060102"), h.intn(10000))
	}
	r.uuid = h.record("ClaimResponse", "CRS", func(o *obj) {
		o.set("status", "active")
		o.set("type", concept(claimProfessional, ""))
		o.set("use", "preauthorization")
		o.set("patient", g.patientRef())
		o.set("created", date(decided))
		o.set("insurer", h.insurer(cl.cov))
		o.set("request", ref(cl.uuid, ""))
		o.set("outcome", outcome)
		o.set("disposition", disposition)
		o.set("preAuthRef", r.preAuth)
		if r.preAuth != "" {
			o.set("preAuthPeriod", obj{{"start", date(decided)}, {"end", date(decided.AddDate(0, 0, 90))}})
		}
	})
	h.claimRes = append(h.claimRes, r)
	return r
}
