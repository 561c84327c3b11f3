package synth

import "time"

// A scenario is the story of one patient: it builds the records that make the coordination situations it
// expects (and no others); background() then adds realistic content that raises no situation. Tests check,
// for several seeds, that the situations detected in every patient are exactly the expected ones.
type scenario struct {
	name           string
	minAge, maxAge int
	expect         []string
	build          func(g *gen)
}

var scenarios = []*scenario{
	{name: "penicillin allergy, amoxicillin started at urgent care", minAge: 22, maxAge: 70,
		expect: []string{SitDrugAllergyConflict},
		build: func(g *gen) {
			p := g.plan("hypertension", "active", -g.between(200, 900), nil)
			g.recurringFollowUp(p, 1, g.between(20, 60))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
			g.allergy("penicillin", "active", "confirmed", "high", reaction{pick(g, []coding{rxAnaphylaxis, rxAngioedema}), "severe"})
			m := g.med("amoxicillin", "active", -2, nil, conditions["sinusitis"], nil)
			m.source = "Urgent care visit summary"
			m.category = "outpatient"
		}},
	{name: "unconfirmed sulfa allergy, Bactrim for a UTI", minAge: 20, maxAge: 80,
		expect: []string{SitDrugAllergyConflict, SitUnconfirmedHighCriticality},
		build: func(g *gen) {
			p := g.plan("diabetes", "active", -g.between(200, 1500), ptr(g.between(90, 400)))
			g.recurringFollowUp(p, 2, g.between(15, 70))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
			a := g.allergy("sulfonamide", "active", "unconfirmed", "high", reaction{rxRash, "moderate"})
			a.onset, a.onsetString = nil, "childhood"
			a.note = "Patient's mother reports a rash after \"a sulfa antibiotic\" as a child; never confirmed."
			m := g.med("smx-tmp", "active", -1, nil, conditions["uti"], nil)
			m.source = "Telehealth visit note"
		}},
	{name: "NSAID allergy, ibuprofen taken for knee pain", minAge: 40, maxAge: 75,
		expect: []string{SitDrugAllergyConflict},
		build: func(g *gen) {
			p := g.plan("osteoarthritis", "active", -g.between(100, 700), ptr(g.between(60, 300)))
			g.recurringFollowUp(p, 1, g.between(20, 80))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 1)
			g.allergy("nsaid", "active", "confirmed", "low", reaction{rxHives, "mild"}, reaction{rxAngioedema, "moderate"})
			m := g.med("ibuprofen", "active", -g.between(10, 40), nil, p.cond, nil)
			m.category = "patientspecified"
			m.source = "Patient"
			m.note = "Buys ibuprofen over the counter; did not mention it to the rheumatologist."
		}},
	{name: "elderly patient on warfarin with two NSAIDs", minAge: 72, maxAge: 92,
		expect: []string{SitNSAIDDuplication, SitAnticoagulantNSAID, SitPolypharmacy, SitMultipleActivePlans},
		build: func(g *gen) {
			af := g.plan("afib", "active", -g.between(300, 1500), nil)
			g.recurringFollowUp(af, 2, g.between(10, 50))
			g.otherActivities(af)
			g.chronicMeds(af.cond, af, 2)
			ht := g.plan("hypertension", "active", -g.between(300, 2000), nil)
			g.recurringFollowUp(ht, 1, g.between(55, 110))
			g.otherActivities(ht)
			g.chronicMeds(ht.cond, ht, 2)
			oa := conditions["osteoarthritis"]
			g.med("ibuprofen", "active", -g.between(20, 200), nil, oa, nil).source = "Patient"
			n := g.med("naproxen", "active", -g.between(5, 60), nil, oa, nil)
			n.category, n.source = "patientspecified", "Daughter (caregiver)"
			g.med("simvastatin", "active", -g.between(400, 3000), nil, conditions["hyperlipidemia"], nil)
		}},
	{name: "allergies that must not alert (refuted, inactive, drug stopped)", minAge: 20, maxAge: 80,
		expect: []string{SitNegativeControl, SitStoppedForReaction},
		build: func(g *gen) {
			pen := g.allergy("penicillin", "resolved", "refuted", "low")
			pen.note = "Negative penicillin skin test and oral amoxicillin challenge; penicillin label removed."
			g.med("amoxicillin", "active", -3, nil, conditions["strep"], nil)
			ns := g.allergy("nsaid", "inactive", "confirmed", "low", reaction{rxItching, "mild"})
			ns.lastOccurrence = g.dayPtr(-g.between(2000, 4000))
			g.med("ibuprofen", "completed", -g.between(400, 900), nil, nil, nil)
			g.allergy("sulfonamide", "active", "confirmed", "high", reaction{rxRash, "severe"})
			m := g.med("smx-tmp", "stopped", -g.between(500, 1200), nil, conditions["uti"], nil)
			m.end = ptr(m.start.AddDate(0, 0, 3))
			m.statusReason = "Generalized rash on day 3; sulfonamide allergy recorded"
		}},
	{name: "two booked appointments at the same time", minAge: 50, maxAge: 80,
		expect: []string{SitOverlappingAppointments, SitMultipleActivePlans},
		build: func(g *gen) {
			dm := g.plan("diabetes", "active", -g.between(300, 1500), nil)
			_, a := g.recurringFollowUp(dm, 1, g.between(8, 30))
			g.otherActivities(dm)
			g.chronicMeds(dm.cond, dm, 1)
			hf := g.plan("heart-failure", "active", -g.between(100, 600), nil)
			_, b := g.recurringFollowUp(hf, 1, 60)
			g.otherActivities(hf)
			g.chronicMeds(hf.cond, hf, 2)
			// Move the cardiology visit onto the endocrinology visit, 15 minutes after it starts.
			delete(g.usedDays, int(dateOf(b.start).Sub(g.today).Hours()/24))
			a.end = a.start.Add(30 * time.Minute)
			b.start = a.start.Add(15 * time.Minute)
			b.end = b.start.Add(45 * time.Minute)
			b.created = a.created.Add(26 * time.Hour)
		}},
	{name: "follow-up after discharge never booked", minAge: 55, maxAge: 85,
		expect: []string{SitOverdueFollowUp},
		build: func(g *gen) {
			p := g.plan("heart-failure", "active", -g.between(50, 60), ptr(g.between(120, 300)))
			a := g.oneOffFollowUp(p, "not-started", -45, -31, "Cardiology follow-up within 14 days of hospital discharge")
			a.statusNote = "Referral sent; no appointment booked yet."
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
			p.note = "Discharged after a heart failure admission; needs cardiology review within two weeks."
		}},
	{name: "missed visit not rebooked, stale booked appointment", minAge: 30, maxAge: 70,
		expect: []string{SitMissedNotRebooked, SitStaleBooked},
		build: func(g *gen) {
			p := g.plan("diabetes", "active", -g.between(300, 1200), nil)
			act, _ := g.recurringFollowUp(p, 1, 0)
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
			ns := g.appt("noshow", g.freeDay(-16, -1), act.performer, act.t.specialty, p, apptFollowUp)
			ns.description = act.t.description
			ns.comment = "Patient did not arrive; two reminder calls unanswered."
			st := g.appt("booked", g.freeDay(-4, -1), g.practitioner(spGP), spGP, nil, apptRoutine)
			st.description = "Medication review"
			st.comment = "Not checked in or closed by the front desk."
		}},
	{name: "cancelled visit rebooked", minAge: 25, maxAge: 75,
		expect: []string{SitCancelledRebooked},
		build: func(g *gen) {
			p := g.plan("hypertension", "active", -g.between(300, 1500), nil)
			act, next := g.recurringFollowUp(p, 1, g.between(15, 25))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
			c := g.appt("cancelled", g.freeDay(3, 1), act.performer, act.t.specialty, p, apptFollowUp)
			c.description = act.t.description
			c.created = next.created.Add(-72 * time.Hour)
			c.cancelReason = ptr(pick(g, []coding{
				{sysCancelReason, "pat-lt", "Patient: Lack of Transportation"},
				{sysCancelReason, "prov-pers", "Provider: Personal"},
				{sysCancelReason, "oth-weath", "Other: Weather"},
			}))
		}},
	{name: "no insurance, visit coming up", minAge: 19, maxAge: 64,
		expect: []string{SitUninsuredUpcoming},
		build: func(g *gen) {
			g.noCoverage = true
			p := g.plan(pick(g, []string{"diabetes", "hypertension"}), "active", -g.between(100, 700), nil)
			g.recurringFollowUp(p, 1, g.between(7, 30))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 1)
		}},
	{name: "coverage cancelled, visit coming up", minAge: 30, maxAge: 64,
		expect: []string{SitCoverageLapsed},
		build: func(g *gen) {
			g.coverage(g.commercialPayor(), "cancelled", -g.between(700, 2000), ptr(-40))
			p := g.plan("hypertension", "active", -g.between(300, 900), nil)
			g.recurringFollowUp(p, 1, g.between(15, 40))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
		}},
	{name: "coverage ends before the follow-up", minAge: 40, maxAge: 64,
		expect: []string{SitCoverageEndsBeforeFollowUp},
		build: func(g *gen) {
			g.coverage(g.commercialPayor(), "active", -g.between(300, 1500), ptr(9))
			p := g.plan("diabetes", "active", -g.between(200, 900), nil)
			g.recurringFollowUp(p, 1, g.between(30, 50))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
		}},
	{name: "old coverage still active after the payer switch", minAge: 30, maxAge: 64,
		expect: []string{SitCoverageExpiredActive},
		build: func(g *gen) {
			old := g.commercialPayor()
			g.coverage(old, "active", -g.between(800, 2000), ptr(-60))
			nw := g.commercialPayor()
			for nw == old {
				nw = g.commercialPayor()
			}
			g.coverage(nw, "active", -59, nil)
			p := g.plan("hypertension", "active", -g.between(300, 900), nil)
			g.recurringFollowUp(p, 1, g.between(15, 60))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 1)
		}},
	{name: "prior authorization before a cardiology visit", minAge: 45, maxAge: 64,
		expect: []string{SitPriorAuthorization},
		build: func(g *gen) {
			c := g.coverage(g.commercialPayor(), "active", -g.between(100, 900), nil)
			c.priorAuth = "Specialist visits and advanced imaging"
			p := g.plan("heart-failure", "active", -g.between(100, 600), nil)
			g.recurringFollowUp(p, 1, g.between(14, 40))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
		}},
	{name: "child with asthma covered as a dependent", minAge: 3, maxAge: 15,
		expect: []string{SitDependentMinor},
		build: func(g *gen) {
			py := payors[g.intn(3)]
			if g.chance(0.3) {
				py = payors[4]
			}
			c := g.coverage(py, "active", -g.between(100, 1500), nil)
			c.relationship = "child"
			parent := pick(g, givenFemale)
			if g.chance(0.4) {
				parent = pick(g, givenMale)
			}
			c.subscriber = parent + " " + g.p.family
			p := g.plan("asthma", "active", -g.between(100, 700), nil)
			g.recurringFollowUp(p, 1, g.between(20, 90))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 1)
			if g.chance(0.5) {
				g.allergy("peanut", "active", "confirmed", "high", reaction{rxAnaphylaxis, "severe"})
			}
		}},
	{name: "care plan period over, plan still active", minAge: 40, maxAge: 80,
		expect: []string{SitPlanEndedActive},
		build: func(g *gen) {
			p := g.plan("hypertension", "active", -g.between(400, 500), ptr(-50))
			g.recurringFollowUp(p, 2, 0)
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
		}},
	{name: "draft COPD plan awaiting review", minAge: 50, maxAge: 85,
		expect: []string{SitDraftPlan},
		build: func(g *gen) {
			p := g.plan("copd", "draft", 7, ptr(372))
			p.created = g.day(-3)
			g.oneOffFollowUp(p, "not-started", 20, 45, "")
			g.otherActivities(p)
			p.note = "Drafted after the pulmonary function test; to be reviewed with the patient."
			g.chronicMeds(p.cond, nil, 1)
		}},
	{name: "plan completed with a visit still open", minAge: 30, maxAge: 70,
		expect: []string{SitCompletedPlanOpenActivities},
		build: func(g *gen) {
			p := g.plan("osteoarthritis", "completed", -g.between(250, 320), ptr(-30))
			g.otherActivities(p)
			a := g.oneOffFollowUp(p, "scheduled", -60, -40, "")
			a.statusNote = "Marked scheduled; no appointment found."
			g.chronicMeds(p.cond, nil, 1)
		}},
	{name: "well-coordinated diabetes care (control)", minAge: 35, maxAge: 75,
		expect: nil,
		build: func(g *gen) {
			p := g.plan("diabetes", "active", -g.between(300, 1500), ptr(g.between(200, 500)))
			g.recurringFollowUp(p, 2, g.between(10, 60))
			g.otherActivities(p)
			g.chronicMeds(p.cond, p, 2)
		}},
	{name: "healthy young adult (control)", minAge: 19, maxAge: 35,
		expect: nil,
		build:  func(g *gen) {},
	},
}
