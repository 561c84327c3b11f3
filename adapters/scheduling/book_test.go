package scheduling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/rules"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

const bookBase = "http://test/fhir"

// bookEnv is a service with the booking operations over one store, with a clock the test sets.
type bookEnv struct {
	t                *testing.T
	svc              *interaction.Service
	booker           *scheduling.Booker
	find, hold, book interaction.Operation
	mu               sync.Mutex
	now              time.Time
}

// onBothStores runs f on a fresh embedded store and on a fresh MongoDB database (skipped without one).
func onBothStores(t *testing.T, f func(t *testing.T, e *bookEnv)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newBookEnv(t, sqlitetest.Open(t))) })
	t.Run("mongo", func(t *testing.T) {
		mongotest.Require(t)
		f(t, newBookEnv(t, mongotest.Open(t, definitions.ResourceTypes, r4test.Load(t).Registry)))
	})
}

func newBookEnv(t *testing.T, store storage.Store) *bookEnv {
	e := newBookService(t, store)
	e.fixtures()
	return e
}

// newBookService is newBookEnv without the fixtures (a second instance on the same database).
func newBookService(t *testing.T, store storage.Store) *bookEnv {
	reg := r4test.Load(t).Registry
	e := &bookEnv{t: t, now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s := scheduling.New(store, reg)
	e.booker = scheduling.NewBooker(s, 10*time.Minute)
	e.find, e.hold, e.book = scheduling.FindOperation(s), scheduling.HoldOperation(e.booker), scheduling.BookOperation(e.booker)
	// As cmd/careflow decorates the store: an Appointment cancelled frees its slots.
	v := r4test.Validator(t)
	prepare := func(typ string, body []byte) (storage.Write, error) {
		w, _, err := interaction.Pipeline{Validator: v, Registry: reg}.Prepare(typ, body)
		return w, err
	}
	decorated := rules.New(store, nil).WithEffects(map[string][]rules.Effect{"Appointment": {scheduling.FreeSlotsEffect(prepare)}})
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Operations: []interaction.Operation{e.find, e.hold, e.book},
		Now: e.clock}, decorated, v, reg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *bookEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *bookEnv) setClock(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = t
}

func (e *bookEnv) put(typ, id, body string) {
	e.t.Helper()
	body = `{"resourceType":"` + typ + `","id":"` + id + `",` + body[1:]
	if _, err := e.svc.Update(context.Background(), interaction.Call{Base: bookBase}, typ, id, []byte(body), interaction.WriteCondition{}); err != nil {
		e.t.Fatalf("put %s/%s: %v", typ, id, err)
	}
}

