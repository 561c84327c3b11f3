package interaction

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/scope"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/confine"
)

// Authorization (docs/SECURITY.md). With Config.Policy set, every interaction is decided by the SMART
// interaction table (auth.Policy) for the call's principal before it touches the store; a request whose
// access rests on patient/ scopes runs with storage.WithPatientCompartment, and one whose access rests on
// granular scopes (with a query) with confine.WithScopes, which the store decorator storage/confine
// enforces on every store call the interaction makes (searches inside the compartment and matching the
// scopes' queries, reads and writes of such resources only). Without a Policy nothing is checked.

// patientConfiner and scopeFilterer are the capabilities of the decorated store that Policy requires
// (storage/confine): it enforces storage.WithPatientCompartment and confine.WithScopes.
type (
	patientConfiner interface{ ConfinesPatients() bool }
	scopeFilterer   interface{ FiltersScopes() bool }
)

// granular turns the granular scopes (scopes with a query, patient/Observation.rs?category=…) a decision
// rests on into the restriction confine.WithScopes enforces: each scope's query parsed as a search on the
// type. A query careflow cannot enforce exactly (an unknown parameter, a value that does not parse, a
// parameter the in-memory matcher cannot evaluate) makes the request a 403 naming the scope: a granular
// scope never grants more than it says.
func (s *Service) granular(req auth.Request, dec *auth.Decision) (confine.Scopes, error) {
	var out confine.Scopes
	add := func(typ string, a scope.Access) error {
		if len(a.Filters) == 0 {
			return nil
		}
		refuse := func(format string, args ...any) error {
			name := strings.Join(a.Scopes, " ")
			return &auth.Error{Status: http.StatusForbidden, Code: auth.CodeInsufficientScope, Scope: name,
				Description: req.Interaction + " on " + typ + " rests on the granular scope(s) " + name + ", whose query " + fmt.Sprintf(format, args...)}
		}
		if typ == "" || typ == "*" {
			return refuse("cannot restrict an interaction that is not on one resource type")
		}
		var conj [][][]search.Criterion
		for _, alts := range a.Filters {
			var disj [][]search.Criterion
			for _, values := range alts {
				q, perr := s.registry.Parse(typ, values, search.ParseOptions{Strict: true})
				if perr != nil {
					return refuse("is not a search careflow supports on %s: %s", typ, perr.Error())
				}
				if len(q.Criteria) == 0 || len(q.Include)+len(q.RevInclude)+len(q.Sort)+len(q.Elements) > 0 || q.Compartment != nil {
					return refuse("must consist of search criteria only")
				}
				for _, c := range q.Criteria {
					if c.Chain != nil || c.Has != nil {
						return refuse("uses a chain or _has, which a scope cannot")
					}
				}
				if _, ok := search.NewMatcher(q.Criteria); !ok {
					return refuse("uses criteria careflow cannot check on a single resource")
				}
				disj = append(disj, q.Criteria)
			}
			conj = append(conj, disj)
		}
		if out == nil {
			out = confine.Scopes{}
		}
		out[typ] = append(out[typ], conj...)
		return nil
	}
	if err := add(req.Type, dec.Target); err != nil {
		return nil, err
	}
	for typ, a := range dec.Others {
		if err := add(typ, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// authorize decides req for the call. It returns the context to run the interaction with (confined to
// the patient's compartment when the access rests on patient/ scopes) and the decision (nil without a
// Policy: everything allowed).
func (s *Service) authorize(ctx context.Context, call Call, req auth.Request) (context.Context, *auth.Decision, error) {
	if s.cfg.Policy == nil {
		return ctx, nil, nil
	}
	dec, err := s.cfg.Policy.Authorize(call.Principal, req)
	if err != nil {
		return ctx, nil, err
	}
	scoped, err := s.granular(req, dec)
	if err != nil {
		return ctx, nil, err
	}
	ctx = confine.WithScopes(ctx, scoped)
	if dec.Patient != "" {
		ctx = storage.WithPatientCompartment(ctx, dec.Patient)
	}
	return ctx, dec, nil
}

// omitted removes from types those the decision leaves out (no permission on them).
func omitted(types []string, dec *auth.Decision) []string {
	if dec == nil || len(dec.Omit) == 0 {
		return types
	}
	return slices.DeleteFunc(slices.Clone(types), func(t string) bool { return slices.Contains(dec.Omit, t) })
}

// authorizeSearch authorizes what a parsed search reaches beyond its own type: _include (r on each target
// type), _revinclude (s on each source type), chains and _has (s on each type they go through). A type a
// directive names is refused without permission; a type a wildcard directive (_include=*, _revinclude=*,
// a reference to any type) would reach is left out instead, and returned in omit.
func (s *Service) authorizeSearch(ctx context.Context, call Call, q *search.Query) (context.Context, map[string]bool, error) {
	if s.cfg.Policy == nil {
		return ctx, nil, nil
	}
	var named, wild [2][]string // [0] forward (_include), [1] reverse (_revinclude)
	for _, inc := range q.Include {
		if inc.Target != "" || !inc.Wildcard && inc.Param != nil && len(inc.Param.Target) > 0 {
			named[0] = append(named[0], s.includeTargets(inc)...)
		} else {
			wild[0] = append(wild[0], s.cfg.Types...)
		}
	}
	for _, inc := range q.RevInclude {
		if inc.Source == "*" {
			wild[1] = append(wild[1], s.cfg.Types...)
		} else {
			named[1] = append(named[1], inc.Source)
		}
	}
	var chained []string
	for _, c := range q.Criteria {
		chained = append(chained, c.ChainTypes()...)
	}
	check := func(name string, types []string) error {
		if len(types) == 0 {
			return nil
		}
		slices.Sort(types)
		var err error
		ctx, _, err = s.authorize(ctx, call, auth.Request{Interaction: name, Type: q.Type, Types: slices.Compact(types), Named: true})
		return err
	}
	names := [2]string{"search-include", "search-revinclude"}
	omit := map[string]bool{}
	for k := range names {
		if err := check(names[k], named[k]); err != nil {
			return ctx, nil, err
		}
		for _, t := range slices.Compact(wild[k]) {
			if slices.Contains(named[k], t) || omit[t] {
				continue
			}
			if err := check(names[k], []string{t}); err != nil {
				if _, ok := auth.AsError(err); !ok {
					return ctx, nil, err
				}
				omit[t] = true
			}
		}
	}
	if err := check("search-chain", chained); err != nil {
		return ctx, nil, err
	}
	return ctx, omit, nil
}

// includeTargets lists the types an _include directive can add.
func (s *Service) includeTargets(inc search.Include) []string {
	switch {
	case inc.Target != "":
		return []string{inc.Target}
	case inc.Wildcard || inc.Param == nil || len(inc.Param.Target) == 0:
		return s.cfg.Types
	}
	return inc.Param.Target
}

// authorizeEntry authorizes a write entry of a transaction as the interaction it is (reads run later,
// through Do, and are authorized then).
func (s *Service) authorizeEntry(ctx context.Context, call Call, e *txEntry) (context.Context, error) {
	if s.cfg.Policy == nil {
		return ctx, nil
	}
	conditional := e.id == "" && e.query != ""
	var name string
	switch e.method {
	case http.MethodPost:
		name = "create"
		if e.ifNoneExist != "" {
			name = "conditional-create"
		}
	case http.MethodPut:
		if !conditional {
			return s.authorizeUpdate(ctx, call, "update", "update-create", e.typ, e.id)
		}
		name = "conditional-update"
	case http.MethodDelete:
		name = "delete"
		if conditional {
			name = "conditional-delete"
		}
	case http.MethodPatch:
		name = "patch"
		if conditional {
			name = "conditional-patch"
		}
	default:
		return ctx, nil
	}
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: name, Type: e.typ, ID: e.id})
	return ctx, err
}

// exists reports whether typ/id is a current resource as the (possibly confined) context sees it.
func (s *Service) exists(ctx context.Context, typ, id string) (bool, error) {
	_, err := s.store.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound), errors.As(err, &gone):
		return false, nil
	}
	return false, storageError(err, typ, id)
}

// OutcomeOf is the OperationOutcome of any error an interaction returns: its status and issues (an
// authorization refusal included; the HTTP layer adds its WWW-Authenticate challenge).
func OutcomeOf(err error) *outcome.Error {
	if ae, ok := auth.AsError(err); ok {
		code := outcome.CodeForbidden
		switch ae.Status {
		case http.StatusUnauthorized:
			code = outcome.CodeLogin
		case http.StatusBadRequest:
			code = outcome.CodeInvalid
		case http.StatusServiceUnavailable:
			code = outcome.CodeTransient
		}
		desc := ae.Description
		if ae.Scope != "" && !strings.Contains(desc, ae.Scope) {
			desc += " (scope " + ae.Scope + ")"
		}
		return &outcome.Error{Status: ae.Status, Cause: err, Issues: []outcome.Issue{{Severity: outcome.SeverityErr, Code: code, Diagnostics: desc}}}
	}
	return outcome.Wrap(err)
}
