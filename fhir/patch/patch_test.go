package patch_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
)

// TestJSONPatchMissingMembers: an operation without a member RFC 6902 requires is a malformed document (400),
// never a panic — a "test" without "value" crashed the library (found by FuzzPatch; the input is kept in
// server/interaction/testdata/fuzz) — and operations that have every member still apply.
func TestJSONPatchMissingMembers(t *testing.T) {
	res := []byte(`{"resourceType":"Patient","active":true,"name":[{"family":"Lind"}]}`)
	for _, doc := range []string{
		`[{"op":"test","path":""}]`,
		`[{"op":"test","path":"/active"}]`,
		`[{"op":"add","path":"/gender"}]`,
		`[{"op":"replace","path":"/active"}]`,
		`[{"op":"move","path":"/x"}]`,
		`[{"op":"copy","path":"/x"}]`,
		`[{"op":"remove"}]`,
		`[{"op":"test","value":true}]`,
	} {
		_, err := patch.ApplyJSON(res, []byte(doc))
		var oe *outcome.Error
		if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want a 400", doc, err)
		}
	}
	out, err := patch.ApplyJSON(res, []byte(`[{"op":"test","path":"/active","value":true},{"op":"replace","path":"/active","value":false}]`))
	if err != nil || string(out) != `{"resourceType":"Patient","active":false,"name":[{"family":"Lind"}]}` {
		t.Errorf("valid patch: %s %v", out, err)
	}
}
