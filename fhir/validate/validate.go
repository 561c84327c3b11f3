// Package validate checks that a request body is a structurally valid FHIR R4 resource and reports every
// problem as an OperationOutcome issue located by a FHIRPath expression ("Patient.name[0].given[1]").
//
// The checks, in one pass each:
//   - JSON: well-formed, one object, no duplicate property names, no null (except as placeholders in
//     primitive arrays and their "_name" extension arrays), no empty object, array or blank string;
//   - the official FHIR R4 JSON schema (fhir.schema.json), against the resource type's own definition;
//     contained resources are checked against theirs, and may not contain resources themselves;
//   - what the schema cannot express: mandatory primitive and choice elements, real calendar dates and clock
//     times, 32-bit whole integers, one alternative per choice element, reference syntax and local
//     references to contained resources, extensions with a url and either a value or nested extensions,
//     complex elements given as objects, and a sane narrative div.
//
// It checks structure only: no terminology bindings beyond the schema's enumerations, no profiles, no
// FHIRPath invariants other than those named above.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/outcome"
)

// schemaURL is the identifier the FHIR R4 JSON schema is registered under with the schema compiler.
const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

// Validator validates resources of every type the FHIR R4 schema defines. It is immutable after New and safe
// for concurrent use.
type Validator struct {
	model   *model.Model
	schemas map[string]*jsonschema.Schema // by resource type, each compiled from #/definitions/<Type>
	// required lists, by type, the mandatory elements the schema cannot require (see definitions.RequiredElements).
	required map[*model.Type][]requirement
	printer  *message.Printer // renders schema errors that have no FHIR-specific message
}

// New compiles the official FHIR R4 JSON schema (definitions.Schema) for every resource type it defines.
// Compilation takes a few hundred milliseconds; create one Validator and share it.
func New(m *model.Model) (*Validator, error) {
	return newValidator(m, compilePattern)
}

// newValidator is New with the schema's patterns compiled by patterns (nil: the schema library's default,
// Go's regexp).
func newValidator(m *model.Model, patterns jsonschema.RegexpEngine) (*Validator, error) {
	if m == nil {
		return nil, errors.New("validate: nil model")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(definitions.Schema))
	if err != nil {
		return nil, fmt.Errorf("validate: parse FHIR schema: %w", err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("validate: FHIR schema is not a JSON object")
	}
	defs, ok := root["definitions"].(map[string]any)
	if !ok {
		return nil, errors.New("validate: FHIR schema has no definitions")
	}
	// ResourceList (the type of contained and Bundle.entry.resource) is a oneOf over every resource type:
	// slow, and its errors are a useless "matched none of 146 schemas". Accept any object with a
	// resourceType here; the validator checks embedded resources against their own definition.
	if _, ok := defs["ResourceList"]; !ok {
		return nil, errors.New("validate: FHIR schema has no ResourceList definition")
	}
	defs["ResourceList"] = map[string]any{"type": "object", "required": []any{"resourceType"}}
	// The root schema's oneOf lists the resource types.
	var types []string
	alts, _ := root["oneOf"].([]any)
	for _, alt := range alts {
		ref, _ := alt.(map[string]any)["$ref"].(string)
		if name, ok := strings.CutPrefix(ref, "#/definitions/"); ok {
			types = append(types, name)
		}
	}
	if len(types) == 0 {
		return nil, errors.New("validate: FHIR schema lists no resource types")
	}
	v := &Validator{
		model:   m,
		schemas: make(map[string]*jsonschema.Schema, len(types)),
		printer: message.NewPrinter(language.English),
	}
	if v.required, err = loadRequirements(m); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft6)
	c.UseRegexpEngine(patterns)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("validate: load FHIR schema: %w", err)
	}
	for _, name := range types {
		if !m.IsResource(name) {
			return nil, fmt.Errorf("validate: schema resource type %s is not a resource in the element model", name)
		}
		s, err := c.Compile(schemaURL + "#/definitions/" + name)
		if err != nil {
			return nil, fmt.Errorf("validate: compile schema of %s: %w", name, err)
		}
		v.schemas[name] = s
	}
	return v, nil
}

// Validate parses data, which must hold one JSON resource, and checks that it is a structurally valid
// resource of type resourceType. On success it returns the decoded tree: map[string]any, []any, string, bool
// and json.Number (numbers keep their exact text, so 1.50 stays "1.50"); the tree does not reference data,
// which the caller may reuse. On failure it returns a 400 *outcome.Error with one error issue per problem
// found (at most MaxIssues), sorted by expression then message; each issue's expression is a FHIRPath
// location such as "Patient.name[0].given[1]" (a primitive's "_name" extensions are located at "name"),
// and malformed JSON is a single "structure" issue giving the byte offset.
func (v *Validator) Validate(resourceType string, data []byte) (map[string]any, *outcome.Error) {
	if _, ok := v.schemas[resourceType]; !ok {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeNotSupported,
			"resource type %q is not a FHIR R4 resource type", resourceType)
	}
	col := &collector{root: resourceType}
	res, serr := decode(data, col)
	if serr != nil {
		line, column := lineCol(data, serr.offset)
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure,
			"malformed JSON at byte offset %d (line %d, column %d): %s", serr.offset, line, column, serr.msg)
	}
	switch rt := res["resourceType"].(type) {
	case nil:
		if _, present := res["resourceType"]; !present {
			col.add(resourceType+".resourceType", outcome.CodeInvalid,
				"resourceType is missing; expected "+quote(resourceType))
		}
		return nil, col.result()
	case string:
		if rt != resourceType {
			col.add(resourceType+".resourceType", outcome.CodeInvalid,
				fmt.Sprintf("resourceType is %s but a %s resource was expected", quote(rt), resourceType))
			return nil, col.result()
		}
	default:
		col.add(resourceType+".resourceType", outcome.CodeInvalid,
			fmt.Sprintf("resourceType must be the string %s, found %s", quote(resourceType), describe(rt)))
		return nil, col.result()
	}
	w := walker{v: v, col: col, path: make([]step, 0, 16)}
	w.resource(resourceType, res, false)
	if err := col.result(); err != nil {
		return nil, err
	}
	return res, nil
}

// schemaCheck validates one resource against its type's schema and records the errors at path.
func (v *Validator) schemaCheck(resourceType string, res map[string]any, path []step, col *collector) {
	err := v.schemas[resourceType].Validate(res)
	if err == nil {
		return
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		col.add(col.expr(path), outcome.CodeProcessing, "schema validation failed: "+err.Error())
		return
	}
	v.schemaLeaves(verr, res, path, col)
}

// schemaLeaves walks a schema error tree and turns its leaves into issues.
func (v *Validator) schemaLeaves(e *jsonschema.ValidationError, res map[string]any, prefix []step, col *collector) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			v.schemaLeaves(c, res, prefix, col)
		}
		return
	}
	path, val, ok := locate(res, e.InstanceLocation, prefix)
	if !ok {
		col.addSchema(col.expr(prefix), outcome.CodeStructure, e.ErrorKind.LocalizedString(v.printer), false)
		return
	}
	if val == nil {
		return // a null, reported (or allowed) by the decoder and the element-model walk
	}
	fhirType := v.typeOfSchema(e.SchemaURL)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			msg := "unrecognized element " + quote(p)
			if fhirType != "" {
				msg += " (not an element of " + fhirType + ")"
			}
			msg += v.choiceHint(fhirType, p)
			col.addSchema(col.exprRaw(path, p), outcome.CodeStructure, msg, true)
		}
	case *kind.Required:
		for _, p := range k.Missing {
			col.addSchema(col.expr(append(path, step{key: p})), outcome.CodeRequired,
				"required element "+quote(p)+" is missing", true)
		}
	case *kind.Enum:
		col.addSchema(col.expr(path), outcome.CodeValue, fmt.Sprintf("%s is not one of %s", describe(k.Got), listValues(k.Want)), false)
	case *kind.Const:
		col.addSchema(col.expr(path), outcome.CodeValue, fmt.Sprintf("%s must be %s", describe(k.Got), describe(k.Want)), false)
	case *kind.Pattern:
		col.addSchema(col.expr(path), outcome.CodeValue, fmt.Sprintf("%s is not a valid %s%s", describe(k.Got), fhirType, patternHint(fhirType)), false)
	case *kind.Type:
		want := strings.Join(k.Want, " or ")
		if fhirType != "" {
			want += " (FHIR " + fhirType + ")"
		}
		col.addSchema(col.expr(path), outcome.CodeStructure, fmt.Sprintf("expected a JSON %s, found %s", want, describe(val)), false)
	default:
		col.addSchema(col.expr(path), outcome.CodeStructure, e.ErrorKind.LocalizedString(v.printer), false)
	}
}

