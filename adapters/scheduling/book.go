package scheduling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

// DefaultHold is how long a $hold keeps its slots when the Booker is not told otherwise.
const DefaultHold = 10 * time.Minute

// Transactor runs a transaction Bundle with the server's write pipeline (validation, indexing, update
// rules, ifMatch preconditions: all or nothing) and returns the transaction-response Bundle; the
// operation layer passes it (operation.Request.Transact).
type Transactor func(ctx context.Context, bundle []byte) ([]byte, error)

// BookRequest is a $hold, $book or cancellation.
type BookRequest struct {
	// Reference names a stored Appointment ("Appointment/id"): a pending one a $hold stored (booking it
	// takes the hold), or a booked one (with Cancel).
	Reference string
	// Resource is a proposed Appointment as $find returned it (status proposed or pending); with status
	// cancelled and the id of a stored Appointment it cancels that appointment.
	Resource []byte
	// Patient ("Patient/id") is added as a participant when the appointment has none.
	Patient string
	// Task ("Task/id"), on $book, is the stored worklist Task (follow-up, referral) the booking closes: it
	// is completed in the same transaction, its output referencing the Appointment, and its focus
	// (ServiceRequest, CarePlan) linked from the Appointment as BasedOn and CarePlan are.
	Task string
	// BasedOn ("ServiceRequest/id") and CarePlan ("CarePlan/id") are linked from the booked Appointment:
	// Appointment.basedOn and Appointment.supportingInformation (careflow's follow-up link).
	BasedOn, CarePlan []string
}

// Booker holds, books and cancels appointments over slots, atomically through a transaction Bundle.
type Booker struct {
	s    *Scheduler
	hold time.Duration
}

// NewBooker returns a Booker over the Scheduler's store whose holds last hold (DefaultHold when zero).
func NewBooker(s *Scheduler, hold time.Duration) *Booker {
	if hold <= 0 {
		hold = DefaultHold
	}
	return &Booker{s: s, hold: hold}
}

// ErrSlotTaken is the conflict a booking meets when a slot it needs is no longer available (409).
var ErrSlotTaken = errors.New("scheduling: slot no longer available")

// conflict is the 409 answer to a booking whose slot is taken.
func conflict(format string, args ...any) error {
	e := outcome.New(http.StatusConflict, outcome.CodeConflict, format, args...)
	e.Cause = ErrSlotTaken
	return e
}

// appointmentBody is what booking reads of an Appointment.
type appointmentBody struct {
	fhirread.Head
	ID          string               `json:"id"`
	Status      string               `json:"status"`
	Slot        []fhirread.Reference `json:"slot"`
	Participant []struct {
		Actor fhirread.Reference `json:"actor"`
	} `json:"participant"`
	BasedOn               []fhirread.Reference `json:"basedOn"`
	SupportingInformation []fhirread.Reference `json:"supportingInformation"`
}

// txEntry is one entry of the transaction Bundle booking sends.
type txEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method  string `json:"method"`
		URL     string `json:"url"`
		IfMatch string `json:"ifMatch,omitempty"`
	} `json:"request"`
}

func put(typ, id string, body []byte, v *storage.Version) txEntry {
	var e txEntry
	e.Resource, e.Request.Method, e.Request.URL = body, "PUT", typ+"/"+id
	if v != nil {
		e.Request.IfMatch = v.ETag()
	}
	return e
}

