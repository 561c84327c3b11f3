// Package fhirread gives the adapters typed, read-only access to stored FHIR R4 resources.
//
// The structs here decode only the elements the coordination workflows read; they are never written back
// and never stored (the stored JSON stays the single source of truth, served byte for byte). They are
// hand-written rather than taken from github.com/samply/golang-fhir-models because those models drop
// `contained` (which the medication adapter needs to reach a contained Medication's ingredients) and would
// add a module dependency for a few dozen fields.
package fhirread

import (
	"encoding/json"
	"fmt"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/careflow/careflow/fhir/search"
)

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Label returns the text of the concept, else the display of its first coding that has one, else its first
// code.
func (c *CodeableConcept) Label() string {
	if c == nil {
		return ""
	}
	if c.Text != "" {
		return c.Text
	}
	for _, cd := range c.Coding {
		if cd.Display != "" {
			return cd.Display
		}
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// HasCode reports whether the concept has a coding with the code (and, when system is not empty, the
// system).
func (c *CodeableConcept) HasCode(system, code string) bool {
	if c == nil {
		return false
	}
	for _, cd := range c.Coding {
		if cd.Code == code && (system == "" || cd.System == system) {
			return true
		}
	}
	return false
}

// Code returns the first code of the concept (any system), or "".
func (c *CodeableConcept) Code() string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// Identifier is a FHIR Identifier (system and value only).
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Key returns the reference normalised for comparison (see RefKey); "" when the reference has no literal
// reference.
func (r *Reference) Key() string {
	if r == nil {
		return ""
	}
	return RefKey(r.Reference)
}

// RefKey normalises a literal reference the way the search index does (search.ReferenceKey): a version
// suffix is dropped ("Type/id/_history/n" becomes "Type/id"); absolute URLs stay whole, because the store
// does not know its own base URL and an absolute reference may name another server's resource.
func RefKey(ref string) string {
	return search.ReferenceKey(ref)
}

// RefType returns the resource type of a normalised reference "Type/id" ("" for other forms).
func RefType(key string) string {
	if i := strings.IndexByte(key, '/'); i > 0 && !strings.Contains(key, ":") {
		return key[:i]
	}
	return ""
}

// RefID returns the id of a normalised reference "Type/id" ("" for other forms).
func RefID(key string) string {
	if i := strings.IndexByte(key, '/'); i > 0 && !strings.Contains(key, ":") {
		return key[i+1:]
	}
	return ""
}

// Period is a FHIR Period (raw strings; see Span).
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Quantity is a FHIR Quantity (also Duration, SimpleQuantity).
type Quantity struct {
	Value      json.Number `json:"value,omitempty"`
	Comparator string      `json:"comparator,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	System     string      `json:"system,omitempty"`
	Code       string      `json:"code,omitempty"`
}

// Range is a FHIR Range.
type Range struct {
	Low  *Quantity `json:"low,omitempty"`
	High *Quantity `json:"high,omitempty"`
}

// Ratio is a FHIR Ratio.
type Ratio struct {
	Numerator   *Quantity `json:"numerator,omitempty"`
	Denominator *Quantity `json:"denominator,omitempty"`
}

// Extension is a FHIR Extension with the value types the adapters read.
type Extension struct {
	URL                  string           `json:"url"`
	ValueBoolean         *bool            `json:"valueBoolean,omitempty"`
	ValueString          string           `json:"valueString,omitempty"`
	ValueCode            string           `json:"valueCode,omitempty"`
	ValueCodeableConcept *CodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueCoding          *Coding          `json:"valueCoding,omitempty"`
	ValueReference       *Reference       `json:"valueReference,omitempty"`
	ValueIdentifier      *Identifier      `json:"valueIdentifier,omitempty"`
	Extension            []Extension      `json:"extension,omitempty"`
}

// Timing is a FHIR Timing.
type Timing struct {
	Event  []string         `json:"event,omitempty"`
	Repeat *TimingRepeat    `json:"repeat,omitempty"`
	Code   *CodeableConcept `json:"code,omitempty"`
}

// TimingRepeat is Timing.repeat.
type TimingRepeat struct {
	BoundsDuration *Quantity   `json:"boundsDuration,omitempty"`
	BoundsRange    *Range      `json:"boundsRange,omitempty"`
	BoundsPeriod   *Period     `json:"boundsPeriod,omitempty"`
	Count          *int        `json:"count,omitempty"`
	CountMax       *int        `json:"countMax,omitempty"`
	Duration       json.Number `json:"duration,omitempty"`
	DurationUnit   string      `json:"durationUnit,omitempty"`
	Frequency      *int        `json:"frequency,omitempty"`
	FrequencyMax   *int        `json:"frequencyMax,omitempty"`
	Period         json.Number `json:"period,omitempty"`
	PeriodMax      json.Number `json:"periodMax,omitempty"`
	PeriodUnit     string      `json:"periodUnit,omitempty"`
	DayOfWeek      []string    `json:"dayOfWeek,omitempty"`
	TimeOfDay      []string    `json:"timeOfDay,omitempty"`
	When           []string    `json:"when,omitempty"`
	Offset         *int        `json:"offset,omitempty"`
}

// Dosage is a FHIR Dosage.
type Dosage struct {
	Sequence                *int                `json:"sequence,omitempty"`
	Text                    string              `json:"text,omitempty"`
	AdditionalInstruction   []CodeableConcept   `json:"additionalInstruction,omitempty"`
	PatientInstruction      string              `json:"patientInstruction,omitempty"`
	Timing                  *Timing             `json:"timing,omitempty"`
	AsNeededBoolean         *bool               `json:"asNeededBoolean,omitempty"`
	AsNeededCodeableConcept *CodeableConcept    `json:"asNeededCodeableConcept,omitempty"`
	Site                    *CodeableConcept    `json:"site,omitempty"`
	Route                   *CodeableConcept    `json:"route,omitempty"`
	Method                  *CodeableConcept    `json:"method,omitempty"`
	DoseAndRate             []DosageDoseAndRate `json:"doseAndRate,omitempty"`
	MaxDosePerPeriod        *Ratio              `json:"maxDosePerPeriod,omitempty"`
}

// DosageDoseAndRate is Dosage.doseAndRate.
type DosageDoseAndRate struct {
	Type         *CodeableConcept `json:"type,omitempty"`
	DoseRange    *Range           `json:"doseRange,omitempty"`
	DoseQuantity *Quantity        `json:"doseQuantity,omitempty"`
}

// Meta is the part of Resource.meta the adapters read.
type Meta struct {
	VersionID   string `json:"versionId,omitempty"`
	LastUpdated string `json:"lastUpdated,omitempty"`
}

// Head is the resourceType of a resource. The resource structs of this package embed it, so that Decode
// checks the type in the same pass that decodes the resource.
type Head struct {
	ResourceType string `json:"resourceType"`
}

func (h *Head) headType() string { return h.ResourceType }

// typed is implemented by the structs that embed Head.
type typed interface{ headType() string }

// Decode unmarshals a stored resource body into v, checking its resourceType. A v that embeds Head is
// decoded in one pass with github.com/goccy/go-json, which gives the same values as encoding/json on
// every body the store holds (decoder_test.go) in a quarter of the CPU (the whole-day worklist decodes
// tens of thousands of resources); any other v is decoded with encoding/json after a first pass that
// reads the type.
func Decode(body []byte, resourceType string, v any) error {
	if t, ok := v.(typed); ok {
		if err := gojson.Unmarshal(body, v); err != nil {
			return fmt.Errorf("fhirread: decode %s: %w", resourceType, err)
		}
		if got := t.headType(); got != resourceType {
			return fmt.Errorf("fhirread: expected a %s, found %q", resourceType, got)
		}
		return nil
	}
	var head Head
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Errorf("fhirread: decode %s: %w", resourceType, err)
	}
	if head.ResourceType != resourceType {
		return fmt.Errorf("fhirread: expected a %s, found %q", resourceType, head.ResourceType)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("fhirread: decode %s: %w", resourceType, err)
	}
	return nil
}
