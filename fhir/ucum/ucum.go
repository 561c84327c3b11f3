// Package ucum converts UCUM units (https://ucum.org/ucum) to their canonical form, so that quantities in
// comparable units compare by value: 5400 mg is 5.4 g, 100 mg/dL is 1 g/L. A unit expression is parsed
// with the UCUM grammar (prefixes, exponents, "." and "/", parentheses, integer factors, annotations) and
// every atom is looked up in the table generated from the official definitions (units_gen.go, `go
// generate ./fhir/ucum`: the UCUM essence as shipped by npm @lhncbc/ucum-lhc), where each atom's
// magnitude in the seven base units is an exact rational: no conversion factor is typed by hand and none
// is rounded.
//
// Special units (non-ratio scales: Cel, [degF], [pH]…) and arbitrary units ([iU], [arb'U]…) have no
// canonical form: a quantity in one of them compares only with quantities in its own unit (by system and
// code), as FHIR search asks of units that cannot be converted.
package ucum

//go:generate go run ../definitions/ucumgen -out units_gen.go

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// System is the URI of UCUM in FHIR.
const System = "http://unitsofmeasure.org"

// Dim is a dimension: the exponents of the base units m, s, g, rad, K, C, cd.
type Dim [7]int

// String renders a dimension compactly and unambiguously ("0,0,1,0,0,0,0" is mass).
func (d Dim) String() string {
	var b strings.Builder
	for i, e := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(e))
	}
	return b.String()
}

// Atom is one unit atom as the generator resolved it: its magnitude in base units (a rational, "n/d"),
// its dimension, whether it takes metric prefixes, and whether it is special or arbitrary (no canonical
// form).
type Atom struct {
	Mag       string
	Dim       Dim
	Metric    bool
	Special   bool
	Arbitrary bool
}

// Lookup finds atoms and prefixes; the generated tables implement it for Canonical, the generator its own
// while it resolves the definitions.
type Lookup struct {
	Atom   func(code string) (Atom, bool)
	Prefix func(code string) (string, bool) // its factor as a rational
}

// Value is a unit's canonical form: its magnitude in base units and its dimension.
type Value struct {
	Mag *big.Rat
	Dim Dim
}

// Canonical returns the canonical form of a UCUM unit code (case-sensitive); ok is false when the code is
// not valid UCUM or holds a special or arbitrary unit.
func Canonical(code string) (Value, bool) {
	v, err := Evaluate(code, tables)
	return v, err == nil
}

// tables looks up the generated atoms and prefixes.
var tables = Lookup{
	Atom: func(code string) (Atom, bool) {
		a, ok := atoms[code]
		return a, ok
	},
	Prefix: func(code string) (string, bool) {
		p, ok := prefixes[code]
		return p, ok
	},
}

// Evaluate parses a UCUM expression with atoms and prefixes from l.
func Evaluate(expr string, l Lookup) (Value, error) {
	p := &parser{s: expr, l: l}
	v := Value{Mag: big.NewRat(1, 1)}
	if expr == "" {
		return v, fmt.Errorf("ucum: empty unit")
	}
	if strings.HasPrefix(expr, "/") {
		p.i++
		t, err := p.term()
		if err != nil {
			return v, err
		}
		v = invert(t)
	} else {
		t, err := p.term()
		if err != nil {
			return v, err
		}
		v = t
	}
	if p.i != len(p.s) {
		return v, fmt.Errorf("ucum: unexpected %q in %q", p.s[p.i:], expr)
	}
	return v, nil
}

type parser struct {
	s string
	i int
	l Lookup
}

func invert(v Value) Value {
	out := Value{Mag: new(big.Rat).Inv(v.Mag)}
	for i, e := range v.Dim {
		out.Dim[i] = -e
	}
	return out
}

func mul(a, b Value) Value {
	out := Value{Mag: new(big.Rat).Mul(a.Mag, b.Mag)}
	for i := range a.Dim {
		out.Dim[i] = a.Dim[i] + b.Dim[i]
	}
	return out
}

