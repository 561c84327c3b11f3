package fhirpath_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// node builds an expected result node; value is JSON ("null" for a resolve() pseudo-node).
func node(value, typ, path string) fhirpath.Node {
	d := json.NewDecoder(strings.NewReader(value))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(fmt.Sprintf("bad expected value %s: %v", value, err))
	}
	return fhirpath.Node{Value: v, Type: typ, Path: path}
}

func format(nodes []fhirpath.Node) string {
	var b bytes.Buffer
	for _, n := range nodes {
		v, _ := json.Marshal(n.Value)
		fmt.Fprintf(&b, "\n\t%s %s @%s", v, n.Type, n.Path)
	}
	if b.Len() == 0 {
		return " (empty)"
	}
	return b.String()
}

const patientJSON = `{
  "resourceType": "Patient",
  "id": "p1",
  "meta": {"lastUpdated": "2024-01-02T03:04:05Z", "tag": [{"system": "http://ex.org/tags", "code": "t1"}]},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">John</div>"},
  "extension": [
    {"url": "http://ex.org/a", "valueString": "a"},
    {"url": "http://ex.org/b", "valueCodeableConcept": {"coding": [{"system": "http://ex.org/cs", "code": "b1"}]}}
  ],
  "active": true,
  "name": [
    {"use": "official", "family": "Doe", "given": ["John", "Q"]},
    {"given": ["Johnny"], "_given": [{"extension": [{"url": "http://ex.org/nick", "valueBoolean": true}]}]}
  ],
  "telecom": [
    {"system": "phone", "value": "555"},
    {"system": "email", "value": "j@ex.org"},
    {"system": "email", "value": "k@ex.org", "use": "work"}
  ],
  "gender": "male",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1970-01-01T10:00:00Z"}]},
  "deceasedDateTime": "2020-01-01",
  "multipleBirthInteger": 2,
  "address": [{"city": "Springfield", "_city": {"id": "c1", "extension": [{"url": "http://ex.org/c", "valueCode": "x"}]}}],
  "contained": [{"resourceType": "Organization", "id": "org1", "name": "Org One"}],
  "managingOrganization": {"reference": "#org1"},
  "generalPractitioner": [
    {"reference": "Practitioner/1"},
    {"reference": "http://ex.org/fhir/Organization/2/_history/3"},
    {"reference": "urn:uuid:0b3f5e4a-9a8e-4a4d-8f60-1c4b7d2c1e11"},
    {"reference": "urn:uuid:7f1d2c9e-2b6f-4f0a-9d8e-3c5b1a2d4e6f", "type": "Practitioner"},
    {"identifier": {"system": "http://ex.org/ids", "value": "x"}},
    {"reference": "Foo/1"}
  ],
  "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]
}`

const observationJSON = `{
  "resourceType": "Observation",
  "status": "final",
  "code": {"text": "weight"},
  "subject": {"reference": "Patient/p1"},
  "effectivePeriod": {"start": "2024-01-01", "end": "2024-01-02"},
  "valueQuantity": {"value": 72.50, "unit": "kg"}
}`

const conditionJSON = `{
  "resourceType": "Condition",
  "subject": {"reference": "Group/g1"},
  "onsetAge": {"value": 40, "unit": "a"}
}`

const medStatementJSON = `{
  "resourceType": "MedicationStatement",
  "status": "active",
  "medicationCodeableConcept": {"text": "pill"},
  "subject": {"reference": "Patient/p1"}
}`

// evalCase is an expression, the resource it is evaluated on and the exact result.
type evalCase struct {
	expr     string
	resource map[string]any
	want     []fhirpath.Node
}

const livingPatientJSON = `{"resourceType": "Patient", "deceasedBoolean": false}`

