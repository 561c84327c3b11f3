// Package interaction is careflow's FHIR R4 interaction layer (http://hl7.org/fhir/R4/http.html) without
// HTTP: one method per interaction and operation — create, read, vread, update, patch, delete and their
// conditional forms, search (with includes), history, $everything, $meta, $validate, batch, transaction and
// the workflows' operations. It takes and returns FHIR-level values (resource bytes, search parameters,
// versions, *outcome.Error) and never sees an HTTP request: server/rest maps HTTP onto it, and a batch or
// transaction Bundle's entries are served by the same methods (Do), not by synthetic requests.
//
// Every error it returns is an *outcome.Error carrying the HTTP status and the OperationOutcome issues, or
// an internal error (500); the mapping of storage errors to FHIR answers lives here (errors.go).
package interaction

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Validator checks a resource body; it is implemented by fhir/validate.
type Validator interface {
	Validate(resourceType string, data []byte) (map[string]any, *outcome.Error)
}

// Operation is a FHIR operation ($name) that a workflow package contributes (fhir/operation.Func
// implements it): the service routes it, lists it in the CapabilityStatement and serves its
// OperationDefinition; the operation only computes its answer.
type Operation interface {
	Definition() capability.OperationDefinition
	Invoke(ctx context.Context, r operation.Request) ([]byte, error)
}

// Config tunes the service.
type Config struct {
	// DefaultCount and MaxCount bound page sizes (_count). Defaults 50 and 1000.
	DefaultCount, MaxCount int
	// Version is the software version reported in the CapabilityStatement.
	Version string
	// Types are the resource types served.
	Types []string
	// MaxBundleEntries bounds the entries of a batch or transaction (413 beyond). Default 10,000.
	MaxBundleEntries int
	// Operations are the FHIR operations contributed by workflow packages.
	Operations []Operation
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Policy, when set, authorizes every interaction for the call's principal (SMART scopes, the interaction
	// table of package auth); the store must then confine patient/ access (storage/confine). Nil: no
	// authorization (auth off).
	Policy *auth.Policy
	// ReadOnly are the types the API only reads: the server itself writes them (AuditEvent, the access
	// log). Any write interaction on them is a 405.
	ReadOnly []string
	// OAuth are the authorization server's endpoints the CapabilityStatement declares (with Policy).
	OAuth *capability.OAuth
}

// Service serves the FHIR interactions on a store.
type Service struct {
	cfg       Config
	store     storage.Store
	validator Validator
	registry  *search.Registry
	pipeline  Pipeline
	// compartments are the official CompartmentDefinitions (definitions.Compartments).
	compartments *search.Compartments
	// summary holds, per type, the top-level elements _summary=true returns (official isSummary flags).
	summary  map[string]map[string]bool
	types    map[string]bool
	readOnly map[string]bool
	started  time.Time
	now      func() time.Time
}

// New returns the service over store, which is the fully decorated store (cmd/careflow wires the chain).
func New(cfg Config, store storage.Store, v Validator, registry *search.Registry) (*Service, error) {
	if cfg.DefaultCount <= 0 {
		cfg.DefaultCount = 50
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = 1000
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.MaxBundleEntries <= 0 {
		cfg.MaxBundleEntries = DefaultMaxBundleEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if c, ok := store.(patientConfiner); cfg.Policy != nil && (!ok || !c.ConfinesPatients()) {
		return nil, errors.New("interaction: authorization needs a store that confines patient/ access (storage/confine outermost)")
	}
	if c, ok := store.(scopeFilterer); cfg.Policy != nil && (!ok || !c.FiltersScopes()) {
		return nil, errors.New("interaction: authorization needs a store that enforces granular scopes (storage/confine outermost)")
	}
	s := &Service{cfg: cfg, store: store, validator: v, registry: registry, pipeline: Pipeline{Validator: v, Registry: registry},
		types: map[string]bool{}, readOnly: map[string]bool{}, now: cfg.Now}
	for _, t := range cfg.ReadOnly {
		s.readOnly[t] = true
	}
	s.started = s.now()
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	comps, err := registry.NewCompartments(definitions.Compartments()...)
	if err != nil {
		return nil, fmt.Errorf("interaction: compartments: %w", err)
	}
	s.compartments = comps
	s.summary = s.summarySets()
	return s, nil
}

// writable refuses a write interaction on a read-only type (405).
func (s *Service) writable(typ string) error {
	if s.readOnly[typ] {
		return outcome.At(http.StatusMethodNotAllowed, outcome.CodeNotSupported, typ,
			"%s is read-only on this server: the server writes it itself", typ)
	}
	return nil
}

// Serves reports whether typ is a served resource type.
func (s *Service) Serves(typ string) bool { return s.types[typ] }

// Operations returns the workflows' operations.
func (s *Service) Operations() []Operation { return s.cfg.Operations }

// Ping checks that the store answers (readiness).
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Call is what an interaction knows of its request besides its own arguments.
type Call struct {
	// Base is the public FHIR base URL without a trailing slash (fullUrl, Location, links, and references
	// to this server in absolute form).
	Base string
	// Return is the client's Prefer: return= (minimal, representation, OperationOutcome); "" means
	// representation. It shapes the entries of a batch or transaction response.
	Return string
	// Strict is Prefer: handling=strict (unknown search parameters are errors).
	Strict bool
	// Principal is who the verified access token speaks for; nil without a token.
	Principal *auth.Principal
}

// withBase puts the call's base into ctx for the store decorators (storage.WithBase).
func (c Call) context(ctx context.Context) context.Context { return storage.WithBase(ctx, c.Base) }

// Result is the answer to a successful interaction.
type Result struct {
	// Status is the HTTP status (200, 201, 204, 304).
	Status int
	// Version is the version the interaction read or wrote (ETag, Last-Modified); nil when none (a search,
	// a delete with nothing to delete).
	Version *storage.Version
	// Location is the URL of the version written: Location of a 201, Content-Location otherwise.
	Location string
	// Body is the resource, Bundle, Parameters or OperationOutcome answered. For writes it is nil: the
	// representation is Version.Body, shaped by the client's preference (Representation).
	Body []byte
	// Outcome reports that Body is an OperationOutcome about a success ($validate's answer).
	Outcome bool
	// Message is what a write or delete did, for a client that prefers an OperationOutcome.
	Message string
	// Write marks a create, update, patch or conditional create; Delete a delete. Their bodies depend on
	// the client's return preference.
	Write, Delete bool
}

// Representation returns the body of r for the return preference ret: for writes the resource (default),
// nothing (minimal) or an OperationOutcome (isOutcome); for deletes nothing or the OperationOutcome;
// otherwise Body.
func (r *Result) Representation(ret string) (body []byte, isOutcome bool) {
	switch {
	case r.Write && ret == "minimal", r.Delete && ret != "OperationOutcome":
		return nil, false
	case (r.Write || r.Delete) && ret == "OperationOutcome":
		return outcome.Resource([]outcome.Issue{outcome.Info("%s", r.Message)}), true
	case r.Write:
		return r.Version.Body, false
	}
	return r.Body, r.Outcome
}
