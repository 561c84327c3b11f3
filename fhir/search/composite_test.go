package search_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestCompositeKinds lists the component kinds of every composite parameter of the served types, from the
// official definitions: every combination is indexed but the two-range MolecularSequence coordinates.
func TestCompositeKinds(t *testing.T) {
	reg := r4test.Load(t).Registry
	kinds := map[string]int{}
	pairs := 0
	for _, typ := range definitions.ResourceTypes {
		for _, p := range reg.Params(typ) {
			if p.Type != search.TypeComposite {
				continue
			}
			pairs++
			var ks []string
			for _, c := range p.Components {
				ks = append(ks, c.Param.Type)
			}
			kinds[strings.Join(ks, "$")]++
		}
		for _, code := range reg.NotIndexedParams(typ) {
			why, _ := reg.NotIndexed(typ, code)
			if p, _ := reg.Lookup(typ, code); p == nil && !strings.Contains(why, "two range components") &&
				typ+"."+code != "Bundle.composition" && typ+"."+code != "Bundle.message" && typ+"."+code != "DeviceDefinition.classification" {
				t.Errorf("%s.%s is not indexed: %s", typ, code, why)
			}
		}
	}
	// MolecularSequence's four coordinates (token$number$number) are not indexed.
	want := map[string]int{"token$token": 32, "token$quantity": 31, "token$date": 1, "token$string": 1, "reference$token": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d pairs, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	if pairs != 66 {
		t.Errorf("%d composite pairs indexed, want 66 (all: %v)", pairs, kinds)
	}
	if _, ok := reg.Lookup("Location", "near"); !ok {
		t.Error("Location near is not indexed")
	}
}

// TestCompositeIndex: each element's components are combined (never two elements'), and a search value names one combination.
func TestCompositeIndex(t *testing.T) {
	reg := r4test.Load(t).Registry
	bp := decode(t, `{"resourceType":"Observation","id":"bp","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":140,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":90,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`)
	idx, err := reg.Index("Observation", bp)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reg.Lookup("Observation", "component-code-value-quantity")
	nums := idx[p.Field+search.SuffixNumeric].([]search.NumKey)
	var got []string
	for _, n := range nums {
		if strings.HasSuffix(n.U, search.CompositeSep+"s:http://unitsofmeasure.org|mm[Hg]") {
			got = append(got, strings.ReplaceAll(n.U, search.CompositeSep, "$")+"="+jsonNum(n.Lo))
		}
	}
	slices.Sort(got)
	want := []string{
		"c:8462-4$s:http://unitsofmeasure.org|mm[Hg]=90", "c:8480-6$s:http://unitsofmeasure.org|mm[Hg]=140",
		"s:http://loinc.org|8462-4$s:http://unitsofmeasure.org|mm[Hg]=90", "s:http://loinc.org|8480-6$s:http://unitsofmeasure.org|mm[Hg]=140",
		"y:http://loinc.org$s:http://unitsofmeasure.org|mm[Hg]=140", "y:http://loinc.org$s:http://unitsofmeasure.org|mm[Hg]=90",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	q, oerr := reg.Parse("Observation", url.Values{"component-code-value-quantity": {"http://loinc.org|8480-6$gt130|http://unitsofmeasure.org|mm[Hg]"}}, search.ParseOptions{Strict: true})
	if oerr != nil {
		t.Fatal(oerr)
	}
	conds := search.NumConds(q.Criteria[0])
	if len(conds) != 1 || conds[0].Prefix != "gt" || len(conds[0].Units) != 1 || !strings.HasPrefix(conds[0].Units[0], "s:http://loinc.org|8480-6"+search.CompositeSep+"k:") {
		t.Errorf("conds %+v", conds)
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }
