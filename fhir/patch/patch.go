// Package patch applies JSON Patch (RFC 6902, application/json-patch+json) and FHIRPath Patch (a
// Parameters resource, http://hl7.org/fhir/R4/fhirpatch.html) documents to FHIR resources for the patch
// interaction (http://hl7.org/fhir/R4/http.html#patch). Untouched content keeps its bytes: element order
// and decimal precision survive.
package patch

import (
	"errors"
	"net/http"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/careflow/careflow/fhir/outcome"
)

// MediaType is the media type of JSON Patch documents.
const MediaType = "application/json-patch+json"

// ApplyJSON applies a JSON Patch to a resource. A malformed patch document is a 400; a patch that cannot
// be applied (a path that does not exist, a failed "test" operation) is a 422, as the specification asks.
func ApplyJSON(resource, doc []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(doc)
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "the JSON Patch document is malformed: %v", err)
	}
	for i, op := range p {
		k := op.Kind()
		if k == "unknown" {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "["+strconv.Itoa(i)+"]", "JSON Patch operation %d has no valid \"op\"", i)
		}
		// RFC 6902 §4: every operation has "path"; add, replace and test have "value"; move and copy "from".
		// A missing member makes the document malformed (and the library would dereference nil on it); so
		// does a null one, which FHIR JSON never holds.
		for _, m := range requiredMembers[k] {
			if v, ok := op[m]; !ok || v == nil {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "["+strconv.Itoa(i)+"]", "JSON Patch operation %d (%s) has no %q member", i, k, m)
			}
		}
	}
	out, err := p.ApplyWithOptions(resource, &jsonpatch.ApplyOptions{
		SupportNegativeIndices: true, AccumulatedCopySizeLimit: maxCopyBytes,
	})
	if err != nil {
		code := outcome.CodeProcessing
		if errors.Is(err, jsonpatch.ErrTestFailed) {
			code = outcome.CodeConflict
		}
		return nil, outcome.New(http.StatusUnprocessableEntity, code, "the JSON Patch cannot be applied: %v", err)
	}
	return out, nil
}

// requiredMembers are the members each JSON Patch operation must have (RFC 6902 §4.1–4.6).
var requiredMembers = map[string][]string{
	"add": {"path", "value"}, "remove": {"path"}, "replace": {"path", "value"},
	"move": {"from", "path"}, "copy": {"from", "path"}, "test": {"path", "value"},
}

// maxCopyBytes bounds how much "copy" operations may grow a resource (a patch bomb guard).
const maxCopyBytes = 16 << 20
