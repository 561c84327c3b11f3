package synth

import "time"

// The generator first builds a patient as these records, then renders them as FHIR JSON (render.go) and
// labels the coordination situations they contain (situations.go). Dates without a time are UTC midnights;
// appointment times carry the patient's local UTC offset.

type patientRec struct {
	uuid      string
	mrn       string
	ssn       string
	prefix    string
	given     []string
	family    string
	accented  bool
	gender    string
	birth     time.Time
	birthTime *time.Time // time of birth, for the patient-birthTime extension on birthDate
	age       int
	phone     string
	phoneUse  string
	email     string
	line      string
	city      *city
	lang      *language
	narrative bool
}

func (p *patientRec) displayName() string {
	name := ""
	for _, g := range p.given {
		name += g + " "
	}
	return name + p.family
}

type coverageRec struct {
	uuid, rid    string
	status       string // active or cancelled
	payor        *payor
	payorForm    int // 0: display only, 1: logical reference by NAIC identifier, 2: contained Organization
	memberID     string
	plan, group  string
	start        time.Time
	end          *time.Time
	relationship string // self, spouse, child
	subscriber   string // display name of the subscriber when not self
	priorAuth    string // the services needing prior authorization; "" when none
	copays       bool
	public       bool
}

// inForce reports whether the coverage pays for services on day d.
func (c *coverageRec) inForce(d time.Time) bool {
	return c.status == "active" && !c.start.After(d) && (c.end == nil || !c.end.Before(d))
}

type reaction struct {
	manifestation coding
	severity      string
}

type allergyRec struct {
	uuid, rid      string
	a              *allergen
	code           coding
	clinical       string // active, inactive, resolved
	verification   string // confirmed, unconfirmed, refuted
	criticality    string // low, high, unable-to-assess
	onset          *time.Time
	onsetString    string
	recorded       time.Time
	recorder       string
	lastOccurrence *time.Time
	reactions      []reaction
	note           string
}

// relevant reports whether the allergy should stop a prescriber: active and not refuted.
func (a *allergyRec) relevant() bool { return a.clinical == "active" && a.verification != "refuted" }

type medRec struct {
	uuid, rid    string
	d            *drug
	status       string // active, completed, stopped
	start        time.Time
	end          *time.Time
	asserted     time.Time
	reason       *condition
	plan         *planRec
	statusReason string
	dosageForm   int // 0: text only, 1: structured, 2: structured with text
	category     string
	source       string
	note         string
}

type planRec struct {
	uuid, rid  string
	status     string // draft, active, completed
	cond       *condition
	contained  bool // addresses a contained Condition (else a display-only reference)
	title      string
	desc       string
	start      time.Time
	end        *time.Time
	created    time.Time
	author     string
	activities []*activityRec
	note       string
}

type activityRec struct {
	t          activityTemplate
	status     string // not-started, scheduled, in-progress, completed
	schedKind  string // timing, period, string
	start      time.Time
	end        *time.Time
	schedText  string
	performer  *practitioner
	perfForm   int // 0: display only, 1: absolute URL, 2: logical reference by NPI
	outcomes   []*apptRec
	statusNote string
}

// due is the date by which a one-off activity should have happened (nil for recurring or open-ended ones).
func (a *activityRec) due() *time.Time {
	if a.schedKind == "period" {
		return a.end
	}
	return nil
}

type apptRec struct {
	uuid, rid    string
	status       string // booked, fulfilled, cancelled, noshow
	start, end   time.Time
	created      time.Time
	plan         *planRec
	prac         *practitioner
	pracForm     int
	typ          coding
	specialty    specialty
	reason       *condition
	cancelReason *coding
	description  string
	comment      string
	instruction  string
	// Set by the history (Options.History) only, so the coordination records stay the same without it.
	slot     string // uuid of the appointment's Slot
	basedOn  string // uuid of the ServiceRequest a referral visit is based on (history appointments)
	pracUUID string // uuid of the Practitioner (history appointments)
}

var (
	apptFollowUp = coding{sysV20276, "FOLLOWUP", "A follow up visit from a previous appointment"}
	apptRoutine  = coding{sysV20276, "ROUTINE", "Routine appointment - default if not valued"}
	apptCheckup  = coding{sysV20276, "CHECKUP", "A routine check-up, such as an annual physical"}
	apptWalkin   = coding{sysV20276, "WALKIN", "A previously unscheduled walk-in visit"}
)
