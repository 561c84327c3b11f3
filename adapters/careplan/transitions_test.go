package careplan_test

import (
	"strings"
	"testing"

	"github.com/careflow/careflow/adapters/careplan"
)

func TestPlanStatusTransitions(t *testing.T) {
	codes := []string{"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
	// allowed[from] lists every target that must be accepted (besides from itself).
	allowed := map[string]string{
		"draft":            "active revoked entered-in-error unknown",
		"active":           "on-hold revoked completed entered-in-error unknown",
		"on-hold":          "active revoked entered-in-error unknown",
		"revoked":          "entered-in-error",
		"completed":        "entered-in-error",
		"entered-in-error": "",
		"unknown":          "draft active on-hold revoked completed entered-in-error",
	}
	for _, from := range codes {
		for _, to := range codes {
			err := careplan.CheckPlanStatus(from, to)
			want := from == to || contains(allowed[from], to)
			if (err == nil) != want {
				t.Errorf("%s → %s: err %v, want allowed=%v", from, to, err, want)
			}
		}
	}
	if err := careplan.CheckPlanStatus("completed", "active"); err == nil || err.Error() != "CarePlan.status cannot change from completed to active (allowed: entered-in-error)" {
		t.Errorf("completed → active: %v", err)
	}
	if err := careplan.CheckPlanStatus("entered-in-error", "active"); err == nil || err.Error() != "CarePlan.status entered-in-error is final and cannot change to active" {
		t.Errorf("entered-in-error → active: %v", err)
	}
	if err := careplan.CheckPlanStatus("active", "finished"); err == nil || err.Error() != `"finished" is not a CarePlan.status code` {
		t.Errorf("unknown code: %v", err)
	}
}

func TestActivityStatusTransitions(t *testing.T) {
	codes := []string{"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown", "entered-in-error"}
	allowed := map[string]string{
		"not-started":      "scheduled in-progress on-hold completed cancelled unknown entered-in-error",
		"scheduled":        "not-started in-progress on-hold completed cancelled unknown entered-in-error",
		"in-progress":      "on-hold completed stopped unknown entered-in-error",
		"on-hold":          "not-started scheduled in-progress completed cancelled stopped unknown entered-in-error",
		"completed":        "entered-in-error",
		"cancelled":        "entered-in-error",
		"stopped":          "entered-in-error",
		"unknown":          "not-started scheduled in-progress on-hold completed cancelled stopped entered-in-error",
		"entered-in-error": "",
	}
	for _, from := range codes {
		for _, to := range codes {
			err := careplan.CheckActivityStatus(from, to)
			want := from == to || contains(allowed[from], to)
			if (err == nil) != want {
				t.Errorf("%s → %s: err %v, want allowed=%v", from, to, err, want)
			}
		}
	}
}

func contains(list, code string) bool {
	for _, c := range strings.Fields(list) {
		if c == code {
			return true
		}
	}
	return false
}

func TestCheckUpdate(t *testing.T) {
	old := `{"resourceType":"CarePlan","status":"completed","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[
	  {"id":"a","detail":{"status":"in-progress"}},
	  {"detail":{"status":"completed"}},
	  {"detail":{"status":"not-started"}}]}`
	// Reordered: activity "a" moves to position 2 and is cancelled (forbidden after in-progress); position 0
	// goes from completed to in-progress (forbidden); position 1 (was not-started) is scheduled (fine); a new
	// activity may start completed.
	proposed := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[
	  {"detail":{"status":"in-progress"}},
	  {"detail":{"status":"scheduled"}},
	  {"id":"a","detail":{"status":"cancelled"}},
	  {"detail":{"status":"completed"}}]}`
	// Position 0 of proposed matches position 0 of old only when old has no id there: old[0] has id "a",
	// so proposed[0] is unmatched; proposed[1] matches old[1] (completed → scheduled: forbidden).
	oe := careplan.CheckUpdate([]byte(old), []byte(proposed))
	if oe == nil {
		t.Fatal("update accepted")
	}
	if oe.Status != 422 {
		t.Errorf("status %d", oe.Status)
	}
	var got []string
	for _, is := range oe.Issues {
		got = append(got, is.Code+" "+strings.Join(is.Expression, ",")+": "+is.Diagnostics)
	}
	want := strings.Join([]string{
		"business-rule CarePlan.status: CarePlan.status cannot change from completed to active (allowed: entered-in-error)",
		"business-rule CarePlan.activity[1].detail.status: activity.detail.status cannot change from completed to scheduled (allowed: entered-in-error)",
		"business-rule CarePlan.activity[2].detail.status: activity.detail.status cannot change from in-progress to cancelled (allowed: on-hold, completed, stopped, unknown, entered-in-error)",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("issues:\n%s\nwant:\n%s", g, want)
	}
	ok := `{"resourceType":"CarePlan","status":"completed","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[
	  {"id":"a","detail":{"status":"stopped"}},{"detail":{"status":"completed"}},{"detail":{"status":"cancelled"}}]}`
	if oe := careplan.CheckUpdate([]byte(old), []byte(ok)); oe != nil {
		t.Errorf("allowed update rejected: %v", oe)
	}
	revoked := `{"resourceType":"CarePlan","status":"revoked","intent":"plan","subject":{"reference":"Patient/p1"}}`
	active := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"}}`
	if oe := careplan.CheckUpdate([]byte(revoked), []byte(active)); oe == nil {
		t.Error("revoked → active accepted")
	}
}
