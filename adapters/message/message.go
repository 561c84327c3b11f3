// Package message drafts the message a care coordinator sends a patient, or the patient's family caregiver,
// for a worklist item: a follow-up to book, a missed appointment to rebook, the call after a hospital
// discharge, a planned outreach, a referral to schedule, missing insurance details.
//
// # The draft
//
// A draft is a FHIR Communication with status preparation that careflow returns and does not store:
//
//   - basedOn the worklist Task (Task/id, the id $worklist gave it, stored or not), about the Task's focus,
//     subject the patient, recipient the person chosen (below), category reminder (instruction for the
//     post-discharge contact), language en;
//   - payload: a plain-language message in English, addressed to the recipient by name — in the second
//     person to the patient, in the third person about the patient to a family member;
//   - medium: how to send it, from the recipient's preferred contact point (v3 ParticipationMode: PHONE for
//     a phone, WRITTEN for an SMS, EMAILWRIT for an email, FAXWRIT for a fax, MAILWRIT for a postal address);
//   - note: the contact point to use, and the recipient's preferred language when it is not English (the
//     draft is in English: translate it or use an interpreter).
//
// Its id is derived from the Task and the recipient, so drafting again gives the same id: a client stores it
// with PUT (status preparation), and records that it was sent by updating it to status completed with
// Communication.sent — which closes the worklist item (package worklist: a completed Communication basedOn
// the Task completes it).
//
// # The recipient
//
// The recipient is the one asked for (a Patient, the item's patient; or a RelatedPerson of that patient);
// else, for an outreach item, the planned message's first recipient; else the patient when they have a
// contact point careflow can use; else the first of the patient's RelatedPersons (by id) who has one; else
// the patient. A contact point is usable when it has a value, is not marked old and its period has not
// ended; the preferred one has the lowest rank (unranked last), phones first.
package message

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/search"
)

// Errors a caller maps to OperationOutcomes.
var (
	// ErrNoItem: the patient's worklist at the reference time has no item with that Task id.
	ErrNoItem = errors.New("message: no such worklist item")
	// ErrNotForPatient: the item is not one to message the patient or family about (an allergy conflict is
	// for the prescriber, a coverage renewal for the payer).
	ErrNotForPatient = errors.New("message: the item is not about something the patient or family can act on")
	// ErrRecipient: the recipient asked for is not the patient or one of the patient's RelatedPersons.
	ErrRecipient = errors.New("message: the recipient is not the patient or a related person of the patient")
)

// Drafter drafts messages from a worklist builder and a store. It is immutable and safe for concurrent use.
type Drafter struct {
	worklist *worklist.Builder
	f        fetch.Fetcher
}

// New returns a Drafter reading the worklist from w and the people from s.
func New(w *worklist.Builder, s fetch.Searcher, registry *search.Registry) *Drafter {
	return &Drafter{worklist: w, f: fetch.Fetcher{Store: s, Registry: registry}}
}

// person is what a draft reads of a Patient or RelatedPerson.
type person struct {
	fhirread.Head
	ID      string               `json:"id"`
	Name    []fhirread.HumanName `json:"name,omitempty"`
	Patient *fhirread.Reference  `json:"patient,omitempty"`
	Telecom []struct {
		System string           `json:"system,omitempty"`
		Value  string           `json:"value,omitempty"`
		Use    string           `json:"use,omitempty"`
		Rank   int              `json:"rank,omitempty"`
		Period *fhirread.Period `json:"period,omitempty"`
	} `json:"telecom,omitempty"`
	Communication []struct {
		Language  fhirread.CodeableConcept `json:"language"`
		Preferred bool                     `json:"preferred,omitempty"`
	} `json:"communication,omitempty"`
	Relationship []fhirread.CodeableConcept `json:"relationship,omitempty"`
}

func (p *person) displayName() string {
	pt := fhirread.Patient{Name: p.Name}
	return pt.DisplayName()
}

