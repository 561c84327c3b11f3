package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/careflow/careflow/auth/scope"
)

// PatientRule says how an interaction is confined when the access rests on patient/ scopes (the
// compartment of the token's patient claim, by the official Patient CompartmentDefinition). The HTTP
// layer enforces it; Authorize refuses outright what cannot be confined.
type PatientRule string

// The patient rules.
const (
	// PatientNone: the interaction reads and writes no stored data; nothing to confine.
	PatientNone PatientRule = "—"
	// PatientInstance: the resource read (current or any version) must be in the compartment.
	PatientInstance PatientRule = "resource in the compartment"
	// PatientSearch: the search runs inside the compartment: every match and every included resource is
	// in it (also through _include, _revinclude, chains and _has).
	PatientSearch PatientRule = "search inside the compartment"
	// PatientWrite: the resource must be in the compartment before the write (when it exists) and after it.
	PatientWrite PatientRule = "resource in the compartment before and after"
	// PatientOwn: the operation's patient (its instance id, or its patient parameter) must be the token's
	// patient.
	PatientOwn PatientRule = "only the token's patient"
	// PatientRefused: not available to patient/ scopes, because the answer cannot be confined to one
	// compartment; it needs user/ or system/ scopes.
	PatientRefused PatientRule = "refused (needs user/ or system/)"
	// PatientEntries: every entry is confined by its own rule.
	PatientEntries PatientRule = "per entry"
)

// OtherTypes says which resource types beyond the request's own an interaction needs permissions on.
type OtherTypes uint8

// The kinds of other types.
const (
	OthersNone      OtherTypes = iota
	OthersRequested            // the types the request names or answers with (Request.Types)
	OthersServed               // every type the server serves
	OthersListed               // Interaction.Listed
)

// Interaction is one row of the interaction table: a FHIR interaction or careflow operation and the SMART
// permissions it needs.
type Interaction struct {
	Name    string // the key the HTTP layer passes to Authorize, e.g. "read", "$everything"
	Request string // its HTTP form
	// Public interactions need no token at all.
	Public bool
	// Target are the permissions needed on the request's resource type ([type] in Request).
	Target scope.Permission
	// Others are the permissions needed on each type OthersOf names.
	Others   scope.Permission
	OthersOf OtherTypes
	Listed   []string // for OthersListed
	// Omit: another type the token lacks Others on is left out of the answer instead of refusing the
	// request — unless the client named the type explicitly (Request.Named).
	Omit    bool
	Patient PatientRule
	// PerEntry: a batch or transaction Bundle; the Bundle needs nothing, each entry is authorized as the
	// interaction it is.
	PerEntry bool
	Note     string
}

