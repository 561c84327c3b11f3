package scheduling

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
)

// The canonical URLs of careflow's booking operations (IHE ITI Scheduling $find, $hold, $book with
// careflow's additions; docs/ARCHITECTURE.md, "Custom operations").
const (
	FindDefinitionURL = "http://careflow.example/fhir/OperationDefinition/Appointment-find"
	HoldDefinitionURL = "http://careflow.example/fhir/OperationDefinition/Appointment-hold"
	BookDefinitionURL = "http://careflow.example/fhir/OperationDefinition/Appointment-book"
)

// actorParams are $find's reference parameters and the type each names; each is one group (OR within,
// AND across).
var actorParams = []struct{ name, typ string }{
	{"practitioner", "Practitioner"}, {"practitioner-role", "PractitionerRole"},
	{"organization", "Organization"}, {"location-reference", "Location"},
}

// FindOperation is Appointment/$find (IHE ITI-115): GET or POST [base]/Appointment/$find.
func FindOperation(s *Scheduler) operation.Func {
	ref := func(name, typ, doc string) capability.OperationParameter {
		return capability.OperationParameter{Name: name, Use: "in", Min: 0, Max: "*", Type: "Reference", Documentation: doc}
	}
	return operation.Func{Name: "find", Type: "Appointment", TypeLevel: true, URL: FindDefinitionURL,
		Title: "Find potential appointments (IHE ITI Scheduling $find)",
		Description: "Free slots of active schedules in a time window, as proposed Appointments (status proposed) in a searchset " +
			"Bundle, each referencing the Slot(s) it would occupy; ordered by start, schedule and id. A slot qualifies when its " +
			"status is free (or busy-tentative with an expired hold), it starts in [start, end) and not before now, and it lies " +
			"inside its Schedule's planningHorizon. Proposal ids are deterministic (bk- + SHA-256 of the slots).",
		Parameters: []capability.OperationParameter{
			{Name: "start", Use: "in", Min: 1, Max: "1", Type: "dateTime", Documentation: "Start of the window (a value without a time zone is UTC)."},
			{Name: "end", Use: "in", Min: 1, Max: "1", Type: "dateTime", Documentation: "End of the window (exclusive; a date means the end of that day)."},
			{Name: "specialty", Use: "in", Min: 0, Max: "*", Type: "string", SearchType: "token", Documentation: "system|code of the specialty: the slot's, or its schedule's when the slot has none (any of them)."},
			{Name: "visit-type", Use: "in", Min: 0, Max: "*", Type: "string", SearchType: "token", Documentation: "system|code of the service type: the slot's serviceType, or its schedule's (any of them)."},
			ref("practitioner", "Practitioner", "Practitioner/id among the schedule's actors (any of them)."),
			ref("practitioner-role", "PractitionerRole", "careflow: PractitionerRole/id among the schedule's actors (any of them)."),
			ref("organization", "Organization", "Organization/id among the schedule's actors (any of them)."),
			ref("location-reference", "Location", "Location/id among the schedule's actors (any of them). Different parameters must all match."),
			{Name: "patient-reference", Use: "in", Min: 0, Max: "1", Type: "Reference", Documentation: "Patient/id: a participant of each proposal."},
			{Name: "duration", Use: "in", Min: 0, Max: "1", Type: "integer", Documentation: "careflow: minutes the appointment needs; consecutive slots of one schedule are combined to last at least that long."},
			{Name: "_count", Use: "in", Min: 0, Max: "1", Type: "integer", Documentation: "The most proposals to return."},
			{Name: "return", Use: "out", Min: 0, Max: "1", Type: "Bundle", Documentation: "searchset Bundle of proposed Appointments (empty: no availability)."},
		},
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			req, err := findRequest(r)
			if err != nil {
				return nil, err
			}
			ps, err := s.Find(ctx, req, r.Now)
			if err != nil {
				return nil, err
			}
			out := bundle.New("searchset", "", r.Now)
			out.SetTotal(len(ps))
			for _, p := range ps {
				out.Entry = append(out.Entry, bundle.Entry{FullURL: r.Base + "/Appointment/" + p.ID, Resource: json.RawMessage(p.Resource), Search: &bundle.Search{Mode: "match"}})
			}
			return out.Encode(), nil
		}}
}