func (e *bookEnv) read(typ, id string) map[string]any {
	e.t.Helper()
	res, err := e.svc.Read(context.Background(), interaction.Call{Base: bookBase}, typ, id, interaction.ReadCondition{})
	if err != nil {
		e.t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(res.Version.Body, &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func slotBody(schedule, start, end, status, extra string) string {
	return `{"schedule":{"reference":"Schedule/` + schedule + `"},"status":"` + status + `","start":"` + start + `","end":"` + end + `"` + extra + `}`
}

func holdExt(appointment, expires string) string {
	return `,"extension":[{"url":"` + scheduling.HoldExtensionURL + `","extension":[{"url":"appointment","valueReference":{"reference":"Appointment/` +
		appointment + `"}},{"url":"expires","valueInstant":"` + expires + `"}]}]`
}

// fixtures: now is 2026-12-01T10:00Z.
//   - s1 (dr-a at loc1, specialty cardio, horizon December 2026): a0 past; a1, a2 free back to back; a3 busy;
//     a4 (its own specialty derm), a5 free back to back; a6 held, hold expired; a7 held until 10:30;
//     a8 entered-in-error; a9 in January (beyond the horizon).
//   - s2 (dr-b, inactive): b1 free.
//   - s3 (dr-a, horizon ends 2026-12-05): c1 inside, c2 outside.
func (e *bookEnv) fixtures() {
	e.put("Schedule", "s1", `{"actor":[{"reference":"Practitioner/dr-a"},{"reference":"Location/loc1"}],"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394579002"}]}],"planningHorizon":{"start":"2026-12-01","end":"2026-12-31"}}`)
	e.put("Schedule", "s2", `{"active":false,"actor":[{"reference":"Practitioner/dr-b"}]}`)
	e.put("Schedule", "s3", `{"actor":[{"reference":"Practitioner/dr-a"}],"planningHorizon":{"end":"2026-12-05"}}`)
	e.put("Slot", "a0", slotBody("s1", "2026-12-01T08:00:00Z", "2026-12-01T08:15:00Z", "free", ""))
	e.put("Slot", "a1", slotBody("s1", "2026-12-02T09:00:00Z", "2026-12-02T09:15:00Z", "free", ""))
	e.put("Slot", "a2", slotBody("s1", "2026-12-02T09:15:00Z", "2026-12-02T09:30:00Z", "free", ""))
	e.put("Slot", "a3", slotBody("s1", "2026-12-02T09:30:00Z", "2026-12-02T09:45:00Z", "busy", ""))
	e.put("Slot", "a4", slotBody("s1", "2026-12-02T09:45:00Z", "2026-12-02T10:00:00Z", "free", `,"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394582007"}]}]`))
	e.put("Slot", "a5", slotBody("s1", "2026-12-02T10:00:00Z", "2026-12-02T10:15:00Z", "free", ""))
	e.put("Slot", "a6", slotBody("s1", "2026-12-03T09:00:00Z", "2026-12-03T09:15:00Z", "busy-tentative", holdExt("old", "2026-12-01T09:00:00Z")))
	e.put("Slot", "a7", slotBody("s1", "2026-12-03T09:15:00Z", "2026-12-03T09:30:00Z", "busy-tentative", holdExt("other", "2026-12-01T10:30:00Z")))
	e.put("Slot", "a8", slotBody("s1", "2026-12-03T09:30:00Z", "2026-12-03T09:45:00Z", "entered-in-error", ""))
	e.put("Slot", "a9", slotBody("s1", "2027-01-05T09:00:00Z", "2027-01-05T09:15:00Z", "free", ""))
	e.put("Slot", "b1", slotBody("s2", "2026-12-02T09:00:00Z", "2026-12-02T09:15:00Z", "free", ""))
	e.put("Slot", "c1", slotBody("s3", "2026-12-04T09:00:00Z", "2026-12-04T09:15:00Z", "free", ""))
	e.put("Slot", "c2", slotBody("s3", "2026-12-06T09:00:00Z", "2026-12-06T09:15:00Z", "free", ""))
}

type foundAppointment struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Start  string `json:"start"`
	Slot   []struct {
		Reference string `json:"reference"`
	} `json:"slot"`
	Participant []struct {
		Actor struct {
			Reference string `json:"reference"`
		} `json:"actor"`
		Status string `json:"status"`
	} `json:"participant"`
	BasedOn []struct {
		Reference string `json:"reference"`
	} `json:"basedOn"`
	raw json.RawMessage
}

// slots returns the slot ids of each appointment, "+"-joined.
func slotsOf(as []foundAppointment) []string {
	var out []string
	for _, a := range as {
		var ids []string
		for _, s := range a.Slot {
			ids = append(ids, strings.TrimPrefix(s.Reference, "Slot/"))
		}
		out = append(out, strings.Join(ids, "+"))
	}
	return out
}

func (e *bookEnv) findQ(q string) ([]foundAppointment, error) {
	params, err := url.ParseQuery(q)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.svc.InvokeOperation(context.Background(), interaction.Call{Base: bookBase}, e.find, "Appointment", "", params, nil)
	if err != nil {
		return nil, err
	}
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil || b.Type != "searchset" {
		e.t.Fatalf("$find answer: %v %s", err, res.Body)
	}
	var out []foundAppointment
	for _, en := range b.Entry {
		var a foundAppointment
		if err := json.Unmarshal(en.Resource, &a); err != nil {
			e.t.Fatal(err)
		}
		if en.FullURL != bookBase+"/Appointment/"+a.ID {
			e.t.Errorf("fullUrl %s for %s", en.FullURL, a.ID)
		}
		if _, verr := r4test.Validator(e.t).Validate("Appointment", en.Resource); verr != nil {
			e.t.Errorf("proposed Appointment does not validate: %v\n%s", verr, en.Resource)
		}
		a.raw = en.Resource
		out = append(out, a)
	}
	return out, nil
}

func (e *bookEnv) findSlots(q string) []string {
	e.t.Helper()
	as, err := e.findQ(q)
	if err != nil {
		e.t.Fatalf("$find?%s: %v", q, err)
	}
	return slotsOf(as)
}

// invoke POSTs a Parameters resource to a booking operation.
func (e *bookEnv) invoke(op interaction.Operation, params string) (foundAppointment, error) {
	body := `{"resourceType":"Parameters","parameter":[` + params + `]}`
	res, err := e.svc.InvokeOperation(context.Background(), interaction.Call{Base: bookBase}, op, "Appointment", "", nil, []byte(body))
	if err != nil {
		return foundAppointment{}, err
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil || len(b.Entry) != 1 {
		e.t.Fatalf("answer: %v %s", err, res.Body)
	}
	var a foundAppointment
	if err := json.Unmarshal(b.Entry[0].Resource, &a); err != nil {
		e.t.Fatal(err)
	}
	a.raw = b.Entry[0].Resource
	return a, nil
}

func resourceParam(raw json.RawMessage) string {
	return `{"name":"appointment-resource","resource":` + string(raw) + `}`
}

func status(err error) int {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe.Status
	}
	return 0
}

const window = "start=2026-12-01&end=2027-02-01"

// TestFind: free slots of active schedules, inside the planning horizon, not in the past, in start order;
// filters by actor groups and specialty; consecutive slots combined for a duration.
func TestFind(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		for _, c := range []struct {
			q    string
			want []string
		}{
			{"practitioner=Practitioner/dr-a&" + window, []string{"a1", "a2", "a4", "a5", "a6", "c1"}},
			{"practitioner=Practitioner/dr-a,Practitioner/dr-b&" + window, []string{"a1", "a2", "a4", "a5", "a6", "c1"}},
			{"practitioner=Practitioner/dr-a&location-reference=Location/loc1&" + window, []string{"a1", "a2", "a4", "a5", "a6"}},
			{"practitioner=Practitioner/dr-b&" + window, nil},
			{"practitioner=Practitioner/dr-a&specialty=http://snomed.info/sct|394579002&" + window, []string{"a1", "a2", "a5", "a6"}},
			{"practitioner=Practitioner/dr-a&specialty=http://snomed.info/sct|394582007&" + window, []string{"a4"}},
			{"practitioner=Practitioner/dr-a&duration=30&" + window, []string{"a1+a2", "a4+a5"}},
			{"practitioner=Practitioner/dr-a&duration=30&_count=1&" + window, []string{"a1+a2"}},
			{"practitioner=Practitioner/dr-a&start=2026-12-02T09:10:00Z&end=2026-12-02", []string{"a2", "a4", "a5"}},
			{"location-reference=" + bookBase + "/Location/loc1&start=2026-12-03&end=2026-12-03", []string{"a6"}},
		} {
			if got := e.findSlots(c.q); !slices.Equal(got, c.want) {
				t.Errorf("$find?%s = %v, want %v", c.q, got, c.want)
			}
		}
		// The proposal: proposed, the patient and the schedule's actors as participants, a deterministic id.
		as, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&_count=1&" + window)
		if err != nil || len(as) != 1 {
			t.Fatalf("%v %v", as, err)
		}
		a := as[0]
		if a.Status != "proposed" || a.ID != scheduling.ProposalID([]string{"a1"}) || a.Start != "2026-12-02T09:00:00Z" ||
			len(a.Participant) != 3 || a.Participant[0].Actor.Reference != "Patient/p1" || a.Participant[1].Actor.Reference != "Practitioner/dr-a" {
			t.Errorf("proposal: %s", a.raw)
		}
		for _, q := range []string{"practitioner=Practitioner/dr-a", "start=2026-12-02&end=2026-12-01", "start=x&end=2026-12-01",
			"practitioner=Patient/p1&" + window, "timing=x&" + window, "duration=0&" + window} {
			if _, err := e.findQ(q); status(err) != http.StatusBadRequest {
				t.Errorf("$find?%s: %v, want a 400", q, err)
			}
		}
	})
}

// TestBookAndCancel: booking marks the slot busy and stores the booked Appointment; the slot leaves $find;
// booking it again is a 409; cancelling (a $book with status cancelled) frees it.
func TestBookAndCancel(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		q := "practitioner=Practitioner/dr-a&start=2026-12-02&end=2026-12-02&_count=1"
		as, err := e.findQ(q)
		if err != nil || len(as) != 1 {
			t.Fatal(as, err)
		}
		booked, err := e.invoke(e.book, resourceParam(as[0].raw)+`,{"name":"patient-reference","valueReference":{"reference":"Patient/p1"}}`)
		if err != nil {
			t.Fatal(err)
		}
		if booked.Status != "booked" || booked.ID != as[0].ID || booked.Participant[0].Actor.Reference != "Patient/p1" || booked.Participant[0].Status != "accepted" {
			t.Errorf("booked: %s", booked.raw)
		}
		if s := e.read("Slot", "a1")["status"]; s != "busy" {
			t.Errorf("slot a1 is %v after booking", s)
		}
		if st := e.read("Appointment", as[0].ID)["status"]; st != "booked" {
			t.Errorf("stored appointment is %v", st)
		}
		if got := e.findSlots(q); !slices.Equal(got, []string{"a2"}) {
			t.Errorf("after booking: %v", got)
		}
		if _, err := e.invoke(e.book, resourceParam(as[0].raw)+`,{"name":"patient-reference","valueString":"Patient/p2"}`); status(err) != http.StatusConflict {
			t.Errorf("second booking of a1: %v, want a 409", err)
		}
		cancel := strings.Replace(string(booked.raw), `"status":"booked"`, `"status":"cancelled","cancelationReason":{"text":"patient request"}`, 1)
		cancelled, err := e.invoke(e.book, resourceParam(json.RawMessage(cancel)))
		if err != nil {
			t.Fatal(err)
		}
		stored := e.read("Appointment", as[0].ID)
		if cancelled.Status != "cancelled" || stored["status"] != "cancelled" || stored["cancelationReason"] == nil {
			t.Errorf("cancelled: %s / %v", cancelled.raw, stored)
		}
		if s := e.read("Slot", "a1")["status"]; s != "free" {
			t.Errorf("slot a1 is %v after cancelling", s)
		}
		if got := e.findSlots(q); !slices.Equal(got, []string{"a1"}) {
			t.Errorf("after cancelling: %v", got)
		}
		if _, err := e.invoke(e.book, resourceParam(json.RawMessage(cancel))); status(err) != http.StatusConflict {
			t.Errorf("cancelling twice: %v, want a 409", err)
		}
		// A slot that has started can no longer be booked.
		e.setClock(time.Date(2026, 12, 2, 9, 16, 0, 0, time.UTC))
		if _, err := e.invoke(e.book, resourceParam(as[0].raw)); status(err) != http.StatusConflict || !strings.Contains(err.Error(), "started") {
			t.Errorf("booking a slot that has started: %v, want a 409", err)
		}
		// Booking is POST only.
		if _, err := e.svc.InvokeOperation(context.Background(), interaction.Call{Base: bookBase}, e.book, "Appointment", "", url.Values{}, nil); status(err) != http.StatusMethodNotAllowed {
			t.Errorf("GET $book: %v, want a 405", err)
		}
	})
}

// TestConcurrentBookings: many concurrent bookings needing one slot (the same proposal, and a longer one
// overlapping it) — exactly one succeeds, every other gets a 409, and the slots end as that one booked
// them.
func TestConcurrentBookings(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		single, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02T10:00:00Z&end=2026-12-02T10:01:00Z")
		if err != nil || len(single) != 1 {
			t.Fatal(single, err)
		}
		double, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p2&duration=30&start=2026-12-02T09:45:00Z&end=2026-12-02T09:46:00Z")
		if err != nil || len(double) != 1 || slotsOf(double)[0] != "a4+a5" {
			t.Fatal(double, err)
		}
		const n = 12
		var wg sync.WaitGroup
		wins := make(chan string, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := single[0]
				if i%2 == 1 {
					p = double[0]
				}
				a, err := e.invoke(e.book, resourceParam(p.raw))
				if err != nil {
					errs <- err
					return
				}
				wins <- strings.Join(slotsOf([]foundAppointment{a}), "")
			}()
		}
		wg.Wait()
		close(wins)
		close(errs)
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("%d bookings succeeded (%v), want exactly 1", len(won), won)
		}
		for err := range errs {
			if status(err) != http.StatusConflict || !errors.Is(err, scheduling.ErrSlotTaken) {
				t.Errorf("losing booking: %v, want a 409 slot conflict", err)
			}
		}
		want := map[string]string{"a4": "free", "a5": "busy"}
		if won[0] == "a4+a5" {
			want["a4"] = "busy"
		}
		for id, st := range want {
			if got := e.read("Slot", id)["status"]; got != st {
				t.Errorf("slot %s is %v, want %s (winner %s)", id, got, st, won[0])
			}
		}
	})
}

