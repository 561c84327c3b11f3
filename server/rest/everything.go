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
	"github.com/careflow/careflow/fhir/search"
)

// everythingOperationURL is the official definition of Patient/$everything.
const everythingOperationURL = "http://hl7.org/fhir/OperationDefinition/Patient-everything"

// everythingDate names, per type, the date parameter that start/end restrict (the resource's care date).
var everythingDate = map[string]string{
	"Appointment": "date", "CarePlan": "date", "AllergyIntolerance": "date", "MedicationStatement": "effective",
}

// everythingCursor is the position of paging across types ($everything, system search): a type (index into the served types) and the
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
	types, err := s.typeList(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.pageAcrossTypes(c, types, func(typ string) (*search.Query, error) {
		cmp, ok := s.compartments.Lookup("Patient", id, typ)
		if !ok {
			return nil, nil
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
			return nil, err
		}
		// Undated resources (an allergy without recordedDate) stay in the window.
		for i := range q.Criteria {
			if q.Criteria[i].Param.Code == everythingDate[typ] {
				q.Criteria[i].OrMissing = true
			}
		}
		q.Compartment = cmp
		return q, nil
	})
}

// searchSystem serves GET [base]?_type=…&… (search.html#all): the same criteria on each listed type (all
// served types without _type), paged across types. A parameter must exist on every searched type.
func (s *Server) searchSystem(c *gin.Context) {
	types, err := s.typeList(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	params := c.Request.URL.Query()
	for _, k := range []string{"_type", cursorParam, "_count"} {
		params.Del(k)
	}
	s.pageAcrossTypes(c, types, func(typ string) (*search.Query, error) {
		return s.parseQuery(c, typ, params, true)
	})
}

// typeList reads _type: served types, comma-separated; all served types when absent.
func (s *Server) typeList(c *gin.Context) ([]string, error) {
	raw := c.Query("_type")
	if raw == "" {
		return s.cfg.Types, nil
	}
	var types []string
	for _, t := range strings.Split(raw, ",") {
		if !s.types[t] {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, "_type", "_type %q is not a served resource type", t)
		}
		types = append(types, t)
	}
	return types, nil
}

// pageAcrossTypes serves one searchset page drawn from several types in order: build returns each type's
// query (nil to skip the type); the cursor holds the type reached and the keyset cursor inside it.
func (s *Server) pageAcrossTypes(c *gin.Context, types []string, build func(typ string) (*search.Query, error)) {
	count, err := s.pageSize(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if count == 0 {
		count = s.cfg.DefaultCount
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
		q, err := build(types[ti])
		if err != nil {
			s.fail(c, err)
			return
		}
		if q == nil {
			continue
		}
		q.Total, q.Sort = "none", nil
		q.Count, q.CountSet = count-len(b.Entry), true
		q.Cursor = ""
		if ti == pos.Type {
			q.Cursor = pos.Inner
		}
		page, err := s.store.Search(c.Request.Context(), q)
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
