package validate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/validate"
)

const examplesDir = "../../testdata/examples/r4"

type example struct {
	name, resourceType string
	data               []byte
}

func examples(tb testing.TB) []example {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no examples in %s", examplesDir)
	}
	var out []example
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		base := filepath.Base(f)
		rt, _, _ := strings.Cut(base, "-")
		out = append(out, example{name: base, resourceType: rt, data: data})
	}
	return out
}

// acceptedExamples are the examples but those exceptions.txt lists as rejected.
func acceptedExamples(tb testing.TB) []example {
	tb.Helper()
	rejected, _ := r4test.ExampleExceptions(tb)
	var out []example
	for _, ex := range examples(tb) {
		if _, ok := rejected[ex.name]; !ok {
			out = append(out, ex)
		}
	}
	return out
}

// stdDecode decodes like encoding/json with UseNumber, the reference the validator's decoder must match.
func stdDecode(tb testing.TB, data []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestOfficialExamplesAreValid: every official example of every served type is valid, but the ones
// testdata/examples/exceptions.txt lists as rejected, which must stay rejected; every served type has an
// example, but the ones the file lists without.
func TestOfficialExamplesAreValid(t *testing.T) {
	v := r4test.Validator(t)
	exs := examples(t)
	rejected, noExample := r4test.ExampleExceptions(t)
	types := map[string]int{}
	for _, ex := range exs {
		types[ex.resourceType]++
		t.Run(ex.name, func(t *testing.T) {
			res, err := v.Validate(ex.resourceType, ex.data)
			if why, ok := rejected[ex.name]; ok {
				if err == nil {
					t.Errorf("accepted, but listed as rejected (%s): remove it from exceptions.txt", why)
				}
				return
			}
			if err != nil {
				for _, is := range err.Issues {
					t.Errorf("%s %s %v", is.Code, is.Diagnostics, is.Expression)
				}
				return
			}
			if want := stdDecode(t, ex.data); !reflect.DeepEqual(res, want) {
				t.Error("decoded tree differs from encoding/json's")
			}
		})
	}
	for _, rt := range definitions.ResourceTypes {
		if _, ok := noExample[rt]; ok != (types[rt] == 0) {
			t.Errorf("%s: %d examples, listed without example: %v", rt, types[rt], ok)
		}
	}
}

// patient builds a Patient resource from JSON properties.
func patient(props string) string {
	if props == "" {
		return `{"resourceType":"Patient"}`
	}
	return `{"resourceType":"Patient",` + props + `}`
}

type want struct{ expr, code string }

func TestInvalidResources(t *testing.T) {
	v := r4test.Validator(t)
	cases := []struct {
		name string
		rt   string
		body string
		want []want
		// diag, when set, must occur in the first issue's diagnostics.
		diag string
	}{
		{"gender robot", "Patient", patient(`"gender":"robot"`),
			[]want{{"Patient.gender", "value"}}, "Patient.gender: 'robot' is not one of male, female, other, unknown"},
		{"birthDate yesterday", "Patient", patient(`"birthDate":"yesterday"`),
			[]want{{"Patient.birthDate", "value"}}, "'yesterday' is not a valid date"},
		{"birthDate 2024-02-30", "Patient", patient(`"birthDate":"2024-02-30"`),
			[]want{{"Patient.birthDate", "value"}}, "February 2024 has 29 days"},
		{"birthDate 2023-02-29", "Patient", patient(`"birthDate":"2023-02-29"`),
			[]want{{"Patient.birthDate", "value"}}, "February 2023 has 28 days"},
		{"birthDate 2024-13-01", "Patient", patient(`"birthDate":"2024-13-01"`),
			[]want{{"Patient.birthDate", "value"}}, "month 13"},
		{"birthDate 1900-02-29", "Patient", patient(`"birthDate":"1900-02-29"`),
			[]want{{"Patient.birthDate", "value"}}, ""},
		{"birthDate number", "Patient", patient(`"birthDate":1980`),
			[]want{{"Patient.birthDate", "structure"}}, "found number 1980"},
		{"deceased twice", "Patient", patient(`"deceasedBoolean":true,"deceasedDateTime":"2020-01-01"`),
			[]want{{"Patient.deceased[x]", "structure"}}, "deceasedBoolean and deceasedDateTime"},
		{"deceased twice via extension", "Patient", patient(`"deceasedBoolean":true,"_deceasedDateTime":{"extension":[{"url":"http://x","valueString":"x"}]}`),
			[]want{{"Patient.deceased[x]", "structure"}}, ""},
		{"deceasedDateTime invalid", "Patient", patient(`"deceasedDateTime":"2020-01-01T10:00:00"`),
			[]want{{"Patient.deceasedDateTime", "value"}}, "time zone"},
		{"empty name object", "Patient", patient(`"name":[{}]`),
			[]want{{"Patient.name[0]", "invalid"}}, "empty object"},
		{"empty name array", "Patient", patient(`"name":[]`),
			[]want{{"Patient.name", "invalid"}}, "empty array"},
		{"empty string", "Patient", patient(`"name":[{"family":""}]`),
			[]want{{"Patient.name[0].family", "value"}}, "empty string"},
		{"whitespace string", "Patient", patient(`"name":[{"given":["Ann"," \t"]}]`),
			[]want{{"Patient.name[0].given[1]", "value"}}, "whitespace"},
		{"bad id", "Patient", patient(`"id":"bad id!"`),
			[]want{{"Patient.id", "value"}}, "'bad id!' is not a valid id"},
		{"reference without id", "Patient", patient(`"generalPractitioner":[{"reference":"Patient/"}]`),
			[]want{{"Patient.generalPractitioner[0].reference", "value"}}, "the id is missing"},
		{"reference not a ref", "Patient", patient(`"generalPractitioner":[{"reference":"not a ref"}]`),
			[]want{{"Patient.generalPractitioner[0].reference", "value"}}, ""},
		{"reference with space in id", "Patient", patient(`"managingOrganization":{"reference":"Organization/a b"}`),
			[]want{{"Patient.managingOrganization.reference", "value"}}, ""},
		{"reference unknown type", "Patient", patient(`"managingOrganization":{"reference":"Organisation/1"}`),
			[]want{{"Patient.managingOrganization.reference", "value"}}, "'Organisation' is not a resource type"},
		{"local reference to nothing", "Patient", patient(`"managingOrganization":{"reference":"#org1"}`),
			[]want{{"Patient.managingOrganization.reference", "invariant"}}, "contained"},
		{"unknown element", "Patient", patient(`"foo":"bar"`),
			[]want{{"Patient.foo", "structure"}}, "unrecognized element 'foo'"},
		{"unknown element with empty value", "Patient", patient(`"foo":""`),
			[]want{{"Patient.foo", "value"}, {"Patient.foo", "structure"}}, ""},
		{"unknown nested element", "Patient", patient(`"name":[{"first":"Ann"}]`),
			[]want{{"Patient.name[0].first", "structure"}}, "not an element of HumanName"},
		{"misspelt choice", "Patient", patient(`"deceasedString":"yes"`),
			[]want{{"Patient.deceasedString", "structure"}}, "deceased[x] allows deceasedBoolean, deceasedDateTime"},
		{"extension without url", "Patient", patient(`"extension":[{"valueString":"x"}]`),
			[]want{{"Patient.extension[0].url", "required"}}, "url is missing"},
		{"extension without value", "Patient", patient(`"extension":[{"url":"http://example.org/x"}]`),
			[]want{{"Patient.extension[0]", "required"}}, "ext-1"},
		{"extension with value and extensions", "Patient", patient(`"extension":[{"url":"http://example.org/x","valueString":"x","extension":[{"url":"a","valueBoolean":true}]}]`),
			[]want{{"Patient.extension[0]", "invariant"}}, "not both"},
		{"extension with two values", "Patient", patient(`"extension":[{"url":"http://example.org/x","valueString":"x","valueBoolean":true}]`),
			[]want{{"Patient.extension[0].value[x]", "structure"}}, ""},
		{"modifierExtension without url", "Patient", patient(`"modifierExtension":[{"valueBoolean":true}]`),
			[]want{{"Patient.modifierExtension[0].url", "required"}}, ""},
		{"extension on primitive", "Patient", patient(`"birthDate":"1970-01-01","_birthDate":{"extension":[{"valueDateTime":"1970-01-01T10:00:00Z"}]}`),
			[]want{{"Patient.birthDate.extension[0].url", "required"}}, ""},
		{"wrong resourceType", "Patient", `{"resourceType":"Observation","status":"final"}`,
			[]want{{"Patient.resourceType", "invalid"}}, "resourceType is 'Observation' but a Patient resource was expected"},
		{"missing resourceType", "Patient", `{"gender":"male"}`,
			[]want{{"Patient.resourceType", "invalid"}}, "missing"},
		{"numeric resourceType", "Patient", `{"resourceType":1}`,
			[]want{{"Patient.resourceType", "invalid"}}, ""},
		{"null value", "Patient", patient(`"gender":null`),
			[]want{{"Patient.gender", "invalid"}}, "null"},
		{"null in complex array", "Patient", patient(`"name":[null]`),
			[]want{{"Patient.name[0]", "invalid"}}, "null"},
		{"null in primitive array without extension", "Patient", patient(`"name":[{"given":["a",null]}]`),
			[]want{{"Patient.name[0].given[1]", "invalid"}}, "null"},
		{"primitive arrays misaligned", "Patient", patient(`"name":[{"given":["a"],"_given":[null,{"id":"x"}]}]`),
			[]want{{"Patient.name[0].given", "structure"}}, "must line up"},
		{"duplicate key", "Patient", patient(`"gender":"male","gender":"female"`),
			[]want{{"Patient.gender", "structure"}}, "duplicate property 'gender'"},
		{"complex element given a string", "Patient", patient(`"maritalStatus":"M"`),
			[]want{{"Patient.maritalStatus", "structure"}}, "expected a CodeableConcept object"},
		{"single complex element given an array", "Patient", patient(`"maritalStatus":[{"text":"M"}]`),
			[]want{{"Patient.maritalStatus", "structure"}}, ""},
		{"repeating element given an object", "Patient", patient(`"name":{"family":"x"}`),
			[]want{{"Patient.name", "structure"}}, ""},
		{"integer with fraction", "Patient", patient(`"multipleBirthInteger":1.5`),
			[]want{{"Patient.multipleBirthInteger", "value"}}, "whole number"},
		{"narrative not a div", "Patient", patient(`"text":{"status":"generated","div":"<p>hi</p>"}`),
			[]want{{"Patient.text.div", "value"}}, "<div>"},
		{"narrative without namespace", "Patient", patient(`"text":{"status":"generated","div":"<div>hi</div>"}`),
			[]want{{"Patient.text.div", "value"}}, "namespace"},
		{"narrative with script", "Patient", patient(`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x()</script></div>"}`),
			[]want{{"Patient.text.div", "value"}}, "script"},
		{"narrative without div", "Patient", patient(`"text":{"status":"generated"}`),
			[]want{{"Patient.text.div", "required"}}, ""},
		{"contained invalid element", "Patient", patient(`"contained":[{"resourceType":"Practitioner","id":"p1","gender":"robot","foo":1}],"generalPractitioner":[{"reference":"#p1"}]`),
			[]want{{"Patient.contained[0].foo", "structure"}, {"Patient.contained[0].gender", "value"}}, ""},
		{"contained date", "Patient", patient(`"contained":[{"resourceType":"Practitioner","id":"p1","birthDate":"2021-02-29"}],"generalPractitioner":[{"reference":"#p1"}]`),
			[]want{{"Patient.contained[0].birthDate", "value"}}, ""},
		{"contained unknown type", "Patient", patient(`"contained":[{"resourceType":"Practicioner","id":"p1"}]`),
			[]want{{"Patient.contained[0].resourceType", "invalid"}}, "'Practicioner' is not a FHIR R4 resource type"},
		{"contained without resourceType", "Patient", patient(`"contained":[{"id":"p1"}]`),
			[]want{{"Patient.contained[0].resourceType", "required"}}, ""},
		{"contained not an object", "Patient", patient(`"contained":["Practitioner/1"]`),
			[]want{{"Patient.contained[0]", "structure"}}, ""},
		{"contained nested", "Patient", patient(`"contained":[{"resourceType":"Organization","id":"o1","contained":[{"resourceType":"Organization","id":"o2"}]}]`),
			[]want{{"Patient.contained[0].contained", "invariant"}}, "dom-2"},
		{"required element missing", "AllergyIntolerance", `{"resourceType":"AllergyIntolerance"}`,
			[]want{{"AllergyIntolerance.patient", "required"}}, ""},
		{"required backbone element missing", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"type":[{"text":"x"}]}]}`,
			[]want{{"Appointment.participant[0].status", "required"}}, ""},
		{"required primitives missing", "CarePlan", `{"resourceType":"CarePlan","subject":{"reference":"Patient/1"}}`,
			[]want{{"CarePlan.intent", "required"}, {"CarePlan.status", "required"}}, "required element 'intent' is missing"},
		{"required choice missing", "MedicationStatement", `{"resourceType":"MedicationStatement","status":"active","subject":{"reference":"Patient/1"}}`,
			[]want{{"MedicationStatement.medication[x]", "required"}}, "medicationCodeableConcept, medicationReference"},
		{"required in datatype missing", "Patient", patient(`"text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`),
			[]want{{"Patient.text.status", "required"}}, ""},
		{"required in nested backbone missing", "CarePlan", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"activity":[{"detail":{"kind":"Task"}}]}`,
			[]want{{"CarePlan.activity[0].detail.status", "required"}}, ""},
		{"instant without seconds", "Appointment", `{"resourceType":"Appointment","status":"booked","start":"2024-01-01T10:00Z","participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
			[]want{{"Appointment.start", "value"}}, ""},
		{"meta lastUpdated not an instant", "Patient", patient(`"meta":{"lastUpdated":"2024-01-01"}`),
			[]want{{"Patient.meta.lastUpdated", "value"}}, ""},
		{"unknown property with odd name", "Patient", patient(`"a b":1`),
			[]want{{"Patient.`a b`", "structure"}}, ""},
		{"multiple problems", "Patient", patient(`"gender":"robot","birthDate":"yesterday","foo":1,"name":[{}],"active":"yes"`),
			[]want{{"Patient.active", "structure"}, {"Patient.birthDate", "value"}, {"Patient.foo", "structure"},
				{"Patient.gender", "value"}, {"Patient.name[0]", "invalid"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := v.Validate(c.rt, []byte(c.body))
			if err == nil {
				t.Fatalf("valid, want issues %v", c.want)
			}
			if res != nil {
				t.Error("a tree was returned with the error")
			}
			checkError(t, err)
			var got []want
			for _, is := range err.Issues {
				got = append(got, want{strings.Join(is.Expression, ","), is.Code})
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("issues = %v, want %v", got, c.want)
				for _, is := range err.Issues {
					t.Logf("  %s: %s", is.Code, is.Diagnostics)
				}
			}
			if c.diag != "" && !strings.Contains(err.Issues[0].Diagnostics, c.diag) {
				t.Errorf("diagnostics %q does not mention %q", err.Issues[0].Diagnostics, c.diag)
			}
		})
	}
}

