package message

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
)

// OperationDefinitionURL names careflow's Patient $draft-message operation.
const OperationDefinitionURL = "http://careflow.example/fhir/OperationDefinition/Patient-draft-message"

// Operation exposes drafting as GET [base]/Patient/[id]/$draft-message?task=wl-…[&date=YYYY-MM-DD][&recipient=…]:
// the draft Communication (status preparation, not stored) for that item of the patient's worklist.
func Operation(d *Drafter) operation.Func {
	return operation.Func{Name: "draft-message", Type: "Patient", URL: OperationDefinitionURL,
		Title: "Draft a message to the patient or family for a worklist item",
		Description: "A plain-language message (Communication, status preparation, not stored) to the patient or the family caregiver " +
			"about a worklist item — a follow-up to book, a missed appointment, the call after a discharge, a planned outreach, a referral " +
			"to schedule, missing insurance details — with the recipient's preferred contact point and language. Store it with PUT; " +
			"updating it to status completed (with sent) records the message and completes the worklist item.",
		Parameters: []capability.OperationParameter{
			{Name: "task", Use: "in", Min: 1, Max: "1", Type: "string", Documentation: "The id of the worklist Task (as $worklist gave it)."},
			{Name: "date", Use: "in", Min: 0, Max: "1", Type: "date", Documentation: "The day of the worklist the item is on (YYYY-MM-DD; its start, UTC). Default: now."},
			{Name: "recipient", Use: "in", Min: 0, Max: "1", Type: "string", SearchType: "reference", Documentation: "Patient/[id] (the patient) or RelatedPerson/[id] (one of the patient's). Default: chosen by careflow (the planned message's recipient, the patient when reachable, else a reachable related person)."},
			{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Communication", Documentation: "The draft message."},
		},
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			now := r.Now
			var task, recipient string
			for name, values := range r.Params {
				if len(values) != 1 || values[0] == "" {
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "$draft-message parameter %s takes one non-empty value", name)
				}
				switch name {
				case "task":
					task = values[0]
				case "recipient":
					recipient = values[0]
				case "date":
					d, err := time.Parse("2006-01-02", values[0])
					if err != nil {
						return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "date", "date must be a day such as 2026-11-25, got %q", values[0])
					}
					now = d
				default:
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name, "$draft-message has no parameter %q (task, date, recipient)", name)
				}
			}
			if task == "" {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "task", "$draft-message needs the task parameter (a worklist Task id)")
			}
			data, err := d.Draft(ctx, r.ID, task, now, recipient)
			switch {
			case errors.Is(err, ErrNoItem):
				return nil, outcome.At(http.StatusNotFound, outcome.CodeNotFound, "task", "%v", err)
			case errors.Is(err, ErrNotForPatient):
				return nil, outcome.At(http.StatusUnprocessableEntity, outcome.CodeBusinessRule, "task", "%v", err)
			case errors.Is(err, ErrRecipient):
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "recipient", "%v", err)
			}
			return data, err
		}}
}
