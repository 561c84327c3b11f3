// Package operation describes a FHIR operation ($name) that a workflow package contributes to the server:
// its OperationDefinition and the request it is invoked with (R4 operations.html). The server routes it,
// negotiates formats, reports errors as OperationOutcomes and lists it in the CapabilityStatement; the
// operation only computes the answer. The interaction layer (server/interaction) declares the interface it
// consumes; Func implements it for a definition and a function.
package operation

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/capability"
)

// Request is what an operation gets: the instance (for instance-level operations), the parameters (from
// the URL, or from a POSTed Parameters resource with primitive values), the public base URL and the
// server's clock.
type Request struct {
	ID     string
	Params url.Values
	Base   string
	Now    time.Time
	// Resources are the parameters of a POSTed Parameters resource whose value is a resource
	// (parameter.resource), by name, in order; nil for GET.
	Resources map[string][][]byte
	// Transact runs a transaction Bundle (JSON) as POST [base] does — the same validation, indexing,
	// store rules, If-Match preconditions and authorization, all or nothing — and returns the
	// transaction-response Bundle. Set only for operations that change data (Func.AffectsState).
	Transact func(ctx context.Context, bundle []byte) ([]byte, error)
}

// Func is an operation made of its definition and the function computing its answer.
type Func struct {
	Name string // without "$", e.g. "summary"
	// URL is the canonical URL of its OperationDefinition; the server serves the definition at
	// [base]/OperationDefinition/[id], id being the URL's last segment.
	URL string
	// Type is the resource type of an instance-level operation ([base]/Patient/[id]/$summary) or, with
	// TypeLevel, of a type-level one ([base]/Appointment/$find); empty for a system-level one
	// ([base]/$worklist).
	Type string
	// TypeLevel makes an operation on Type invoked on the type ([base]/[Type]/$name), not on an instance.
	TypeLevel bool
	// AffectsState marks an operation that changes data: it is invoked with POST only (a GET is 405) and
	// its Request has Transact.
	AffectsState bool
	// Title and Description document the operation in its OperationDefinition.
	Title, Description string
	// Parameters are the in and out parameters of the OperationDefinition. An operation that does not
	// change data is invoked with GET and the parameters in the URL, or with POST and a Parameters
	// resource (R4 operations.html#request); one that does (AffectsState) with POST only. A posted
	// parameter's primitive value[x] (a valueReference: its reference) is in Request.Params, its resource
	// in Request.Resources.
	Parameters []capability.OperationParameter
	// Run computes the answer (a FHIR resource, JSON); errors are *outcome.Error or internal.
	Run func(ctx context.Context, r Request) ([]byte, error)
}

// Definition returns the OperationDefinition of the operation.
func (f Func) Definition() capability.OperationDefinition {
	name := f.Type + strings.ToUpper(f.Name[:1]) + f.Name[1:]
	return capability.OperationDefinition{URL: f.URL, Name: strings.ToUpper(name[:1]) + name[1:], Title: f.Title,
		Description: f.Description, Code: f.Name, Resource: f.Type, TypeLevel: f.TypeLevel, AffectsState: f.AffectsState,
		Parameters: f.Parameters}
}

// Invoke computes the answer to r.
func (f Func) Invoke(ctx context.Context, r Request) ([]byte, error) { return f.Run(ctx, r) }