// checkError checks the invariants of every failure: status 400, error severity, non-empty diagnostics,
// expressions rooted at a resource type, issues sorted.
func checkError(t *testing.T, err *outcome.Error) {
	t.Helper()
	if err.Status != 400 {
		t.Errorf("status %d, want 400", err.Status)
	}
	var exprs []string
	for _, is := range err.Issues {
		if is.Severity != outcome.SeverityErr || is.Code == "" || is.Diagnostics == "" {
			t.Errorf("incomplete issue %+v", is)
		}
		if len(is.Expression) > 1 {
			t.Errorf("issue with %d expressions", len(is.Expression))
		}
		exprs = append(exprs, strings.Join(is.Expression, ""))
	}
	if !sort.StringsAreSorted(exprs) {
		t.Errorf("issues not sorted: %v", exprs)
	}
}

func TestValidResources(t *testing.T) {
	v := r4test.Validator(t)
	cases := []struct{ name, body string }{
		{"minimal", patient("")},
		{"leap day", patient(`"birthDate":"2024-02-29"`)},
		{"leap day 2000", patient(`"birthDate":"2000-02-29"`)},
		{"partial dates", patient(`"birthDate":"1970-05","deceasedDateTime":"2020"`)},
		{"dateTime with offset", patient(`"deceasedDateTime":"2020-01-01T23:59:60.123+14:00"`)},
		{"primitive extension", patient(`"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:00:00Z"}]}`)},
		{"primitive array extensions", patient(`"name":[{"given":["Ann","Bea"],"_given":[null,{"extension":[{"url":"http://example.org/x","valueCode":"x"}]}]}]`)},
		{"extension only in a primitive array", patient(`"name":[{"given":["Ann",null],"_given":[null,{"extension":[{"url":"http://example.org/x","valueCode":"x"}]}]}]`)},
		{"choice with value and extension", patient(`"deceasedBoolean":true,"_deceasedBoolean":{"id":"d"}`)},
		{"complex extension", patient(`"extension":[{"url":"http://example.org/x","extension":[{"url":"a","valueString":"x"},{"url":"b","valueTime":"10:00:00"}]}]`)},
		{"references", patient(`"generalPractitioner":[{"reference":"Practitioner/p-1.2"},{"reference":"Practitioner/1/_history/2"},` +
			`{"reference":"https://fhir.example.org/r4/Organization/1"},{"reference":"urn:uuid:53fefa32-fcbb-4ff8-8a92-55ee120877b7"},` +
			`{"reference":"urn:oid:2.16.840.1.113883.19.5"},{"reference":"#pr"},{"reference":"#"},{"display":"Dr Who"}],` +
			`"contained":[{"resourceType":"Practitioner","id":"pr"}]`)},
		{"escapes", patient(`"name":[{"family":"O\"Brien \u00e9\ud83d\ude00 \\ \/","text":"Zoë"}]`)},
		{"self-closing div", patient(`"text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"/>"}`)},
		{"big numbers", patient(`"multipleBirthInteger":2147483647`)},
		{"required primitive given by extension only", `{"resourceType":"Patient","link":[{"other":{"reference":"Patient/2"},` +
			`"_type":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}]}`},
		{"whitespace around", "\n\t " + patient(`"active":true`) + " \r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := v.Validate("Patient", []byte(c.body)); err != nil {
				for _, is := range err.Issues {
					t.Errorf("%s: %s", is.Code, is.Diagnostics)
				}
			}
		})
	}
}