// TestConcurrentBookingsTwoInstances: two careflow instances on one MongoDB database, each booking the
// same slot from several goroutines: exactly one booking succeeds in all.
func TestConcurrentBookingsTwoInstances(t *testing.T) {
	mongotest.Require(t)
	reg := r4test.Load(t).Registry
	first := mongotest.Open(t, definitions.ResourceTypes, reg)
	a := newBookEnv(t, first)
	b := newBookService(t, mongotest.Reopen(t, first.Database().Name(), mongo.Options{Types: definitions.ResourceTypes, Registry: reg}))
	ps, err := a.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02T09:00:00Z&end=2026-12-02T09:01:00Z")
	if err != nil || len(ps) != 1 {
		t.Fatal(ps, err)
	}
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := a
			if i%2 == 1 {
				e = b
			}
			_, err := e.invoke(e.book, resourceParam(ps[0].raw))
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case status(err) != http.StatusConflict:
			t.Errorf("losing booking: %v, want a 409", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d bookings succeeded across two instances, want exactly 1", wins)
	}
	if b.read("Slot", "a1")["status"] != "busy" {
		t.Error("slot a1 is not busy")
	}
}

// TestHold: a hold takes the slot for the hold time (busy-tentative, pending Appointment); others cannot
// book it, the holder books it by reference; an expired hold frees the slot for $find and other bookings.
func TestHold(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		q := "practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02T09:00:00Z&end=2026-12-02T09:20:00Z"
		as, err := e.findQ(q)
		if err != nil || len(as) != 2 {
			t.Fatal(as, err)
		}
		held, err := e.invoke(e.hold, resourceParam(as[0].raw))
		if err != nil {
			t.Fatal(err)
		}
		if held.Status != "pending" || e.read("Slot", "a1")["status"] != "busy-tentative" {
			t.Fatalf("held: %s, slot %v", held.raw, e.read("Slot", "a1"))
		}
		if got := e.findSlots(q); !slices.Equal(got, []string{"a2"}) {
			t.Errorf("while held: %v", got)
		}
		if _, err := e.invoke(e.book, resourceParam(as[0].raw)); status(err) != http.StatusConflict {
			t.Errorf("booking a held slot: %v, want a 409", err)
		}
		// a2: held, then the hold expires: free for $find and for another booking.
		if _, err := e.invoke(e.hold, resourceParam(as[1].raw)); err != nil {
			t.Fatal(err)
		}
		e.setClock(time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC))
		booked, err := e.invoke(e.book, `{"name":"appointment-reference","valueReference":{"reference":"Appointment/`+held.ID+`"}}`)
		if err != nil {
			t.Fatal(err)
		}
		slot := e.read("Slot", "a1")
		if booked.Status != "booked" || slot["status"] != "busy" || slot["extension"] != nil {
			t.Errorf("booked from the hold: %s, slot %v", booked.raw, slot)
		}
		if got := e.findSlots(q); len(got) != 0 {
			t.Errorf("a2 held at 10:05: %v", got)
		}
		e.setClock(time.Date(2026, 12, 1, 10, 10, 0, 0, time.UTC)) // the hold of a2 ends at 10:10
		if got := e.findSlots(q); !slices.Equal(got, []string{"a2"}) {
			t.Errorf("after the hold expired: %v", got)
		}
		if _, err := e.invoke(e.book, resourceParam(as[1].raw)); err != nil {
			t.Errorf("booking a slot whose hold expired: %v", err)
		}
	})
}

