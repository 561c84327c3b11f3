package message_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/message"
	"github.com/careflow/careflow/adapters/worklist"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type draft struct {
	ID        string
	Status    string
	Language  string
	BasedOn   []struct{ Reference string }
	About     []struct{ Reference string }
	Recipient []struct{ Reference, Display string }
	Medium    []struct{ Coding []struct{ Code string } }
	Payload   []struct{ ContentString string }
	Note      []struct{ Text string }
}

func fixture(t *testing.T) *adaptertest.Env {
	t.Helper()
	e := adaptertest.New(t)
	stay := func(id, patient string) {
		e.Put("Encounter", id, `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/`+patient+`"},"period":{"start":"2026-11-24T08:00:00Z","end":"2026-11-27T15:00:00Z"}}`)
	}
	// pm1 is reachable (email ranked first) and prefers Spanish.
	e.Put("Patient", "pm1", `{"name":[{"given":["Ana"],"family":"Silva"}],"telecom":[{"system":"phone","value":"555-0101","use":"mobile","rank":2},{"system":"email","value":"ana@example.org","rank":1},{"system":"phone","value":"555-0000","use":"old"}],
	  "communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es","display":"Spanish"}]},"preferred":true}]}`)
	stay("stay1", "pm1")
	// pm2 has no contact point; the son can be reached.
	e.Put("Patient", "pm2", `{"name":[{"given":["Bo"],"family":"Berg"}]}`)
	e.Put("RelatedPerson", "rp2", `{"patient":{"reference":"Patient/pm2"},"name":[{"given":["Carl"],"family":"Berg"}],"telecom":[{"system":"phone","value":"555-0202"}]}`)
	stay("stay2", "pm2")
	// pm3: a planned call to the daughter; a prior authorization (not for the patient).
	e.Put("Patient", "pm3", `{"name":[{"given":["Dee"],"family":"Cole"}],"telecom":[{"system":"phone","value":"555-0303"}]}`)
	e.Put("RelatedPerson", "rp3", `{"patient":{"reference":"Patient/pm3"},"name":[{"given":["Eva"],"family":"Cole"}],"telecom":[{"system":"sms","value":"555-0304"}]}`)
	e.Put("CommunicationRequest", "cr3", `{"status":"active","subject":{"reference":"Patient/pm3"},"recipient":[{"reference":"RelatedPerson/rp3"}],"payload":[{"contentString":"Check how the new walking frame is working."}],"occurrenceDateTime":"2026-11-28"}`)
	e.Put("Claim", "pa3", `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
	  "patient":{"reference":"Patient/pm3"},"created":"2026-11-20T10:00:00Z","provider":{"reference":"Organization/clinic"},"priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]},
	  "insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/c"}}]}`)
	return e
}

// item returns the id of the patient's worklist item with code (and detail in its description).
func item(t *testing.T, b *worklist.Builder, patient, code, contains string) string {
	t.Helper()
	tasks, err := b.Build(context.Background(), now, worklist.Options{Patient: patient, Codes: []string{code}})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if strings.Contains(task.Description, contains) {
			return task.ID
		}
	}
	t.Fatalf("no %s item of %s containing %q", code, patient, contains)
	return ""
}