// read returns the current version of typ/id, nil when there is none.
func (b *Booker) read(ctx context.Context, typ, id string) (*storage.Version, error) {
	vs, err := b.s.f.All(ctx, typ, url.Values{"_id": {id}})
	if err != nil {
		return nil, fmt.Errorf("scheduling: read %s/%s: %w", typ, id, err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	return vs[0], nil
}

// localID returns the id of a reference to a resource of typ on this server (relative, or absolute on
// base), "" otherwise.
func localID(ref, typ, base string) string {
	ref = strings.TrimPrefix(ref, strings.TrimSuffix(base, "/")+"/")
	key := fhirread.RefKey(ref)
	if fhirread.RefType(key) != typ {
		return ""
	}
	return fhirread.RefID(key)
}

// Hold holds the slots of a proposed Appointment for the Booker's hold time from now: the slots become
// busy-tentative with the hold extension and the Appointment is stored with status pending, in one
// transaction. It returns the stored Appointment.
func (b *Booker) Hold(ctx context.Context, tx Transactor, req BookRequest, base string, now time.Time) ([]byte, error) {
	return b.take(ctx, tx, req, base, now, true)
}

// Book books a proposed (or held) Appointment: its slots become busy and the Appointment is stored with
// status booked, together with the Task it closes, in one transaction — a failed booking leaves nothing
// behind. A slot that another booking or an unexpired hold took is a 409 conflict, also when two bookings
// race: the slots are written with ifMatch on the versions checked, so exactly one of them commits. With
// a Resource of status cancelled, Book cancels (see Cancel).
func (b *Booker) Book(ctx context.Context, tx Transactor, req BookRequest, base string, now time.Time) ([]byte, error) {
	if req.Resource != nil {
		var a appointmentBody
		if err := fhirread.Decode(req.Resource, "Appointment", &a); err != nil {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "appointment-resource", "not an Appointment: %v", err)
		}
		if a.Status == "cancelled" {
			return b.Cancel(ctx, tx, "Appointment/"+a.ID, req.Resource, base)
		}
	}
	return b.take(ctx, tx, req, base, now, false)
}

// abortedAttempts bounds how often a booking whose transaction the store aborted (it waited too long for
// concurrent writers of its slots: 503 transient) is checked and sent again; a retry then finds the slot
// taken (409) or books it.
const abortedAttempts = 5

func retryAborted(f func() ([]byte, error)) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		out, err := f()
		if errors.Is(err, storage.ErrTxAborted) && attempt < abortedAttempts {
			continue
		}
		return out, err
	}
}

func (b *Booker) take(ctx context.Context, tx Transactor, req BookRequest, base string, now time.Time, hold bool) ([]byte, error) {
	return retryAborted(func() ([]byte, error) { return b.takeOnce(ctx, tx, req, base, now, hold) })
}

func (b *Booker) takeOnce(ctx context.Context, tx Transactor, req BookRequest, base string, now time.Time, hold bool) ([]byte, error) {
	body, stored, err := b.proposal(ctx, req, base)
	if err != nil {
		return nil, err
	}
	var a appointmentBody
	if err := fhirread.Decode(body, "Appointment", &a); err != nil {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "appointment-resource", "not an Appointment: %v", err)
	}
	switch {
	case stored != nil && a.Status != "pending":
		return nil, conflict("Appointment/%s is %s: only a held (pending) appointment is booked by reference", a.ID, a.Status)
	case stored != nil && hold:
		return nil, conflict("Appointment/%s is already held", a.ID)
	case stored == nil && a.Status != "proposed" && a.Status != "pending":
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "appointment-resource", "the appointment to book has status %q; $find proposes status proposed", a.Status)
	case len(a.Slot) == 0:
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "appointment-resource", "the appointment names no Slot to book")
	}
	var slotIDs []string
	for _, r := range a.Slot {
		id := localID(r.Reference, "Slot", base)
		if id == "" {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "Appointment.slot", "%q is not a Slot of this server", r.Reference)
		}
		slotIDs = append(slotIDs, id)
	}
	if stored == nil {
		a.ID = ProposalID(slotIDs) // the proposal's id, whatever the client sent
	}
	holder := ""
	if stored != nil {
		holder = "Appointment/" + a.ID
	}
	var entries []txEntry
	for _, id := range slotIDs {
		v, err := b.read(ctx, "Slot", id)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, outcome.At(http.StatusNotFound, outcome.CodeNotFound, "Appointment.slot", "Slot/%s is not known", id)
		}
		sl, _, err := decodeSlot(v)
		if err != nil {
			return nil, err
		}
		if !sl.availableTo(holder, now) {
			return nil, conflict("Slot/%s is %s: it is no longer available; run $find again", id, sl.Status)
		}
		if sl.start.Before(now) {
			return nil, conflict("Slot/%s started at %s: it can no longer be booked; run $find again", id, sl.Start)
		}
		nb, err := slotWith(v.Body, hold, "Appointment/"+a.ID, now.Add(b.hold))
		if err != nil {
			return nil, fmt.Errorf("scheduling: Slot/%s: %w", id, err)
		}
		entries = append(entries, put("Slot", id, nb, v))
	}
	status, pstatus := "booked", "accepted"
	if hold {
		status, pstatus = "pending", "tentative"
	}
	links := linkSet{basedOn: req.BasedOn, carePlans: req.CarePlan}
	var task *storage.Version
	if req.Task != "" && !hold {
		id := localID(req.Task, "Task", base)
		if id == "" {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "task", "%q is not a Task of this server", req.Task)
		}
		if task, err = b.read(ctx, "Task", id); err != nil {
			return nil, err
		}
		if task == nil {
			return nil, outcome.At(http.StatusNotFound, outcome.CodeNotFound, "task", "Task/%s is not stored: PUT the worklist item first", id)
		}
		if err := links.addTaskFocus(task.Body); err != nil {
			return nil, err
		}
	}
	ab, err := appointmentWith(body, a, status, pstatus, req.Patient, links)
	if err != nil {
		return nil, err
	}
	entries = append(entries, put("Appointment", a.ID, ab, stored))
	if task != nil {
		tb, err := taskDone(task.Body, "Appointment/"+a.ID)
		if err != nil {
			return nil, fmt.Errorf("scheduling: Task/%s: %w", task.ID, err)
		}
		entries = append(entries, put("Task", task.ID, tb, task))
	}
	return b.run(ctx, tx, entries, len(slotIDs))
}