// firstName is the first given name, else the display name.
func (p *person) firstName() string {
	for _, n := range p.Name {
		if n.Use == "old" {
			continue
		}
		if len(n.Given) > 0 && n.Given[0] != "" {
			return n.Given[0]
		}
	}
	return p.displayName()
}

// contact is a usable contact point.
type contact struct{ system, value, use string }

// contactPoint returns the preferred usable contact point at now.
func (p *person) contactPoint(now time.Time) (contact, bool) {
	type cand struct {
		c    contact
		rank int
	}
	var cs []cand
	for _, t := range p.Telecom {
		if t.Value == "" || t.Use == "old" {
			continue
		}
		if span, ok := fhirread.PeriodSpan(t.Period, now.Location()); ok && span.EndsBefore(now) {
			continue
		}
		r := t.Rank
		if r <= 0 {
			r = 1 << 30
		}
		cs = append(cs, cand{contact{t.System, t.Value, t.Use}, r})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].rank != cs[j].rank {
			return cs[i].rank < cs[j].rank
		}
		return cs[i].c.system == "phone" && cs[j].c.system != "phone"
	})
	if len(cs) == 0 {
		return contact{}, false
	}
	return cs[0].c, true
}

// language returns the preferred language (code and label), "" when none is recorded.
func (p *person) language() (code, label string) {
	for i, c := range p.Communication {
		if c.Preferred || i == len(p.Communication)-1 {
			return c.Language.Code(), c.Language.Label()
		}
	}
	return "", ""
}

// Draft returns the draft Communication (JSON) for the item taskID of patient's worklist at now, to
// recipient ("" to let careflow choose). The errors ErrNoItem, ErrNotForPatient and ErrRecipient are
// wrapped.
func (d *Drafter) Draft(ctx context.Context, patient, taskID string, now time.Time, recipient string) ([]byte, error) {
	patientRef := fhirread.PatientRef(patient)
	tasks, err := d.worklist.Build(ctx, now, worklist.Options{Patient: patientRef, Statuses: worklist.TaskStatuses()})
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	var task *worklist.Task
	for i := range tasks {
		if tasks[i].ID == taskID {
			task = &tasks[i]
		}
	}
	if task == nil {
		return nil, fmt.Errorf("%w: %s is not on the worklist of %s at %s", ErrNoItem, taskID, patientRef, now.Format(time.RFC3339))
	}
	text, ok := bodies[task.Code]
	if !ok || task.Code == worklist.CoverageGap && task.Focus != patientRef {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotForPatient, taskID, task.Code)
	}
	pat, err := d.read(ctx, "Patient", fhirread.RefID(patientRef))
	if err != nil {
		return nil, err
	}
	if pat == nil {
		return nil, fmt.Errorf("%w: %s is not stored", ErrNoItem, patientRef)
	}
	to, err := d.recipient(ctx, pat, task, recipient, now)
	if err != nil {
		return nil, err
	}
	return render(task, pat, to, text, now)
}

