package interaction

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// condition parses the search criteria of a conditional interaction. Unknown parameters are errors here
// (strict handling whatever Prefer says): silently dropping a criterion would widen the match and create,
// update or delete the wrong resource.
func (s *Service) condition(typ, raw, where string) (*search.Query, string, error) {
	params, err := url.ParseQuery(raw)
	if err != nil {
		return nil, "", outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "%s: malformed search criteria %q: %v", where, raw, err)
	}
	for _, k := range []string{"_format", "_pretty"} {
		params.Del(k)
	}
	if len(params) == 0 {
		return nil, "", outcome.New(http.StatusBadRequest, outcome.CodeRequired, "%s: search criteria are required", where)
	}
	q, err := s.parseQuery(typ, params, true)
	if err != nil {
		return nil, "", err
	}
	// At most two matches tell 0, 1 and many apart.
	q.Count, q.CountSet, q.Total, q.Sort, q.Cursor = 2, true, "none", nil, ""
	return q, typ + "?" + canonical(params), nil
}

// canonical orders a query so that the same criteria in another order name the same lock.
func canonical(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// matches runs a conditional query.
func (s *Service) matches(ctx context.Context, q *search.Query) ([]*storage.Version, error) {
	page, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, searchError(err)
	}
	return page.Versions, nil
}

// conditionalCreate serves create with If-None-Exist (http.html#ccreate): no match creates, one match
// answers 200 with the existing resource, several are 412. Concurrent identical requests are serialised
// by a database lock named after the criteria, so they create one resource, not several.
func (s *Service) conditionalCreate(ctx context.Context, call Call, typ string, w storage.Write, criteria string) (*Result, error) {
	q, lock, err := s.condition(typ, criteria, "If-None-Exist")
	if err != nil {
		return nil, err
	}
	found, err := s.matches(ctx, q)
	if err == nil && len(found) == 0 {
		var release func()
		release, err = s.store.Lock(ctx, lock)
		if err != nil {
			return nil, storageError(err, typ, "")
		}
		defer release()
		found, err = s.matches(ctx, q) // another request may have created it while we waited
	}
	switch {
	case err != nil:
		return nil, err
	case len(found) > 1:
		return nil, tooMany("If-None-Exist")
	case len(found) == 1:
		return written(call, http.StatusOK, found[0], "a matching resource exists:"), nil
	}
	return s.create(ctx, call, w)
}

// ConditionalUpdate serves PUT [base]/[type]?criteria (http.html#cond-update): no match creates (with the
// body's id when it has one), one match is updated, several are 412.
func (s *Service) ConditionalUpdate(ctx context.Context, call Call, typ, criteria string, body []byte, ifMatchValue string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: "conditional-update", Type: typ})
	if err != nil {
		return nil, err
	}
	q, lock, err := s.condition(typ, criteria, "conditional update")
	if err != nil {
		return nil, err
	}
	pre, err := ifMatch("If-Match", ifMatchValue)
	if err != nil {
		return nil, err
	}
	w, bodyID, err := s.pipeline.Prepare(typ, body)
	if err != nil {
		return nil, err
	}
	release, err := s.store.Lock(ctx, lock)
	if err != nil {
		return nil, storageError(err, typ, "")
	}
	defer release()
	found, err := s.matches(ctx, q)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		// No match: create, with the body's id when it has one (update-as-create) or a new one.
		if ctx, _, err = s.authorize(ctx, call, auth.Request{Interaction: "conditional-update-create", Type: typ}); err != nil {
			return nil, err
		}
		w.ID, w.Method = bodyID, "PUT"
		var v *storage.Version
		if bodyID == "" {
			v, err = s.store.Create(ctx, w)
		} else {
			var p storage.Precondition
			if p, err = s.precondition(ctx, pre, typ, bodyID); err == nil {
				v, _, err = s.store.Update(ctx, w, p)
			}
		}
		if err != nil {
			return nil, storageError(err, typ, bodyID)
		}
		return written(call, http.StatusCreated, v, "created"), nil
	case 1:
		id := found[0].ID
		if bodyID != "" && bodyID != id {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, typ+".id", "resource id %q differs from the id %q of the resource the criteria match", bodyID, id)
		}
		p, err := s.precondition(ctx, pre, typ, id)
		if err != nil {
			return nil, err
		}
		w.ID = id
		v, _, err := s.store.Update(ctx, w, p)
		if err != nil {
			return nil, storageError(err, typ, id)
		}
		return written(call, http.StatusOK, v, "updated"), nil
	}
	return nil, tooMany("conditional update")
}

// ConditionalDelete serves DELETE [base]/[type]?criteria (http.html#3.1.0.7.1): no match is a no-op, one
// match is deleted (honouring ifMatch), several are 412 (conditionalDelete = single).
func (s *Service) ConditionalDelete(ctx context.Context, call Call, typ, criteria, ifMatchValue string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: "conditional-delete", Type: typ})
	if err != nil {
		return nil, err
	}
	q, _, err := s.condition(typ, criteria, "conditional delete")
	if err != nil {
		return nil, err
	}
	found, err := s.matches(ctx, q)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return deleted(typ, "", nil), nil
	case 1:
		return s.delete(ctx, typ, found[0].ID, ifMatchValue)
	}
	return nil, tooMany("conditional delete")
}
