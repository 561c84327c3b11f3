package synth

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Options selects what Generate produces.
type Options struct {
	// Seed selects the data set; the same Seed, Patients and Today give byte-identical bundles.
	Seed uint64
	// Patients is how many patients (bundles) to generate.
	Patients int
	// Today is the reference date every date is relative to (past visits, upcoming appointments, coverage
	// periods, ages). Only its calendar date, in its own location, is used. The generator never reads the
	// clock: pass the date explicitly.
	Today time.Time
	// History adds each patient's clinical history (history.go): care team and directory, conditions,
	// encounters and a recent hospital stay, vital signs and laboratory results, procedures, immunizations,
	// prescriptions, referrals, outreach and family history. The coordination records stay byte for byte
	// the same with and without it.
	History bool
}

func (o Options) check() error {
	if o.Patients < 0 {
		return fmt.Errorf("synth: negative number of patients %d", o.Patients)
	}
	if o.Today.IsZero() {
		return errors.New("synth: Options.Today is required (the generator never reads the clock)")
	}
	if y := o.Today.Year(); y < 1900 || y > 9000 {
		return fmt.Errorf("synth: Today %s is out of range", o.Today.Format("2006-01-02"))
	}
	return nil
}

// gen builds one patient. Patient i depends only on (Seed, i, Today): generating 5 or 500 patients gives
// the same first five.
type gen struct {
	r        *rand.Rand
	seed     uint64
	idx      int
	today    time.Time // UTC midnight of the reference date
	sc       *scenario
	p        *patientRec
	covs     []*coverageRec
	alls     []*allergyRec
	meds     []*medRec
	plans    []*planRec
	appts    []*apptRec
	counters map[string]int
	usedDays map[int]bool
	// noCoverage: the scenario wants a patient without any Coverage.
	noCoverage bool
	// hist is the clinical history (Options.History), rendered, and h what it was built from.
	hist []hentry
	h    *history
}

func newGen(o Options, idx int, sc *scenario) *gen {
	y, m, d := o.Today.Date()
	return &gen{
		r:        rand.New(rand.NewPCG(o.Seed, uint64(idx)*0x9e3779b97f4a7c15+1)),
		seed:     o.Seed,
		idx:      idx,
		today:    time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
		sc:       sc,
		counters: map[string]int{},
		usedDays: map[int]bool{},
	}
}

// scenarioFor returns the scenario of patient idx: the scenarios in an order shuffled by the seed, cycling
// (with a new order each cycle) when there are more patients than scenarios.
func scenarioFor(seed uint64, idx int) *scenario {
	n := len(scenarios)
	cycle := idx / n
	r := rand.New(rand.NewPCG(seed, 0x5ce7a110+uint64(cycle)))
	perm := r.Perm(n)
	return scenarios[perm[idx%n]]
}

// ---- random helpers

