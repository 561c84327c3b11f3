package rest

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// preferStrict reads Prefer: handling=strict (default lenient).
func preferStrict(c *gin.Context) bool {
	for _, h := range c.Request.Header.Values("Prefer") {
		for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(k, "handling") && strings.EqualFold(strings.Trim(v, `"`), "strict") {
				return true
			}
		}
	}
	return false
}

// parseQuery parses search parameters of typ.
func (s *Server) parseQuery(c *gin.Context, typ string, params url.Values, strict bool) (*search.Query, error) {
	q, err := s.registry.Parse(typ, params, search.ParseOptions{Strict: strict, DefaultCount: s.cfg.DefaultCount, MaxCount: s.cfg.MaxCount})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// searchParams returns the query's parameters: the URL query, merged with a form body for POST _search.
func (s *Server) searchParams(c *gin.Context) (url.Values, error) {
	params := c.Request.URL.Query()
	if c.Request.Method == http.MethodPost {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
		if err := c.Request.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, outcome.New(http.StatusRequestEntityTooLarge, outcome.CodeTooLong, "request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
			}
			return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "could not read the form body: %v", err)
		}
		for k, vs := range c.Request.PostForm {
			params[k] = append(params[k], vs...)
		}
	}
	return params, nil
}

// searchType serves GET [base]/[type]?… and POST [base]/[type]/_search.
func (s *Server) searchType(c *gin.Context) { s.search(c, c.Param("type"), nil) }

// compartmentSearch serves GET [base]/Patient/[id]/[type]?… (search.html#compartments) with the
// official Patient CompartmentDefinition.
func (s *Server) compartmentSearch(c *gin.Context) {
	comp, id, typ := c.Param("type"), c.Param("id"), c.Param("compartment")
	if !s.compartments.Has(comp) {
		s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "%s is not a compartment this server supports; try Patient/[id]/[type]", comp))
		return
	}
	if !s.types[typ] {
		s.fail(c, outcome.At(http.StatusNotFound, outcome.CodeNotSupported, typ, "resource type %q is not supported by this server", typ))
		return
	}
	cmp, ok := s.compartments.Lookup(comp, id, typ)
	if !ok {
		s.fail(c, outcome.New(http.StatusBadRequest, outcome.CodeNotSupported, "%s resources are not in the %s compartment", typ, comp))
		return
	}
	s.search(c, typ, cmp)
}

func (s *Server) search(c *gin.Context, typ string, cmp *search.Compartment) {
	params, err := s.searchParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q, err := s.parseQuery(c, typ, params, preferStrict(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	q.Compartment = cmp
	if q.Summary == "count" {
		q.CountSet, q.Count = true, 0
		if q.Total == "none" || q.Total == "" {
			q.Total = "accurate"
		}
	}
	page, included, err := s.searchWithIncludes(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	base := s.baseURL(c)
	b := bundle.New("searchset", "", s.now())
	if page.Total >= 0 {
		b.SetTotal(page.Total)
	}
	self := s.searchSelf(c, base, strings.TrimPrefix(c.Request.URL.Path, "/fhir/"), params, q)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if page.Next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, cursorParam, page.Next)})
	}
	if page.Prev != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "previous", URL: withParam(self, cursorParam, page.Prev)})
	}
	for i, v := range append(page.Versions, included...) {
		body, err := s.shape(v.Type, v.Body, q)
		if err != nil {
			s.fail(c, err)
			return
		}
		mode := "match"
		if i >= len(page.Versions) {
			mode = "include"
		}
		b.Entry = append(b.Entry, bundle.Entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &bundle.Search{Mode: mode}})
	}
	if len(q.Ignored) > 0 {
		var issues []outcome.Issue
		for _, ig := range q.Ignored {
			issues = append(issues, outcome.Issue{Severity: outcome.Warning, Code: outcome.CodeNotSupported,
				Diagnostics: "parameter " + ig.Name + " was ignored: " + ig.Reason, Expression: []string{ig.Name}})
		}
		b.Entry = append(b.Entry, bundle.Entry{Resource: outcome.Resource(issues), Search: &bundle.Search{Mode: "outcome"}})
	}
	s.writeJSON(c, http.StatusOK, b.Encode())
}

// shape applies _elements and _summary (true, text, data) to a matched resource and tags it SUBSETTED
// (search.html#summary, #elements). Only top-level elements are selected; mandatory elements and the
// modifiers are not added back beyond what the official isSummary flags include.
func (s *Server) shape(typ string, body []byte, q *search.Query) ([]byte, error) {
	var keep map[string]bool
	switch {
	case len(q.Elements) > 0:
		keep = map[string]bool{}
		for _, e := range q.Elements {
			s.keepElement(keep, typ, e[strings.LastIndex(e, ".")+1:])
		}
	case q.Summary == "true":
		keep = s.summary[typ]
	case q.Summary == "text":
		keep = map[string]bool{"text": true}
	case q.Summary == "data":
		out, err := resource.Without(body, "text")
		if err != nil {
			return nil, err
		}
		return resource.Subsetted(out)
	default:
		return body, nil
	}
	out, err := resource.Elements(body, keep)
	if err != nil {
		return nil, err
	}
	return resource.Subsetted(out)
}

// keepElement adds an element name to a selection: its JSON property, its primitive extension ("_name"),
// and for a choice element ("deceased") every alternative ("deceasedBoolean", …).
func (s *Server) keepElement(keep map[string]bool, typ, name string) {
	name = strings.TrimSuffix(name, "[x]")
	keep[name], keep["_"+name] = true, true
	if t, ok := s.registry.Model().Type(typ); ok {
		for _, alt := range t.Choices[name] {
			keep[alt.Name], keep["_"+alt.Name] = true, true
		}
	}
}

// summarySets builds, per served type, the top-level elements _summary=true keeps.
func (s *Server) summarySets() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, path := range strings.Fields(definitions.SummaryElements) {
		typ, name, ok := strings.Cut(path, ".")
		if !ok {
			continue
		}
		if out[typ] == nil {
			out[typ] = map[string]bool{}
		}
		s.keepElement(out[typ], typ, name)
	}
	return out
}

// searchSelf renders the self link: the parameters that were used, in a stable order, without the ones
// that were ignored and without the paging cursor.
func (s *Server) searchSelf(c *gin.Context, base, path string, params url.Values, q *search.Query) string {
	ignored := map[string]bool{cursorParam: true}
	for _, ig := range q.Ignored {
		ignored[ig.Name] = true
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if !ignored[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range params[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	u := base + "/" + strings.TrimSuffix(path, "/_search")
	if len(parts) > 0 {
		u += "?" + strings.Join(parts, "&")
	}
	return u
}

func searchError(err error) error {
	switch {
	case errors.Is(err, storage.ErrTooCostly):
		return outcome.New(http.StatusBadRequest, outcome.CodeTooCostly, "the search is too costly: a chained or _has criterion matches too many resources; narrow it")
	case errors.Is(err, storage.ErrBadCursor):
		return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, cursorParam, "invalid paging cursor")
	}
	return storageError(err, "", "")
}