func TestDraft(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry)
	d := message.New(b, e.Store, e.Registry)
	ctx := context.Background()
	get := func(patient, task, recipient string) draft {
		t.Helper()
		data, err := d.Draft(ctx, patient, task, now, recipient)
		if err != nil {
			t.Fatal(err)
		}
		e.Validate("Communication", data)
		var c draft
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// To the patient, in the second person, by her preferred contact point, with her language noted.
	contact1 := item(t, b, "pm1", worklist.PostDischargeFollowUp, "Contact the patient")
	c := get("pm1", contact1, "")
	if c.Status != "preparation" || c.Language != "en" || c.BasedOn[0].Reference != "Task/"+contact1 || c.About[0].Reference != "Encounter/stay1" ||
		c.Recipient[0].Reference != "Patient/pm1" || c.Medium[0].Coding[0].Code != "EMAILWRIT" || !strings.HasPrefix(c.ID, "msg-") {
		t.Errorf("draft to pm1: %+v", c)
	}
	if want := "Hello Ana, We hope you are recovering well after the hospital stay."; !strings.HasPrefix(c.Payload[0].ContentString, "Hello Ana, ") ||
		!strings.Contains(c.Payload[0].ContentString, "We hope you are recovering well after the hospital stay.") {
		t.Errorf("message: %q, want it to start like %q", c.Payload[0].ContentString, want)
	}
	if len(c.Note) != 2 || c.Note[0].Text != "Send by email to ana@example.org." || !strings.Contains(c.Note[1].Text, "Preferred language: Spanish (es)") {
		t.Errorf("notes: %+v", c.Note)
	}
	if again := get("pm1", contact1, ""); again.ID != c.ID {
		t.Error("drafting again gives another id")
	}
	// To the family, in the third person, when the patient cannot be reached.
	visit2 := item(t, b, "pm2", worklist.PostDischargeFollowUp, "Book a follow-up visit")
	c = get("pm2", visit2, "")
	if c.Recipient[0].Reference != "RelatedPerson/rp2" || c.Medium[0].Coding[0].Code != "PHONE" ||
		!strings.Contains(c.Payload[0].ContentString, "Hello Carl, we are contacting you as Bo’s family contact. After leaving hospital, Bo should see Bo’s doctor within 7 days") {
		t.Errorf("draft to the family of pm2: %+v", c)
	}
	// A planned outreach goes to its recipient unless another is asked for.
	out3 := item(t, b, "pm3", worklist.OutreachDue, "")
	c = get("pm3", out3, "")
	if c.Recipient[0].Reference != "RelatedPerson/rp3" || c.Medium[0].Coding[0].Code != "WRITTEN" ||
		!strings.Contains(c.Payload[0].ContentString, "about Dee’s care: check how the new walking frame is working. Please call us or reply.") {
		t.Errorf("outreach draft: %+v", c)
	}
	if c := get("pm3", out3, "Patient/pm3"); c.Recipient[0].Reference != "Patient/pm3" || !strings.Contains(c.Payload[0].ContentString, "about your care") {
		t.Errorf("outreach draft to the patient: %+v", c)
	}
	for name, tc := range map[string]struct {
		patient, task, recipient string
		want                     error
	}{
		"another patient's relative": {"pm3", out3, "RelatedPerson/rp2", message.ErrRecipient},
		"another patient":            {"pm3", out3, "Patient/pm1", message.ErrRecipient},
		"a practitioner":             {"pm3", out3, "Practitioner/x", message.ErrRecipient},
		"not for the patient":        {"pm3", item(t, b, "pm3", worklist.PriorAuthPending, ""), "", message.ErrNotForPatient},
		"not on the worklist":        {"pm3", "wl-nothing", "", message.ErrNoItem},
		"another patient's item":     {"pm1", out3, "", message.ErrNoItem},
	} {
		if _, err := d.Draft(ctx, tc.patient, tc.task, now, tc.recipient); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// TestSentMessageClosesItem: storing the draft as sent (status completed) completes the worklist item (and
// for the post-discharge contact, the message is the contact: the item is no longer raised at all).
func TestSentMessageClosesItem(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry)
	ctx := context.Background()
	contact2 := item(t, b, "pm2", worklist.PostDischargeFollowUp, "Contact the patient")
	visit2 := item(t, b, "pm2", worklist.PostDischargeFollowUp, "Book a follow-up visit")
	data, err := message.New(b, e.Store, e.Registry).Draft(ctx, "pm2", visit2, now, "")
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	e.Put("Communication", c["id"].(string), strings.Replace(string(data), `"status":"preparation"`, `"status":"in-progress"`, 1))
	if open := ids(t, b, "pm2", nil); !strings.Contains(open, visit2) {
		t.Fatalf("a message in progress closed the item: %s", open)
	}
	sent := strings.Replace(string(data), `"status":"preparation"`, `"status":"completed","sent":"2026-12-01T12:30:00Z"`, 1)
	e.Put("Communication", c["id"].(string), sent)
	if open := ids(t, b, "pm2", nil); strings.Contains(open, visit2) {
		t.Errorf("the item is still open after the message was sent: %s", open)
	}
	if done := ids(t, b, "pm2", []string{"completed"}); !strings.Contains(done, visit2) {
		t.Errorf("the item is not listed as completed: %s", done)
	}
	// The message about pm2 was sent after the discharge: that is the contact, whose item is no longer raised.
	if all := ids(t, b, "pm2", worklist.TaskStatuses()); strings.Contains(all, contact2) {
		t.Errorf("the contact item is still raised after a message was sent: %s", all)
	}
}

func ids(t *testing.T, b *worklist.Builder, patient string, statuses []string) string {
	t.Helper()
	tasks, err := b.Build(context.Background(), now, worklist.Options{Patient: patient, Statuses: statuses})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		out = append(out, task.ID)
	}
	return strings.Join(out, ",")
}