// interactions returns the table. It is rendered into docs/SECURITY.md (TestSecurityDocMatchesTable).
func interactions() []Interaction {
	const (
		c, r, u, d, s = scope.Create, scope.Read, scope.Update, scope.Delete, scope.Search
	)
	// summaryTypes are the types Patient/$summary reads and cites besides the Patient (adapters/summary).
	summaryTypes := []string{"AllergyIntolerance", "MedicationStatement", "MedicationRequest", "CarePlan", "Condition", "Immunization",
		"Observation", "Procedure", "Encounter", "FamilyMemberHistory", "CareTeam", "Practitioner", "PractitionerRole", "RelatedPerson",
		"Coverage", "Appointment"}
	// worklistTypes are the types $worklist derives its Tasks from, and Task (adapters/worklist), and the
	// Communications that complete them.
	worklistTypes := []string{"Patient", "CarePlan", "Appointment", "AllergyIntolerance", "MedicationStatement", "Coverage", "Task",
		"Encounter", "MedicationRequest", "ServiceRequest", "DiagnosticReport", "Observation", "Procedure", "DocumentReference",
		"Communication", "CommunicationRequest", "Claim", "ClaimResponse", "PractitionerRole", "CareTeam"}
	// draftTypes are the types $draft-message reads: the patient's worklist, and the people it may write to.
	draftTypes := append(slices.Clone(worklistTypes), "RelatedPerson")
	return []Interaction{
		{Name: "capabilities", Request: "GET [base]/metadata", Public: true, Patient: PatientNone,
			Note: "the CapabilityStatement: public, as SMART discovery requires"},
		{Name: "smart-configuration", Request: "GET [base]/.well-known/smart-configuration", Public: true, Patient: PatientNone,
			Note: "SMART discovery"},
		{Name: "operation-definition", Request: "GET [base]/OperationDefinition/[id]", Public: true, Patient: PatientNone,
			Note: "careflow's own OperationDefinitions: conformance resources, no patient data"},
		{Name: "health", Request: "GET /healthz, GET /readyz", Public: true, Patient: PatientNone,
			Note: "liveness and readiness probes"},
		{Name: "app", Request: "GET /app/…", Public: true, Patient: PatientNone,
			Note: "the dashboard's static files; its data requests carry a token"},

		{Name: "read", Request: "GET [base]/[type]/[id]", Target: r, Patient: PatientInstance},
		{Name: "vread", Request: "GET [base]/[type]/[id]/_history/[vid]", Target: r, Patient: PatientInstance},
		{Name: "history-instance", Request: "GET [base]/[type]/[id]/_history", Target: r, Patient: PatientInstance,
			Note: "SMART: instance history is r"},
		{Name: "update", Request: "PUT [base]/[type]/[id] (the resource exists)", Target: u, Patient: PatientWrite},
		{Name: "update-create", Request: "PUT [base]/[type]/[id] (no such resource: update as create)", Target: c | u, Patient: PatientWrite,
			Note: "SMART lets u alone create here; careflow also requires c, so that a token without c never adds a resource (SMART allows a 403 on any write)"},
		{Name: "patch", Request: "PATCH [base]/[type]/[id]", Target: u, Patient: PatientWrite,
			Note: "JSON Patch and FHIRPath Patch"},
		{Name: "delete", Request: "DELETE [base]/[type]/[id]", Target: d, Patient: PatientWrite},

		{Name: "create", Request: "POST [base]/[type]", Target: c, Patient: PatientWrite},
		{Name: "conditional-create", Request: "POST [base]/[type] with If-None-Exist", Target: c | s, Patient: PatientWrite,
			Note: "the criteria are a search; the match is found inside the compartment"},
		{Name: "conditional-update", Request: "PUT [base]/[type]?[criteria] (one match)", Target: u | s, Patient: PatientWrite},
		{Name: "conditional-update-create", Request: "PUT [base]/[type]?[criteria] (no match: creates)", Target: c | u | s, Patient: PatientWrite,
			Note: "as update-create, c is required when it creates"},
		{Name: "conditional-patch", Request: "PATCH [base]/[type]?[criteria]", Target: u | s, Patient: PatientWrite},
		{Name: "conditional-delete", Request: "DELETE [base]/[type]?[criteria]", Target: d | s, Patient: PatientWrite,
			Note: "every resource it deletes must be in the compartment"},
		{Name: "search-type", Request: "GET [base]/[type]?…, POST [base]/[type]/_search", Target: s, Patient: PatientSearch},
		{Name: "history-type", Request: "GET [base]/[type]/_history", Target: s, Patient: PatientSearch,
			Note: "SMART: type history is s"},
		{Name: "search-compartment", Request: "GET [base]/[compartment]/[id]/[type]", Target: s, Patient: PatientSearch,
			Note: "[type] is the searched type ([compartment]/[id]/* is a search-system over the compartment's types); compartments Patient, Practitioner, RelatedPerson, Encounter, Device; with patient/ scopes a Patient [id] must be the token's patient, and another compartment's results are confined to the token's patient's compartment"},
		{Name: "search-system", Request: "GET [base]?…", Others: s, OthersOf: OthersRequested, Omit: true, Patient: PatientSearch,
			Note: "types: _type, or every served type; SMART: system search is s"},
		{Name: "history-system", Request: "GET [base]/_history", Others: s, OthersOf: OthersServed, Omit: true, Patient: PatientSearch,
			Note: "SMART: system history is s"},
		{Name: "search-include", Request: "_include=[type]:[param] in any search", Others: r, OthersOf: OthersRequested, Patient: PatientSearch,
			Note: "on each type _include (and _include:iterate) adds: a read of the referenced resource"},
		{Name: "search-revinclude", Request: "_revinclude=[type]:[param] in any search", Others: s, OthersOf: OthersRequested, Patient: PatientSearch,
			Note: "on each type _revinclude adds: a search for the referencing resources"},
		{Name: "search-chain", Request: "[param].[param]=…, _has:[type]:… in any search", Others: s, OthersOf: OthersRequested, Patient: PatientSearch,
			Note: "on each type a chain or reverse chain (_has) goes through: its values decide the answer"},

		{Name: "batch", Request: "POST [base] (Bundle type batch)", PerEntry: true, Patient: PatientEntries,
			Note: "SMART: batch and transaction are wrappers; each entry is authorized as its own interaction, a refused entry answers 403 in its response entry"},
		{Name: "transaction", Request: "POST [base] (Bundle type transaction)", PerEntry: true, Patient: PatientEntries,
			Note: "every entry is authorized before anything is written; one refused entry refuses the whole transaction (403)"},
		{Name: "conditional-reference", Request: "a reference [type]?[criteria] in a transaction entry", Target: s, Patient: PatientSearch,
			Note: "resolving it is a search on [type]"},

		{Name: "$validate-type", Request: "POST [base]/[type]/$validate", Patient: PatientNone,
			Note: "a valid token, no permission: it checks the posted resource, reads no stored data and changes nothing (requiring c or u would let a read-only client not validate, and r would mean nothing here)"},
		{Name: "$validate-instance", Request: "GET|POST [base]/[type]/[id]/$validate", Target: r, Patient: PatientInstance,
			Note: "r: it reads the stored resource (mode=delete reports whether it exists); it writes nothing"},
		{Name: "$meta-system", Request: "GET|POST [base]/$meta", Others: s, OthersOf: OthersServed, Omit: true, Patient: PatientRefused,
			Note: "the union of every current resource's tags, security labels and profiles: a search over all types"},
		{Name: "$meta-type", Request: "GET|POST [base]/[type]/$meta", Target: s, Patient: PatientRefused,
			Note: "the union over the type: a search"},
		{Name: "$meta-instance", Request: "GET|POST [base]/[type]/[id]/$meta, …/_history/[vid]/$meta", Target: r, Patient: PatientInstance},
		{Name: "$meta-add", Request: "POST [base]/[type]/[id]/$meta-add, …/_history/[vid]/$meta-add", Target: u, Patient: PatientWrite,
			Note: "changes meta (no new version): an update"},
		{Name: "$meta-delete", Request: "POST [base]/[type]/[id]/$meta-delete, …/_history/[vid]/$meta-delete", Target: u, Patient: PatientWrite,
			Note: "changes meta (no new version): an update"},
		{Name: "$everything", Request: "GET [base]/Patient/[id]/$everything", Target: r, Others: s, OthersOf: OthersRequested, Omit: true, Patient: PatientOwn,
			Note: "r on Patient; s on each type it returns (_type, or every type of the compartment)"},
		{Name: "$summary", Request: "GET|POST [base]/Patient/[id]/$summary", Target: r, Others: s, OthersOf: OthersListed, Listed: summaryTypes, Patient: PatientOwn,
			Note: "r on Patient; s on every type its sections cite (leaving one out would make the summary wrong, so it is refused instead)"},
		{Name: "$worklist", Request: "GET|POST [base]/$worklist", Others: s, OthersOf: OthersListed, Listed: worklistTypes, Patient: PatientOwn,
			Note: "s on every type it is derived from and on Task, which it answers; with patient/ scopes the patient parameter must be the token's patient"},
		{Name: "$find", Request: "GET|POST [base]/Appointment/$find", Target: s, Others: s, OthersOf: OthersListed, Listed: []string{"Schedule", "Slot"}, Patient: PatientRefused,
			Note: "IHE ITI Scheduling: s on Appointment (it answers proposed Appointments) and on the schedules and slots it reads; refused to patient/ scopes for now (slots are not in a patient's compartment)"},
		{Name: "$hold", Request: "POST [base]/Appointment/$hold", Target: c | u, Others: u, OthersOf: OthersListed, Listed: []string{"Slot"}, Patient: PatientRefused,
			Note: "stores a held Appointment and marks its slots busy-tentative: c and u on Appointment, u on Slot; each write of its transaction is authorized too"},
		{Name: "$book", Request: "POST [base]/Appointment/$book", Target: c | u, Others: u, OthersOf: OthersListed, Listed: []string{"Slot", "Task"}, Patient: PatientRefused,
			Note: "stores the booked Appointment, marks its slots busy and completes the Task it closes: c and u on Appointment, u on Slot and Task; each write of its transaction is authorized too"},
		{Name: "$draft-message", Request: "GET|POST [base]/Patient/[id]/$draft-message", Target: r, Others: s, OthersOf: OthersListed, Listed: draftTypes, Patient: PatientOwn,
			Note: "r on Patient; s on every type the patient's worklist is derived from and on RelatedPerson; it writes nothing (the client stores the draft, which needs c/u on Communication)"},
	}
}