// proposal returns the appointment a request names: the posted resource, or the stored one it references
// (with its version).
func (b *Booker) proposal(ctx context.Context, req BookRequest, base string) ([]byte, *storage.Version, error) {
	switch {
	case req.Resource != nil && req.Reference != "":
		return nil, nil, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "give appointment-reference or appointment-resource, not both")
	case req.Resource != nil:
		return req.Resource, nil, nil
	case req.Reference == "":
		return nil, nil, outcome.New(http.StatusBadRequest, outcome.CodeRequired, "appointment-reference or appointment-resource is required")
	}
	id := localID(req.Reference, "Appointment", base)
	if id == "" {
		return nil, nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "appointment-reference", "%q is not an Appointment of this server", req.Reference)
	}
	v, err := b.read(ctx, "Appointment", id)
	if err != nil {
		return nil, nil, err
	}
	if v == nil {
		return nil, nil, outcome.At(http.StatusNotFound, outcome.CodeNotFound, "appointment-reference",
			"Appointment/%s is not stored: a proposal of $find is booked with appointment-resource (the proposed Appointment), or held first with $hold", id)
	}
	return v.Body, v, nil
}

// Cancel cancels the stored Appointment ref and frees its slots that are busy or held, in one
// transaction (ifMatch on every version read). update, when not nil, is the client's cancelled
// Appointment: its cancelationReason is kept.
func (b *Booker) Cancel(ctx context.Context, tx Transactor, ref string, update []byte, base string) ([]byte, error) {
	return retryAborted(func() ([]byte, error) { return b.cancelOnce(ctx, tx, ref, update, base) })
}

func (b *Booker) cancelOnce(ctx context.Context, tx Transactor, ref string, update []byte, base string) ([]byte, error) {
	id := localID(ref, "Appointment", base)
	if id == "" {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "appointment-reference", "%q is not an Appointment of this server", ref)
	}
	v, err := b.read(ctx, "Appointment", id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, outcome.At(http.StatusNotFound, outcome.CodeNotFound, "appointment-resource", "Appointment/%s is not stored", id)
	}
	var a appointmentBody
	if err := fhirread.Decode(v.Body, "Appointment", &a); err != nil {
		return nil, fmt.Errorf("scheduling: Appointment/%s: %w", id, err)
	}
	if a.Status == "cancelled" {
		return nil, conflict("Appointment/%s is already cancelled", id)
	}
	if slices.Contains([]string{"fulfilled", "noshow", "entered-in-error", "arrived", "checked-in"}, a.Status) {
		return nil, conflict("Appointment/%s is %s: it cannot be cancelled", id, a.Status)
	}
	var entries []txEntry
	for _, r := range a.Slot {
		sid := localID(r.Reference, "Slot", base)
		if sid == "" {
			continue
		}
		sv, err := b.read(ctx, "Slot", sid)
		if err != nil {
			return nil, err
		}
		if sv == nil {
			continue
		}
		sl, _, err := decodeSlot(sv)
		if err != nil {
			return nil, err
		}
		if sl.Status != "busy" && sl.Status != "busy-tentative" {
			continue
		}
		if h, _, held := sl.hold(); sl.Status == "busy-tentative" && (!held || h != "Appointment/"+id) {
			continue // held for another appointment
		}
		nb, err := freeSlot(sv.Body)
		if err != nil {
			return nil, fmt.Errorf("scheduling: Slot/%s: %w", sid, err)
		}
		entries = append(entries, put("Slot", sid, nb, sv))
	}
	ab, err := resource.Set(v.Body, "status", json.RawMessage(`"cancelled"`))
	if err != nil {
		return nil, fmt.Errorf("scheduling: Appointment/%s: %w", id, err)
	}
	if update != nil {
		if reason, ok, _ := resource.Get(update, "cancelationReason"); ok {
			if ab, err = resource.Set(ab, "cancelationReason", reason, "status"); err != nil {
				return nil, fmt.Errorf("scheduling: Appointment/%s: %w", id, err)
			}
		}
	}
	entries = append(entries, put("Appointment", id, ab, v))
	return b.run(ctx, tx, entries, len(entries)-1)
}