func findRequest(r operation.Request) (FindRequest, error) {
	var req FindRequest
	for name, values := range r.Params {
		switch name {
		case "start", "end":
			if len(values) != 1 {
				return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s is given %d times", name, len(values))
			}
			lo, hi, ok := search.ParseDateTime(values[0], time.UTC)
			if !ok {
				return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must be a dateTime such as 2026-12-01T09:00:00Z, got %q", name, values[0])
			}
			if name == "start" {
				req.Start = lo
			} else {
				req.End = hi
			}
		case "specialty", "visit-type":
			for _, v := range splitValues(values) {
				t := ParseToken(v)
				if t.Code == "" {
					return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must be system|code, got %q", name, v)
				}
				if name == "specialty" {
					req.Specialty = append(req.Specialty, t)
				} else {
					req.ServiceType = append(req.ServiceType, t)
				}
			}
		case "patient-reference":
			if len(values) != 1 || localID(values[0], "Patient", r.Base) == "" {
				return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "patient-reference must be one Patient/id")
			}
			req.Patient = "Patient/" + localID(values[0], "Patient", r.Base)
		case "duration", "_count":
			n, err := strconv.Atoi(values[len(values)-1])
			if len(values) != 1 || err != nil || n <= 0 {
				return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must be one positive integer", name)
			}
			if name == "duration" {
				req.Duration = time.Duration(n) * time.Minute
			} else {
				req.Count = n
			}
		default:
			i := actorIndex(name)
			if i < 0 {
				return req, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name,
					"$find has no parameter %q (start, end, specialty, visit-type, practitioner, practitioner-role, organization, location-reference, patient-reference, duration, _count)", name)
			}
			var group []string
			for _, v := range splitValues(values) {
				id := localID(v, actorParams[i].typ, r.Base)
				if id == "" {
					return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must reference a %s of this server, got %q", name, actorParams[i].typ, v)
				}
				group = append(group, actorParams[i].typ+"/"+id)
			}
			req.Actors = append(req.Actors, group)
		}
	}
	switch {
	case req.Start.IsZero() || req.End.IsZero():
		return req, outcome.New(http.StatusBadRequest, outcome.CodeRequired, "$find needs start and end")
	case !req.Start.Before(req.End):
		return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "end", "end must be after start")
	}
	// Deterministic group order (the map above is not).
	sortGroups(req.Actors)
	return req, nil
}

func actorIndex(name string) int {
	for i, p := range actorParams {
		if p.name == name {
			return i
		}
	}
	return -1
}

func sortGroups(groups [][]string) {
	for i := 1; i < len(groups); i++ {
		for j := i; j > 0 && groups[j][0] < groups[j-1][0]; j-- {
			groups[j], groups[j-1] = groups[j-1], groups[j]
		}
	}
}

// splitValues splits comma-separated values (GET form) and repeated parameters alike.
func splitValues(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

var bookParams = []capability.OperationParameter{
	{Name: "appointment-reference", Use: "in", Min: 0, Max: "1", Type: "Reference", Documentation: "Appointment/id of a held (pending) appointment ($hold stored it); a proposal of $find is not stored: pass it as appointment-resource."},
	{Name: "appointment-resource", Use: "in", Min: 0, Max: "1", Type: "Appointment", Documentation: "The proposed Appointment as $find returned it (status proposed or pending). $book with status cancelled and the id of a stored Appointment cancels it and frees its slots."},
	{Name: "patient-reference", Use: "in", Min: 0, Max: "1", Type: "Reference", Documentation: "Patient/id, added as a participant when the appointment has no Patient."},
}

// HoldOperation is Appointment/$hold (IHE ITI-116): POST [base]/Appointment/$hold.
func HoldOperation(b *Booker) operation.Func {
	return operation.Func{Name: "hold", Type: "Appointment", TypeLevel: true, AffectsState: true, URL: HoldDefinitionURL,
		Title: "Hold a potential appointment (IHE ITI Scheduling $hold)",
		Description: "Holds the slots of a proposed Appointment for " + b.hold.String() + ": in one transaction the slots become " +
			"busy-tentative with the extension " + HoldExtensionURL + " (the Appointment and the expiry) and the Appointment is stored " +
			"with status pending. A slot no longer available is a 409 conflict. After the expiry the slots count as free again.",
		Parameters: append(append([]capability.OperationParameter{}, bookParams...),
			capability.OperationParameter{Name: "return", Use: "out", Min: 0, Max: "1", Type: "Bundle", Documentation: "searchset Bundle with the held Appointment (status pending)."}),
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			req, err := bookRequest(r, false)
			if err != nil {
				return nil, err
			}
			out, err := b.Hold(ctx, r.Transact, req, r.Base, r.Now)
			return answer(r, out, err)
		}}
}

