package search

import (
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/model"
)

// Composite parameters (search.html#composite). A composite's expression selects elements (an
// Observation, each Observation.component, each useContext…); each component selects values of such an
// element. A search value is one value per component joined by "$", each in its component's syntax, and
// it matches when one element has all of them — not when any element has the first and another the
// second (that is the point of composites).
//
// A component's values are those of its definition (SearchParameter.component.definition, an official
// parameter) that lie within the element: each value the definition's expression selects belongs to the
// innermost selected element whose location (fhirpath.Node.Path) contains it — combo-code-value-quantity
// selects the Observation and each Observation.component, and a component's code belongs to that
// component, not to the Observation. The component's own expression (component.expression, relative to
// the element) denotes the same values, but two R4 composites' relative expressions are wrong: Observation
// code-value-date's value.as(DateTime) names the FHIRPath System type, which no FHIR dateTime is (FHIRPath
// §Models), and DocumentReference relationship pairs each definition with the other's expression (code
// with relatesto, target with relation). The definitions' expressions are the ones every simple
// parameter already uses and tests.
//
// The index holds, for each selected element, every combination of its components' values, in the index
// of the last component's kind, under a key made of the leading components' keys:
//
//   - last component token, reference, uri or string: keys of the parameter's field (as a token's), each
//     the leading keys and the last one joined by CompositeSep — "s:http://loinc.org|8480-6␟s:…|high" —
//     found by equality (a string's by prefix, the normalised text being last);
//   - last component number, quantity or date: rows of the parameter's numeric field (NumKey, numeric.go)
//     whose unit key is the leading keys, CompositeSep, then the value's own unit key — so that
//     code-value-quantity=http://loinc.org|8480-6$gt130|http://unitsofmeasure.org|mm[Hg] is a range within
//     one unit key, exactly as value-quantity's. A date is stored as its range [lo, hi) in Unix
//     milliseconds, as the closed [lo, hi-1] (dateNumConds states the prefixes on it).
//
// Leading components may be token, reference or uri (exact keys); every composite of R4 leads with a
// token but DocumentReference relationship (a reference). A composite with two range components
// (MolecularSequence's coordinates: a token and two numbers) is not indexed: one index row holds one
// range (docs/ARCHITECTURE.md).

// CompositeSep joins the keys of a composite's components. No index key or search value holds it (search
// values with control characters are refused; FHIR strings cannot hold them).
const CompositeSep = "\x1f"

// Component is one part of a composite parameter.
type Component struct {
	// Param is the component's definition (SearchParameter.component.definition): its Code, URL, Type and
	// Target, which its part of a search value is parsed with. Its Expression and Field are unset.
	Param *Param
	// Expression is the definition's expression: it selects the component's values in the whole resource,
	// each assigned to the element that contains it.
	Expression *fhirpath.Expression
}

// componentDef is what the registry keeps of any official definition for components to name.
type componentDef struct {
	code, url, typ, expression string
	target                     []string
}

// compositePart is a SearchParameter.component.
type compositePart struct{ definition, expression string }

// compositeComponents resolves a composite's components; why tells why it cannot be indexed.
func compositeComponents(m *model.Model, defs map[string]componentDef, parts []compositePart, types []string) ([]Component, string) {
	if len(parts) < 2 {
		return nil, "a composite parameter needs at least two components"
	}
	ranges := 0
	for _, part := range parts {
		switch defs[part.definition].typ {
		case TypeNumber, TypeQuantity, TypeDate:
			ranges++
		}
	}
	if ranges > 1 {
		return nil, "it has two range components (number, quantity or date) and one index row holds one range: a search would need both ranges of one element, which neither store's index can seek"
	}
	var out []Component
	for i, part := range parts {
		d, ok := defs[part.definition]
		if !ok {
			return nil, "its component definition " + part.definition + " is not in the official package"
		}
		last := i == len(parts)-1
		switch d.typ {
		case TypeToken, TypeReference, TypeURI:
		case TypeString:
			if !last {
				return nil, "a string component is matched by prefix, so it can only be the last"
			}
		case TypeNumber, TypeQuantity, TypeDate:
			if !last {
				return nil, "a " + d.typ + " component is matched by range, so it can only be the last"
			}
		default:
			return nil, "its component " + d.code + " is a " + d.typ + " parameter"
		}
		if d.expression == "" {
			return nil, "its component definition " + d.code + " has no expression"
		}
		expr, err := fhirpath.Compile(d.expression)
		if err != nil {
			return nil, "its component expression is outside careflow's FHIRPath subset: " + err.Error()
		}
		if err := expr.Check(m); err != nil {
			return nil, "its component expression does not fit the R4 element model: " + err.Error()
		}
		target := d.target
		if d.typ == TypeReference && len(target) == 0 {
			target = types
		}
		out = append(out, Component{Param: &Param{Code: d.code, URL: d.url, Type: d.typ, Target: target}, Expression: expr})
	}
	return out, ""
}

