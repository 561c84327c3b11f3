package interaction

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

// CursorParam carries the keyset cursor of history and search paging links.
const CursorParam = "_cursor"

// pageSize reads _count: a non-negative integer, capped at MaxCount.
func (s *Service) pageSize(params url.Values) (int, error) {
	raw, ok := params["_count"]
	if !ok || len(raw) == 0 {
		return s.cfg.DefaultCount, nil
	}
	n, err := strconv.Atoi(raw[0])
	if err != nil || n < 0 {
		return 0, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "_count", "_count must be a non-negative integer, got %q", raw[0])
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

// History serves history (http.html#history) of the system (typ ""), a type (id "") or a resource: _count,
// _since and the paging cursor are read from params. Type and system history are the change feed.
func (s *Service) History(ctx context.Context, call Call, typ, id string, params url.Values) (*Result, error) {
	name := "history-system"
	switch {
	case id != "":
		name = "history-instance"
	case typ != "":
		name = "history-type"
	}
	ctx, dec, err := s.authorize(ctx, call, auth.Request{Interaction: name, Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	count, err := s.pageSize(params)
	if err != nil {
		return nil, err
	}
	q := storage.HistoryQuery{Type: typ, ID: id, Count: count, After: params.Get(CursorParam)}
	if count == 0 {
		q.Count = 1
	}
	if since := params.Get("_since"); since != "" {
		t, ok := parseInstant(since)
		if !ok {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "_since", "_since must be an instant such as 2024-05-01T10:00:00Z, got %q", since)
		}
		q.Since = t
	}
	if id != "" {
		// The history of a resource that never existed is a 404, not an empty bundle.
		if _, err := s.store.Read(ctx, typ, id); err != nil {
			if _, gone := err.(*storage.GoneError); !gone {
				return nil, storageError(err, typ, id)
			}
		}
	}
	page, err := s.store.History(ctx, q)
	if err != nil {
		return nil, storageError(err, typ, id)
	}
	if dec != nil && len(dec.Omit) > 0 {
		// System history without permission on some types: their versions are left out.
		kept := page.Versions[:0:0]
		for _, v := range page.Versions {
			if !slices.Contains(dec.Omit, v.Type) {
				kept = append(kept, v)
			}
		}
		page.Versions, page.Total = kept, -1
	}
	base := call.Base
	b := bundle.New("history", "", s.now())
	if !page.Horizon.IsZero() {
		// Type and system history are the change feed: meta.lastUpdated is the horizon the client passes
		// as its next _since (docs/ARCHITECTURE.md, "Change feed"); it stays the same on every page.
		b.Meta.LastUpdated = resource.FormatInstant(page.Horizon)
	}
	if page.Total >= 0 {
		b.SetTotal(page.Total)
	}
	self := selfURL(base, historyPath(typ, id), params)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if count == 0 {
		return &Result{Status: http.StatusOK, Body: b.Encode()}, nil
	}
	if page.Next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, CursorParam, page.Next)})
	}
	for _, v := range page.Versions {
		b.Entry = append(b.Entry, historyEntry(base, v))
	}
	return &Result{Status: http.StatusOK, Body: b.Encode()}, nil
}

// historyPath is the path of a history under the base: _history, [type]/_history or [type]/[id]/_history.
func historyPath(typ, id string) string {
	switch {
	case id != "":
		return typ + "/" + id + "/_history"
	case typ != "":
		return typ + "/_history"
	}
	return "_history"
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

// selfURL is the URL of path (relative to base) with params, without the paging cursor.
func selfURL(base, path string, params url.Values) string {
	q := url.Values{}
	for k, vs := range params {
		if k != CursorParam {
			q[k] = vs
		}
	}
	u := base
	if path != "" {
		u += "/" + path
	}
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
