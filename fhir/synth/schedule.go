package synth

import (
	"fmt"
	"time"
)

// Schedules and slots (Options.History).
//
// Every PractitionerRole the history names has a Schedule (actor: the role, its practitioner and the clinic
// site; the role's specialty as service type; a planning horizon covering every generated appointment), a
// directory resource shared by the bundles like the role itself (identifier SystemStaff "SCHED-<NPI>-<zip>").
//
// A Slot is either a patient's or the schedule's:
//   - every Appointment of the patient has a Slot of its own, a patient record (identifier <MRN>-SL<n>),
//     busy for a booked, fulfilled or no-show appointment and free for a cancelled one (cancelling frees the
//     slot); the Appointment refers to it in Appointment.slot. Slots are per appointment, not a grid shared
//     by the bundles, because the coordination records choose each patient's appointment times on their own:
//     two patients' visits with one practitioner may overlap, and a shared grid would have to know every
//     patient of the set. A patient's bundle stays self-contained and loads in any order.
//   - the practitioners the patient sees (the primary care clinician and every practitioner of the patient's
//     appointments) offer bookable slots on the next freeSlotDays clinic days after today, before and after
//     the visit hours every generated appointment keeps to (07:30–08:00 and 17:00–17:30 local time, "extended
//     hours"), so that a free slot never overlaps a generated visit: directory resources (identifier
//     SystemStaff "SLOT-<NPI>-<zip>-<yyyymmddhhmm>"), the same in every bundle. Most are free; every fifth is
//     busy-tentative (held, as IHE ITI Scheduling's $hold leaves a slot).

const freeSlotDays = 5

var slotHours = [][2]int{{7, 30}, {17, 0}}

// horizon is the planning horizon of every schedule: from January 1 six years before today to 120 days
// after today (the generator's appointments fall inside it).
func (h *history) horizon() (time.Time, time.Time) {
	t := h.g.today
	return time.Date(t.Year()-6, time.January, 1, 0, 0, 0, 0, time.UTC), t.AddDate(0, 0, 120)
}

// schedule adds the Schedule of a practitioner's role at the patient's clinic site and returns its uuid.
func (h *history) schedule(p *practitioner, pu, role, site string) string {
	zip := h.g.p.city.zip
	from, to := h.horizon()
	u := h.directory("Schedule", SystemStaff, "SCHED-"+p.npi+"-"+zip, func(o *obj) {
		o.set("active", true)
		o.set("serviceType", []any{textConcept(p.specialty.text + " visit")})
		o.set("specialty", []any{concept(p.specialty.code, "")})
		o.set("actor", []any{ref(role, p.name+", "+p.specialty.text), ref(pu, p.name), ref(site, "Careflow Community Health, "+h.g.p.city.name)})
		o.set("planningHorizon", obj{{"start", dateTime(from)}, {"end", dateTime(to)}})
		o.set("comment", "Clinic visits of "+p.name+" at Careflow Community Health, "+h.g.p.city.name)
	})
	h.schedules[p.npi] = u
	return u
}

// slotFor adds the Slot of an appointment of the patient (busy, or free for a cancelled one) and returns
// its uuid.
func (h *history) slotFor(p *practitioner, sp specialty, typ coding, status string, start, end time.Time) string {
	sched := h.scheduleOf(p)
	st := "busy"
	if status == "cancelled" {
		st = "free"
	}
	return h.record("Slot", "SL", func(o *obj) {
		o.set("serviceType", []any{textConcept(sp.text + " visit")})
		o.set("specialty", []any{concept(sp.code, "")})
		o.set("appointmentType", concept(typ, ""))
		o.set("schedule", ref(sched, ""))
		o.set("status", st)
		o.set("start", instant(start))
		o.set("end", instant(end))
	})
}

// scheduleOf returns the uuid of the practitioner's Schedule, adding the practitioner (and so the
// Schedule) when needed.
func (h *history) scheduleOf(p *practitioner) string {
	if u, ok := h.schedules[p.npi]; ok {
		return u
	}
	h.practitioner(p)
	return h.schedules[p.npi]
}

// freeSlots adds the bookable slots of the practitioner's schedule (directory resources).
func (h *history) freeSlots(p *practitioner) {
	if h.offered[p.npi] {
		return
	}
	h.offered[p.npi] = true
	sched := h.scheduleOf(p)
	g := h.g
	k := 0
	for off, n := 1, 0; n < freeSlotDays; off++ {
		d := g.day(off)
		if closed(d) {
			continue
		}
		n++
		for _, hm := range slotHours {
			start := time.Date(d.Year(), d.Month(), d.Day(), hm[0], hm[1], 0, 0, g.zone(d))
			end := start.Add(30 * time.Minute)
			status := "free"
			if k%5 == 4 {
				status = "busy-tentative"
			}
			k++
			id := fmt.Sprintf("SLOT-%s-%s-%s", p.npi, g.p.city.zip, start.Format("200601021504"))
			h.directory("Slot", SystemStaff, id, func(o *obj) {
				o.set("serviceType", []any{textConcept(p.specialty.text + " visit")})
				o.set("specialty", []any{concept(p.specialty.code, "")})
				o.set("appointmentType", concept(apptRoutine, ""))
				o.set("schedule", ref(sched, ""))
				o.set("status", status)
				o.set("start", instant(start))
				o.set("end", instant(end))
				if status == "busy-tentative" {
					o.set("comment", "Held for a same-day urgent visit")
				}
			})
		}
	}
}

// instant is an R4 instant (seconds and a UTC offset), as Slot.start and end require.
func instant(t time.Time) string { return dateTime(t) }

// bookings gives every appointment of the coordination records its Slot, and adds the bookable slots of the
// practitioners the patient sees: the primary care clinician and the practitioners of the appointments
// that are not fulfilled (the ones a coordinator rebooks).
func (h *history) bookings() {
	g := h.g
	for _, a := range g.appts {
		a.slot = h.slotFor(a.prac, a.specialty, a.typ, a.status, a.start, a.end)
	}
	h.freeSlots(h.pcp)
	for _, a := range g.appts {
		if a.status != "fulfilled" {
			h.freeSlots(a.prac)
		}
	}
}