// term := component (("." | "/") component)*
func (p *parser) term() (Value, error) {
	v, err := p.component()
	if err != nil {
		return v, err
	}
	for p.i < len(p.s) {
		op := p.s[p.i]
		if op != '.' && op != '/' {
			break
		}
		p.i++
		c, err := p.component()
		if err != nil {
			return v, err
		}
		if op == '/' {
			c = invert(c)
		}
		v = mul(v, c)
	}
	return v, nil
}

// component := "(" term ")" | annotation | symbol [annotation]
func (p *parser) component() (Value, error) {
	one := Value{Mag: big.NewRat(1, 1)}
	if p.i >= len(p.s) {
		return one, fmt.Errorf("ucum: %q ends early", p.s)
	}
	switch p.s[p.i] {
	case '(':
		p.i++
		v, err := p.term()
		if err != nil {
			return v, err
		}
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return v, fmt.Errorf("ucum: unbalanced parenthesis in %q", p.s)
		}
		p.i++
		return v, p.annotation()
	case '{':
		return one, p.annotation()
	}
	start, depth := p.i, 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		if depth == 0 && (c == '.' || c == '/' || c == '(' || c == ')' || c == '{') {
			break
		}
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		}
		p.i++
	}
	sym := p.s[start:p.i]
	if sym == "" {
		return one, fmt.Errorf("ucum: empty component in %q", p.s)
	}
	v, err := p.symbol(sym)
	if err != nil {
		return v, err
	}
	return v, p.annotation()
}

// annotation skips an optional {…}.
func (p *parser) annotation() error {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil
	}
	end := strings.IndexByte(p.s[p.i:], '}')
	if end < 0 {
		return fmt.Errorf("ucum: unclosed annotation in %q", p.s)
	}
	p.i += end + 1
	return nil
}

// symbol is a factor (digits) or a simple unit with an optional exponent.
func (p *parser) symbol(sym string) (Value, error) {
	if allDigits(sym) {
		n, ok := new(big.Rat).SetString(sym)
		if !ok {
			return Value{}, fmt.Errorf("ucum: bad factor %q", sym)
		}
		return Value{Mag: n}, nil
	}
	unit, exp := sym, 1
	j := len(sym)
	for j > 0 && sym[j-1] >= '0' && sym[j-1] <= '9' {
		j--
	}
	if j < len(sym) && j > 0 {
		k := j
		if sym[k-1] == '-' || sym[k-1] == '+' {
			k--
		}
		if k > 0 {
			e, err := strconv.Atoi(sym[k:])
			if err != nil {
				return Value{}, fmt.Errorf("ucum: bad exponent in %q", sym)
			}
			unit, exp = sym[:k], e
		}
	}
	v, err := p.simple(unit)
	if err != nil {
		return v, err
	}
	return power(v, exp), nil
}

func power(v Value, exp int) Value {
	out := Value{Mag: big.NewRat(1, 1)}
	base := v
	if exp < 0 {
		base = invert(v)
		exp = -exp
	}
	for range exp {
		out = mul(out, base)
	}
	return out
}

// simple is an atom, or a metric atom after a prefix.
func (p *parser) simple(unit string) (Value, error) {
	if a, ok := p.l.Atom(unit); ok {
		return atomValue(unit, a)
	}
	for n := 2; n >= 1; n-- {
		if len(unit) <= n {
			continue
		}
		pf, ok := p.l.Prefix(unit[:n])
		if !ok {
			continue
		}
		a, ok := p.l.Atom(unit[n:])
		if !ok || !a.Metric {
			continue
		}
		v, err := atomValue(unit[n:], a)
		if err != nil {
			return v, err
		}
		f, ok := new(big.Rat).SetString(pf)
		if !ok {
			return v, fmt.Errorf("ucum: bad prefix factor %q", pf)
		}
		v.Mag.Mul(v.Mag, f)
		return v, nil
	}
	return Value{}, fmt.Errorf("ucum: unknown unit %q", unit)
}

func atomValue(code string, a Atom) (Value, error) {
	if a.Special || a.Arbitrary {
		return Value{}, fmt.Errorf("ucum: %s is a special or arbitrary unit: it has no canonical form", code)
	}
	m, ok := new(big.Rat).SetString(a.Mag)
	if !ok {
		return Value{}, fmt.Errorf("ucum: bad magnitude %q of %s", a.Mag, code)
	}
	return Value{Mag: m, Dim: a.Dim}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