// locate follows a schema instance location (JSON pointer tokens) in res and returns it as steps appended to
// prefix, with the value found there.
func locate(res map[string]any, loc []string, prefix []step) ([]step, any, bool) {
	path := make([]step, len(prefix), len(prefix)+len(loc)+1)
	copy(path, prefix)
	var cur any = res
	for _, tok := range loc {
		switch c := cur.(type) {
		case map[string]any:
			path = append(path, step{key: tok})
			cur = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, nil, false
			}
			path = append(path, step{index: i})
			cur = c[i]
		default:
			return nil, nil, false
		}
	}
	return path, cur, true
}

// typeOfSchema names the FHIR type a schema location describes: "…#/definitions/date" is a date,
// "…#/definitions/Extension/properties/valueBase64Binary" a base64Binary.
func (v *Validator) typeOfSchema(url string) string {
	_, frag, _ := strings.Cut(url, "#/definitions/")
	parts := strings.Split(frag, "/")
	if len(parts) >= 3 && parts[1] == "properties" {
		if t, ok := v.model.Type(parts[0]); ok {
			if e, ok := t.Elements[parts[2]]; ok {
				return e.Type
			}
			if strings.HasPrefix(parts[2], "_") {
				return "Element"
			}
		}
	}
	return parts[0]
}

// choiceHint suggests the alternatives when an unknown property looks like a misspelt choice alternative.
func (v *Validator) choiceHint(typeName, prop string) string {
	t, ok := v.model.Type(typeName)
	if !ok {
		return ""
	}
	prop = strings.TrimPrefix(prop, "_")
	for base, alts := range t.Choices {
		if strings.HasPrefix(prop, base) && len(prop) > len(base) && prop[len(base)] >= 'A' && prop[len(base)] <= 'Z' {
			names := make([]string, len(alts))
			for i, a := range alts {
				names[i] = a.Name
			}
			return "; " + base + "[x] allows " + shortList(names, 8)
		}
	}
	return ""
}

// patternHint explains the lexical rules of the primitive types whose pattern errors are common.
func patternHint(fhirType string) string {
	switch fhirType {
	case "id":
		return " (1 to 64 characters: letters, digits, '-' and '.')"
	case "code":
		return " (no leading, trailing or repeated whitespace)"
	case "uri", "url", "canonical":
		return " (no whitespace allowed)"
	case "oid":
		return " (expected urn:oid:<digits and dots>)"
	case "uuid":
		return " (expected urn:uuid:<lowercase uuid>)"
	}
	return ""
}

// describe renders a JSON value briefly for diagnostics.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:57] + "..."
		}
		return quote(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("number %v", x)
	}
}

// quote renders s in single quotes, escaping what is not printable.
func quote(s string) string {
	q := strconv.Quote(s)
	return "'" + strings.ReplaceAll(strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`), "'", `\'`) + "'"
}

// listValues renders an enum's allowed values briefly.
func listValues(vals []any) string {
	names := make([]string, 0, len(vals))
	for _, x := range vals {
		names = append(names, fmt.Sprint(x))
	}
	return shortList(names, 12)
}

func shortList(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(", … (%d values)", len(names))
}

// sortedKeys returns a map's keys in order, for deterministic messages.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
