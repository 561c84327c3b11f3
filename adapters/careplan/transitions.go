package careplan

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
)

// Status transitions.
//
// FHIR R4 binds CarePlan.status to the request-status value set and CarePlan.activity.detail.status to
// care-plan-activity-status, but defines no state machine for either. The tables below derive one from the
// code definitions (and, for plans, from the request state machine of the FHIR workflow module): a status
// may always stay the same; anything may be marked entered-in-error except entered-in-error itself, which
// is final; "unknown" (the source lost track) may become any status; terminal states (completed, revoked;
// completed, cancelled, stopped) only move to entered-in-error.
//
// CarePlan.status (request-status):
//
//	from \ to         draft active on-hold revoked completed entered-in-error unknown
//	draft               =     ✓      ✗       ✓        ✗            ✓           ✓
//	active              ✗     =      ✓       ✓        ✓            ✓           ✓
//	on-hold             ✗     ✓      =       ✓        ✗            ✓           ✓
//	revoked             ✗     ✗      ✗       =        ✗            ✓           ✗
//	completed           ✗     ✗      ✗       ✗        =            ✓           ✗
//	entered-in-error    ✗     ✗      ✗       ✗        ✗            =           ✗
//	unknown             ✓     ✓      ✓       ✓        ✓            ✓           =
//
// A draft is withdrawn (revoked) or activated; only an active plan completes (an on-hold plan resumes
// first); a revoked or completed plan never becomes active again.
//
// CarePlan.activity.detail.status (care-plan-activity-status):
//
//	from \ to      not-started scheduled in-progress on-hold completed cancelled stopped unknown entered-in-error
//	not-started         =          ✓          ✓         ✓        ✓          ✓        ✗       ✓          ✓
//	scheduled           ✓          =          ✓         ✓        ✓          ✓        ✗       ✓          ✓
//	in-progress         ✗          ✗          =         ✓        ✓          ✗        ✓       ✓          ✓
//	on-hold             ✓          ✓          ✓         =        ✓          ✓        ✓       ✓          ✓
//	completed           ✗          ✗          ✗         ✗        =          ✗        ✗       ✗          ✓
//	cancelled           ✗          ✗          ✗         ✗        ✗          =        ✗       ✗          ✓
//	stopped             ✗          ✗          ✗         ✗        ✗          ✗        =       ✗          ✓
//	unknown             ✓          ✓          ✓         ✓        ✓          ✓        ✓       =          ✓
//	entered-in-error    ✗          ✗          ✗         ✗        ✗          ✗        ✗       ✗          =
//
// From the definitions: "cancelled" is withdrawn before it started and "stopped" ended after it started,
// so an activity in progress is stopped, never cancelled, and one not yet started is cancelled, never
// stopped; a scheduled activity whose appointment is cancelled goes back to not-started; an activity may
// be recorded as completed without passing through in-progress. on-hold does not say whether the activity
// had started, so it may go anywhere but back to itself.
func planNext(from string) []string {
	switch from {
	case "draft":
		return []string{"active", "revoked", "entered-in-error", "unknown"}
	case "active":
		return []string{"on-hold", "revoked", "completed", "entered-in-error", "unknown"}
	case "on-hold":
		return []string{"active", "revoked", "entered-in-error", "unknown"}
	case "revoked", "completed":
		return []string{"entered-in-error"}
	case "entered-in-error":
		return nil
	case "unknown":
		return []string{"draft", "active", "on-hold", "revoked", "completed", "entered-in-error"}
	}
	return nil
}