// Policy is the interaction table for a server's resource types. It is immutable and safe for concurrent
// use.
type Policy struct {
	list   []Interaction
	byName map[string]int
	served []string
}

// NewPolicy returns the policy for a server serving the given resource types.
func NewPolicy(served []string) *Policy {
	p := &Policy{list: interactions(), byName: map[string]int{}, served: slices.Clone(served)}
	for i, in := range p.list {
		p.byName[in.Name] = i
	}
	return p
}

// Interactions returns a copy of the table.
func (p *Policy) Interactions() []Interaction {
	out := slices.Clone(p.list)
	for i := range out {
		out[i].Listed = slices.Clone(out[i].Listed)
	}
	return out
}

// Request is one interaction to authorize.
type Request struct {
	Interaction string // an Interaction.Name
	Type        string // the request's resource type ([type]); "" for system-level interactions
	// ID is the instance id for instance-level interactions, and for $worklist its patient parameter
	// (needed by PatientOwn).
	ID string
	// Types are the other types the request touches, for interactions with OthersRequested.
	Types []string
	// Named: the client named Types explicitly (_type), so a type without permission is a 403 even where
	// the interaction would otherwise leave it out.
	Named bool
}

// Decision is what an authorized request may do.
type Decision struct {
	Public bool
	// PerEntry: authorize each entry of the Bundle.
	PerEntry bool
	// Target is the access on the request's type (zero when the interaction needs none there).
	Target scope.Access
	// Others is the access on each other type the request may touch.
	Others map[string]scope.Access
	// Omit are the other types the answer must leave out (no permission on them).
	Omit []string
	// Patient is set when some access rests on patient/ scopes: the request is confined to this
	// patient's compartment by the interaction's rule.
	Patient string
	Rule    PatientRule
}