// read returns the current typ/id, nil when it is not stored.
func (d *Drafter) read(ctx context.Context, typ, id string) (*person, error) {
	vs, err := d.f.All(ctx, typ, url.Values{"_id": {id}})
	if err != nil {
		return nil, fmt.Errorf("message: %s/%s: %w", typ, id, err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	var p person
	if err := fhirread.Decode(vs[0].Body, typ, &p); err != nil {
		return nil, fmt.Errorf("message: %s/%s: %w", typ, id, err)
	}
	if p.ID == "" {
		p.ID = id
	}
	return &p, nil
}

func (d *Drafter) recipient(ctx context.Context, pat *person, task *worklist.Task, asked string, now time.Time) (*person, error) {
	patientRef := "Patient/" + pat.ID
	if asked == "" && task.Code == worklist.OutreachDue {
		vs, err := d.f.All(ctx, "CommunicationRequest", url.Values{"_id": {fhirread.RefID(task.Focus)}})
		if err != nil {
			return nil, fmt.Errorf("message: %s: %w", task.Focus, err)
		}
		if len(vs) == 1 {
			var cr struct {
				fhirread.Head
				Recipient []fhirread.Reference `json:"recipient"`
			}
			if err := fhirread.Decode(vs[0].Body, "CommunicationRequest", &cr); err != nil {
				return nil, fmt.Errorf("message: %s: %w", task.Focus, err)
			}
			for i := range cr.Recipient {
				if t := fhirread.RefType(cr.Recipient[i].Key()); t == "Patient" || t == "RelatedPerson" {
					asked = cr.Recipient[i].Key()
					break
				}
			}
		}
	}
	if asked != "" {
		key := fhirread.RefKey(asked)
		switch fhirread.RefType(key) {
		case "Patient":
			if key != patientRef {
				return nil, fmt.Errorf("%w: %s", ErrRecipient, asked)
			}
			return pat, nil
		case "RelatedPerson":
			rp, err := d.read(ctx, "RelatedPerson", fhirread.RefID(key))
			if err != nil {
				return nil, err
			}
			if rp == nil || rp.Patient.Key() != patientRef {
				return nil, fmt.Errorf("%w: %s", ErrRecipient, asked)
			}
			return rp, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrRecipient, asked)
	}
	if _, ok := pat.contactPoint(now); ok {
		return pat, nil
	}
	vs, err := d.f.All(ctx, "RelatedPerson", url.Values{"patient": {patientRef}})
	if err != nil {
		return nil, fmt.Errorf("message: related persons of %s: %w", patientRef, err)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID })
	for _, v := range vs {
		var rp person
		if err := fhirread.Decode(v.Body, "RelatedPerson", &rp); err != nil {
			return nil, fmt.Errorf("message: RelatedPerson/%s: %w", v.ID, err)
		}
		rp.ID = v.ID
		if _, ok := rp.contactPoint(now); ok {
			return &rp, nil
		}
	}
	return pat, nil
}

// body writes a message: you is true when it is addressed to the patient; whose is "your" or "<name>'s",
// whom "you" or the patient's first name.
type body func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string

var bodies = map[string]body{
	worklist.FollowUpDue: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("It is time to book %s %s. It is due by %s. Please call us or reply to choose a time that suits %s.",
			whose, topic(t, "follow-up visit"), t.Due.In(loc).Format("Monday 2 January"), whom)
	},
	worklist.FollowUpOverdue: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("%s %s was due by %s and is not booked yet. Please call us or reply so that we can find a time that suits %s.",
			capital(whose), topic(t, "follow-up visit"), t.Due.In(loc).Format("Monday 2 January"), whom)
	},
	worklist.RebookAppointment: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("%s appointment %s on %s did not take place. Please call us or reply so that we can book a new time for %s.",
			capital(whose), quoted(t.Topic), t.Due.In(loc).Format("Monday 2 January"), whom)
	},
	worklist.PostDischargeFollowUp: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		if strings.HasSuffix(t.Description, "none is booked.") {
			return fmt.Sprintf("After leaving hospital, %s should see %s doctor within 7 days, by %s. Please call us so that we can book the visit.",
				subject(you, whom), whose, t.Due.In(loc).Format("Monday 2 January"))
		}
		return fmt.Sprintf("We hope %s recovering well after the %s. We would like to check how %s doing, go over any new medicines, and make sure a follow-up visit is booked. Please call us or reply.",
			be(you, whom), topic(t, "hospital stay"), be(you, whom))
	},
	worklist.OutreachDue: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("We would like to talk with you about %s care: %s. Please call us or reply.", whose, strings.TrimRight(topic(t, "a planned check-in"), "."))
	},
	worklist.ReferralNotScheduled: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("%s referral for %s has not been booked yet. Please call us or reply so that we can help schedule it.",
			capital(whose), topic(t, "a specialist"))
	},
	worklist.CoverageGap: func(t *worklist.Task, you bool, whose, whom string, loc *time.Location) string {
		return fmt.Sprintf("We do not have current health insurance details for %s. Please send us %s insurance card or details before the next visit.", whom, whose)
	},
}