func TestTemporalValues(t *testing.T) {
	v := r4test.Validator(t)
	// Each value is set on an extension, whose value[x] type picks the primitive type checked.
	cases := []struct {
		typ, value string
		valid      bool
	}{
		{"Date", "2024", true}, {"Date", "2024-02", true}, {"Date", "2024-02-29", true}, {"Date", "2000-02-29", true},
		{"Date", "2100-02-29", false}, {"Date", "2023-02-29", false}, {"Date", "2024-04-31", false},
		{"Date", "2024-00-10", false}, {"Date", "0000", false}, {"Date", "24-01-01", false},
		{"Date", "2024-01-01T10:00:00Z", false}, {"Date", "2024-1-1", false},
		{"DateTime", "2024-12-31T23:59:59Z", true}, {"DateTime", "2024-12-31T23:59:59.9999-05:30", true},
		{"DateTime", "2024-12-31T24:00:00Z", false}, {"DateTime", "2024-12-31T23:60:00Z", false},
		{"DateTime", "2024-12-31T10:00:00+15:00", false}, {"DateTime", "2024-12-31T10:00", false},
		{"DateTime", "2024-02-30T10:00:00Z", false},
		{"Instant", "2024-02-29T00:00:00Z", true}, {"Instant", "2024-02-29", false}, {"Instant", "2023-02-29T00:00:00Z", false},
		{"Time", "00:00:00", true}, {"Time", "23:59:59.5", true}, {"Time", "24:00:00", false}, {"Time", "12:00", false},
		{"Time", "12:00:00Z", false},
	}
	for _, c := range cases {
		t.Run(c.typ+" "+c.value, func(t *testing.T) {
			body := patient(fmt.Sprintf(`"extension":[{"url":"http://example.org/x","value%s":%q}]`, c.typ, c.value))
			_, err := v.Validate("Patient", []byte(body))
			if c.valid {
				if err != nil {
					t.Fatalf("rejected: %v", err.Issues)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			// Exactly one clear issue, not one from the schema pattern as well.
			if len(err.Issues) != 1 || err.Issues[0].Code != "value" ||
				err.Issues[0].Expression[0] != "Patient.extension[0].value"+c.typ {
				t.Fatalf("issues = %+v", err.Issues)
			}
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	v := r4test.Validator(t)
	cases := []struct{ name, body, diag string }{
		{"empty body", "", "empty body"},
		{"only whitespace", " \n", "empty body"},
		{"syntax error", `{"resourceType":"Patient",}`, "byte offset 26"},
		{"trailing garbage", `{"resourceType":"Patient"} x`, "after the end"},
		{"two objects", `{"resourceType":"Patient"}{}`, "after the end"},
		{"array", `[{"resourceType":"Patient"}]`, "must be a JSON object"},
		{"string", `"Patient"`, "must be a JSON object"},
		{"truncated", `{"resourceType":"Patient","name":[{"family":"x"}`, "unexpected end of input"},
		{"unterminated string", `{"resourceType":"Pat`, "unexpected end of input in string"},
		{"control character", "{\"resourceType\":\"Pa\tient\"}", "control character"},
		{"bad escape", `{"resourceType":"Pa\qtient"}`, "invalid escape"},
		{"bad unicode escape", `{"resourceType":"Pa\u00zztient"}`, "invalid \\u escape"},
		{"bad number", `{"resourceType":"Patient","multipleBirthInteger":01}`, "after object property"},
		{"bad literal", `{"resourceType":"Patient","active":tru}`, "invalid literal"},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}", "invalid UTF-8"},
		{"single quotes", `{'resourceType':'Patient'}`, "expected a property name"},
		{"deep nesting", `{"resourceType":"Patient","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "nested deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Validate("Patient", []byte(c.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if len(err.Issues) != 1 || err.Issues[0].Code != "structure" || err.Status != 400 {
				t.Fatalf("issues = %+v", err.Issues)
			}
			d := err.Issues[0].Diagnostics
			if !strings.Contains(d, "byte offset") || !strings.Contains(d, c.diag) {
				t.Errorf("diagnostics %q, want byte offset and %q", d, c.diag)
			}
		})
	}
}

func TestNumbersSurvive(t *testing.T) {
	v := r4test.Validator(t)
	body := `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/1"},` +
		`"payor":[{"reference":"Organization/1"}],"order":12345678901,` +
		`"costToBeneficiary":[{"valueMoney":{"value":1.50,"currency":"EUR"}},{"valueMoney":{"value":123456789012345678901234567890.10}},` +
		`{"valueQuantity":{"value":1e-7}},{"valueMoney":{"value":123456789012345678901234567890}}]}`
	res, err := v.Validate("Coverage", []byte(body))
	if err == nil || len(err.Issues) != 1 || err.Issues[0].Expression[0] != "Coverage.order" {
		// order is a positiveInt: 12345678901 does not fit in 32 bits.
		t.Fatalf("want one issue at Coverage.order, got %v", err)
	}
	body = strings.Replace(body, "12345678901", "2147483647", 1)
	res, err = v.Validate("Coverage", []byte(body))
	if err != nil {
		t.Fatal(err.Issues)
	}
	costs := res["costToBeneficiary"].([]any)
	money := func(i int, key string) any {
		return costs[i].(map[string]any)[key].(map[string]any)["value"]
	}
	for _, c := range []struct {
		got  any
		want json.Number
	}{
		{money(0, "valueMoney"), "1.50"},
		{money(1, "valueMoney"), "123456789012345678901234567890.10"},
		{money(2, "valueQuantity"), "1e-7"},
		{money(3, "valueMoney"), "123456789012345678901234567890"},
		{res["order"], "2147483647"},
	} {
		if c.got != c.want {
			t.Errorf("got %#v, want json.Number(%q)", c.got, c.want)
		}
	}
}

func TestUnsupportedType(t *testing.T) {
	v := r4test.Validator(t)
	_, err := v.Validate("Patients", []byte(patient("")))
	if err == nil || err.Status != 400 || err.Issues[0].Code != outcome.CodeNotSupported {
		t.Fatalf("got %v", err)
	}
}

func TestIssueCap(t *testing.T) {
	v := r4test.Validator(t)
	var props []string
	for i := range 300 {
		props = append(props, fmt.Sprintf(`"x%03d":1`, i))
	}
	_, err := v.Validate("Patient", []byte(patient(strings.Join(props, ","))))
	if err == nil || len(err.Issues) != validate.MaxIssues {
		t.Fatalf("got %d issues, want %d", len(err.Issues), validate.MaxIssues)
	}
	if last := err.Issues[len(err.Issues)-1]; last.Code != outcome.CodeTooCostly || !strings.Contains(last.Diagnostics, "201 more") {
		t.Errorf("last issue %+v", last)
	}
}

func TestConcurrentUse(t *testing.T) {
	v := r4test.Validator(t)
	// The first accepted example of each type: every type's compiled schema is shared by the goroutines,
	// twice each per goroutine: about the cost of the 74 examples of 8 types three times it began with.
	var exs []example
	seen := map[string]bool{}
	for _, ex := range acceptedExamples(t) {
		if !seen[ex.resourceType] {
			seen[ex.resourceType] = true
			exs = append(exs, ex)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2 * len(exs) {
				ex := exs[(i+g)%len(exs)]
				if _, err := v.Validate(ex.resourceType, ex.data); err != nil {
					t.Errorf("%s: %v", ex.name, err)
				}
				if _, err := v.Validate("Patient", []byte(patient(`"gender":"robot"`))); err == nil || len(err.Issues) != 1 {
					t.Errorf("robot: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzValidate checks that arbitrary input never panics, that malformed JSON is always reported as such, and
// that accepted resources decode exactly as encoding/json decodes them.
func FuzzValidate(f *testing.F) {
	v := r4test.Validator(f)
	for _, ex := range examples(f) {
		if ex.resourceType == "Patient" {
			f.Add(ex.data)
		}
	}
	f.Add([]byte(patient(`"name":[{"family":"\u00e9\ud83d"}]`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Validate("Patient", data)
		if !json.Valid(data) {
			if err == nil || err.Issues[0].Code != "structure" {
				t.Fatalf("malformed JSON accepted: %v", err)
			}
			return
		}
		if err == nil {
			if want := stdDecode(t, data); !reflect.DeepEqual(res, want) {
				t.Fatalf("decoded tree differs from encoding/json's")
			}
		}
	})
}