// Numeric reports whether the parameter's values are NumKey rows (field + SuffixNumeric): number and
// quantity parameters, composites whose last component is a number, quantity or date, and near.
func (p *Param) Numeric() bool {
	switch p.Type {
	case TypeNumber, TypeQuantity, TypeSpecial:
		return true
	case TypeComposite:
		switch p.Components[len(p.Components)-1].Param.Type {
		case TypeNumber, TypeQuantity, TypeDate:
			return true
		}
	}
	return false
}

// indexComposite extracts a composite's values: for every element its expression selects (nodes), the
// combinations of its components' keys (see the package comment above). eval evaluates an expression on
// the resource (Index memoises them).
func (r *Registry) indexComposite(p *Param, eval func(*fhirpath.Expression) ([]fhirpath.Node, error), nodes []fhirpath.Node, out map[string]any) error {
	// byElem[i][e] are component i's values within element e.
	byElem := make([][][]fhirpath.Node, len(p.Components))
	for i, c := range p.Components {
		vals, err := eval(c.Expression)
		if err != nil {
			return err
		}
		byElem[i] = make([][]fhirpath.Node, len(nodes))
		for _, v := range vals {
			if e := innermost(nodes, v.Path); e >= 0 {
				byElem[i][e] = append(byElem[i][e], v)
			}
		}
	}
	var keys []string
	var nums []NumKey
	last := len(p.Components) - 1
	for e := range nodes {
		var leads []string
		for i, c := range p.Components[:last] {
			leads = crossKeys(leads, componentKeys(c.Param.Type, byElem[i][e]), i == 0)
			if len(leads) == 0 {
				break
			}
		}
		if len(leads) == 0 {
			continue
		}
		lt := p.Components[last].Param.Type
		if p.Numeric() {
			for _, k := range componentNums(r.units, lt, byElem[last][e]) {
				for _, l := range leads {
					nums = append(nums, NumKey{U: l + CompositeSep + k.U, Lo: k.Lo, Hi: k.Hi})
				}
			}
			continue
		}
		keys = append(keys, crossKeys(leads, componentKeys(lt, byElem[last][e]), false)...)
	}
	if k := dedupe(keys); len(k) > 0 {
		out[p.Field] = k
	}
	if len(nums) > 0 {
		out[p.Field+SuffixNumeric] = dedupeNums(nums)
	}
	return nil
}

// innermost returns the index of the element whose location contains path most closely, -1 if none.
func innermost(elems []fhirpath.Node, path string) int {
	best, bestLen := -1, -1
	for i, e := range elems {
		if e.Path == "" || len(e.Path) <= bestLen {
			continue
		}
		if path == e.Path || strings.HasPrefix(path, e.Path) && (path[len(e.Path)] == '.' || path[len(e.Path)] == '[') {
			best, bestLen = i, len(e.Path)
		}
	}
	return best
}

// crossKeys joins every lead with every key (first: the keys alone).
func crossKeys(leads, keys []string, first bool) []string {
	if first {
		return keys
	}
	out := make([]string, 0, len(leads)*len(keys))
	for _, l := range leads {
		for _, k := range keys {
			out = append(out, l+CompositeSep+k)
		}
	}
	return out
}

// componentKeys are the keys of a token, reference, uri or string component's values. A coded value's
// token keys are its parameter's (tokenKeys) and its system alone ("y:system", which a token parameter
// finds by prefix instead: within a composite key only equality works).
func componentKeys(ptype string, vals []fhirpath.Node) []string {
	var x extracted
	for _, n := range vals {
		switch ptype {
		case TypeToken:
			x.addToken(n)
		case TypeReference:
			x.addReference(n)
		case TypeString:
			x.addString(n)
		case TypeURI:
			if s := primitive(n.Value); s != "" {
				x.addKey(s)
			}
		}
	}
	if ptype != TypeToken {
		return dedupe(x.keys)
	}
	out := make([]string, 0, len(x.keys)*3/2)
	for _, k := range x.keys {
		switch {
		case strings.HasPrefix(k, "t:"): // identifier :of-type keys: no composite has an identifier
			continue
		case strings.HasPrefix(k, "s:"):
			if sys, _, ok := strings.Cut(k[2:], "|"); ok {
				out = append(out, tokenSystem(sys))
			}
		}
		out = append(out, k)
	}
	return dedupe(out)
}

// componentNums are the NumKeys of a number, quantity or date component's values; a date's as the closed
// range of Unix milliseconds [lo, hi-1] of its range [lo, hi), under unit key "".
func componentNums(units *unitCache, ptype string, vals []fhirpath.Node) []NumKey {
	x := extracted{units: units}
	for _, n := range vals {
		switch ptype {
		case TypeNumber:
			x.addNumber(n)
		case TypeQuantity:
			x.addQuantity(n)
		case TypeDate:
			x.addDate(n)
		}
	}
	if ptype != TypeDate {
		return x.nums
	}
	var out []NumKey
	for _, rk := range x.ranges {
		lo, hi, ok := ParseRangeKey(rk)
		if ok {
			out = append(out, NumKey{U: unitAny, Lo: floorMillis(lo), Hi: ceilMillis(hi) - 1})
		}
	}
	return out
}

func floorMillis(t time.Time) float64 {
	ms := t.UnixMilli()
	if t.Before(time.UnixMilli(ms)) {
		ms--
	}
	return float64(ms)
}

func ceilMillis(t time.Time) float64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return float64(ms)
}

// componentSearchKeys are the index keys a token, reference or uri component's search value matches.
func componentSearchKeys(c Component, v Value) []string {
	switch c.Param.Type {
	case TypeReference:
		return ReferenceKeys(c.Param, "", v)
	case TypeURI:
		return []string{v.Text}
	}
	switch {
	case !v.HasSystem:
		return []string{tokenCode(v.Code), tokenNoSystem(v.Code)}
	case v.System == "":
		return []string{tokenNoSystem(v.Code)}
	case v.Code == "":
		return []string{tokenSystem(v.System)}
	}
	return []string{tokenSystemCode(v.System, v.Code)}
}

// compositeLeads are the keys the leading parts of a composite search value match, joined.
func compositeLeads(p *Param, v Value) []string {
	var leads []string
	for i, c := range p.Components[:len(p.Components)-1] {
		leads = crossKeys(leads, componentSearchKeys(c, v.Parts[i]), i == 0)
	}
	return leads
}

// CompositeMatches returns what the values of a composite criterion whose last component is a token,
// reference, uri or string match in the parameter's field: keys, or for a string, prefixes.
func CompositeMatches(c Criterion) TokenMatch {
	var m TokenMatch
	p := c.Param
	last := p.Components[len(p.Components)-1]
	for _, v := range c.Values {
		leads := compositeLeads(p, v)
		lv := v.Parts[len(v.Parts)-1]
		if last.Param.Type == TypeString {
			for _, l := range leads {
				m.Prefixes = append(m.Prefixes, l+CompositeSep+Normalize(lv.Text))
			}
			continue
		}
		m.Keys = append(m.Keys, crossKeys(leads, componentSearchKeys(last, lv), false)...)
	}
	return m
}

// compositeNumConds are the conditions of a composite criterion whose last component is a number,
// quantity or date: the last part's, within unit keys prefixed by the leading parts' keys.
func compositeNumConds(c Criterion, now time.Time) []NumCond {
	var out []NumCond
	p := c.Param
	last := p.Components[len(p.Components)-1]
	for _, v := range c.Values {
		leads := compositeLeads(p, v)
		lv := v.Parts[len(v.Parts)-1]
		var conds []NumCond
		if last.Param.Type == TypeDate {
			conds = dateNumConds(lv, now)
		} else {
			conds = NumConds(Criterion{Param: last.Param, Values: []Value{lv}})
		}
		for _, n := range conds {
			units := make([]string, 0, len(leads)*len(n.Units))
			for _, l := range leads {
				for _, u := range n.Units {
					units = append(units, l+CompositeSep+u)
				}
			}
			n.Units = units
			out = append(out, n)
		}
	}
	return out
}

// dateNumConds states a date search value's prefix (DateMatches, on a stored range [lo, hi)) as
// conditions on the stored closed millisecond range [lo, hi-1] (componentNums), with the value's range
// [L, H) in milliseconds, rounded outwards:
//
//	eq: lo >= L and hi <= H        → L <= lo and hi-1 < H        (NumCond eq)
//	ne: the negation               → lo < L or hi-1 >= H         (ne)
//	gt: hi > H                     → hi-1 >= H                   (ge H)
//	lt: lo < L                                                   (lt L)
//	ge: gt or eq, le: lt or eq     (two conditions, OR-ed)
//	sa: lo >= H                                                  (sa)
//	eb: hi <= L                    → hi-1 < L                    (eb)
//	ap: lo < H+pad and hi > L-pad  → lo <= H+pad-1, hi-1 >= L-pad (ap)
func dateNumConds(v Value, now time.Time) []NumCond {
	L, H := floorMillis(v.Low), ceilMillis(v.High)
	u := []string{unitAny}
	eq := NumCond{Units: u, Prefix: "eq", L: L, H: H}
	switch v.Prefix {
	case "ne":
		return []NumCond{{Units: u, Prefix: "ne", L: L, H: H}}
	case "gt":
		return []NumCond{{Units: u, Prefix: "ge", V: H}}
	case "lt":
		return []NumCond{{Units: u, Prefix: "lt", V: L}}
	case "ge":
		return []NumCond{{Units: u, Prefix: "ge", V: H}, eq}
	case "le":
		return []NumCond{{Units: u, Prefix: "lt", V: L}, eq}
	case "sa":
		return []NumCond{{Units: u, Prefix: "sa", H: H}}
	case "eb":
		return []NumCond{{Units: u, Prefix: "eb", L: L}}
	case "ap":
		pad := ApproximatePad(v, now)
		return []NumCond{{Units: u, Prefix: "ap", ApLo: floorMillis(v.Low.Add(-pad)), ApHi: ceilMillis(v.High.Add(pad)) - 1}}
	}
	return []NumCond{eq}
}
