package rest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

// cursorParam carries the keyset cursor of history and search paging links.
const cursorParam = "_cursor"

func (s *Server) historySystem(c *gin.Context)   { s.history(c, "", "") }
func (s *Server) historyType(c *gin.Context)     { s.history(c, c.Param("type"), "") }
func (s *Server) historyInstance(c *gin.Context) { s.history(c, c.Param("type"), c.Param("id")) }

// pageSize reads _count: a non-negative integer, capped at MaxCount.
func (s *Server) pageSize(c *gin.Context) (int, error) {
	raw, ok := c.GetQuery("_count")
	if !ok {
		return s.cfg.DefaultCount, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "_count", "_count must be a non-negative integer, got %q", raw)
	}
	if n > s.cfg.MaxCount {
		n = s.cfg.MaxCount
	}
	return n, nil
}

// parseInstant reads a FHIR instant, or a dateTime/date precise enough to start a window (2024, 2024-05,
// 2024-05-01, 2024-05-01T10:00:00Z).
func parseInstant(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (s *Server) history(c *gin.Context, typ, id string) {
	count, err := s.pageSize(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := storage.HistoryQuery{Type: typ, ID: id, Count: count, After: c.Query(cursorParam)}
	if count == 0 {
		q.Count = 1
	}
	if since := c.Query("_since"); since != "" {
		t, ok := parseInstant(since)
		if !ok {
			s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "_since", "_since must be an instant such as 2024-05-01T10:00:00Z, got %q", since))
			return
		}
		q.Since = t
	}
	if id != "" {
		// The history of a resource that never existed is a 404, not an empty bundle.
		if _, err := s.store.Read(c.Request.Context(), typ, id); err != nil {
			if _, gone := err.(*storage.GoneError); !gone {
				s.fail(c, storageError(err, typ, id))
				return
			}
		}
	}
	page, err := s.store.History(c.Request.Context(), q)
	if err != nil {
		s.fail(c, storageError(err, typ, id))
		return
	}
	base := s.baseURL(c)
	b := bundle.New("history", "", s.now())
	if !page.Horizon.IsZero() {
		// Type and system history are the change feed: meta.lastUpdated is the horizon the client passes
		// as its next _since (docs/ARCHITECTURE.md, "Change feed"); it stays the same on every page.
		b.Meta.LastUpdated = resource.FormatInstant(page.Horizon)
	}
	if page.Total >= 0 {
		b.SetTotal(page.Total)
	}
	self := s.selfURL(c, base)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if count == 0 {
		s.writeJSON(c, http.StatusOK, b.Encode())
		return
	}
	if page.Next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, cursorParam, page.Next)})
	}
	for _, v := range page.Versions {
		b.Entry = append(b.Entry, historyEntry(base, v))
	}
	s.writeJSON(c, http.StatusOK, b.Encode())
}

// historyEntry renders one version as a history Bundle entry (http.html#history).
func historyEntry(base string, v *storage.Version) bundle.Entry {
	e := bundle.Entry{
		FullURL:  base + "/" + v.Type + "/" + v.ID,
		Request:  &bundle.Request{Method: v.Method, URL: v.Type + "/" + v.ID},
		Response: &bundle.Response{Etag: v.ETag(), LastModified: resource.FormatInstant(v.LastUpdated)},
	}
	switch {
	case v.Deleted:
		e.Response.Status = bundle.Status(http.StatusNoContent, "No Content")
	case v.Method == "POST":
		e.Request.URL = v.Type
		e.Response.Status = bundle.Status(http.StatusCreated, "Created")
	case v.VersionID == 1:
		e.Response.Status = bundle.Status(http.StatusCreated, "Created")
	default:
		e.Response.Status = bundle.Status(http.StatusOK, "OK")
	}
	if !v.Deleted {
		e.Resource = v.Body
	}
	return e
}

// selfURL is the request URL under the public base, without the paging cursor.
func (s *Server) selfURL(c *gin.Context, base string) string {
	path := strings.TrimPrefix(c.Request.URL.Path, "/fhir")
	q := c.Request.URL.Query()
	q.Del(cursorParam)
	u := base + path
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return u
}

// withParam returns u with one query parameter set.
func withParam(u, key, value string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String()
}