// run sends the transaction; the Appointment's entry is at index at. A failed ifMatch (a concurrent
// booking took a slot first) is a 409 conflict. It returns the stored Appointment.
func (b *Booker) run(ctx context.Context, tx Transactor, entries []txEntry, at int) ([]byte, error) {
	bundle, err := json.Marshal(struct {
		ResourceType string    `json:"resourceType"`
		Type         string    `json:"type"`
		Entry        []txEntry `json:"entry"`
	}{"Bundle", "transaction", entries})
	if err != nil {
		return nil, fmt.Errorf("scheduling: transaction: %w", err)
	}
	out, err := tx(ctx, bundle)
	var oe *outcome.Error
	if errors.As(err, &oe) && oe.Status == http.StatusPreconditionFailed {
		return nil, conflict("another booking took a slot of this appointment first; run $find again (%s)", oe.Error())
	}
	if err != nil {
		return nil, err
	}
	var resp struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Entry) != len(entries) {
		return nil, fmt.Errorf("scheduling: unexpected transaction response (%d entries for %d): %v", len(resp.Entry), len(entries), err)
	}
	return resp.Entry[at].Resource, nil
}

// slotWith returns a slot's body taken by appointment: busy, or busy-tentative with a hold until expires.
func slotWith(body []byte, hold bool, appointment string, expires time.Time) ([]byte, error) {
	if !hold {
		body, err := resource.Set(body, "status", json.RawMessage(`"busy"`))
		if err != nil {
			return nil, err
		}
		return withoutHold(body)
	}
	body, err := withoutHold(body)
	if err != nil {
		return nil, err
	}
	body, err = resource.Set(body, "status", json.RawMessage(`"busy-tentative"`))
	if err != nil {
		return nil, err
	}
	ext, _ := json.Marshal(slotExtension{URL: HoldExtensionURL, Extension: []slotExtension{
		{URL: "appointment", ValueReference: &fhirread.Reference{Reference: appointment}},
		{URL: "expires", ValueInstant: resource.FormatInstant(expires)},
	}})
	var exts []json.RawMessage
	if raw, ok, _ := resource.Get(body, "extension"); ok {
		if err := json.Unmarshal(raw, &exts); err != nil {
			return nil, err
		}
	}
	exts = append(exts, ext)
	all, _ := json.Marshal(exts)
	return resource.Set(body, "extension", all, "text", "contained", "meta", "id")
}

// freeSlot returns a slot's body freed: status free, no hold.
func freeSlot(body []byte) ([]byte, error) {
	body, err := resource.Set(body, "status", json.RawMessage(`"free"`))
	if err != nil {
		return nil, err
	}
	return withoutHold(body)
}