// TestBookClosesTask: $book with a Task completes it with the Appointment as output and links the Task's
// focus (a referral ServiceRequest) as basedOn — in the same transaction: when the Task changes between
// the check and the write, nothing is stored.
func TestBookClosesTask(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		task := `{"status":"requested","intent":"order","focus":{"reference":"ServiceRequest/sr1"},"for":{"reference":"Patient/p1"}}`
		e.put("Task", "t1", task)
		as, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02&end=2026-12-02&_count=2")
		if err != nil || len(as) != 2 {
			t.Fatal(as, err)
		}
		// A Task changed by someone else between the booking's read and its transaction: nothing is stored.
		ctx := context.Background()
		interfering := func(ctx context.Context, bundle []byte) ([]byte, error) {
			e.put("Task", "t1", task)
			res, err := e.svc.Bundle(ctx, interaction.Call{Base: bookBase}, bundle)
			if err != nil {
				return nil, err
			}
			return res.Body, nil
		}
		_, err = e.booker.Book(ctx, interfering, scheduling.BookRequest{Resource: as[1].raw, Task: "Task/t1"}, bookBase, e.clock())
		if status(err) != http.StatusConflict {
			t.Errorf("booking with a Task changed meanwhile: %v, want a 409", err)
		}
		if e.read("Slot", "a2")["status"] != "free" || e.read("Task", "t1")["status"] != "requested" {
			t.Errorf("a failed booking left something behind: slot %v, task %v", e.read("Slot", "a2"), e.read("Task", "t1"))
		}
		if _, err := e.svc.Read(ctx, interaction.Call{Base: bookBase}, "Appointment", as[1].ID, interaction.ReadCondition{}); status(err) != http.StatusNotFound {
			t.Errorf("the failed booking's Appointment: %v, want a 404", err)
		}

		booked, err := e.invoke(e.book, resourceParam(as[0].raw)+`,{"name":"task","valueReference":{"reference":"Task/t1"}}`)
		if err != nil {
			t.Fatal(err)
		}
		if len(booked.BasedOn) != 1 || booked.BasedOn[0].Reference != "ServiceRequest/sr1" {
			t.Errorf("booked appointment's basedOn: %s", booked.raw)
		}
		stored := e.read("Task", "t1")
		out, _ := json.Marshal(stored["output"])
		if stored["status"] != "completed" || !strings.Contains(string(out), `"valueReference":{"reference":"Appointment/`+booked.ID+`"}`) {
			t.Errorf("task after booking: %v", stored)
		}
	})
}

