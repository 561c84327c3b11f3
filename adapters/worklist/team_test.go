package worklist_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/operation"
)

// owned returns a derived Task's body stored with owner (none when ""), extra members added.
func owned(t *testing.T, task worklist.Task, owner, extra string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(task.Resource, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "owner")
	if owner != "" {
		m["owner"] = json.RawMessage(`{"reference":"` + owner + `"}`)
	}
	if extra != "" {
		var x map[string]json.RawMessage
		if err := json.Unmarshal([]byte(extra), &x); err != nil {
			t.Fatal(err)
		}
		for k, v := range x {
			m[k] = v
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const claimed = `{"status":"accepted","businessStatus":{"coding":[{"system":"http://careflow.example/fhir/CodeSystem/worklist-business-status","code":"claimed"}]}}`

// TestTeamWorklist: owner=X lists X's Tasks and those of the pools X belongs to (its active roles, their
// organizations, the active care teams it or its roles are members of, unowned Tasks needing one of its
// roles' codes) and nothing else; the unassigned view lists the Tasks nobody has taken (no owner or a pool,
// not claimed).
func TestTeamWorklist(t *testing.T) {
	e := fixture(t)
	ctx := context.Background()
	e.Put("Practitioner", "c1", `{"name":[{"family":"Coordinator"}]}`)
	e.Put("PractitionerRole", "r1", `{"active":true,"practitioner":{"reference":"Practitioner/c1"},"organization":{"reference":"Organization/o1"},
	  "code":[{"coding":[{"system":"http://snomed.info/sct","code":"768730001","display":"Care coordinator"}]}]}`)
	e.Put("PractitionerRole", "r2", `{"active":false,"practitioner":{"reference":"Practitioner/c1"},"organization":{"reference":"Organization/o2"}}`)
	e.Put("CareTeam", "t1", `{"status":"active","participant":[{"member":{"reference":"PractitionerRole/r1"}}]}`)
	e.Put("CareTeam", "t2", `{"status":"inactive","participant":[{"member":{"reference":"Practitioner/c1"}}]}`)
	e.Put("CareTeam", "t3", `{"status":"active","participant":[{"member":{"reference":"Practitioner/other"}}]}`)
	e.Put("CareTeam", "t4", `{"status":"active","participant":[{"member":{"reference":"Practitioner/c1"}}]}`)
	b := worklist.New(e.Store, e.Registry).WithPageSize(2)
	all, err := b.Build(ctx, now, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 9 {
		t.Fatalf("the fixture derives %d Tasks, the test needs 9", len(all))
	}
	store := func(i int, owner, extra string) string {
		e.Put("Task", all[i].ID, owned(t, all[i], owner, extra))
		return all[i].ID
	}
	perfType := `{"performerType":[{"coding":[{"system":"http://snomed.info/sct","code":"768730001"}]}]}`
	team := store(0, "CareTeam/t1", "")
	org := store(1, "Organization/o1", "")
	inactiveRoleOrg := store(2, "Organization/o2", "")
	byCode := store(3, "", perfType)
	claimedByC1 := store(4, "Practitioner/c1", claimed)
	inactiveTeam := store(5, "CareTeam/t2", "")
	claimedInPool := store(6, "CareTeam/t3", claimed) // claimed, the owner not yet set to the person
	directTeam := store(7, "CareTeam/t4", "")
	otherPerson := store(8, "Practitioner/other", "")

	ids := func(opt worklist.Options) []string {
		t.Helper()
		got, err := b.Build(ctx, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, task := range got {
			out = append(out, task.ID)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	if got, want := ids(worklist.Options{Owner: "Practitioner/c1"}), sorted(team, org, byCode, claimedByC1, directTeam); !slices.Equal(got, want) {
		t.Errorf("owner=Practitioner/c1: %v, want %v", got, want)
	}
	if got, want := ids(worklist.Options{Owner: "PractitionerRole/r1"}), sorted(team, org, byCode); !slices.Equal(got, want) {
		t.Errorf("owner=PractitionerRole/r1: %v, want %v", got, want)
	}
	if got, want := ids(worklist.Options{Owner: "CareTeam/t1"}), sorted(team); !slices.Equal(got, want) {
		t.Errorf("owner=CareTeam/t1: %v, want %v", got, want)
	}
	un := ids(worklist.Options{Unassigned: true})
	for _, id := range []string{team, org, inactiveRoleOrg, byCode, inactiveTeam, directTeam} {
		if !slices.Contains(un, id) {
			t.Errorf("unassigned view lacks %s", id)
		}
	}
	for _, id := range []string{claimedByC1, otherPerson, claimedInPool} {
		if slices.Contains(un, id) {
			t.Errorf("unassigned view lists %s, which a person holds or claimed", id)
		}
	}
	for _, task := range all[9:] {
		if (task.Owner == "") != slices.Contains(un, task.ID) {
			t.Errorf("derived %s (owner %q): in unassigned view = %v", task.ID, task.Owner, slices.Contains(un, task.ID))
		}
	}
	// Reassigned away from the coordinator and their pools, the item leaves their worklist; the derived
	// items of their own that nobody stored stay.
	store(4, "Practitioner/other", "")
	if got, want := ids(worklist.Options{Owner: "Practitioner/c1"}), sorted(team, org, byCode, directTeam); !slices.Equal(got, want) {
		t.Errorf("owner=Practitioner/c1 after reassigning %s: %v, want %v", claimedByC1, got, want)
	}
	for _, task := range all[9:] {
		if task.Owner == "Practitioner/c1" {
			t.Errorf("the fixture derives %s for Practitioner/c1: the expectations above assume none", task.ID)
		}
	}
}

// TestEscalation: with Escalate, an open item not stored that is a day past due is at least urgent, a week
// past due asap (never stat), its body saying the same; stored Tasks keep their priority; without Escalate
// nothing changes.
func TestEscalation(t *testing.T) {
	e := fixture(t)
	ctx := context.Background()
	b := worklist.New(e.Store, e.Registry)
	later := now.Add(10 * 24 * time.Hour) // everything due by now is then more than a week overdue
	plain, err := b.Build(ctx, later, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kept worklist.Task
	for _, task := range plain {
		if task.Priority == "routine" && later.Sub(task.Due) >= 7*24*time.Hour {
			kept = task
			e.Put("Task", task.ID, string(task.Resource)) // a coordinator stored it as it was
			break
		}
	}
	if kept.ID == "" {
		t.Fatal("the fixture has no routine item a week overdue")
	}
	esc, err := b.Build(ctx, later, worklist.Options{Escalate: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]worklist.Task{}
	for _, task := range esc {
		byID[task.ID] = task
	}
	steps := map[string]int{}
	for _, p := range plain {
		got := byID[p.ID]
		late := later.Sub(p.Due)
		want := p.Priority
		switch {
		case p.ID == kept.ID:
		case late >= 7*24*time.Hour && (p.Priority == "routine" || p.Priority == "urgent"):
			want = "asap"
		case late >= 24*time.Hour && p.Priority == "routine":
			want = "urgent"
		}
		if got.Priority != want || !strings.Contains(string(got.Resource), `"priority":"`+want+`"`) {
			t.Errorf("%s (%s, %s overdue): priority %s, want %s", p.ID, p.Priority, late, got.Priority, want)
		}
		if want != p.Priority {
			steps[want]++
		}
	}
	if steps["asap"] == 0 {
		t.Errorf("no item escalated to asap: %v", steps)
	}
	if byID[kept.ID].Priority != "routine" {
		t.Errorf("stored Task escalated: %s", byID[kept.ID].Priority)
	}
	if steps["urgent"] == 0 {
		// Two days after now some items are overdue by a day or more but less than a week.
		if got := escalated(t, b, now.Add(2*24*time.Hour)); got["urgent"] == 0 {
			t.Errorf("no item escalated to urgent: %v", got)
		}
	}
	if got := escalated(t, b, later.Add(365*24*time.Hour)); got["stat"] != 0 {
		t.Errorf("escalated to stat: %v", got)
	}
}

// escalated counts the priorities of an escalated build at when.
func escalated(t *testing.T, b *worklist.Builder, when time.Time) map[string]int {
	t.Helper()
	got, err := b.Build(context.Background(), when, worklist.Options{Escalate: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, task := range got {
		out[task.Priority]++
	}
	return out
}

// TestWorklistViews: $worklist's view parameter — due-today, overdue, unassigned — and its validation.
func TestWorklistViews(t *testing.T) {
	e := fixture(t)
	op := worklist.Operation(worklist.New(e.Store, e.Registry))
	run := func(q string) ([]map[string]any, error) {
		params, _ := url.ParseQuery(q)
		data, err := op.Run(context.Background(), operation.Request{Params: params, Base: "http://x/fhir", Now: now})
		if err != nil {
			return nil, err
		}
		var bd struct {
			Entry []struct{ Resource map[string]any }
		}
		if err := json.Unmarshal(data, &bd); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, en := range bd.Entry {
			out = append(out, en.Resource)
		}
		return out, nil
	}
	due := func(r map[string]any) time.Time {
		s := r["restriction"].(map[string]any)["period"].(map[string]any)["end"].(string)
		d, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	all, err := run("date=2026-12-01")
	if err != nil {
		t.Fatal(err)
	}
	today, err := run("date=2026-12-01&view=due-today")
	if err != nil {
		t.Fatal(err)
	}
	overdue, err := run("date=2026-12-01&view=overdue")
	if err != nil {
		t.Fatal(err)
	}
	nToday, nOver := 0, 0
	for _, r := range all {
		switch d := due(r); {
		case d.Before(day):
			nOver++
		case d.Before(day.AddDate(0, 0, 1)):
			nToday++
		}
	}
	if len(today) != nToday || len(overdue) != nOver || nOver == 0 || len(all) != nToday+nOver {
		t.Errorf("views: %d due today (want %d), %d overdue (want %d), %d in all", len(today), nToday, len(overdue), nOver, len(all))
	}
	for _, r := range overdue {
		if !due(r).Before(day) {
			t.Errorf("overdue view lists a Task due %s", due(r))
		}
	}
	if _, err := run("view=soon"); err == nil || !strings.Contains(err.Error(), "unknown view") {
		t.Errorf("view=soon: %v", err)
	}
}
