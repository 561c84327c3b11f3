package worklist

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// # Stored state
//
// A derived Task is not stored until a coordinator acts on it: to assign, reprioritise, reschedule,
// start or complete an item, a client PUTs the Task (with the id $worklist gave it) with the changes —
// an ordinary FHIR update that creates the Task on first use. Task is a stored, searchable type, so the
// state survives, is versioned and is visible to any FHIR client (GET [base]/Task?owner=…&status=…).
//
// When the same condition is derived again its id is the same, and the stored Task wins: the worklist
// returns the stored resource, and its status, owner, priority and due date
// (restriction.period.end) are the ones the filters and the ordering use. Items whose stored Task is
// closed (completed, cancelled, rejected, failed or entered-in-error) are left out unless the statuses
// asked for include them, so completed work is not recreated. A changed condition (a rescheduled
// follow-up) has a new id and is a new item. A message sent for an item — a Communication with status
// completed basedOn its Task (package message drafts one) — completes it too, stored or not.

// OpenStatuses returns the Task statuses of items still to be done: the statuses $worklist returns by
// default (a fresh slice on every call).
func OpenStatuses() []string {
	return []string{"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}
}

// TaskStatuses returns every Task.status code (http://hl7.org/fhir/task-status).
func TaskStatuses() []string {
	return append(OpenStatuses(), "completed", "cancelled", "rejected", "failed", "entered-in-error")
}

// storedTask is the part of a stored Task the worklist merges.
type storedTask struct {
	fhirread.Head
	Status         string                     `json:"status"`
	Priority       string                     `json:"priority"`
	Owner          *fhirread.Reference        `json:"owner"`
	BusinessStatus *fhirread.CodeableConcept  `json:"businessStatus"`
	PerformerType  []fhirread.CodeableConcept `json:"performerType"`
	Restriction    struct {
		Period fhirread.Period `json:"period"`
	} `json:"restriction"`
}

// merge replaces the derived Tasks that have been stored by their stored version and fills in Status.
func (b *run) merge(ctx context.Context, tasks []Task, loc *time.Location) error {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	stored, err := b.F.In(ctx, "Task", "_id", ids, url.Values{})
	if err != nil {
		return fmt.Errorf("worklist: stored tasks: %w", err)
	}
	byID := make(map[string][]byte, len(stored))
	for _, v := range stored {
		byID[v.ID] = v.Body
	}
	// A message sent for an item (a completed Communication basedOn its Task, see package message) closes it.
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = "Task/" + id
	}
	answered := map[string]bool{}
	err = b.F.InEach(ctx, "Communication", "based-on", refs, url.Values{"status": {"completed"}}, func(v *storage.Version) error {
		var c struct {
			fhirread.Head
			BasedOn []fhirread.Reference `json:"basedOn"`
		}
		if err := fhirread.Decode(v.Body, "Communication", &c); err != nil {
			return fmt.Errorf("worklist: Communication/%s: %w", v.ID, err)
		}
		for i := range c.BasedOn {
			if k := c.BasedOn[i].Key(); fhirread.RefType(k) == "Task" {
				answered[fhirread.RefID(k)] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("worklist: messages sent: %w", err)
	}
	for i := range tasks {
		t := &tasks[i]
		t.Status = "requested"
		body, ok := byID[t.ID]
		if !ok {
			if answered[t.ID] {
				t.Status = "completed"
			}
			continue
		}
		var st storedTask
		if err := fhirread.Decode(body, "Task", &st); err != nil {
			return fmt.Errorf("worklist: Task/%s: %w", t.ID, err)
		}
		t.Stored, t.Resource, t.Status = true, body, st.Status
		t.Owner = st.Owner.Key()
		t.PerformerTypes = performerTypeKeys(st.PerformerType)
		if st.BusinessStatus != nil {
			for _, cd := range st.BusinessStatus.Coding {
				if cd.System == BusinessStatusURL {
					t.BusinessStatus = cd.Code
				}
			}
		}
		if st.Priority != "" {
			t.Priority = st.Priority
		}
		if due, ok := dueFrom(st.Restriction.Period.End, loc); ok {
			t.Due = due
		}
		if answered[t.ID] && slices.Contains(OpenStatuses(), t.Status) {
			t.Status = "completed"
		}
	}
	return nil
}

// dueFrom is the instant a stored due date stands for: the instant itself when it has a time; when it is
// a date, the start of the last day it covers (a period's end is inclusive at its precision), so that it
// sorts and groups with that day.
func dueFrom(s string, loc *time.Location) (time.Time, bool) {
	lo, hi, ok := search.ParseDateTime(s, loc)
	if !ok {
		return time.Time{}, false
	}
	if strings.Contains(s, "T") {
		return lo, true
	}
	last := hi.AddDate(0, 0, -1)
	return time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, loc), true
}
