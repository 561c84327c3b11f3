package summary

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
)

// OperationDefinitionURL names careflow's Patient $summary operation (modelled on the IPS $summary).
const OperationDefinitionURL = "http://careflow.example/fhir/OperationDefinition/Patient-summary"

// Operation exposes the summary as GET [base]/Patient/[id]/$summary[?date=YYYY-MM-DD][&until=YYYY-MM-DD]:
// the patient's summary document Bundle at the server's current time, or as of the start (UTC) of date.
func Operation(b *Builder) operation.Func {
	return operation.Func{Name: "summary", Type: "Patient", URL: OperationDefinitionURL,
		Title: "Patient health history summary",
		Description: "A FHIR document Bundle summarising the patient's whole health history for care coordination, with the " +
			"International Patient Summary section layout: allergies, medications and prescriptions (with plain-language " +
			"instructions and allergy conflicts), active and past problems with the care plans that address them, immunizations, " +
			"latest results and vital signs, procedures, recent encounters and hospital stays, family history, the care team " +
			"with contacts, care plans, coverage, and upcoming appointments.",
		Parameters: []capability.OperationParameter{
			{Name: "date", Use: "in", Min: 0, Max: "1", Type: "date", Documentation: "The day (YYYY-MM-DD) the summary is made as of (its start, UTC): what is active, upcoming or overdue then. Default: now."},
			{Name: "until", Use: "in", Min: 0, Max: "1", Type: "date", Documentation: "Last day of the upcoming appointments listed (YYYY-MM-DD)."},
			{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Bundle", Documentation: "The summary document Bundle (Composition first)."},
		},
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			opt := Options{BaseURL: r.Base}
			now := r.Now
			for name, values := range r.Params {
				switch {
				case name == "date" && len(values) == 1:
					d, err := time.Parse("2006-01-02", values[0])
					if err != nil {
						return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "date", "date must be a day such as 2026-11-25, got %q", values[0])
					}
					now = d
				case name == "until" && len(values) == 1:
					d, err := time.Parse("2006-01-02", values[0])
					if err != nil {
						return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "until", "until must be a day such as 2027-02-01, got %q", values[0])
					}
					opt.Until = d
				default:
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name, "$summary has no parameter %q (date, until)", name)
				}
			}
			doc, err := b.Summary(ctx, r.ID, now, opt)
			if errors.Is(err, ErrPatientNotFound) {
				return nil, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "Patient/%s is not known", r.ID)
			}
			return doc, err
		}}
}
