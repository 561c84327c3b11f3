package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// searchValue turns one value a parameter's expression selects from a resource into a query value that
// must find that resource, or "" when the value has no query form (contained references, …).
// compositeValue is a search value of a composite parameter for element e of the elements its expression
// selects in tree: each component's value within that element (the innermost selected element holding
// it), escaped and joined by "$"; "" when a component has none.
func compositeValue(reg *search.Registry, p *search.Param, tree map[string]any, elems []fhirpath.Node, e int) string {
	esc := strings.NewReplacer(`\`, `\\`, ",", `\,`, "$", `\$`)
	var parts []string
	for _, c := range p.Components {
		vals, err := c.Expression.Evaluate(reg.Model(), tree)
		if err != nil {
			return ""
		}
		v := ""
		for _, n := range vals {
			if innermostElement(elems, n.Path) != e {
				continue
			}
			if v = searchValue(c.Param, n); v != "" {
				break
			}
		}
		if v == "" {
			return ""
		}
		parts = append(parts, esc.Replace(v))
	}
	return strings.Join(parts, "$")
}

// innermostElement is the index of the element whose path contains path most closely (-1: none).
func innermostElement(elems []fhirpath.Node, path string) int {
	best, bestLen := -1, -1
	for i, el := range elems {
		if len(el.Path) > bestLen && (path == el.Path || strings.HasPrefix(path, el.Path+".") || strings.HasPrefix(path, el.Path+"[")) {
			best, bestLen = i, len(el.Path)
		}
	}
	return best
}

func searchValue(p *search.Param, n fhirpath.Node) string {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	m, isObj := n.Value.(map[string]any)
	switch p.Type {
	case search.TypeToken:
		if !isObj {
			return fmt.Sprint(n.Value)
		}
		switch n.Type {
		case "CodeableConcept":
			if cs, ok := m["coding"].([]any); ok && len(cs) > 0 {
				if c := cs[0].(map[string]any); c["code"] != nil {
					return str(c, "system") + "|" + fmt.Sprint(c["code"])
				}
			}
		case "Coding":
			if m["code"] != nil {
				return str(m, "system") + "|" + fmt.Sprint(m["code"])
			}
		case "Identifier", "ContactPoint":
			if v := str(m, "value"); v != "" {
				return str(m, "system") + "|" + v
			}
		}
	case search.TypeString:
		s := ""
		if !isObj {
			s, _ = n.Value.(string)
		} else if f := str(m, "family"); f != "" {
			s = f
		} else if f := str(m, "city"); f != "" {
			s = f
		} else if t := str(m, "text"); t != "" {
			s = t
		}
		if r := []rune(s); len(r) > 3 {
			s = string(r[:3])
		}
		return s
	case search.TypeReference:
		if isObj {
			if ref := str(m, "reference"); ref != "" && !strings.HasPrefix(ref, "#") && !strings.HasPrefix(ref, "urn:") {
				key := search.ReferenceKey(ref)
				if typ, _, ok := strings.Cut(key, "/"); ok && !strings.Contains(typ, ":") && !slices.Contains(p.Target, typ) {
					// The example refers to a type the parameter cannot (DeviceMetric-example's parent is
					// a DeviceDefinition): a search with it is a 400.
					return ""
				}
				return key
			}
			return ""
		}
		// A canonical: a URL or Type/id; "#x" is a contained resource, a bare name no reference form.
		if s, _ := n.Value.(string); strings.Contains(s, "/") {
			return s
		}
		return ""
	case search.TypeURI:
		s, _ := n.Value.(string)
		return s
	case search.TypeDate:
		if !isObj {
			s, _ := n.Value.(string)
			if _, _, ok := search.DateRange(s); !ok {
				return "" // e.g. CarePlan.activity.detail.scheduledString "daily"
			}
			return s // eq at the value's own precision: the resource's range lies inside it
		}
		if n.Type == "Period" && str(m, "start") != "" {
			return "ge" + str(m, "start")
		}
	case search.TypeNumber:
		if !isObj && n.Value != nil {
			return fmt.Sprint(n.Value) // eq at the value's own precision
		}
	case search.TypeSpecial: // near: within 1 km of the position
		if isObj && m["latitude"] != nil && m["longitude"] != nil {
			return fmt.Sprint(m["latitude"]) + "|" + fmt.Sprint(m["longitude"]) + "|1|km"
		}
	case search.TypeQuantity:
		num := func(q map[string]any) string {
			if q == nil || q["value"] == nil {
				return ""
			}
			return fmt.Sprint(q["value"])
		}
		switch {
		case !isObj:
		case n.Type == "Range":
			low, _ := m["low"].(map[string]any)
			high, _ := m["high"].(map[string]any)
			if v := num(low); v != "" {
				return "ge" + v
			}
			if v := num(high); v != "" {
				return "le" + v
			}
		case num(m) != "":
			// With its unit when it has one: system|code (compared in canonical units for UCUM).
			if sys, code := str(m, "system"), fmt.Sprint(m["code"]); sys != "" && m["code"] != nil {
				return num(m) + "|" + sys + "|" + code
			}
			return num(m)
		}
	}
	return ""
}

// putOfficialExamples stores every official example of the served types (testdata/examples/r4) through
// c and returns them decoded (numbers kept exact), in file order.
func putOfficialExamples(t *testing.T, c *client, keep func(typ string) bool) []map[string]any {
	t.Helper()
	rejected, _ := r4test.ExampleExceptions(t)
	files, _ := filepath.Glob("../../testdata/examples/r4/*.json")
	var out []map[string]any
	for _, f := range files {
		if _, ok := rejected[filepath.Base(f)]; ok {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var tree map[string]any
		if err := dec.Decode(&tree); err != nil {
			t.Fatal(err)
		}
		typ, id := tree["resourceType"].(string), tree["id"].(string)
		if keep != nil && !keep(typ) {
			continue
		}
		if r := c.do("PUT", "/"+typ+"/"+id, string(data)); r.status != 201 {
			t.Fatalf("PUT %s/%s: %d %s", typ, id, r.status, r.body)
		}
		out = append(out, tree)
	}
	return out
}

// TestEveryParameterFindsItsExample stores every official example of the served types (plus a few resources
// for the parameters no official example of the coordination types has a value for), then, for every
// search parameter of every type and every example that has a value for it, searches with that value and
// expects the example among the results. With the hand-written exact cases in search_test.go this covers
// each official parameter end to end (extraction, parsing, translation, the database).
//
// Bounds, so that the test stays within seconds with every R4 type: on the coordination types
// (definitions.Coordination) every example is searched for with each of its parameters and every
// parameter must be exercised; on the others, the first two examples with a value for a parameter are,
// and the parameters no official example has a value for are listed in
// testdata/params-without-example.txt, which may only shrink.
func TestEveryParameterFindsItsExample(t *testing.T) {
	c := server(t)
	reg := r4test.Load(t).Registry
	type example struct {
		typ, id string
		tree    map[string]any
	}
	var examples []example
	for _, tree := range putOfficialExamples(t, c, nil) {
		examples = append(examples, example{tree["resourceType"].(string), tree["id"].(string), tree})
	}
	// Resources for the parameters no official example has a value for.
	extra := []string{
		`{"resourceType":"Patient","id":"meta-1","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"vip"}]},"name":[{"family":"Meta"}]}`,
		`{"resourceType":"CarePlan","id":"links-1","meta":{"profile":["http://example.org/StructureDefinition/cp"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"cp"}]},"instantiatesCanonical":["http://example.org/PlanDefinition/diabetes"],"basedOn":[{"reference":"CarePlan/links-0"}],"replaces":[{"reference":"CarePlan/links-0"}],"partOf":[{"reference":"CarePlan/links-0"}],"status":"active","intent":"plan","category":[{"coding":[{"system":"http://snomed.info/sct","code":"734163000"}]}],"subject":{"reference":"Patient/meta-1"},"activity":[{"reference":{"reference":"Appointment/appt-1"}}]}`,
		`{"resourceType":"Appointment","id":"appt-1","meta":{"profile":["http://example.org/StructureDefinition/ap"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"ap"}]},"status":"booked","participant":[{"actor":{"reference":"Patient/meta-1"},"status":"accepted"}]}`,
		`{"resourceType":"AllergyIntolerance","id":"meta-al","meta":{"profile":["http://example.org/StructureDefinition/al"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"al"}]},"patient":{"reference":"Patient/meta-1"}}`,
		`{"resourceType":"MedicationStatement","id":"med-ref","meta":{"profile":["http://example.org/StructureDefinition/ms"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"ms"}]},"status":"active","medicationReference":{"reference":"Medication/med-9"},"subject":{"reference":"Patient/meta-1"}}`,
		`{"resourceType":"Coverage","id":"meta-cov","meta":{"profile":["http://example.org/StructureDefinition/cov"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"cov"}]},"status":"active","beneficiary":{"reference":"Patient/meta-1"},"payor":[{"display":"Acme"}]}`,
		`{"resourceType":"AuditEvent","id":"meta-audit","meta":{"profile":["http://example.org/StructureDefinition/audit"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"audit"}]},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"recorded":"2026-12-01T10:00:00Z","agent":[{"role":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/extra-security-role-type","code":"humanuser"}]}],"who":{"reference":"Practitioner/pr-1"},"requestor":true}],"source":{"observer":{"reference":"Device/careflow"}}}`,
		`{"resourceType":"Task","id":"meta-task","meta":{"profile":["http://example.org/StructureDefinition/task"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"}],"source":"http://ehr.example.org/feed","tag":[{"system":"http://example.org/tags","code":"task"}]},"basedOn":[{"reference":"CarePlan/links-1"}],"status":"in-progress","businessStatus":{"coding":[{"system":"http://example.org/task-business-status","code":"waiting-for-payer"}]},"intent":"order","for":{"reference":"Patient/meta-1"}}`,
		// useContext quantities: no official example of these types has one (a Range, and a UCUM Quantity).
		`{"resourceType":"Questionnaire","id":"ctx-range","status":"active","useContext":[{"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"age"},"valueRange":{"low":{"value":18,"unit":"a","system":"http://unitsofmeasure.org","code":"a"},"high":{"value":65,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}}}]}`,
		`{"resourceType":"ValueSet","id":"ctx-quantity","status":"active","useContext":[{"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"age"},"valueQuantity":{"value":12,"unit":"mo","system":"http://unitsofmeasure.org","code":"mo"}}]}`,
	}
	for _, body := range extra {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var tree map[string]any
		if err := dec.Decode(&tree); err != nil {
			t.Fatal(err)
		}
		typ, id := tree["resourceType"].(string), tree["id"].(string)
		if r := c.do("PUT", "/"+typ+"/"+id, body); r.status != 201 {
			t.Fatalf("PUT %s/%s: %d %s", typ, id, r.status, r.body)
		}
		examples = append(examples, example{typ, id, tree})
	}
	covered := map[string]int{}
	for _, ex := range examples {
		all := slices.Contains(definitions.Coordination, ex.typ)
		for _, p := range reg.Params(ex.typ) {
			if p.Code == "_lastUpdated" {
				continue // server-assigned; covered by TestSearchSortAndPaging
			}
			if !all && covered[ex.typ+"."+p.Code] >= 2 {
				continue
			}
			nodes, err := p.Expression.Evaluate(reg.Model(), ex.tree)
			if err != nil {
				t.Fatal(err)
			}
			value := ""
			if p.Code == "_id" {
				value = ex.id
			}
			for i, n := range nodes {
				if p.Type == search.TypeComposite {
					value = compositeValue(reg, p, ex.tree, nodes, i)
				} else {
					value = searchValue(p, n)
				}
				if value != "" {
					break
				}
			}
			if value == "" {
				continue
			}
			q := ex.typ + "?" + url.QueryEscape(p.Code) + "=" + url.QueryEscape(value) + "&_count=200&_elements=id"
			found := strings.Split(ids(t, c, q), ",")
			sort.Strings(found)
			if i := sort.SearchStrings(found, ex.id); i >= len(found) || found[i] != ex.id {
				t.Errorf("%s did not find %s/%s (found %v)", q, ex.typ, ex.id, found)
			}
			covered[ex.typ+"."+p.Code]++
		}
	}
	// Every parameter must have been exercised, but the ones listed.
	listedData, err := os.ReadFile(paramsWithoutExample)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(listedData), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			listed[line] = true
		}
	}
	var missing, nowCovered []string
	searched := 0
	for _, typ := range definitions.ResourceTypes {
		for _, p := range reg.Params(typ) {
			key := typ + "." + p.Code
			searched += covered[key]
			switch {
			case p.Code == "_lastUpdated":
			case covered[key] == 0 && strings.HasPrefix(p.Code, "_") && !slices.Contains(definitions.Coordination, typ):
				// _tag, _profile, _security, _source: one expression over meta for every type, exercised
				// on the coordination types (few official examples of the others have meta).
			case covered[key] == 0 && (slices.Contains(definitions.Coordination, typ) || !listed[key]):
				missing = append(missing, key)
			case covered[key] > 0 && listed[key]:
				nowCovered = append(nowCovered, key)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("parameters no resource exercised: %s", strings.Join(missing, " "))
	}
	if len(nowCovered) > 0 {
		t.Errorf("parameters exercised now, remove them from %s: %s", paramsWithoutExample, strings.Join(nowCovered, " "))
	}
	t.Logf("%d searches; %d parameters without an example to search with (%s)", searched, len(listed), paramsWithoutExample)
}

// paramsWithoutExample lists the parameters of the types beyond the coordination ones that no official
// example has a value for (TestEveryParameterFindsItsExample), one Type.code per line.
const paramsWithoutExample = "testdata/params-without-example.txt"
