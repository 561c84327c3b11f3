package worklist

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
)

// OperationDefinitionURL names careflow's $worklist operation.
const OperationDefinitionURL = "http://careflow.example/fhir/OperationDefinition/worklist"

// Operation exposes the worklist as GET [base]/$worklist?date=YYYY-MM-DD&owner=…&patient=…&code=…: a
// searchset Bundle of the Tasks due by the end of that day (overdue ones included), most pressing first.
// Without date the day is today (UTC) and the reference time is now. status (comma-separated Task
// statuses) selects by the stored Task's status; by default the open ones (see OpenStatuses), so items a
// coordinator completed or cancelled are not listed again.
func Operation(b *Builder) operation.Func {
	return operation.Func{Name: "worklist", URL: OperationDefinitionURL,
		Title: "Care coordinator's worklist",
		Description: "The Tasks a care coordinator has to do by the end of a day (overdue ones included), derived from the stored " +
			"care plans, appointments, medications, allergies and coverages, merged with the Tasks coordinators stored " +
			"(completed or cancelled items are not listed again), most pressing first. Task ids are deterministic: " +
			"PUT a Task with its id to assign, reschedule or complete it; claim one with owner = yourself, status accepted and " +
			"businessStatus claimed (" + BusinessStatusURL + "), sending If-None-Match: * the first time and If-Match after, so " +
			"that two coordinators never both claim it. owner includes the pools the owner belongs to (roles, organizations, " +
			"care teams, performerType); open items not stored yet rise in priority once past due (a day: urgent; a week: asap). " +
			"Item codes: " + CodeSystemURL + ".",
		Parameters: []capability.OperationParameter{
			{Name: "date", Use: "in", Min: 0, Max: "1", Type: "date", Documentation: "The day (YYYY-MM-DD): Tasks due by its end. Default: today (UTC)."},
			{Name: "owner", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "reference", Documentation: "Only the Tasks of this owner (Practitioner/x, PractitionerRole/r, CareTeam/t, Organization/o) and of the pools it belongs to: its roles, their organizations, the active care teams it or its roles are members of, and unowned Tasks whose performerType is one of its roles' codes."},
			{Name: "view", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "token", Documentation: "Comma-separated views: due-today (due within the day), overdue (due before the reference time), unassigned (no owner or a pool, not claimed)."},
			{Name: "patient", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "reference", Documentation: "Only the Tasks of this patient (id or Patient/id)."},
			{Name: "code", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "token", Documentation: "Comma-separated item codes of " + CodeSystemURL + "."},
			{Name: "status", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "token", Documentation: "Comma-separated Task statuses. Default: the open ones (draft, requested, received, accepted, ready, in-progress, on-hold)."},
			{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Bundle", Documentation: "A searchset Bundle of Task resources."},
		},
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			now := r.Now.UTC()
			day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
			var opt Options
			var views []string
			for name, values := range r.Params {
				if len(values) != 1 || values[0] == "" {
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "$worklist parameter %s takes one non-empty value", name)
				}
				v := values[0]
				switch name {
				case "date":
					d, err := time.Parse("2006-01-02", v)
					if err != nil {
						return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "date", "date must be a day such as 2026-11-25, got %q", v)
					}
					day, now = d, d
				case "owner":
					opt.Owner = v
				case "patient":
					opt.Patient = v
				case "code":
					known := map[string]bool{}
					for _, it := range Items() {
						known[it.Code] = true
					}
					for _, c := range strings.Split(v, ",") {
						if !known[c] {
							return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "code", "unknown worklist item code %q (see %s)", c, CodeSystemURL)
						}
						opt.Codes = append(opt.Codes, c)
					}
				case "view":
					views = strings.Split(v, ",")
					for _, w := range views {
						if !slices.Contains([]string{"due-today", "overdue", "unassigned"}, w) {
							return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "view", "unknown view %q (due-today, overdue, unassigned)", w)
						}
					}
				case "status":
					for _, st := range strings.Split(v, ",") {
						if !slices.Contains(TaskStatuses(), st) {
							return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "status", "unknown Task status %q (see http://hl7.org/fhir/task-status)", st)
						}
						opt.Statuses = append(opt.Statuses, st)
					}
				default:
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name, "$worklist has no parameter %q (date, owner, view, patient, code, status)", name)
				}
			}
			opt.DueTo, opt.Escalate = day.AddDate(0, 0, 1), true
			for _, w := range views {
				switch w {
				case "due-today":
					opt.DueFrom = day
				case "overdue":
					opt.DueTo = now
				case "unassigned":
					opt.Unassigned = true
				}
			}
			tasks, err := b.Build(ctx, now, opt)
			if err != nil {
				return nil, err
			}
			out := bundle.New("searchset", "", r.Now)
			out.SetTotal(len(tasks))
			for _, t := range tasks {
				out.Entry = append(out.Entry, bundle.Entry{FullURL: r.Base + "/Task/" + t.ID, Resource: json.RawMessage(t.Resource), Search: &bundle.Search{Mode: "match"}})
			}
			return out.Encode(), nil
		}}
}