// Authorize decides whether principal (nil: no token) may perform req. It returns an *Error: 401 without
// a principal (unless the interaction is public), 403 naming the missing scope otherwise.
func (p *Policy) Authorize(principal *Principal, req Request) (*Decision, error) {
	i, ok := p.byName[req.Interaction]
	if !ok {
		return nil, forbidden("", "interaction %q is not in the authorization table", req.Interaction)
	}
	in := p.list[i]
	if in.Public {
		return &Decision{Public: true, Rule: in.Patient}, nil
	}
	if principal == nil {
		return nil, NoToken()
	}
	dec := &Decision{PerEntry: in.PerEntry, Rule: in.Patient}
	check := func(perms scope.Permission, typ string) (scope.Access, *Error) {
		a, _ := principal.Access(perms, typ)
		if !a.Allowed() {
			name := scope.Name(principal.context(in.Patient), typ, a.Missing)
			if bad := principal.Scopes.Invalid; len(bad) > 0 {
				// Say why a scope the client may think grants it does not (fail closed, but not silently).
				return a, forbidden(name, "%s needs scope %s; the token's scope(s) %s are not valid or use a query careflow does not support (a granular scope's query may hold only plain param=value search criteria), so they grant nothing",
					in.Name, name, strings.Join(bad, " "))
			}
			return a, forbidden(name, "%s needs scope %s", in.Name, name)
		}
		if a.Confined {
			switch {
			case in.Patient == PatientRefused:
				name := scope.Name(scope.User, typ, perms)
				return a, forbidden(name, "%s is not available to patient/ scopes; it needs %s (or system/)", in.Name, name)
			case in.Patient == PatientOwn && req.ID != principal.Patient:
				return a, forbidden("", "%s with patient/ scopes is limited to the token's patient", in.Name)
			}
			dec.Patient = principal.Patient
		}
		return a, nil
	}
	if in.Target != 0 {
		a, err := check(in.Target, req.Type)
		if err != nil {
			return nil, err
		}
		dec.Target = a
	}
	if in.Others != 0 {
		var types []string
		switch in.OthersOf {
		case OthersRequested:
			types = req.Types
		case OthersServed:
			types = p.served
		case OthersListed:
			types = in.Listed
		}
		if len(types) == 0 && in.Target == 0 {
			// Fail closed: the caller must say which types the request touches.
			return nil, forbidden("", "%s: no resource type to authorize", in.Name)
		}
		dec.Others = map[string]scope.Access{}
		for _, t := range types {
			if in.Target != 0 && t == req.Type {
				continue // the target's own permissions cover it
			}
			a, err := check(in.Others, t)
			if err != nil {
				if in.Omit && !req.Named && !a.Allowed() {
					dec.Omit = append(dec.Omit, t)
					continue
				}
				return nil, err
			}
			dec.Others[t] = a
		}
		if len(types) > 0 && len(dec.Others) == 0 && in.Target == 0 {
			name := scope.Name(principal.context(in.Patient), strings.Join(dec.Omit, "|"), in.Others)
			return nil, forbidden(name, "%s needs %s on at least one type", in.Name, in.Others)
		}
	}
	return dec, nil
}

