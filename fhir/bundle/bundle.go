// Package bundle builds FHIR R4 Bundle resources (history and searchset results) with their paging links.
package bundle

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Link is a Bundle.link (relation self, first, next, previous, last).
type Link struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// Request is Bundle.entry.request.
type Request struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// Response is Bundle.entry.response.
type Response struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

// Search is Bundle.entry.search.
type Search struct {
	Mode string `json:"mode"`
}

// Entry is one Bundle.entry. Resource is raw JSON, served byte for byte.
type Entry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *Search         `json:"search,omitempty"`
	Request  *Request        `json:"request,omitempty"`
	Response *Response       `json:"response,omitempty"`
}

// Meta is Bundle.meta.
type Meta struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
}

// Bundle is a FHIR Bundle.
type Bundle struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id,omitempty"`
	Meta         *Meta   `json:"meta,omitempty"`
	Type         string  `json:"type"`
	Timestamp    string  `json:"timestamp,omitempty"`
	Total        *int    `json:"total,omitempty"`
	Link         []Link  `json:"link,omitempty"`
	Entry        []Entry `json:"entry,omitempty"`
}

// New returns an empty bundle of the given type (history, searchset, …) stamped with the current time.
func New(typ, id string, now time.Time) *Bundle {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	return &Bundle{ResourceType: "Bundle", ID: id, Type: typ, Meta: &Meta{LastUpdated: ts}, Timestamp: ts}
}

// SetTotal sets Bundle.total.
func (b *Bundle) SetTotal(n int) { b.Total = &n }

// Encode renders the bundle as JSON without HTML escaping.
func (b *Bundle) Encode() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(b)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Status renders an HTTP status for Bundle.entry.response.status ("201 Created").
func Status(code int, text string) string { return strconv.Itoa(code) + " " + text }
