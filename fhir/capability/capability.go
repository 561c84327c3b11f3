// Package capability builds the server's CapabilityStatement (GET /metadata) from what the server actually
// registered: its resource types, the interactions its handlers implement, their search parameters and
// operations. Nothing in it is declared by hand apart from what the caller passes.
package capability

import (
	"bytes"
	"encoding/json"
	"time"
)

// SearchParam is one CapabilityStatement.rest.resource.searchParam.
type SearchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// Operation is one CapabilityStatement.rest(.resource).operation.
type Operation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// Resource describes what the server supports for one resource type.
type Resource struct {
	Type              string
	Interactions      []string // read, vread, update, delete, history-instance, history-type, create, search-type…
	SearchParams      []SearchParam
	Operations        []Operation
	ConditionalCreate bool
	ConditionalUpdate bool
	ConditionalDelete string // not-supported | single | multiple
	SearchInclude     []string
	SearchRevInclude  []string
	// Definitional marks a read-only type the server defines itself (OperationDefinition): not versioned,
	// no update, no conditional interactions.
	Definitional bool
	// ReadOnly marks a versioned type the server writes itself (AuditEvent): no update-as-create.
	ReadOnly bool
}

// Options describe the server.
type Options struct {
	Software, Version string
	BaseURL           string
	Published         time.Time
	Resources         []Resource
	SystemInteraction []string // transaction, batch, search-system, history-system
	SystemOperations  []Operation
	// Compartments are the canonical URLs of the CompartmentDefinitions the server searches by
	// (rest.compartment).
	Compartments []string
	// OAuth, when set, declares rest.security: the SMART-on-FHIR service with its OAuth endpoints (the
	// oauth-uris extension of SMART App Launch; clients discover the same at
	// [base]/.well-known/smart-configuration).
	OAuth *OAuth
}

// OAuth are the authorization server's endpoints a SMART client uses.
type OAuth struct {
	Authorize, Token, Revoke, Introspect, Manage string
}

// security renders rest.security for o.
func (o *OAuth) security() map[string]any {
	var uris []map[string]any
	for _, u := range []struct{ name, value string }{{"authorize", o.Authorize}, {"token", o.Token}, {"revoke", o.Revoke},
		{"introspect", o.Introspect}, {"manage", o.Manage}} {
		if u.value != "" {
			uris = append(uris, map[string]any{"url": u.name, "valueUri": u.value})
		}
	}
	sec := map[string]any{
		"service": []map[string]any{{
			"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}},
			"text":   "OAuth 2.0 bearer tokens with SMART App Launch / Backend Services scopes",
		}},
		"description": "Every interaction except this CapabilityStatement and SMART discovery needs a bearer access token; scopes decide what it may do (SMART v1 and v2 scopes, patient/ scopes confined to the token's patient compartment).",
	}
	if len(uris) > 0 {
		sec["extension"] = []map[string]any{{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", "extension": uris}}
	}
	return sec
}

type code struct {
	Code string `json:"code"`
}

type restResource struct {
	Type              string        `json:"type"`
	Profile           string        `json:"profile"`
	Interaction       []code        `json:"interaction"`
	Versioning        string        `json:"versioning"`
	ReadHistory       bool          `json:"readHistory"`
	UpdateCreate      bool          `json:"updateCreate"`
	ConditionalCreate bool          `json:"conditionalCreate"`
	ConditionalRead   string        `json:"conditionalRead"`
	ConditionalUpdate bool          `json:"conditionalUpdate"`
	ConditionalDelete string        `json:"conditionalDelete"`
	ReferencePolicy   []string      `json:"referencePolicy,omitempty"`
	SearchInclude     []string      `json:"searchInclude,omitempty"`
	SearchRevInclude  []string      `json:"searchRevInclude,omitempty"`
	SearchParam       []SearchParam `json:"searchParam,omitempty"`
	Operation         []Operation   `json:"operation,omitempty"`
}

// Build renders the CapabilityStatement as JSON.
func Build(o Options) []byte {
	var resources []restResource
	for _, r := range o.Resources {
		rr := restResource{
			Type:              r.Type,
			Profile:           "http://hl7.org/fhir/StructureDefinition/" + r.Type,
			Versioning:        "versioned-update",
			ReadHistory:       true,
			UpdateCreate:      true,
			ConditionalCreate: r.ConditionalCreate,
			ConditionalRead:   "not-supported",
			ConditionalUpdate: r.ConditionalUpdate,
			ConditionalDelete: r.ConditionalDelete,
			ReferencePolicy:   []string{"literal", "logical"},
			SearchInclude:     r.SearchInclude,
			SearchRevInclude:  r.SearchRevInclude,
			SearchParam:       r.SearchParams,
			Operation:         r.Operations,
		}
		if rr.ConditionalDelete == "" {
			rr.ConditionalDelete = "not-supported"
		}
		if r.ReadOnly {
			rr.UpdateCreate = false
		}
		if r.Definitional {
			rr.Versioning, rr.ReadHistory, rr.UpdateCreate, rr.ReferencePolicy = "no-version", false, false, nil
		}
		for _, i := range r.Interactions {
			rr.Interaction = append(rr.Interaction, code{i})
		}
		resources = append(resources, rr)
	}
	var system []code
	for _, i := range o.SystemInteraction {
		system = append(system, code{i})
	}
	date := o.Published.UTC().Format("2006-01-02T15:04:05Z07:00")
	doc := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         date,
		"publisher":    "careflow",
		"kind":         "instance",
		"software": map[string]any{
			"name":    o.Software,
			"version": o.Version,
		},
		"implementation": map[string]any{
			"description": "careflow FHIR R4 server for care coordination",
			"url":         o.BaseURL,
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json", "json", "application/json"},
		"patchFormat": []string{"application/json-patch+json", "application/fhir+json"},
		"rest": []map[string]any{{
			"mode":        "server",
			"resource":    resources,
			"interaction": system,
			"operation":   o.SystemOperations,
		}},
	}
	if len(o.SystemOperations) == 0 {
		delete(doc["rest"].([]map[string]any)[0], "operation")
	}
	if len(o.Compartments) > 0 {
		doc["rest"].([]map[string]any)[0]["compartment"] = o.Compartments
	}
	if o.OAuth != nil {
		doc["rest"].([]map[string]any)[0]["security"] = o.OAuth.security()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
