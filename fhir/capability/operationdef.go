package capability

import (
	"bytes"
	"encoding/json"
	"strings"
)

// OperationParameter is one OperationDefinition.parameter.
type OperationParameter struct {
	Name string `json:"name"`
	// Use is "in" or "out".
	Use string `json:"use"`
	Min int    `json:"min"`
	// Max is "1", "*" or another number as a string.
	Max           string `json:"max"`
	Documentation string `json:"documentation,omitempty"`
	// Type is the FHIR type of the value (date, string, code, Bundle…).
	Type string `json:"type,omitempty"`
	// SearchType, for a string parameter that carries a search value, is its search parameter type.
	SearchType string `json:"searchType,omitempty"`
}

// OperationDefinition describes one operation the server defines itself.
type OperationDefinition struct {
	// URL is the canonical URL; the resource id is its last path segment.
	URL string
	// Name is the computer-friendly name (e.g. "Worklist"); Title and Description are for humans.
	Name, Title, Description string
	// Code is the operation's name without "$".
	Code string
	// Resource is the type of an instance-level (or, with TypeLevel, type-level) operation; empty for a
	// system-level one.
	Resource string
	// TypeLevel marks an operation invoked on its Resource type ([base]/[type]/$code), not an instance.
	TypeLevel bool
	// AffectsState reports that the operation changes data (then it cannot be invoked with GET).
	AffectsState bool
	Parameters   []OperationParameter
}

// ID returns the id of the OperationDefinition resource: the last segment of its canonical URL.
func (d OperationDefinition) ID() string {
	return d.URL[strings.LastIndexByte(d.URL, '/')+1:]
}

// JSON renders the OperationDefinition resource (R4 operationdefinition.html).
func (d OperationDefinition) JSON() []byte {
	doc := struct {
		ResourceType string               `json:"resourceType"`
		ID           string               `json:"id"`
		URL          string               `json:"url"`
		Name         string               `json:"name"`
		Title        string               `json:"title,omitempty"`
		Status       string               `json:"status"`
		Kind         string               `json:"kind"`
		Publisher    string               `json:"publisher"`
		Description  string               `json:"description,omitempty"`
		AffectsState bool                 `json:"affectsState"`
		Code         string               `json:"code"`
		Resource     []string             `json:"resource,omitempty"`
		System       bool                 `json:"system"`
		Type         bool                 `json:"type"`
		Instance     bool                 `json:"instance"`
		Parameter    []OperationParameter `json:"parameter,omitempty"`
	}{ResourceType: "OperationDefinition", ID: d.ID(), URL: d.URL, Name: d.Name, Title: d.Title, Status: "active",
		Kind: "operation", Publisher: "careflow", Description: d.Description, AffectsState: d.AffectsState, Code: d.Code,
		System: d.Resource == "", Type: d.Resource != "" && d.TypeLevel, Instance: d.Resource != "" && !d.TypeLevel, Parameter: d.Parameters}
	if d.Resource != "" {
		doc.Resource = []string{d.Resource}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc) // strings, bools and ints only: cannot fail
	return bytes.TrimRight(buf.Bytes(), "\n")
}
