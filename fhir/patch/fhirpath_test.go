package patch_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// op builds one "operation" parameter from its type, path and further parts (raw JSON objects).
func op(typ, path string, parts ...string) string {
	all := append([]string{`{"name":"type","valueCode":"` + typ + `"}`, `{"name":"path","valueString":"` + path + `"}`}, parts...)
	return `{"name":"operation","part":[` + strings.Join(all, ",") + `]}`
}

func name(n string) string { return `{"name":"name","valueString":"` + n + `"}` }

// value is a value part: value("valueDate", `"1930-01-01"`).
func value(key, raw string) string { return `{"name":"value","` + key + `":` + raw + `}` }

func index(part string, n string) string { return `{"name":"` + part + `","valueInteger":` + n + `}` }

func params(ops ...string) string {
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ops, ",") + `]}`
}

const patient = `{"resourceType":"Patient","id":"p1","active":true,` +
	`"identifier":[{"system":"s","value":"1"},{"system":"s","value":"2"}],` +
	`"name":[{"family":"Doe","given":["John","Q"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]}],` +
	`"gender":"male","birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"bt","valueDateTime":"1970-01-01T10:00:00Z"}]},` +
	`"deceasedBoolean":false,"managingOrganization":{"reference":"#org"},` +
	`"contained":[{"resourceType":"Organization","id":"org","name":"Org"}]}`