// context chooses the context a missing scope is named in: system/ for a backend client (system/ scopes
// only), patient/ when the token has a patient and the rule admits patient/ scopes, else user/.
func (p *Principal) context(rule PatientRule) scope.Context {
	var hasSystem, hasOther bool
	for _, r := range p.Scopes.Resources {
		if r.Context == scope.System {
			hasSystem = true
		} else {
			hasOther = true
		}
	}
	switch {
	case hasSystem && !hasOther:
		return scope.System
	case p.Patient != "" && rule != PatientRefused:
		return scope.Patient
	}
	return scope.User
}

// Markdown renders the table for docs/SECURITY.md.
func (p *Policy) Markdown() string {
	var b strings.Builder
	b.WriteString("| interaction | request | on [type] | on other types | with patient/ scopes | notes |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, in := range p.list {
		target, others := "—", "—"
		switch {
		case in.Public:
			target = "public (no token)"
		case in.PerEntry:
			target = "per entry"
		case in.Target != 0:
			target = "`" + in.Target.String() + "`"
		default:
			target = "a valid token"
		}
		if in.Others != 0 {
			var of string
			switch in.OthersOf {
			case OthersRequested:
				of = "each type requested or returned"
			case OthersServed:
				of = "every served type"
			case OthersListed:
				of = strings.Join(in.Listed, ", ")
			}
			others = fmt.Sprintf("`%s` on %s", in.Others, of)
			if in.Omit {
				others += " (a type without it is left out, unless named in _type)"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", in.Name, strings.ReplaceAll(in.Request, "|", "\\|"), target, others, in.Patient,
			strings.ReplaceAll(in.Note, "|", "\\|"))
	}
	return b.String()
}