func (g *gen) intn(n int) int            { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool     { return g.r.Float64() < p }
func (g *gen) between(lo, hi int) int    { return lo + g.r.IntN(hi-lo+1) }
func pick[T any](g *gen, xs []T) T       { return pickFrom(g.r, xs) }
func ptr[T any](v T) *T                  { return &v }
func (g *gen) day(off int) time.Time     { return g.today.AddDate(0, 0, off) }
func (g *gen) dayPtr(off int) *time.Time { return ptr(g.day(off)) }
func (g *gen) digits(n int) string       { return fmt.Sprintf("%0*d", n, g.r.Int64N(pow10(n))) }
func (g *gen) rid(kind string) string {
	g.counters[kind]++
	return fmt.Sprintf("%s-%s%d", g.p.mrn, kind, g.counters[kind])
}
func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
func (g *gen) practitioner(sp specialty) *practitioner { return pick(g, practitionerBySpecialty(sp)) }

// uuid returns a random (version 4 layout) UUID drawn from the patient's generator.
func (g *gen) uuid() string { return newUUID(g.r) }

// pickFrom returns a random element of xs drawn from r.
func pickFrom[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// newUUID returns a random (version 4 layout) UUID drawn from r.
func newUUID(r *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (56 - 8*j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ---- time

// usDST reports whether US daylight saving time is in effect on date d (second Sunday of March to first
// Sunday of November), computed here so the output never depends on the machine's time zone database.
func usDST(d time.Time) bool {
	y := d.Year()
	start := nthSunday(y, time.March, 2)
	end := nthSunday(y, time.November, 1)
	return !d.Before(start) && d.Before(end)
}

func nthSunday(y int, m time.Month, n int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	offset := (7 - int(first.Weekday())) % 7
	return first.AddDate(0, 0, offset+7*(n-1))
}

func (g *gen) zone(d time.Time) *time.Location {
	h := g.p.city.stdOffset
	if g.p.city.dst && usDST(d) {
		h++
	}
	return time.FixedZone("", h*3600)
}

// at is day off at hh:mm local time.
func (g *gen) at(off, hh, mm int) time.Time {
	d := g.day(off)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, g.zone(d))
}

// clinicDay moves a day off weekends and US holidays on which clinics close, keeping past days in the past
// and future days in the future.
func (g *gen) clinicDay(off int) int {
	step := 1
	if off < 0 {
		step = -1
	}
	for closed(g.day(off)) {
		off += step
	}
	return off
}

// closed reports whether d is a weekend day, New Year's Day, Independence Day, Thanksgiving or Christmas.
func closed(d time.Time) bool {
	switch d.Weekday() {
	case time.Saturday, time.Sunday:
		return true
	}
	_, m, day := d.Date()
	switch {
	case m == time.January && day == 1, m == time.July && day == 4, m == time.December && day == 25:
		return true
	case m == time.November && d.Weekday() == time.Thursday && day >= 22 && day <= 28:
		return true
	}
	return false
}

// freeDay returns the nearest clinic day from off (moving in direction dir) without another appointment,
// and reserves it. Past a used day it moves in dir only: clinicDay's own direction (towards the past for a
// past day) would lead from a used Friday over the weekend back to that Friday, forever.
func (g *gen) freeDay(off, dir int) int {
	off = g.clinicDay(off)
	for g.usedDays[off] {
		off += dir
		for closed(g.day(off)) {
			off += dir
		}
	}
	g.usedDays[off] = true
	return off
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ---- patient

func (g *gen) patient(minAge, maxAge int) {
	p := &patientRec{uuid: g.uuid(), mrn: fmt.Sprintf("CF-%d-%06d", g.seed, g.idx+1)}
	g.p = p
	p.age = g.between(minAge, maxAge)
	p.birth = g.today.AddDate(-p.age, 0, -g.between(1, 364))
	switch x := g.intn(100); {
	case x < 48:
		p.gender = "female"
	case x < 96:
		p.gender = "male"
	case x < 98:
		p.gender = "other"
	default:
		p.gender = "unknown"
	}
	female := p.gender == "female" || (p.gender != "male" && g.chance(0.5))
	p.accented = g.chance(0.4)
	accentGiven := p.accented && g.chance(0.6)
	accentFamily := p.accented && (!accentGiven || g.chance(0.5))
	switch {
	case female && accentGiven:
		p.given = []string{pick(g, givenFemaleAccent)}
	case female:
		p.given = []string{pick(g, givenFemale)}
	case accentGiven:
		p.given = []string{pick(g, givenMaleAccent)}
	default:
		p.given = []string{pick(g, givenMale)}
	}
	if g.chance(0.35) {
		middle := pick(g, givenMale)
		if female {
			middle = pick(g, middleNamesFemale)
		}
		if middle != p.given[0] {
			p.given = append(p.given, middle)
		}
	}
	if accentFamily {
		p.family = pick(g, familyAccent)
	} else {
		p.family = pick(g, family)
	}
	if p.age >= 18 && g.chance(0.3) {
		switch {
		case p.gender == "female":
			p.prefix = pick(g, []string{"Ms.", "Mrs."})
		case p.gender == "male":
			p.prefix = "Mr."
		}
	}
	c := &cities[g.intn(len(cities))]
	p.city = c
	p.line = fmt.Sprintf("%d %s", g.between(10, 9800), pick(g, streets))
	p.phone = fmt.Sprintf("(%s) 555-01%02d", c.area, g.intn(100))
	p.phoneUse = pick(g, []string{"home", "mobile", "mobile"})
	if p.age >= 16 && g.chance(0.6) {
		p.email = strings.ToLower(ascii(p.given[0])+"."+ascii(p.family)) + fmt.Sprintf("%d@example.com", g.intn(100))
	}
	if p.age >= 18 && g.chance(0.5) {
		p.ssn = fmt.Sprintf("999-%02d-%04d", g.intn(100), g.intn(10000)) // area 999 is never issued
	}
	if p.accented && g.chance(0.45) {
		p.lang = &languages[g.intn(len(languages))]
	}
	if p.age < 6 {
		bt := time.Date(p.birth.Year(), p.birth.Month(), p.birth.Day(), g.intn(24), g.intn(60), 0, 0, g.zone(p.birth))
		p.birthTime = &bt
	}
	p.narrative = g.chance(0.3)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// ascii folds a name to the ASCII letters an e-mail address would use.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == 'ł' || r == 'Ł':
			b.WriteByte('l')
		case r == 'ø' || r == 'Ø':
			b.WriteByte('o')
		case r == 'đ' || r == 'Đ':
			b.WriteByte('d')
		case r < 128 && (unicode.IsLetter(r) || r == '-'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---- coverage

func (g *gen) coverage(py *payor, status string, startOff int, endOff *int) *coverageRec {
	c := &coverageRec{uuid: g.uuid(), rid: g.rid("COV"), status: status, payor: py, public: py.public,
		start: g.day(startOff), relationship: "self"}
	if endOff != nil {
		c.end = g.dayPtr(*endOff)
	}
	c.payorForm = g.intn(3)
	c.memberID = py.memberID + g.digits(9)
	c.plan = pick(g, py.plans)
	if !py.public {
		c.group = "GRP-" + g.digits(6)
		c.copays = g.chance(0.7)
		if g.p.age >= 18 && g.chance(0.2) {
			c.relationship = "spouse"
			c.subscriber = pick(g, append(append([]string{}, givenFemale...), givenMale...)) + " " + g.p.family
		}
	}
	g.covs = append(g.covs, c)
	return c
}

// defaultCoverage is coverage in force today and for the next years.
func (g *gen) defaultCoverage() *coverageRec {
	var py *payor
	switch {
	case g.p.age >= 65:
		py = payors[3]
	case g.chance(0.2):
		py = payors[4]
	default:
		py = payors[g.intn(3)]
	}
	var end *int
	if !py.public && g.chance(0.5) {
		end = ptr(g.between(400, 900))
	}
	return g.coverage(py, "active", -g.between(200, 3000), end)
}

func (g *gen) commercialPayor() *payor { return payors[g.intn(3)] }

// ---- allergies

func (g *gen) allergy(key, clinical, verification, criticality string, reactions ...reaction) *allergyRec {
	al := allergens[key]
	a := &allergyRec{uuid: g.uuid(), rid: g.rid("AI"), a: al, code: pick(g, al.codes), clinical: clinical,
		verification: verification, criticality: criticality, reactions: reactions}
	if g.chance(0.25) {
		a.onsetString = pick(g, []string{"childhood", "as a teenager", "early twenties"})
		if g.p.age < 12 {
			a.onsetString = "infancy"
		}
	} else {
		a.onset = g.dayPtr(-g.between(30, max(31, 365*min(g.p.age, 40))))
	}
	a.recorded = g.day(-g.between(1, 700))
	if a.onset != nil && a.recorded.Before(*a.onset) {
		a.recorded = *a.onset
	}
	a.recorder = pick(g, practitioners).name
	g.alls = append(g.alls, a)
	return a
}

// ---- medications

func (g *gen) med(key, status string, startOff int, endOff *int, reason *condition, plan *planRec) *medRec {
	d := drugs[key]
	for _, m := range g.meds {
		if m.d == d {
			return m
		}
	}
	m := &medRec{uuid: g.uuid(), rid: g.rid("MS"), d: d, status: status, start: g.day(startOff), reason: reason, plan: plan}
	if endOff != nil {
		m.end = g.dayPtr(*endOff)
	} else if status != "active" {
		days := d.courseDays
		if days == 0 {
			days = g.between(5, 30)
		}
		m.end = g.dayPtr(startOff + days)
	}
	m.dosageForm = g.intn(3)
	m.category = pick(g, []string{"community", "outpatient", "patientspecified"})
	m.asserted = g.day(-g.between(0, 30))
	if m.asserted.Before(m.start) {
		m.asserted = m.start
	}
	if g.chance(0.3) {
		m.source = "Medication reconciliation with patient"
	}
	g.meds = append(g.meds, m)
	return m
}

// chronicMeds starts the condition's usual medicines (at most n of them).
func (g *gen) chronicMeds(c *condition, plan *planRec, n int) {
	for i, k := range c.meds {
		if i >= n {
			break
		}
		g.med(k, "active", -g.between(60, 2000), nil, c, plan)
	}
}

func (g *gen) activeMeds() int {
	n := 0
	for _, m := range g.meds {
		if m.status == "active" {
			n++
		}
	}
	return n
}

// ---- care plans

func (g *gen) plan(condKey, status string, startOff int, endOff *int) *planRec {
	c := conditions[condKey]
	p := &planRec{uuid: g.uuid(), rid: g.rid("CP"), status: status, cond: c, title: c.planTitle, desc: c.planDesc,
		start: g.day(startOff), contained: g.chance(0.5)}
	if endOff != nil {
		p.end = g.dayPtr(*endOff)
	}
	p.created = g.day(min(startOff, 0) - g.between(0, 10))
	if g.chance(0.6) {
		p.author = pick(g, careCoordinators)
	} else {
		p.author = g.practitioner(c.specialty).name
	}
	g.plans = append(g.plans, p)
	return p
}

// recurringFollowUp adds the plan's recurring follow-up visit activity (in progress) with pastVisits
// fulfilled visits as its outcomes and, when nextOff is not 0, the next visit booked that many days ahead.
func (g *gen) recurringFollowUp(p *planRec, pastVisits, nextOff int) (*activityRec, *apptRec) {
	t := p.cond.followUp
	a := &activityRec{t: t, status: "in-progress", schedKind: "timing", start: p.start, end: p.end,
		performer: g.practitioner(t.specialty), perfForm: g.intn(3)}
	for k := pastVisits; k >= 1; k-- {
		off := -k*t.everyMonths*30 + g.between(-6, 6)
		if off >= -1 || g.day(off).Before(p.start) {
			continue
		}
		ap := g.appt("fulfilled", g.freeDay(off, -1), a.performer, t.specialty, p, apptFollowUp)
		ap.description = t.description
		a.outcomes = append(a.outcomes, ap)
	}
	var next *apptRec
	if nextOff != 0 {
		next = g.appt("booked", g.freeDay(nextOff, 1), a.performer, t.specialty, p, apptFollowUp)
		next.description = t.description
	}
	p.activities = append(p.activities, a)
	return a, next
}

// oneOffFollowUp adds a follow-up visit activity due within [startOff, endOff].
func (g *gen) oneOffFollowUp(p *planRec, status string, startOff, endOff int, text string) *activityRec {
	t := p.cond.followUp
	t.everyMonths = 0
	if text != "" {
		t.text = text
		t.description = text
	}
	a := &activityRec{t: t, status: status, schedKind: "period", start: g.day(startOff), end: g.dayPtr(endOff),
		performer: g.practitioner(t.specialty), perfForm: g.intn(3)}
	p.activities = append(p.activities, a)
	return a
}

// otherActivities adds the plan's tests and referrals in states that need nothing from a coordinator and,
// sometimes, the completed initial consultation that started an active plan.
func (g *gen) otherActivities(p *planRec) {
	if p.status == "active" && p.start.Before(g.day(-120)) && g.chance(0.5) {
		t := p.cond.followUp
		t.everyMonths = 0
		t.text = "Initial " + lowerFirst(t.specialty.text) + " consultation"
		t.description = "First visit to set the goals of the plan"
		a := &activityRec{t: t, status: "completed", schedKind: "period", start: p.start, end: ptr(p.start.AddDate(0, 0, 30)),
			performer: g.practitioner(t.specialty), perfForm: g.intn(3)}
		off := int(p.start.Sub(g.today).Hours()/24) + g.between(2, 25)
		ap := g.appt("fulfilled", g.freeDay(off, -1), a.performer, t.specialty, p, apptRoutine)
		ap.description = t.description
		a.outcomes = []*apptRec{ap}
		p.activities = append(p.activities, a)
	}
	for _, t := range p.cond.others {
		a := &activityRec{t: t, performer: g.practitioner(p.cond.specialty), perfForm: g.intn(3)}
		switch {
		case p.status == "completed":
			a.status = "completed"
			a.schedKind = "period"
			a.start = p.start.AddDate(0, 0, 14)
			a.end = ptr(p.start.AddDate(0, 0, 70))
		case p.status == "draft":
			a.status = "not-started"
			a.schedKind = "period"
			a.start = g.day(g.between(14, 30))
			a.end = ptr(a.start.AddDate(0, 0, 30))
		case t.everyMonths > 0 && g.chance(0.7):
			a.status = "in-progress"
			a.schedKind = "timing"
			a.start = p.start
			a.end = p.end
		case g.chance(0.5):
			a.status = "not-started"
			a.schedKind = "string"
			a.schedText = pick(g, []string{"Before the next specialist visit", "Within the next three months", "When the patient is ready; discussed at every visit"})
		default:
			a.status = "scheduled"
			a.schedKind = "period"
			a.start = g.day(g.between(10, 40))
			a.end = ptr(a.start.AddDate(0, 0, 21))
		}
		p.activities = append(p.activities, a)
	}
}

// ---- appointments

var instructions = map[string][]string{
	"":   {"Bring all your medicine bottles and your insurance card.", "Arrive 15 minutes early to update your paperwork.", "Bring your home blood pressure log."},
	"es": {"Traiga todos sus medicamentos y su tarjeta de seguro.", "Llegue 15 minutos antes para actualizar sus formularios."},
	"fr": {"Apportez tous vos médicaments et votre carte d'assurance."},
	"vi": {"Vui lòng mang theo tất cả các loại thuốc đang dùng."},
	"pl": {"Proszę zabrać wszystkie przyjmowane leki."},
	"de": {"Bitte bringen Sie alle Medikamente und Ihre Versichertenkarte mit."},
}

func (g *gen) appt(status string, off int, prac *practitioner, sp specialty, plan *planRec, typ coding) *apptRec {
	hh, mm := g.between(8, 15), 15*g.intn(4)
	dur := pick(g, []int{15, 20, 30, 30, 40, 60})
	a := &apptRec{uuid: g.uuid(), rid: g.rid("AP"), status: status, plan: plan, prac: prac, pracForm: g.intn(3), typ: typ, specialty: sp}
	a.start = g.at(off, hh, mm)
	a.end = a.start.Add(time.Duration(dur) * time.Minute)
	cOff := min(off, 0) - g.between(2, 40)
	a.created = g.at(cOff, g.between(8, 17), g.intn(60))
	if plan != nil {
		a.reason = plan.cond
	}
	if status == "booked" && g.chance(0.6) {
		lang := ""
		if g.p.lang != nil && g.chance(0.7) {
			lang = g.p.lang.code
		}
		a.instruction = pick(g, instructions[lang])
	}
	g.appts = append(g.appts, a)
	return a
}

// ---- background: content that makes a patient realistic without creating a coordination situation

func (g *gen) background() {
	if g.chance(0.3) {
		switch g.intn(3) {
		case 0:
			g.allergy("peanut", "active", "confirmed", pick(g, []string{"high", "high", "low"}),
				reaction{rxHives, "moderate"}, reaction{pick(g, []coding{rxAngioedema, rxDyspnea}), "severe"})
		case 1:
			g.allergy("latex", "active", "confirmed", "low", reaction{rxItching, "mild"})
		default:
			g.allergy("bee", "active", pick(g, []string{"confirmed", "unconfirmed"}), "unable-to-assess", reaction{rxHives, "moderate"})
		}
	}
	if g.p.age >= 18 && g.chance(0.15) {
		a := g.allergy("codeine", "active", "confirmed", "low", reaction{rxNausea, "mild"})
		a.note = "Nausea and vomiting with codeine after dental surgery; tolerates other analgesics."
	}
	if g.p.age > 50 && g.activeMeds() < 4 && g.chance(0.35) {
		g.med("simvastatin", "active", -g.between(200, 2500), nil, conditions["hyperlipidemia"], nil)
	}
	if g.activeMeds() < 4 && g.chance(0.2) {
		g.med("acetaminophen", "completed", -g.between(60, 400), nil, nil, nil)
	}
	if g.chance(0.7) {
		sp := spGP
		if g.p.age < 18 {
			sp = spPeds
		}
		a := g.appt("fulfilled", g.freeDay(-g.between(40, 330), -1), g.practitioner(sp), sp, nil, apptCheckup)
		a.description = "Annual wellness visit"
	}
	if !g.noCoverage && len(g.covs) == 0 {
		g.defaultCoverage()
	}
}

// ---- generation

// historyStream separates the history's random stream from the coordination records' ("history" in ASCII).
const historyStream = 0x686973746f7279

// Generate returns o.Patients bundles.
func Generate(o Options) ([]*Bundle, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	out := make([]*Bundle, o.Patients)
	for i := range out {
		b, err := Patient(o, i)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// Patient returns bundle number i (0-based) of the data set o selects (o.Patients only sets the width of
// the file name). It depends only on o.Seed, o.Today and i.
func Patient(o Options, i int) (*Bundle, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if i < 0 {
		return nil, fmt.Errorf("synth: negative patient index %d", i)
	}
	sc := scenarioFor(o.Seed, i)
	g := newGen(o, i, sc)
	g.patient(sc.minAge, sc.maxAge)
	sc.build(g)
	g.background()
	if o.History {
		// A stream of its own, so that the coordination records (and what rendering them draws) are the
		// same with and without the history.
		g.hist = g.buildHistory(rand.New(rand.NewPCG(o.Seed^historyStream, uint64(i)*0x9e3779b97f4a7c15+1)))
	}
	return g.bundle(o.Patients), nil
}