// withoutHold drops the hold extension (and an extension array it leaves empty).
func withoutHold(body []byte) ([]byte, error) {
	raw, ok, err := resource.Get(body, "extension")
	if err != nil || !ok {
		return body, err
	}
	var exts []json.RawMessage
	if err := json.Unmarshal(raw, &exts); err != nil {
		return nil, err
	}
	kept := exts[:0]
	for _, e := range exts {
		var head struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(e, &head) == nil && head.URL == HoldExtensionURL {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == len(exts) {
		return body, nil
	}
	if len(kept) == 0 {
		return resource.Without(body, "extension")
	}
	all, _ := json.Marshal(kept)
	return resource.Set(body, "extension", all)
}

// linkSet is what a booked Appointment links to.
type linkSet struct{ basedOn, carePlans []string }

// addTaskFocus adds the Task's focus and basedOn: a ServiceRequest as basedOn, a CarePlan as care plan.
func (l *linkSet) addTaskFocus(task []byte) error {
	var t struct {
		fhirread.Head
		Focus   *fhirread.Reference  `json:"focus"`
		BasedOn []fhirread.Reference `json:"basedOn"`
	}
	if err := fhirread.Decode(task, "Task", &t); err != nil {
		return fmt.Errorf("scheduling: %w", err)
	}
	refs := t.BasedOn
	if t.Focus != nil {
		refs = append([]fhirread.Reference{*t.Focus}, refs...)
	}
	for _, r := range refs {
		switch key := r.Key(); fhirread.RefType(key) {
		case "ServiceRequest":
			l.basedOn = append(l.basedOn, key)
		case "CarePlan":
			l.carePlans = append(l.carePlans, key)
		}
	}
	return nil
}

// appointmentWith returns the appointment's body with status, participant status, the patient added when
// it has none, and the links (basedOn, supportingInformation) added when missing.
func appointmentWith(body []byte, a appointmentBody, status, pstatus, patient string, links linkSet) ([]byte, error) {
	body, err := resource.Set(body, "id", json.RawMessage(strconv.Quote(a.ID)), "resourceType")
	if err != nil {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "appointment-resource", "%v", err)
	}
	if body, err = resource.Set(body, "status", json.RawMessage(strconv.Quote(status)), "id"); err != nil {
		return nil, err
	}
	var parts []map[string]json.RawMessage
	if raw, ok, _ := resource.Get(body, "participant"); ok {
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "Appointment.participant", "%v", err)
		}
	}
	hasPatient := false
	for _, p := range a.Participant {
		if fhirread.RefType(p.Actor.Key()) == "Patient" {
			hasPatient = true
		}
	}
	if !hasPatient {
		if patient == "" {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "patient-reference", "the appointment has no Patient participant: give patient-reference")
		}
		ref, _ := json.Marshal(fhirread.Reference{Reference: patient})
		parts = append([]map[string]json.RawMessage{{"actor": ref, "required": json.RawMessage(`"required"`)}}, parts...)
	}
	for _, p := range parts {
		p["status"] = json.RawMessage(strconv.Quote(pstatus))
	}
	pj, _ := json.Marshal(parts)
	if body, err = resource.Set(body, "participant", pj); err != nil {
		return nil, err
	}
	add := func(key string, have []fhirread.Reference, want []string, after ...string) error {
		refs := have
		seen := map[string]bool{}
		for _, r := range have {
			seen[r.Key()] = true
		}
		changed := false
		for _, w := range want {
			if k := fhirread.RefKey(w); !seen[k] {
				seen[k], changed = true, true
				refs = append(refs, fhirread.Reference{Reference: k})
			}
		}
		if !changed {
			return nil
		}
		raw, _ := json.Marshal(refs)
		body, err = resource.Set(body, key, raw, after...)
		return err
	}
	// After the elements R4 orders before them (appointment.html).
	if err := add("supportingInformation", a.SupportingInformation, links.carePlans, "status", "cancelationReason", "serviceCategory",
		"serviceType", "specialty", "appointmentType", "reasonCode", "reasonReference", "priority", "description"); err != nil {
		return nil, err
	}
	if err := add("basedOn", a.BasedOn, links.basedOn, "status", "supportingInformation", "start", "end", "minutesDuration", "slot",
		"created", "comment", "patientInstruction"); err != nil {
		return nil, err
	}
	return body, nil
}

// taskDone returns the Task completed, with an output referencing the booked appointment.
func taskDone(body []byte, appointment string) ([]byte, error) {
	body, err := resource.Set(body, "status", json.RawMessage(`"completed"`))
	if err != nil {
		return nil, err
	}
	var outs []json.RawMessage
	if raw, ok, _ := resource.Get(body, "output"); ok {
		if err := json.Unmarshal(raw, &outs); err != nil {
			return nil, err
		}
	}
	o, _ := json.Marshal(map[string]any{
		"type":           map[string]any{"coding": []map[string]string{{"system": "http://careflow.example/fhir/CodeSystem/task-output", "code": "booked-appointment", "display": "Booked appointment"}}},
		"valueReference": fhirread.Reference{Reference: appointment},
	})
	outs = append(outs, o)
	all, _ := json.Marshal(outs)
	return resource.Set(body, "output", all)
}