func TestEvaluate(t *testing.T) {
	m := r4test.Load(t).Model
	patient := decode(t, []byte(patientJSON))
	observation := decode(t, []byte(observationJSON))
	condition := decode(t, []byte(conditionJSON))
	medStatement := decode(t, []byte(medStatementJSON))
	living := decode(t, []byte(livingPatientJSON))
	nobody := decode(t, []byte(`{"resourceType": "Patient"}`))
	tru := node("true", "System.Boolean", "")
	fls := node("false", "System.Boolean", "")
	email1 := node(`{"system": "email", "value": "j@ex.org"}`, "ContactPoint", "Patient.telecom[1]")
	email2 := node(`{"system": "email", "value": "k@ex.org", "use": "work"}`, "ContactPoint", "Patient.telecom[2]")
	name0 := node(`{"use": "official", "family": "Doe", "given": ["John", "Q"]}`, "HumanName", "Patient.name[0]")
	name1 := node(`{"given": ["Johnny"], "_given": [{"extension": [{"url": "http://ex.org/nick", "valueBoolean": true}]}]}`, "HumanName", "Patient.name[1]")
	john := node(`"John"`, "string", "Patient.name[0].given[0]")
	q := node(`"Q"`, "string", "Patient.name[0].given[1]")
	johnny := node(`"Johnny"`, "string", "Patient.name[1].given[0]")
	gp := func(i int, ref string) fhirpath.Node {
		return node(ref, "Reference", fmt.Sprintf("Patient.generalPractitioner[%d]", i))
	}

	cases := []evalCase{
		// Paths, type-name roots and array flattening.
		{"Patient.name.given", patient, []fhirpath.Node{john, q, johnny}},
		{"name.given", patient, []fhirpath.Node{john, q, johnny}},
		{"Patient.name.family", patient, []fhirpath.Node{node(`"Doe"`, "string", "Patient.name[0].family")}},
		{"FHIR.Patient.gender", patient, []fhirpath.Node{node(`"male"`, "code", "Patient.gender")}},
		{"CarePlan.subject", patient, nil},
		{"Observation.subject | Patient.link.other", patient, []fhirpath.Node{node(`{"reference": "Patient/p2"}`, "Reference", "Patient.link[0].other")}},
		{"Resource.id", patient, []fhirpath.Node{node(`"p1"`, "id", "Patient.id")}},
		{"Resource.meta.lastUpdated", patient, []fhirpath.Node{node(`"2024-01-02T03:04:05Z"`, "instant", "Patient.meta.lastUpdated")}},
		{"Resource.meta.tag", patient, []fhirpath.Node{node(`{"system": "http://ex.org/tags", "code": "t1"}`, "Coding", "Patient.meta.tag[0]")}},
		{"DomainResource.text.status", patient, []fhirpath.Node{node(`"generated"`, "code", "Patient.text.status")}},
		{"Patient.text.`div`", patient, []fhirpath.Node{node(`"<div xmlns=\"http://www.w3.org/1999/xhtml\">John</div>"`, "xhtml", "Patient.text.div")}},
		{"Patient.nosuchelement", patient, nil},
		{"Patient.name[1].given", patient, []fhirpath.Node{johnny}},
		{"Patient.name.given[2]", patient, []fhirpath.Node{johnny}},
		{"Patient.name.given[3]", patient, nil},
		{"$this.name.family", patient, []fhirpath.Node{node(`"Doe"`, "string", "Patient.name[0].family")}},
		{"%resource.id", patient, []fhirpath.Node{node(`"p1"`, "id", "Patient.id")}},
		// Primitives with only an extension have no value; extensions of primitives with a value are reachable.
		{"Patient.birthDate", patient, nil},
		{"Patient.birthDate.exists()", patient, []fhirpath.Node{fls}},
		{"Patient.address.city.extension('http://ex.org/c').value", patient, []fhirpath.Node{node(`"x"`, "code", "Patient.address[0].city.extension[0].valueCode")}},
		{"Patient.address.city.id", patient, []fhirpath.Node{node(`"c1"`, "string", "Patient.address[0].city.id")}},
		{"Patient.name.given.extension.value", patient, []fhirpath.Node{node("true", "boolean", "Patient.name[1].given[0].extension[0].valueBoolean")}},
		// Choice elements.
		{"Patient.deceased", patient, []fhirpath.Node{node(`"2020-01-01"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient.deceasedDateTime", patient, []fhirpath.Node{node(`"2020-01-01"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient.multipleBirth", patient, []fhirpath.Node{node("2", "integer", "Patient.multipleBirthInteger")}},
		{"Observation.effective", observation, []fhirpath.Node{node(`{"start": "2024-01-01", "end": "2024-01-02"}`, "Period", "Observation.effectivePeriod")}},
		{"Observation.value.unit", observation, []fhirpath.Node{node(`"kg"`, "string", "Observation.valueQuantity.unit")}},
		// Type operators and functions.
		{"(Patient.deceased as dateTime)", patient, []fhirpath.Node{node(`"2020-01-01"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient.deceased as boolean", patient, nil},
		{"Patient.deceased.as(dateTime)", patient, []fhirpath.Node{node(`"2020-01-01"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient.deceased.ofType(FHIR.dateTime)", patient, []fhirpath.Node{node(`"2020-01-01"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient.deceased is dateTime", patient, []fhirpath.Node{tru}},
		{"Patient.deceased.is(boolean)", patient, []fhirpath.Node{fls}},
		{"Patient.gender is code", patient, []fhirpath.Node{tru}},
		{"Patient.gender is string", patient, []fhirpath.Node{tru}},        // code specialises string
		{"Patient.gender is System.String", patient, []fhirpath.Node{fls}}, // FHIR and System types are distinct
		{"Patient.gender is System.Any", patient, []fhirpath.Node{tru}},
		{"Patient.id is uri", patient, []fhirpath.Node{fls}},
		{"'abc' is String", patient, []fhirpath.Node{tru}},
		{"'abc' is string", patient, []fhirpath.Node{fls}},
		{"Patient.birthDate is date", patient, nil},
		{"Patient is DomainResource", patient, []fhirpath.Node{tru}},
		{"Patient.contained is Resource", patient, []fhirpath.Node{tru}},
		{"Patient.name.ofType(Element).count()", patient, []fhirpath.Node{node("2", "System.Integer", "")}},
		{"Patient.link.first() is BackboneElement", patient, []fhirpath.Node{tru}},
		{"Patient.name.first() is BackboneElement", patient, []fhirpath.Node{fls}},
		{"Patient.contained.first() is DomainResource", patient, []fhirpath.Node{tru}},
		{"Patient.meta.lastUpdated is instant", patient, []fhirpath.Node{tru}},
		{"Patient.meta.lastUpdated is dateTime", patient, []fhirpath.Node{fls}}, // instant is not a dateTime specialisation
		{"Patient.generalPractitioner.ofType(Reference).count()", patient, []fhirpath.Node{node("6", "System.Integer", "")}},
		{"(Observation.value as Quantity).value", observation, []fhirpath.Node{node("72.50", "decimal", "Observation.valueQuantity.value")}},
		{"Observation.value.as(FHIR.Quantity).unit", observation, []fhirpath.Node{node(`"kg"`, "string", "Observation.valueQuantity.unit")}},
		{"Condition.onset as Quantity", condition, []fhirpath.Node{node(`{"value": 40, "unit": "a"}`, "Age", "Condition.onsetAge")}},
		{"Condition.onset is Age", condition, []fhirpath.Node{tru}},
		{"(Condition.onset as dateTime)", condition, nil},
		{"(MedicationStatement.medication as CodeableConcept)", medStatement, []fhirpath.Node{node(`{"text": "pill"}`, "CodeableConcept", "MedicationStatement.medicationCodeableConcept")}},
		{"(MedicationStatement.medication as Reference)", medStatement, nil},
		// where(), equality, boolean logic.
		{"Patient.telecom.where(system='email')", patient, []fhirpath.Node{email1, email2}},
		{"Patient.telecom.where(system = 'email' and use = 'work').value", patient, []fhirpath.Node{node(`"k@ex.org"`, "string", "Patient.telecom[2].value")}},
		{"Patient.telecom.where(system = 'email' and use != 'work').value", patient, nil}, // use is empty on telecom[1]
		{"Patient.telecom.where(system = 'email' and (use = 'work').exists().not()).value", patient, []fhirpath.Node{node(`"j@ex.org"`, "string", "Patient.telecom[1].value")}},
		{"Patient.telecom.where(system='email').first().value", patient, []fhirpath.Node{node(`"j@ex.org"`, "string", "Patient.telecom[1].value")}},
		{"Patient.telecom.system.where($this = 'email')", patient, []fhirpath.Node{node(`"email"`, "code", "Patient.telecom[1].system"), node(`"email"`, "code", "Patient.telecom[2].system")}},
		{"Patient.name.where(given = 'Johnny')", patient, []fhirpath.Node{name1}}, // name[0] has two givens: unequal
		{"Patient.name.where(family.exists())", patient, []fhirpath.Node{name0}},
		{"Patient.name.where(family.empty())", patient, []fhirpath.Node{name1}},
		{"Patient.name.exists(family = 'Doe')", patient, []fhirpath.Node{tru}},
		{"Patient.name.exists(family = 'Roe')", patient, []fhirpath.Node{fls}},
		{"Patient.name.all(given.exists())", patient, []fhirpath.Node{tru}},
		{"Patient.name.all(family.exists())", patient, []fhirpath.Node{fls}},
		{"Patient.name.select(given.first())", patient, []fhirpath.Node{john, johnny}},
		{"Patient.extension('http://ex.org/a').value", patient, []fhirpath.Node{node(`"a"`, "string", "Patient.extension[0].valueString")}},
		{"Patient.extension.where(url = 'http://ex.org/b').value.coding.code", patient, []fhirpath.Node{node(`"b1"`, "code", "Patient.extension[1].valueCodeableConcept.coding[0].code")}},
		{"Patient.extension('http://ex.org/none')", patient, nil},
		{"Patient.active = true", patient, []fhirpath.Node{tru}},
		{"Patient.active != true", patient, []fhirpath.Node{fls}},
		{"Patient.multipleBirth = 2.0", patient, []fhirpath.Node{tru}},
		{"Patient.gender = 'male'", patient, []fhirpath.Node{tru}},
		{"Patient.gender = 'female'", patient, []fhirpath.Node{fls}},
		{"Patient.birthDate = '1970-01-01'", patient, nil},
		{"Patient.name.given = 'John'", patient, []fhirpath.Node{fls}}, // three items against one
		{"Patient.name[0].given = Patient.name[0].given", patient, []fhirpath.Node{tru}},
		{"Patient.telecom[1] = Patient.telecom[1]", patient, []fhirpath.Node{tru}},
		{"Patient.deceased.exists() and Patient.deceased != false", patient, []fhirpath.Node{tru}},
		{"Patient.deceased.exists() and Patient.deceased != false", living, []fhirpath.Node{fls}},
		{"Patient.deceased.exists() and Patient.deceased != false", nobody, []fhirpath.Node{fls}},
		{"Patient.active.not()", patient, []fhirpath.Node{fls}},
		{"Patient.birthDate.not()", patient, nil},
		{"{}.empty()", patient, []fhirpath.Node{tru}},
		{"true or {}", patient, []fhirpath.Node{tru}},
		{"{} or true", patient, []fhirpath.Node{tru}},
		{"{} or false", patient, nil},
		{"false and {}", patient, []fhirpath.Node{fls}},
		{"{} and true", patient, nil},
		{"true xor false", patient, []fhirpath.Node{tru}},
		{"true xor {}", patient, nil},
		{"false implies {}", patient, []fhirpath.Node{tru}},
		{"true implies {}", patient, nil},
		{"{} implies true", patient, []fhirpath.Node{tru}},
		{"true and false or true", patient, []fhirpath.Node{tru}},
		{"true or false and false", patient, []fhirpath.Node{tru}}, // and binds tighter than or
		{"Patient.deceased.hasValue()", patient, []fhirpath.Node{tru}},
		{"Patient.name.hasValue()", patient, []fhirpath.Node{fls}},
		// Literals.
		{`'it\'s \u0041\n\\'`, patient, []fhirpath.Node{node(`"it's A\n\\"`, "System.String", "")}},
		{"-1.5", patient, []fhirpath.Node{node("-1.5", "System.Decimal", "")}},
		{"%loinc", patient, []fhirpath.Node{node(`"http://loinc.org"`, "System.String", "")}},
		{"Patient.name.given.first() // trailing comment", patient, []fhirpath.Node{john}},
		{"Patient.name.given.last()", patient, []fhirpath.Node{johnny}},
		{"Patient.name.given.tail()", patient, []fhirpath.Node{q, johnny}},
		{"Patient.name.given.count()", patient, []fhirpath.Node{node("3", "System.Integer", "")}},
		// Unions deduplicate identical nodes and keep order.
		{"Patient.name.family | Patient.name.given.first()", patient, []fhirpath.Node{node(`"Doe"`, "string", "Patient.name[0].family"), john}},
		{"Patient.name | Patient.name", patient, []fhirpath.Node{name0, name1}},
		{"(Patient.name | Patient.name).given.count()", patient, []fhirpath.Node{node("3", "System.Integer", "")}},
		{"true | true | false", patient, []fhirpath.Node{tru, fls}},
		// resolve() never fetches: it yields the type named by the reference.
		{"Patient.generalPractitioner.where(resolve() is Practitioner)", patient, []fhirpath.Node{gp(0, `{"reference": "Practitioner/1"}`), gp(3, `{"reference": "urn:uuid:7f1d2c9e-2b6f-4f0a-9d8e-3c5b1a2d4e6f", "type": "Practitioner"}`)}},
		{"Patient.generalPractitioner.where(resolve() is Organization)", patient, []fhirpath.Node{gp(1, `{"reference": "http://ex.org/fhir/Organization/2/_history/3"}`)}},
		{"Patient.generalPractitioner.resolve()", patient, []fhirpath.Node{
			node("null", "Practitioner", "Patient.generalPractitioner[0].resolve()"),
			node("null", "Organization", "Patient.generalPractitioner[1].resolve()"),
			node("null", "Practitioner", "Patient.generalPractitioner[3].resolve()"),
		}},
		{"Patient.generalPractitioner.resolve() is Practitioner", nobody, nil},
		{"Patient.managingOrganization.resolve()", patient, []fhirpath.Node{node(`{"resourceType": "Organization", "id": "org1", "name": "Org One"}`, "Organization", "Patient.contained[0]")}},
		{"Patient.managingOrganization.resolve().name", patient, []fhirpath.Node{node(`"Org One"`, "string", "Patient.contained[0].name")}},
		{"Patient.managingOrganization.where(resolve() is Organization).reference", patient, []fhirpath.Node{node(`"#org1"`, "string", "Patient.managingOrganization.reference")}},
		{"Patient.link.other.where(resolve() is Patient)", patient, []fhirpath.Node{node(`{"reference": "Patient/p2"}`, "Reference", "Patient.link[0].other")}},
		{"Patient.contained", patient, []fhirpath.Node{node(`{"resourceType": "Organization", "id": "org1", "name": "Org One"}`, "Organization", "Patient.contained[0]")}},
		{"Patient.contained.ofType(Organization).name", patient, []fhirpath.Node{node(`"Org One"`, "string", "Patient.contained[0].name")}},
		{"Condition.subject.where(resolve() is Patient)", condition, nil},
		{"MedicationStatement.subject.where(resolve() is Patient)", medStatement, []fhirpath.Node{node(`{"reference": "Patient/p1"}`, "Reference", "MedicationStatement.subject")}},
	}
	// References resolving to the resource itself, to missing contained resources, or malformed.
	self := decode(t, []byte(`{"resourceType": "Patient", "link": [
	  {"other": {"reference": "#"}}, {"other": {"reference": "#nope"}}, {"other": {"reference": "Patient/bad id"}},
	  {"other": {"reference": "patient/1"}}, {"other": {"reference": "Patient/1?x=y"}}]}`))
	cases = append(cases, evalCase{"Patient.link.other.resolve()", self, []fhirpath.Node{
		{Value: self, Type: "Patient", Path: "Patient"},
		node("null", "Patient", "Patient.link[4].other.resolve()"),
	}})
	// The model takes instantiatesCanonical/instantiatesUri for a choice (they are separate repeating
	// elements); navigation by their own names is unaffected.
	carePlan := decode(t, []byte(`{"resourceType": "CarePlan", "instantiatesCanonical": ["http://ex.org/pd"], "instantiatesUri": ["http://ex.org/u"]}`))
	cases = append(cases, evalCase{"CarePlan.instantiatesCanonical", carePlan, []fhirpath.Node{
		node(`"http://ex.org/pd"`, "canonical", "CarePlan.instantiatesCanonical[0]"),
	}})
	// Without UseNumber, numbers are float64 and still compare numerically.
	var floats map[string]any
	if err := json.Unmarshal([]byte(`{"resourceType": "Patient", "multipleBirthInteger": 2}`), &floats); err != nil {
		t.Fatal(err)
	}
	cases = append(cases,
		evalCase{"Patient.multipleBirth = 2.0", floats, []fhirpath.Node{tru}},
		evalCase{"Patient.multipleBirth", floats, []fhirpath.Node{{Value: 2.0, Type: "integer", Path: "Patient.multipleBirthInteger"}}},
	)
	for _, c := range cases {
		e, err := fhirpath.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		got, err := e.Evaluate(m, c.resource)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\ngot%s\nwant%s", c.expr, format(got), format(c.want))
		}
		if e.String() != c.expr {
			t.Errorf("String() = %q, want %q", e.String(), c.expr)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr   string
		column int
		msg    string
	}{
		{"Patient.name.foo()", 14, "unknown or unsupported function 'foo'"},
		{"Patient.name.given.join(',')", 20, "unknown or unsupported function 'join'"},
		{"Patient.birthDate <= '2000'", 19, "operator '<=' is not supported"},
		{"Patient.name.given + 'x'", 20, "operator '+' is not supported"},
		{"Patient.name.given contains 'x'", 20, "operator 'contains' is not supported"},
		{"Patient.name.given ~ 'x'", 20, "operator '~' is not supported"},
		{"-Patient.multipleBirth", 1, "unary '-' is only supported before a number literal"},
		{"Patient.name.where(", 20, "unexpected end of expression"},
		{"Patient.name.where()", 14, "where() takes 1 argument, got 0"},
		{"Patient.name.first(1)", 14, "first() takes no arguments, got 1"},
		{"Patient.name.exists(a, b)", 14, "exists() takes 0 to 1 arguments, got 2"},
		{"Patient.name.given = 'abc", 22, "unterminated string literal"},
		{`'\x'`, 2, `invalid escape sequence \x`},
		{"Patient.birthDate = @2020-01-01", 21, "date/time literals (@2020-01-01) are not supported"},
		{"Patient.deceased as dateTime.value", 29, "unexpected '.' after type dateTime"},
		{"Patient.deceased is System.Foo", 21, "unknown type System.Foo"},
		{"Patient.deceased.ofType('dateTime')", 25, "expected a type name"},
		{"Patient..name", 9, "expected a name or function call"},
		{"Patient.name)", 13, "unexpected ')' after complete expression"},
		{"(Patient.name", 14, "expected ')' to close the '(' at column 1"},
		{"Patient.name and", 17, "unexpected end of expression"},
		{"and", 1, "unexpected keyword 'and'"},
		{"Patient.name.where($index = 0)", 20, "$index is not supported"},
		{"%vs-test", 1, "unknown or unsupported environment variable %vs"},
		{"Patient.name # x", 14, "unexpected character '#'"},
		{"{1}", 2, "expected '}'"},
		{"", 1, "unexpected end of expression"},
		{"Patient /* open", 9, "unterminated comment"},
	}
	for _, c := range cases {
		_, err := fhirpath.Compile(c.expr)
		var se *fhirpath.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v, want a *SyntaxError", c.expr, err)
			continue
		}
		if se.Column != c.column || !strings.Contains(se.Msg, c.msg) || se.Line != 1 {
			t.Errorf("Compile(%q): line %d column %d %q, want line 1 column %d containing %q", c.expr, se.Line, se.Column, se.Msg, c.column, c.msg)
		}
		if !strings.Contains(err.Error(), strconv.Quote(c.expr)) {
			t.Errorf("Compile(%q): error %q does not quote the expression", c.expr, err)
		}
	}
	_, err := fhirpath.Compile("Patient.name\n  .where(given = 'x'\n")
	var se *fhirpath.SyntaxError
	if !errors.As(err, &se) || se.Line != 3 || se.Column != 1 {
		t.Errorf("multi-line error = %v, want line 3 column 1", err)
	}
}

func TestEvaluateErrors(t *testing.T) {
	m := r4test.Load(t).Model
	patient := decode(t, []byte(patientJSON))
	cases := []struct {
		expr     string
		resource map[string]any
		msg      string
	}{
		{"Patient.name.where(given)", patient, "where(given): criteria on Patient.name[0]: expected a single boolean, got 2 items"},
		{"Patient.name is HumanName", patient, "Patient.name is HumanName: 'is' needs a single item, got 2"},
		{"Patient.deceased is Foo", patient, "unknown type Foo"},
		{"Patient.name.given and true", patient, "left operand: expected a single boolean, got 3 items"},
		{"Patient.name[Patient.name]", patient, "[Patient.name]: index: expected a single integer, got 2 items"},
		{"Patient.name", map[string]any{"name": []any{}}, "resource has no resourceType"},
		{"Patient.name", map[string]any{"resourceType": "Nope"}, `unknown resource type "Nope"`},
	}
	for _, c := range cases {
		e, err := fhirpath.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		_, err = e.Evaluate(m, c.resource)
		if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), c.expr) {
			t.Errorf("%s: error %v, want one containing %q and the expression", c.expr, err, c.msg)
		}
	}
	if _, err := fhirpath.MustCompile("name").Evaluate(nil, patient); err == nil {
		t.Error("Evaluate with a nil model succeeded")
	}
}

func TestCheck(t *testing.T) {
	m := r4test.Load(t).Model
	good := []string{
		"Patient.name.given",
		"name.given",
		"Resource.meta.lastUpdated | DomainResource.text",
		"Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value",
		"Patient.contained.ofType(Organization).name",
		"Observation.value.as(Quantity).unit",
		"(Condition.onset as Quantity).value",
		"Patient.deceased.exists() and Patient.deceased != false",
		"Patient.generalPractitioner.where(resolve() is Practitioner)",
		"Patient.telecom.where(system = 'email').value.first()",
		"Patient.name.select(given).count()",
		"Patient.gender is string",
		"%resource.id",
		"Patient.name[0].given | Patient.link.other.resolve().ofType(Patient).id",
		"Patient.multipleBirth.as(integer).extension.value",
	}
	for _, expr := range good {
		if err := fhirpath.MustCompile(expr).Check(m); err != nil {
			t.Errorf("Check(%q): %v", expr, err)
		}
	}
	bad := []struct{ expr, msg string }{
		{"Patient.nmae", `no element "nmae" on Patient`},
		{"Patinet.name", "unknown type Patinet (column 1)"},
		{"Patient.deceased is Foo", "unknown type Foo (column 21)"},
		{"Patient.deceased as Quantity", "can never be a Quantity"},
		{"Patient.name.resolve()", "input of type HumanName is not a reference"},
		{"Patient.contained.name", `no element "name" on Resource (narrow it with ofType() first)`},
		{"Patient.link.other.resolve().name", `no element "name" on Resource`},
		{"Patient.telecom.where(sytem = 'email')", `no element "sytem" on ContactPoint (did you mean system?)`},
		{"Patient.gender.coding", `no element "coding" on code`},
		{"Resource.text", `no element "text" on Resource`},
	}
	for _, c := range bad {
		err := fhirpath.MustCompile(c.expr).Check(m)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Check(%q) = %v, want an error containing %q", c.expr, err, c.msg)
		}
	}
}

// TestConcurrentEvaluate evaluates one compiled expression from many goroutines (run with -race).
func TestConcurrentEvaluate(t *testing.T) {
	m := r4test.Load(t).Model
	patient := decode(t, []byte(patientJSON))
	e := fhirpath.MustCompile("Patient.telecom.where(system='email') | Patient.generalPractitioner.where(resolve() is Practitioner)")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				got, err := e.Evaluate(m, patient)
				if err != nil || len(got) != 4 {
					t.Errorf("got %d nodes, %v", len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
}