func activityNext(from string) []string {
	switch from {
	case "not-started":
		return []string{"scheduled", "in-progress", "on-hold", "completed", "cancelled", "unknown", "entered-in-error"}
	case "scheduled":
		return []string{"not-started", "in-progress", "on-hold", "completed", "cancelled", "unknown", "entered-in-error"}
	case "in-progress":
		return []string{"on-hold", "completed", "stopped", "unknown", "entered-in-error"}
	case "on-hold":
		return []string{"not-started", "scheduled", "in-progress", "completed", "cancelled", "stopped", "unknown", "entered-in-error"}
	case "completed", "cancelled", "stopped":
		return []string{"entered-in-error"}
	case "entered-in-error":
		return nil
	case "unknown":
		return []string{"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "entered-in-error"}
	}
	return nil
}

func planCode(s string) bool {
	switch s {
	case "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown":
		return true
	}
	return false
}

func activityCode(s string) bool {
	switch s {
	case "not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown", "entered-in-error":
		return true
	}
	return false
}

func check(kind string, valid func(string) bool, next func(string) []string, from, to string) error {
	if !valid(from) {
		return fmt.Errorf("%q is not a %s code", from, kind)
	}
	if !valid(to) {
		return fmt.Errorf("%q is not a %s code", to, kind)
	}
	if from == to {
		return nil
	}
	allowed := next(from)
	for _, a := range allowed {
		if a == to {
			return nil
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("%s %s is final and cannot change to %s", kind, from, to)
	}
	return fmt.Errorf("%s cannot change from %s to %s (allowed: %s)", kind, from, to, strings.Join(allowed, ", "))
}

// CheckPlanStatus reports whether CarePlan.status may change from from to to (nil when it may).
func CheckPlanStatus(from, to string) error {
	return check("CarePlan.status", planCode, planNext, from, to)
}

// CheckActivityStatus reports whether CarePlan.activity.detail.status may change from from to to (nil
// when it may).
func CheckActivityStatus(from, to string) error {
	return check("activity.detail.status", activityCode, activityNext, from, to)
}

// statusView is what CheckUpdate reads of a CarePlan.
type statusView struct {
	Status   string `json:"status"`
	Activity []struct {
		ID     string `json:"id"`
		Detail *struct {
			Status string `json:"status"`
		} `json:"detail"`
	} `json:"activity"`
}

// CheckUpdate checks the status changes an update makes to a CarePlan: CarePlan.status, and the
// detail.status of every activity that existed before. An activity is matched to its previous version by
// its element id when both have one, else by position. Added activities may start in any status; removed
// ones are not checked. It returns nil when the update is allowed, else a 422 error with one
// business-rule issue per forbidden change, located by FHIRPath (CarePlan.activity[1].detail.status).
// Both bodies must be CarePlan JSON.
func CheckUpdate(previous, proposed []byte) *outcome.Error {
	var old, cur statusView
	if err := json.Unmarshal(previous, &old); err != nil {
		return outcome.New(http.StatusInternalServerError, outcome.CodeException, "stored CarePlan is not JSON: %v", err)
	}
	if err := json.Unmarshal(proposed, &cur); err != nil {
		return outcome.New(http.StatusBadRequest, outcome.CodeStructure, "CarePlan is not JSON: %v", err)
	}
	var issues []outcome.Issue
	fail := func(expr string, err error) {
		issues = append(issues, outcome.Issue{Severity: outcome.SeverityErr, Code: outcome.CodeBusinessRule,
			Diagnostics: err.Error(), Expression: []string{expr}})
	}
	if err := CheckPlanStatus(old.Status, cur.Status); err != nil {
		fail("CarePlan.status", err)
	}
	byID := map[string]int{}
	for i, a := range old.Activity {
		if a.ID != "" {
			byID[a.ID] = i
		}
	}
	for i, a := range cur.Activity {
		if a.Detail == nil {
			continue
		}
		j := -1
		if a.ID != "" {
			if k, ok := byID[a.ID]; ok {
				j = k
			}
		} else if i < len(old.Activity) && old.Activity[i].ID == "" {
			j = i
		}
		if j < 0 || old.Activity[j].Detail == nil {
			continue
		}
		if err := CheckActivityStatus(old.Activity[j].Detail.Status, a.Detail.Status); err != nil {
			fail(fmt.Sprintf("CarePlan.activity[%d].detail.status", i), err)
		}
	}
	if len(issues) == 0 {
		return nil
	}
	return &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: issues}
}

// UpdateRule is CheckUpdate as a store rule (storage/rules): the server applies it to every update of a
// CarePlan — PUT, conditional update, PATCH and transaction entries — atomically with the write.
func UpdateRule(previous, proposed []byte) error {
	if err := CheckUpdate(previous, proposed); err != nil {
		return err
	}
	return nil
}