// BookOperation is Appointment/$book (IHE ITI-117): POST [base]/Appointment/$book.
func BookOperation(b *Booker) operation.Func {
	return operation.Func{Name: "book", Type: "Appointment", TypeLevel: true, AffectsState: true, URL: BookDefinitionURL,
		Title: "Book an appointment (IHE ITI Scheduling $book)",
		Description: "Books a proposed or held Appointment: in one transaction its slots become busy (ifMatch on the versions read), " +
			"the Appointment is stored with status booked, and the Task it closes is completed with the Appointment as output. " +
			"A slot that another booking or an unexpired hold took is a 409 conflict: of concurrent bookings of one slot exactly " +
			"one succeeds. With appointment-resource of status cancelled it cancels a stored appointment and frees its slots.",
		Parameters: append(append([]capability.OperationParameter{}, bookParams...),
			capability.OperationParameter{Name: "task", Use: "in", Min: 0, Max: "1", Type: "Reference", Documentation: "careflow: Task/id of the stored worklist item the booking closes (completed, output: the Appointment); its focus ServiceRequest or CarePlan is linked like based-on and care-plan."},
			capability.OperationParameter{Name: "based-on", Use: "in", Min: 0, Max: "*", Type: "Reference", Documentation: "careflow: ServiceRequest/id the appointment fulfils (Appointment.basedOn)."},
			capability.OperationParameter{Name: "care-plan", Use: "in", Min: 0, Max: "*", Type: "Reference", Documentation: "careflow: CarePlan/id whose follow-up the appointment books (Appointment.supportingInformation)."},
			capability.OperationParameter{Name: "return", Use: "out", Min: 0, Max: "1", Type: "Bundle", Documentation: "searchset Bundle with the booked (or cancelled) Appointment."}),
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			req, err := bookRequest(r, true)
			if err != nil {
				return nil, err
			}
			out, err := b.Book(ctx, r.Transact, req, r.Base, r.Now)
			return answer(r, out, err)
		}}
}

func bookRequest(r operation.Request, book bool) (BookRequest, error) {
	var req BookRequest
	if r.Transact == nil {
		return req, errors.New("scheduling: the operation was invoked without a transaction runner")
	}
	for name, values := range r.Params {
		refs := splitValues(values)
		one := func(typ string) (string, error) {
			if len(refs) != 1 || localID(refs[0], typ, r.Base) == "" {
				return "", outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must be one %s/id of this server", name, typ)
			}
			return typ + "/" + localID(refs[0], typ, r.Base), nil
		}
		var err error
		switch {
		case name == "appointment-reference":
			req.Reference, err = one("Appointment")
		case name == "patient-reference":
			req.Patient, err = one("Patient")
		case name == "task" && book:
			req.Task, err = one("Task")
		case (name == "based-on" || name == "care-plan") && book:
			typ := map[string]string{"based-on": "ServiceRequest", "care-plan": "CarePlan"}[name]
			for _, v := range refs {
				id := localID(v, typ, r.Base)
				if id == "" {
					return req, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name, "%s must reference a %s of this server, got %q", name, typ, v)
				}
				if typ == "ServiceRequest" {
					req.BasedOn = append(req.BasedOn, typ+"/"+id)
				} else {
					req.CarePlan = append(req.CarePlan, typ+"/"+id)
				}
			}
		default:
			err = outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name, "this operation has no parameter %q", name)
		}
		if err != nil {
			return req, err
		}
	}
	for name, rs := range r.Resources {
		if name != "appointment-resource" || len(rs) != 1 {
			return req, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name, "only one appointment-resource is taken")
		}
		req.Resource = rs[0]
	}
	return req, nil
}

// answer wraps the Appointment written in the searchset Bundle IHE ITI Scheduling answers with.
func answer(r operation.Request, appointment []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	var head struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(appointment, &head)
	out := bundle.New("searchset", "", r.Now)
	out.SetTotal(1)
	out.Entry = []bundle.Entry{{FullURL: r.Base + "/Appointment/" + head.ID, Resource: json.RawMessage(appointment), Search: &bundle.Search{Mode: "match"}}}
	return out.Encode(), nil
}
