package validate_test

import (
	"net/http"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// FuzzValidateAnyType: for every served type (and types careflow does not serve), no body makes the JSON
// decoder and validator panic or answer anything but the resource or a 4xx OperationOutcome (FuzzValidate
// checks the decoding of Patients against encoding/json). CI runs it for a bounded time (.ci/run);
// crashes found are kept in testdata/fuzz/FuzzValidateAnyType.
func FuzzValidateAnyType(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male","birthDate":"1974-12-25"}`,
		`{"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://x","valueDecimal":1.50}]}}`,
		`{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/1"},"payor":[{"reference":"#o"}],"contained":[{"resourceType":"Organization","id":"o"}]}`,
		`{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/1"},"status":"accepted"}]}`,
		`{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"activity":[{"detail":{"status":"scheduled"}}]}`,
		`{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/1"},"input":[{"type":{"text":"x"},"valueQuantity":{"value":1e400}}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"add"}]}]}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Patient","name":[{"family":"a\u0000"}],"active":true,"active":false}`, `[1,{"a":1e400}]`, ``,
	} {
		f.Add(uint8(0), []byte(seed))
	}
	v := r4test.Validator(f)
	types := append([]string{"Bundle", "Parameters", "OperationOutcome", "Binary", "Nope", ""}, definitions.ResourceTypes...)
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		ty := types[int(typ)%len(types)]
		tree, oe := v.Validate(ty, data)
		switch {
		case oe != nil && (oe.Status < 400 || oe.Status >= http.StatusInternalServerError):
			t.Fatalf("Validate(%q, %q): status %d: %v", ty, data, oe.Status, oe)
		case oe == nil && tree == nil:
			t.Fatalf("Validate(%q, %q): neither a resource nor an error", ty, data)
		}
	})
}