// replaced returns patient with each old substring replaced by new (pairs).
func replaced(t *testing.T, pairs ...string) string {
	t.Helper()
	s := patient
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("test bug: %q not in the patient", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestFHIRPathPatch(t *testing.T) {
	m := r4test.Load(t).Model
	for _, tc := range []struct {
		name, resource, doc, want string
	}{
		// add
		{"add primitive (spec example)", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("birthDate"), value("valueDate", `"1930-01-01"`))),
			`{"resourceType":"Patient","id":"x","birthDate":"1930-01-01"}`},
		{"add anonymous type as parts (spec example)", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"name","valueHumanName":{"text":"a name"}}]}`)),
			`{"resourceType":"Patient","id":"x","contact":[{"name":{"text":"a name"}}]}`},
		{"add nested parts with lists, choice and primitive extension", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("contact"), `{"name":"value","part":[`+
				`{"name":"relationship","valueCodeableConcept":{"text":"a"}},{"name":"relationship","valueCodeableConcept":{"text":"b"}},`+
				`{"name":"gender","valueCode":"other","_valueCode":{"id":"g"}},`+
				`{"name":"period","part":[{"name":"start","valueDateTime":"2020"}]}]}`)),
			`{"resourceType":"Patient","id":"x","contact":[{"relationship":[{"text":"a"},{"text":"b"}],"gender":"other","_gender":{"id":"g"},"period":{"start":"2020"}}]}`},
		{"add appends to a list", patient,
			params(op("add", "Patient", name("identifier"), value("valueIdentifier", `{"system":"s","value":"3"}`))),
			replaced(t, `"value":"2"}]`, `"value":"2"},{"system":"s","value":"3"}]`)},
		{"add to a list in a list element", patient,
			params(op("add", "Patient.name[0]", name("given"), value("valueString", `"Z"`))),
			replaced(t, `"given":["John","Q"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]`,
				`"given":["John","Q","Z"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]},null]`)},
		{"add a choice element by its FHIRPath name", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("deceased"), value("valueDateTime", `"2020-02-02"`))),
			`{"resourceType":"Patient","id":"x","deceasedDateTime":"2020-02-02"}`},
		{"add a choice element written with [x]", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("multipleBirth[x]"), value("valueInteger", `2`))),
			`{"resourceType":"Patient","id":"x","multipleBirthInteger":2}`},
		{"add a primitive with its extension", `{"resourceType":"Patient","id":"x","active":true}`,
			params(op("add", "Patient", name("birthDate"), `{"name":"value","valueDate":"1930","_valueDate":{"extension":[{"url":"u","valueBoolean":true}]}}`)),
			`{"resourceType":"Patient","id":"x","active":true,"birthDate":"1930","_birthDate":{"extension":[{"url":"u","valueBoolean":true}]}}`},
		{"add an extension to a primitive", patient,
			params(op("add", "Patient.gender", name("extension"), value("valueExtension", `{"url":"v","valueCode":"c"}`))),
			replaced(t, `"gender":"male",`, `"gender":"male","_gender":{"extension":[{"url":"v","valueCode":"c"}]},`)},
		{"add an extension to a primitive that has some", patient,
			params(op("add", "Patient.birthDate", name("extension"), value("valueExtension", `{"url":"v","valueCode":"c"}`))),
			replaced(t, `"1970-01-01T10:00:00Z"}]`, `"1970-01-01T10:00:00Z"},{"url":"v","valueCode":"c"}]`)},
		{"add an extension to a primitive in a list", patient,
			params(op("add", "Patient.name.given[0]", name("extension"), value("valueExtension", `{"url":"v","valueCode":"c"}`))),
			replaced(t, `"_given":[null,`, `"_given":[{"extension":[{"url":"v","valueCode":"c"}]},`)},
		{"add a contained resource", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("contained"), `{"name":"value","resource":{"resourceType":"Practitioner","id":"d"}}`)),
			`{"resourceType":"Patient","id":"x","contained":[{"resourceType":"Practitioner","id":"d"}]}`},
		{"add a backbone element with a choice element as parts", `{"resourceType":"Observation","status":"final"}`,
			params(op("add", "Observation", name("component"), `{"name":"value","part":[{"name":"code","valueCodeableConcept":{"text":"c"}},{"name":"value","valueQuantity":{"value":1.50,"unit":"mg"}}]}`)),
			`{"resourceType":"Observation","status":"final","component":[{"code":{"text":"c"},"valueQuantity":{"value":1.50,"unit":"mg"}}]}`},
		{"add the id of a primitive", patient,
			params(op("add", "Patient.active", name("id"), value("valueString", `"a1"`))),
			replaced(t, `"active":true,`, `"active":true,"_active":{"id":"a1"},`)},
		// insert
		{"insert at the start", patient,
			params(op("insert", "Patient.identifier", value("valueIdentifier", `{"value":"0"}`), index("index", "0"))),
			replaced(t, `"identifier":[`, `"identifier":[{"value":"0"},`)},
		{"insert at the end", patient,
			params(op("insert", "Patient.identifier", value("valueIdentifier", `{"value":"3"}`), index("index", "2"))),
			replaced(t, `"value":"2"}]`, `"value":"2"},{"value":"3"}]`)},
		{"insert into an absent list", `{"resourceType":"Patient","id":"x"}`,
			params(op("insert", "Patient.telecom", value("valueContactPoint", `{"system":"phone","value":"1"}`), index("index", "0"))),
			`{"resourceType":"Patient","id":"x","telecom":[{"system":"phone","value":"1"}]}`},
		{"insert keeps primitive extensions aligned", patient,
			params(op("insert", "Patient.name[0].given", value("valueString", `"X"`), index("index", "1"))),
			replaced(t, `"given":["John","Q"],"_given":[null,{`, `"given":["John","X","Q"],"_given":[null,null,{`)},
		// delete
		{"delete a list item", patient,
			params(op("delete", "Patient.identifier[0]")),
			replaced(t, `{"system":"s","value":"1"},`, ``)},
		{"delete selected by where()", patient,
			params(op("delete", "Patient.identifier.where(value='2')")),
			replaced(t, `,{"system":"s","value":"2"}`, ``)},
		{"delete of nothing is a no-op", patient,
			params(op("delete", "Patient.identifier.where(value='9')"), op("delete", "Patient.telecom")),
			patient},
		{"delete the last item removes the list", `{"resourceType":"Patient","id":"x","identifier":[{"value":"1"}],"active":true}`,
			params(op("delete", "Patient.identifier")),
			`{"resourceType":"Patient","id":"x","active":true}`},
		{"delete a primitive with its extensions", patient,
			params(op("delete", "Patient.birthDate")),
			replaced(t, `"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"bt","valueDateTime":"1970-01-01T10:00:00Z"}]},`, ``)},
		{"delete a primitive list item with its extensions", patient,
			params(op("delete", "Patient.name.given[1]")),
			replaced(t, `"given":["John","Q"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]`, `"given":["John"]`)},
		{"delete the extension of a primitive", patient,
			params(op("delete", "Patient.birthDate.extension")),
			replaced(t, `,"_birthDate":{"extension":[{"url":"bt","valueDateTime":"1970-01-01T10:00:00Z"}]}`, ``)},
		{"delete a choice element by its FHIRPath name", patient,
			params(op("delete", "Patient.deceased")),
			replaced(t, `"deceasedBoolean":false,`, ``)},
		// replace
		{"replace a primitive", patient,
			params(op("replace", "Patient.gender", value("valueCode", `"female"`))),
			replaced(t, `"male"`, `"female"`)},
		{"replace a choice element with another type, in place", patient,
			params(op("replace", "Patient.deceased", value("valueDateTime", `"2021"`))),
			replaced(t, `"deceasedBoolean":false`, `"deceasedDateTime":"2021"`)},
		{"replace a primitive replaces its extensions", patient,
			params(op("replace", "Patient.birthDate", value("valueDate", `"1971"`))),
			replaced(t, `"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"bt","valueDateTime":"1970-01-01T10:00:00Z"}]}`, `"birthDate":"1971"`)},
		{"replace a primitive and give extensions", patient,
			params(op("replace", "Patient.birthDate", `{"name":"value","valueDate":"1971","_valueDate":{"id":"b"}}`)),
			replaced(t, `"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"bt","valueDateTime":"1970-01-01T10:00:00Z"}]}`, `"birthDate":"1971","_birthDate":{"id":"b"}`)},
		{"replace a primitive list item", patient,
			params(op("replace", "Patient.name.given[1]", value("valueString", `"R"`))),
			replaced(t, `"given":["John","Q"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]`, `"given":["John","R"]`)},
		{"replace a complex list item", patient,
			params(op("replace", "Patient.identifier.where(value='1')", value("valueIdentifier", `{"value":"one"}`))),
			replaced(t, `{"system":"s","value":"1"}`, `{"value":"one"}`)},
		{"replace inside a contained resource reached by resolve()", patient,
			params(op("replace", "Patient.managingOrganization.resolve().name", value("valueString", `"New"`))),
			replaced(t, `"name":"Org"`, `"name":"New"`)},
		{"replace a backbone element with parts", `{"resourceType":"Patient","id":"x","contact":[{"gender":"male"}]}`,
			params(op("replace", "Patient.contact[0]", `{"name":"value","part":[{"name":"gender","valueCode":"female"}]}`)),
			`{"resourceType":"Patient","id":"x","contact":[{"gender":"female"}]}`},
		{"replace a choice element with parts keeps its type", `{"resourceType":"Observation","status":"final","valueQuantity":{"value":1},"note":[]}`,
			params(op("replace", "Observation.value", `{"name":"value","part":[{"name":"value","valueDecimal":2.0},{"name":"unit","valueString":"g"}]}`)),
			`{"resourceType":"Observation","status":"final","valueQuantity":{"value":2.0,"unit":"g"},"note":[]}`},
		{"replace a contained resource", patient,
			params(op("replace", "Patient.contained[0]", `{"name":"value","resource":{"resourceType":"Organization","id":"org","active":true}}`)),
			replaced(t, `{"resourceType":"Organization","id":"org","name":"Org"}`, `{"resourceType":"Organization","id":"org","active":true}`)},
		// move
		{"move", patient,
			params(op("move", "Patient.identifier", index("source", "1"), index("destination", "0"))),
			replaced(t, `[{"system":"s","value":"1"},{"system":"s","value":"2"}]`, `[{"system":"s","value":"2"},{"system":"s","value":"1"}]`)},
		{"move keeps primitive extensions with their values", patient,
			params(op("move", "Patient.name[0].given", index("source", "1"), index("destination", "0"))),
			replaced(t, `"given":["John","Q"],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]`,
				`"given":["Q","John"],"_given":[{"extension":[{"url":"u","valueString":"x"}]},null]`)},
		{"move to the same place", patient,
			params(op("move", "Patient.identifier", index("source", "1"), index("destination", "1"))),
			patient},
		// several operations apply in order
		{"operations in order", `{"resourceType":"Patient","id":"x"}`,
			params(op("add", "Patient", name("active"), value("valueBoolean", "true")),
				op("replace", "Patient.active", value("valueBoolean", "false")),
				op("add", "Patient", name("name"), value("valueHumanName", `{"family":"A"}`)),
				op("add", "Patient.name", name("given"), value("valueString", `"B"`))),
			`{"resourceType":"Patient","id":"x","active":false,"name":[{"family":"A","given":["B"]}]}`},
		{"no operations", patient, `{"resourceType":"Parameters"}`, patient},
		// untouched content keeps its bytes: decimals, escapes, order
		{"untouched bytes", `{"resourceType":"Observation","status":"final","code":{"text":"caf\u00e9"},"valueQuantity":{"value":1.50,"unit":"mg"}}`,
			params(op("replace", "Observation.status", value("valueCode", `"amended"`))),
			`{"resourceType":"Observation","status":"amended","code":{"text":"caf\u00e9"},"valueQuantity":{"value":1.50,"unit":"mg"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := patch.ApplyFHIRPath(m, []byte(tc.resource), []byte(tc.doc))
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFHIRPathPatchErrors(t *testing.T) {
	m := r4test.Load(t).Model
	for _, tc := range []struct {
		name, doc string
		status    int
		msg       string
	}{
		// The document is malformed: 400.
		{"not JSON", `{"resourceType":`, 400, "not valid JSON"},
		{"not Parameters", `{"resourceType":"Patient"}`, 400, "Parameters resource"},
		{"parameter not named operation", `{"resourceType":"Parameters","parameter":[{"name":"op","part":[]}]}`, 400, `named "operation"`},
		{"no parts", `{"resourceType":"Parameters","parameter":[{"name":"operation"}]}`, 400, "needs its parts"},
		{"unknown type", params(op("copy", "Patient")), 400, `unknown operation type "copy"`},
		{"no type", `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"path","valueString":"Patient"}]}]}`, 400, "no type part"},
		{"missing value", params(op("replace", "Patient.active")), 400, "needs a value part"},
		{"missing name", params(op("add", "Patient", value("valueBoolean", "true"))), 400, "needs a name part"},
		{"missing index", params(op("insert", "Patient.identifier", value("valueIdentifier", `{}`))), 400, "needs a index part"},
		{"part of another type", params(op("delete", "Patient.active", index("index", "0"))), 400, "takes no index part"},
		{"unknown part", params(op("delete", "Patient.active", `{"name":"where","valueString":"x"}`)), 400, `unknown part "where"`},
		{"duplicate part", params(op("delete", "Patient.active", `{"name":"path","valueString":"x"}`)), 400, "given twice"},
		{"bad FHIRPath", params(op("delete", "Patient.name.(")), 400, "not a valid FHIRPath"},
		{"negative index", params(op("insert", "Patient.identifier", value("valueIdentifier", `{}`), index("index", "-1"))), 400, "valueInteger of 0 or more"},
		{"unknown value type", params(op("replace", "Patient.active", value("valueFoo", "true"))), 400, "names no FHIR data type"},
		{"two values", params(op("replace", "Patient.active", `{"name":"value","valueBoolean":true,"valueString":"x"}`)), 400, "one value"},
		{"insert path not a list path", params(op("insert", "Patient.identifier.first()", value("valueIdentifier", `{}`), index("index", "0"))), 400, "must end with the name of a list element"},
		// The patch does not apply to this resource: 422.
		{"add: no match", params(op("add", "Patient.contact", name("gender"), value("valueCode", `"male"`))), 422, "matches no element"},
		{"add: several matches", params(op("add", "Patient.identifier", name("use"), value("valueCode", `"usual"`))), 422, "matches 2 elements"},
		{"add: existing non-repeating element", params(op("add", "Patient", name("gender"), value("valueCode", `"female"`))), 422, "already has gender"},
		{"add: existing choice alternative", params(op("add", "Patient", name("deceased"), value("valueDateTime", `"2020"`))), 422, "already has deceasedBoolean"},
		{"add: unknown element", params(op("add", "Patient", name("colour"), value("valueString", `"red"`))), 422, `no element "colour"`},
		{"add: wrong type", params(op("add", "Patient", name("telecom"), value("valueIdentifier", `{}`))), 422, "is of type ContactPoint; the value is of type Identifier"},
		{"add: choice type not allowed", params(op("add", "Patient", name("multipleBirth"), value("valueString", `"x"`))), 422, "cannot be a string"},
		{"add: choice as parts", params(op("add", "Patient", name("multipleBirth"), `{"name":"value","part":[{"name":"id","valueString":"x"}]}`)), 422, "choice of types"},
		{"add: to a primitive", params(op("add", "Patient.gender", name("text"), value("valueString", `"x"`))), 422, "only extension or id"},
		{"add: bad nested part", params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"nickname","valueString":"x"}]}`)), 422, `Patient.contact has no element "nickname"`},
		{"add: nested non-repeating twice", params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"gender","valueCode":"male"},{"name":"gender","valueCode":"male"}]}`)), 422, "given twice"},
		{"insert: index out of range", params(op("insert", "Patient.identifier", value("valueIdentifier", `{}`), index("index", "3"))), 422, "out of range: the list has 2"},
		{"insert: wrong type", params(op("insert", "Patient.identifier", value("valueHumanName", `{}`), index("index", "0"))), 422, "is of type Identifier; the value is of type HumanName"},
		{"insert: not a list", params(op("insert", "Patient.gender", value("valueCode", `"male"`), index("index", "0"))), 422, "not a list element"},
		{"delete: several matches", params(op("delete", "Patient.identifier")), 422, "matches 2 elements"},
		{"delete: the resource", params(op("delete", "Patient")), 422, "resource itself"},
		{"replace: no match", params(op("replace", "Patient.telecom", value("valueContactPoint", `{}`))), 422, "matches no element"},
		{"replace: wrong type", params(op("replace", "Patient.gender", value("valueBoolean", `true`))), 422, "is of type code; the value is of type boolean"},
		{"replace: object for a primitive", params(op("replace", "Patient.active", value("valueBoolean", `{}`))), 422, "must be a JSON primitive"},
		{"replace: computed value", params(op("replace", "Patient.active.not()", value("valueBoolean", `true`))), 422, "not an element of the resource"},
		{"replace: another resource", params(op("replace", "Patient.generalPractitioner.resolve()", value("valueString", `"x"`))), 422, "not an element of the resource"},
		{"move: out of range", params(op("move", "Patient.identifier", index("source", "2"), index("destination", "0"))), 422, "source index 2 is out of range"},
		{"move: absent list", params(op("move", "Patient.telecom", index("source", "0"), index("destination", "0"))), 422, "out of range: the list has 0"},
		{"a later operation fails", params(op("replace", "Patient.active", value("valueBoolean", "false")), op("delete", "Patient.identifier")), 422, "parameter[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := strings.Replace(patient, `"managingOrganization"`, `"generalPractitioner":[{"reference":"Practitioner/1"}],"managingOrganization"`, 1)
			_, err := patch.ApplyFHIRPath(m, []byte(res), []byte(tc.doc))
			var oe *outcome.Error
			if !errors.As(err, &oe) {
				t.Fatalf("want an OperationOutcome error, got %v", err)
			}
			text := oe.Issues[0].Diagnostics + " @" + strings.Join(oe.Issues[0].Expression, ",")
			if oe.Status != tc.status || !strings.Contains(text, tc.msg) {
				t.Errorf("got %d %s; want %d …%s…", oe.Status, text, tc.status, tc.msg)
			}
		})
	}
}
