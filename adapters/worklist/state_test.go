package worklist_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/worklist"
)

// TestStoredState: a coordinator stores derived Tasks (PUT with the id $worklist gave) to complete,
// reassign or reschedule them; the next worklist honours the stored state instead of recreating the item.
func TestStoredState(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry).WithPageSize(2)
	ctx := context.Background()
	before, err := b.Build(ctx, now, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byCode := map[string]worklist.Task{}
	for _, task := range before {
		if task.Stored || task.Status != "requested" {
			t.Errorf("%s: stored=%v status=%s before anything was stored", task.ID, task.Stored, task.Status)
		}
		if _, seen := byCode[task.Code]; !seen {
			byCode[task.Code] = task
		}
	}
	conflict, followUp, rebook := byCode[worklist.AllergyConflict], byCode[worklist.FollowUpDue], byCode[worklist.RebookAppointment]

	// Completed: the allergy conflict was reviewed.
	e.Put("Task", conflict.ID, strings.Replace(string(conflict.Resource), `"status":"requested"`, `"status":"completed"`, 1))
	// Reassigned, started and made more urgent: the first follow-up.
	fu := strings.Replace(string(followUp.Resource), `"status":"requested"`, `"status":"in-progress"`, 1)
	fu = strings.Replace(fu, `"owner":{"reference":"Practitioner/dr1"}`, `"owner":{"reference":"Practitioner/dr5"}`, 1)
	fu = strings.Replace(fu, `"priority":"routine"`, `"priority":"asap"`, 1)
	e.Put("Task", followUp.ID, fu)
	// Postponed to a later day (a date, i.e. by the end of that day): the rebooking.
	rb := strings.Replace(string(rebook.Resource), `"end":"2026-11-27T10:00:00Z"`, `"end":"2026-12-03"`, 1)
	e.Put("Task", rebook.ID, rb)

	after, err := b.Build(ctx, now, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]worklist.Task{}
	for _, task := range after {
		got[task.ID] = task
	}
	if _, ok := got[conflict.ID]; ok || len(after) != len(before)-1 {
		t.Errorf("completed Task still listed (%d items, %d before)", len(after), len(before))
	}
	f := got[followUp.ID]
	if !f.Stored || f.Status != "in-progress" || f.Owner != "Practitioner/dr5" || f.Priority != "asap" || !strings.Contains(string(f.Resource), `"versionId":"1"`) {
		t.Errorf("reassigned follow-up: %+v\n%s", f, f.Resource)
	}
	r := got[rebook.ID]
	if want := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC); !r.Stored || !r.Due.Equal(want) {
		t.Errorf("postponed rebooking due %s, want %s", r.Due, want)
	}
	// The ordering uses the stored due date: the rebooking now comes after the items due 1 December.
	var order []string
	for _, task := range after {
		order = append(order, task.ID)
	}
	if i, j := strings.Index(strings.Join(order, ","), rebook.ID), strings.Index(strings.Join(order, ","), byCode[worklist.CoverageGap].ID); i < j {
		t.Errorf("postponed rebooking listed before the 1 December items: %v", order)
	}

	for name, tc := range map[string]struct {
		opt  worklist.Options
		want []string
	}{
		"stored owner":         {worklist.Options{Owner: "Practitioner/dr5"}, []string{followUp.ID}},
		"completed on request": {worklist.Options{Statuses: []string{"completed"}}, []string{conflict.ID}},
		"due by 1 December":    {worklist.Options{Codes: []string{worklist.RebookAppointment}, DueTo: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}, nil},
		"due by 3 December":    {worklist.Options{Codes: []string{worklist.RebookAppointment}, DueTo: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}, []string{rebook.ID}},
	} {
		ts, err := b.Build(ctx, now, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, task := range ts {
			ids = append(ids, task.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: got %v, want %v", name, ids, tc.want)
		}
	}
	// The previous owner no longer sees the reassigned item.
	ts, err := b.Build(ctx, now, worklist.Options{Owner: "Practitioner/dr1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range ts {
		if task.ID == followUp.ID {
			t.Errorf("reassigned follow-up still listed for its previous owner")
		}
	}
}
