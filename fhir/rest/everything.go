package rest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
)

// everythingOperationURL is the official definition of Patient/$everything.
const everythingOperationURL = "http://hl7.org/fhir/OperationDefinition/Patient-everything"

// everythingDate names, per type, the date parameter that start/end restrict (the resource's care date).
var everythingDate = map[string]string{
	"Appointment": "date", "CarePlan": "date", "AllergyIntolerance": "date", "MedicationStatement": "effective",
}

// everythingCursor is the position of $everything paging: a type (index into the served types) and the
// search cursor inside it.
type everythingCursor struct {
	Type  int    `json:"t"`
	Inner string `json:"c,omitempty"`
}

// everything serves GET [base]/Patient/[id]/$everything (patient-operation-everything.html): the patient
// and every resource in its compartment, paged across types with a keyset cursor, restricted by _since
// (lastUpdated), start/end (each type's care date) and _type.
func (s *Server) everything(c *gin.Context) {
	if c.Param("type") != "Patient" {
		s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "$everything is defined on Patient"))
		return
	}
	id := c.Param("id")
	ctx := c.Request.Context()
	if _, err := s.store.Read(ctx, "Patient", id); err != nil {
		s.fail(c, storageError(err, "Patient", id))
		return
	}
	count, err := s.pageSize(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if count == 0 {
		count = s.cfg.DefaultCount
	}
	types := s.cfg.Types
	if raw := c.Query("_type"); raw != "" {
		types = nil
		for _, t := range strings.Split(raw, ",") {
			if !s.types[t] {
				s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, "_type", "_type %q is not a served resource type", t))
				return
			}
			types = append(types, t)
		}
	}
	var pos everythingCursor
	if raw := c.Query(cursorParam); raw != "" {
		data, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || json.Unmarshal(data, &pos) != nil || pos.Type < 0 || pos.Type >= len(types) {
			s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, cursorParam, "invalid paging cursor"))
			return
		}
	}
	base := s.baseURL(c)
	b := bundle.New("searchset", "", s.now())
	next := ""
	for ti := pos.Type; ti < len(types) && len(b.Entry) < count; ti++ {
		typ := types[ti]
		cmp, ok := s.compartments.Lookup("Patient", id, typ)
		if !ok {
			continue
		}
		params := url.Values{}
		if since := c.Query("_since"); since != "" {
			params.Set("_lastUpdated", "ge"+since)
		}
		if dp, ok := everythingDate[typ]; ok {
			if v := c.Query("start"); v != "" {
				params.Add(dp, "ge"+v)
			}
			if v := c.Query("end"); v != "" {
				params.Add(dp, "le"+v)
			}
		}
		q, err := s.parseQuery(c, typ, params, true)
		if err != nil {
			s.fail(c, err)
			return
		}
		// Undated resources (an allergy without recordedDate) stay in the window.
		for i := range q.Criteria {
			if q.Criteria[i].Param.Code == everythingDate[typ] {
				q.Criteria[i].OrMissing = true
			}
		}
		q.Compartment, q.Total = cmp, "none"
		q.Count, q.CountSet = count-len(b.Entry), true
		if ti == pos.Type {
			q.Cursor = pos.Inner
		}
		page, err := s.store.Search(ctx, q)
		if err != nil {
			s.fail(c, searchError(err))
			return
		}
		for _, v := range page.Versions {
			b.Entry = append(b.Entry, bundle.Entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: v.Body, Search: &bundle.Search{Mode: "match"}})
		}
		switch {
		case page.Next != "":
			next = encodeEverything(everythingCursor{Type: ti, Inner: page.Next})
		case ti+1 < len(types):
			next = encodeEverything(everythingCursor{Type: ti + 1})
		default:
			next = ""
		}
	}
	self := s.selfURL(c, base)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, cursorParam, next)})
	}
	s.writeJSON(c, http.StatusOK, b.Encode())
}

func encodeEverything(c everythingCursor) string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}
