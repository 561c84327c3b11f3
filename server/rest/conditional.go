package rest

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// condition parses the search criteria of a conditional interaction. Unknown parameters are errors here
// (strict handling whatever Prefer says): silently dropping a criterion would widen the match and create,
// update or delete the wrong resource.
func (s *Server) condition(c *gin.Context, typ, raw, where string) (*search.Query, string, error) {
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
	q, err := s.parseQuery(c, typ, params, true)
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
func (s *Server) matches(ctx context.Context, q *search.Query) ([]*storage.Version, error) {
	page, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, searchError(err)
	}
	return page.Versions, nil
}

func tooMany(where string) error {
	return outcome.New(http.StatusPreconditionFailed, outcome.CodeMultipleMatch, "%s: the criteria match more than one resource; make them more selective", where)
}

// conditionalCreate serves POST with If-None-Exist (http.html#ccreate): no match creates, one match
// answers 200 with the existing resource, several are 412. Concurrent identical requests are serialised
// by a database lock named after the criteria, so they create one resource, not several.
func (s *Server) conditionalCreate(c *gin.Context, typ string, w storage.Write, criteria string) {
	q, lock, err := s.condition(c, typ, criteria, "If-None-Exist")
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	found, err := s.matches(ctx, q)
	if err == nil && len(found) == 0 {
		var release func()
		release, err = s.store.Lock(ctx, lock)
		if err != nil {
			s.fail(c, storageError(err, typ, ""))
			return
		}
		defer release()
		found, err = s.matches(ctx, q) // another request may have created it while we waited
	}
	switch {
	case err != nil:
		s.fail(c, err)
	case len(found) > 1:
		s.fail(c, tooMany("If-None-Exist"))
	case len(found) == 1:
		s.respondWrite(c, http.StatusOK, found[0], "a matching resource exists:")
	default:
		v, err := s.store.Create(ctx, w)
		if err != nil {
			s.fail(c, storageError(err, typ, ""))
			return
		}
		s.respondWrite(c, http.StatusCreated, v, "created")
	}
}

// conditionalUpdate serves PUT [base]/[type]?criteria (http.html#cond-update).
func (s *Server) conditionalUpdate(c *gin.Context) {
	typ := c.Param("type")
	q, lock, err := s.condition(c, typ, c.Request.URL.RawQuery, "conditional update")
	if err != nil {
		s.fail(c, err)
		return
	}
	pre, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	body, tree, err := s.parse(c, typ)
	if err != nil {
		s.fail(c, err)
		return
	}
	index, err := s.registry.Index(typ, tree)
	if err != nil {
		s.fail(c, err)
		return
	}
	bodyID, _ := tree["id"].(string)
	ctx := c.Request.Context()
	release, err := s.store.Lock(ctx, lock)
	if err != nil {
		s.fail(c, storageError(err, typ, ""))
		return
	}
	defer release()
	found, err := s.matches(ctx, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch len(found) {
	case 0:
		// No match: create, with the body's id when it has one (update-as-create) or a new one.
		w := storage.Write{Type: typ, ID: bodyID, Body: body, Index: index, Method: "PUT"}
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
			s.fail(c, storageError(err, typ, bodyID))
			return
		}
		s.respondWrite(c, http.StatusCreated, v, "created")
	case 1:
		id := found[0].ID
		if bodyID != "" && bodyID != id {
			s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, typ+".id", "resource id %q differs from the id %q of the resource the criteria match", bodyID, id))
			return
		}
		p, err := s.precondition(ctx, pre, typ, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		v, _, err := s.store.Update(ctx, storage.Write{Type: typ, ID: id, Body: body, Index: index}, p)
		if err != nil {
			s.fail(c, storageError(err, typ, id))
			return
		}
		s.respondWrite(c, http.StatusOK, v, "updated")
	default:
		s.fail(c, tooMany("conditional update"))
	}
}

// conditionalDelete serves DELETE [base]/[type]?criteria (http.html#3.1.0.7.1): no match is a no-op, one
// match is deleted, several are 412 (conditionalDelete = single).
func (s *Server) conditionalDelete(c *gin.Context) {
	typ := c.Param("type")
	q, _, err := s.condition(c, typ, c.Request.URL.RawQuery, "conditional delete")
	if err != nil {
		s.fail(c, err)
		return
	}
	found, err := s.matches(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch len(found) {
	case 0:
		s.deleted(c, typ, "", nil)
	case 1:
		s.deleteOne(c, typ, found[0].ID)
	default:
		s.fail(c, tooMany("conditional delete"))
	}
}