func topic(t *worklist.Task, fallback string) string {
	if t.Topic == "" {
		return fallback
	}
	return strings.ToLower(t.Topic[:1]) + t.Topic[1:]
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return "“" + s + "”"
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func subject(you bool, whom string) string {
	if you {
		return "you"
	}
	return whom
}

func be(you bool, whom string) string {
	if you {
		return "you are"
	}
	return whom + " is"
}

// participationMode maps a ContactPoint.system to the v3 ParticipationMode code and display.
var participationMode = map[string][2]string{
	"phone": {"PHONE", "telephone"},
	"sms":   {"WRITTEN", "written"},
	"email": {"EMAILWRIT", "email"},
	"fax":   {"FAXWRIT", "telefax"},
	"other": {"WRITTEN", "written"},
	"pager": {"WRITTEN", "written"},
	"url":   {"ONLINEWRIT", "online written"},
}

func render(task *worklist.Task, pat, to *person, text body, now time.Time) ([]byte, error) {
	you := to == pat
	recipientRef := "Patient/" + pat.ID
	whose, whom := "your", "you"
	greeting := "Hello " + to.firstName() + ","
	if !you {
		recipientRef = "RelatedPerson/" + to.ID
		whose, whom = pat.firstName()+"’s", pat.firstName()
		greeting += " we are contacting you as " + pat.firstName() + "’s family contact."
	}
	msg := greeting + " " + text(task, you, whose, whom, now.Location()) + " — Your care team"
	h := sha256.Sum256([]byte(task.ID + "\x00" + recipientRef))
	type ref struct {
		Reference string `json:"reference"`
		Display   string `json:"display,omitempty"`
	}
	type coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	type concept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text,omitempty"`
	}
	category := "reminder"
	if task.Code == worklist.PostDischargeFollowUp || task.Code == worklist.OutreachDue {
		category = "instruction"
	}
	c := struct {
		ResourceType string    `json:"resourceType"`
		ID           string    `json:"id"`
		Language     string    `json:"language"`
		BasedOn      []ref     `json:"basedOn"`
		Status       string    `json:"status"`
		Category     []concept `json:"category"`
		Medium       []concept `json:"medium,omitempty"`
		Subject      ref       `json:"subject"`
		About        []ref     `json:"about,omitempty"`
		Recipient    []ref     `json:"recipient"`
		Payload      []struct {
			ContentString string `json:"contentString"`
		} `json:"payload"`
		Note []struct {
			Text string `json:"text"`
		} `json:"note,omitempty"`
	}{ResourceType: "Communication", ID: "msg-" + hex.EncodeToString(h[:])[:40], Language: "en", Status: "preparation",
		BasedOn:   []ref{{Reference: "Task/" + task.ID}},
		Category:  []concept{{Coding: []coding{{"http://terminology.hl7.org/CodeSystem/communication-category", category, ""}}}},
		Subject:   ref{Reference: "Patient/" + pat.ID, Display: pat.displayName()},
		Recipient: []ref{{Reference: recipientRef, Display: to.displayName()}}}
	if task.Focus != "" {
		c.About = []ref{{Reference: task.Focus}}
	}
	c.Payload = append(c.Payload, struct {
		ContentString string `json:"contentString"`
	}{msg})
	var notes []string
	if cp, ok := to.contactPoint(now); ok {
		if m, ok := participationMode[cp.system]; ok {
			c.Medium = []concept{{Coding: []coding{{"http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", m[0], m[1]}}}}
		}
		line := "Send to " + cp.value
		if cp.system != "" {
			line = "Send by " + cp.system + " to " + cp.value
		}
		if cp.use != "" {
			line += " (" + cp.use + ")"
		}
		notes = append(notes, line+".")
	} else {
		notes = append(notes, "careflow holds no usable contact point for "+to.displayName()+".")
	}
	if code, label := to.language(); code != "" && !strings.HasPrefix(strings.ToLower(code), "en") {
		notes = append(notes, "Preferred language: "+firstNonEmpty(label, code)+" ("+code+"). This draft is in English: translate it or use an interpreter.")
	}
	for _, n := range notes {
		c.Note = append(c.Note, struct {
			Text string `json:"text"`
		}{n})
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return data, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