// TestCancelFreesSlots: an Appointment updated to cancelled by any write — PUT, PATCH, a transaction
// entry — frees the slots it booked or held in the same transaction; other updates, overbooked slots
// and slots held for another appointment are left alone.
func TestCancelFreesSlots(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *bookEnv) {
		ctx := context.Background()
		call := interaction.Call{Base: bookBase}
		as, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&duration=30&start=2026-12-02&end=2026-12-02")
		if err != nil || len(as) != 2 || slotsOf(as)[0] != "a1+a2" {
			t.Fatal(slotsOf(as), err)
		}
		booked, err := e.invoke(e.book, resourceParam(as[0].raw))
		if err != nil {
			t.Fatal(err)
		}
		// a2 marked overbooked meanwhile: it stays busy.
		e.put("Slot", "a2", slotBody("s1", "2026-12-02T09:15:00Z", "2026-12-02T09:30:00Z", "busy", `,"overbooked":true`))
		// A change that does not cancel frees nothing.
		desc := strings.Replace(string(booked.raw), `"status":"booked"`, `"status":"booked","description":"Review"`, 1)
		if _, err := e.svc.Update(ctx, call, "Appointment", booked.ID, []byte(desc), interaction.WriteCondition{}); err != nil {
			t.Fatal(err)
		}
		if e.read("Slot", "a1")["status"] != "busy" {
			t.Fatal("an update that does not cancel freed a slot")
		}
		cancelled := strings.Replace(desc, `"status":"booked"`, `"status":"cancelled"`, 1)
		if _, err := e.svc.Update(ctx, call, "Appointment", booked.ID, []byte(cancelled), interaction.WriteCondition{}); err != nil {
			t.Fatal(err)
		}
		if a1, a2 := e.read("Slot", "a1")["status"], e.read("Slot", "a2")["status"]; a1 != "free" || a2 != "busy" {
			t.Errorf("after PUT cancelled: a1 %v (want free), a2 %v (overbooked: want busy)", a1, a2)
		}

		// PATCH, and a transaction entry, on held slots: a4+a5 held, the hold's Appointment cancelled.
		held, err := e.invoke(e.hold, resourceParam(as[1].raw))
		if err != nil {
			t.Fatal(err)
		}
		patch := `[{"op":"replace","path":"/status","value":"cancelled"}]`
		if _, err := e.svc.Patch(ctx, call, "Appointment", held.ID, "application/json-patch+json", []byte(patch), ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a4", "a5"} {
			if s := e.read("Slot", id); s["status"] != "free" || s["extension"] != nil {
				t.Errorf("after PATCH cancelled: %s is %v", id, s)
			}
		}
		again, err := e.invoke(e.book, resourceParam(as[1].raw))
		if err != nil {
			t.Fatal(err)
		}
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` +
			strings.Replace(string(again.raw), `"status":"booked"`, `"status":"entered-in-error"`, 1) +
			`,"request":{"method":"PUT","url":"Appointment/` + again.ID + `"}},{"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1"}}]}`
		if _, err := e.svc.Bundle(ctx, call, []byte(tx)); err != nil {
			t.Fatal(err)
		}
		if a4, a5 := e.read("Slot", "a4")["status"], e.read("Slot", "a5")["status"]; a4 != "free" || a5 != "free" {
			t.Errorf("after a transaction marking it entered-in-error: a4 %v, a5 %v", a4, a5)
		}
	})
}

// TestBookRetriesAbortedTransaction: a booking whose transaction the store aborted (503 transient: it
// waited too long for concurrent writers) is checked and sent again, and books the slot.
func TestBookRetriesAbortedTransaction(t *testing.T) {
	e := newBookEnv(t, sqlitetest.Open(t))
	as, err := e.findQ("practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02&end=2026-12-02&_count=1")
	if err != nil || len(as) != 1 {
		t.Fatal(as, err)
	}
	calls := 0
	aborting := func(ctx context.Context, bundle []byte) ([]byte, error) {
		calls++
		if calls == 1 {
			e := outcome.New(http.StatusServiceUnavailable, outcome.CodeTransient, "aborted")
			e.Cause = storage.ErrTxAborted
			return nil, e
		}
		res, err := e.svc.Bundle(ctx, interaction.Call{Base: bookBase}, bundle)
		if err != nil {
			return nil, err
		}
		return res.Body, nil
	}
	out, err := e.booker.Book(context.Background(), aborting, scheduling.BookRequest{Resource: as[0].raw}, bookBase, e.clock())
	if err != nil || calls != 2 || !strings.Contains(string(out), `"status":"booked"`) {
		t.Fatalf("%d calls, %v %s", calls, err, out)
	}
	if e.read("Slot", "a1")["status"] != "busy" {
		t.Error("the retried booking did not take the slot")
	}
}
