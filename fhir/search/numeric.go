package search

import (
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/ucum"
)

// SuffixNumeric is the index field of number and quantity parameters: f+"_q" holds []NumKey, one per value
// and unit key.
const SuffixNumeric = "_q"

// NumKey is one indexed number or quantity value: the closed range [Lo, Hi] it covers (Lo = Hi for a
// number or a Quantity; a Range's low and high, open ends as ±math.MaxFloat64) under the unit key U:
//
//	""             every value (a search without units: number parameters, quantity=5.4)
//	"c:" + code    the quantity's code, and its human unit (quantity=5.4||mg matches either)
//	"s:" + system + "|" + code
//	"k:" + Dim     a UCUM quantity in its canonical unit (ucum.Canonical): value × magnitude, so that
//	               5400 mg and 5.4 g have the same row
type NumKey struct {
	U  string  `bson:"u"`
	Lo float64 `bson:"lo"`
	Hi float64 `bson:"hi"`
}

// Unit-key forms.
const (
	unitAny       = ""
	unitCode      = "c:"
	unitSystem    = "s:"
	unitCanonical = "k:"
)

// open ends of a Range.
var (
	numMin = -math.MaxFloat64
	numMax = math.MaxFloat64
)

// decimal reads a FHIR decimal (JSON number or string): its text and the float64 nearest to it
// (strconv.ParseFloat rounds correctly, as big.Rat's Float64 of the exact value does, without the
// rational arithmetic).
func decimal(v any) (float64, string, bool) {
	s := primitive(v)
	if s == "" || !numberOK(s) {
		return 0, "", false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, "", false
	}
	return f, s, true
}

func ratFloat(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}

// addNumber indexes a number parameter's value (decimal or integer).
func (x *extracted) addNumber(n fhirpath.Node) {
	f, _, ok := decimal(n.Value)
	if !ok {
		return
	}
	x.nums = append(x.nums, NumKey{U: unitAny, Lo: f, Hi: f})
	x.numSort(f)
}

// numSort keeps the least value as the sort key: a fixed-width string that sorts as the numbers do.
func (x *extracted) numSort(f float64) {
	if !x.hasNum || f < x.numLeast {
		x.numLeast, x.hasNum = f, true
	}
}

// quantity is one Quantity value's parts.
type quantity struct {
	value        float64
	text         string // the value as written, for exact scaling to canonical units
	system, code string
	unit         string
}

func quantityOf(m map[string]any) (quantity, bool) {
	f, s, ok := decimal(m["value"])
	if !ok {
		return quantity{}, false
	}
	return quantity{value: f, text: s, system: str(m, "system"), code: primitive(m["code"]), unit: str(m, "unit")}, true
}

// canonicalUnit is a UCUM code's canonical form as the index uses it: the unit key of its dimension and
// its magnitude (nil when 1, so that the value needs no scaling).
type canonicalUnit struct {
	key string
	mag *big.Rat
	ok  bool
}

// unitCache memoises canonicalUnit per UCUM code: an Observation's quantities repeat a few codes, and
// parsing one was half of the time of indexing a quantity. It is owned by a Registry, safe for concurrent
// use, and bounded: beyond maxCachedUnits codes, units are parsed every time.
type unitCache struct {
	mu    sync.RWMutex
	units map[string]canonicalUnit
}

const maxCachedUnits = 4096

func newUnitCache() *unitCache { return &unitCache{units: map[string]canonicalUnit{}} }

// canonical returns the canonical form of a UCUM code (c may be nil: no cache).
func (c *unitCache) canonical(code string) canonicalUnit {
	if c != nil {
		c.mu.RLock()
		u, ok := c.units[code]
		c.mu.RUnlock()
		if ok {
			return u
		}
	}
	var u canonicalUnit
	if v, ok := ucum.Canonical(code); ok {
		u = canonicalUnit{key: unitCanonical + v.Dim.String(), mag: v.Mag, ok: true}
		if v.Mag.Cmp(ratOne) == 0 {
			u.mag = nil
		}
	}
	if c != nil {
		c.mu.Lock()
		if len(c.units) < maxCachedUnits {
			c.units[code] = u
		}
		c.mu.Unlock()
	}
	return u
}

var ratOne = big.NewRat(1, 1)

// scaled is the value of a decimal written s (nearest float f) times mag, rounded once.
func scaled(f float64, s string, mag *big.Rat) float64 {
	if mag == nil {
		return f
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return f * ratFloat(mag)
	}
	return ratFloat(r.Mul(r, mag))
}

// unitKeys are the unit keys of a quantity, and its canonical UCUM form if it has one.
func (x *extracted) unitKeys(q quantity) (keys []string, canonical canonicalUnit) {
	keys = []string{unitAny}
	if q.code != "" {
		keys = append(keys, unitCode+q.code)
		if q.system != "" {
			keys = append(keys, unitSystem+q.system+"|"+q.code)
		}
	}
	if q.unit != "" && q.unit != q.code {
		keys = append(keys, unitCode+q.unit)
	}
	if q.system == ucum.System && q.code != "" {
		canonical = x.units.canonical(q.code)
	}
	return keys, canonical
}

// addQuantity indexes a quantity parameter's value: a Quantity (or Age, Duration…, or a SampledData's
// origin is not indexed: it is no measured value), or a Range.
func (x *extracted) addQuantity(n fhirpath.Node) {
	m, ok := n.Value.(map[string]any)
	if !ok {
		return
	}
	if n.Type == "Range" {
		lo, okL := m["low"].(map[string]any)
		hi, okH := m["high"].(map[string]any)
		ql, okL := quantityOfIf(lo, okL)
		qh, okH := quantityOfIf(hi, okH)
		if !okL && !okH {
			return
		}
		unit := ql
		if !okL {
			unit = qh
		}
		keys, canon := x.unitKeys(unit)
		bound := func(q quantity, ok bool, open float64, scale *big.Rat) float64 {
			if !ok {
				return open
			}
			return scaled(q.value, q.text, scale)
		}
		for _, k := range keys {
			x.nums = append(x.nums, NumKey{U: k, Lo: bound(ql, okL, numMin, nil), Hi: bound(qh, okH, numMax, nil)})
		}
		if canon.ok {
			x.nums = append(x.nums, NumKey{U: canon.key, Lo: bound(ql, okL, numMin, canon.mag), Hi: bound(qh, okH, numMax, canon.mag)})
		}
		if okL {
			x.numSort(ql.value)
		}
		return
	}
	if n.Type == "SampledData" {
		return
	}
	q, ok := quantityOf(m)
	if !ok {
		return
	}
	keys, canon := x.unitKeys(q)
	for _, k := range keys {
		x.nums = append(x.nums, NumKey{U: k, Lo: q.value, Hi: q.value})
	}
	if canon.ok {
		c := scaled(q.value, q.text, canon.mag)
		x.nums = append(x.nums, NumKey{U: canon.key, Lo: c, Hi: c})
	}
	x.numSort(q.value)
}

func quantityOfIf(m map[string]any, ok bool) (quantity, bool) {
	if !ok {
		return quantity{}, false
	}
	return quantityOf(m)
}

// NumSortKey renders a number so that the strings sort as the numbers do (for _sort on number and
// quantity parameters): a sign class, then the IEEE bits, order-corrected, in hex.
func NumSortKey(f float64) string {
	b := math.Float64bits(f)
	if f < 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		out[i] = hex[b&0xf]
		b >>= 4
	}
	return string(out)
}

// ParseNumSortKey inverts NumSortKey.
func ParseNumSortKey(k string) (float64, bool) {
	if len(k) != 16 {
		return 0, false
	}
	b, err := strconv.ParseUint(k, 16, 64)
	if err != nil {
		return 0, false
	}
	if b&(1<<63) != 0 {
		b &^= 1 << 63
	} else {
		b = ^b
	}
	return math.Float64frombits(b), true
}

// NumCond is what one number or quantity search value matches: an index row (NumKey) with U in Units
// whose range [lo, hi] meets the prefix: with V the value and [L, H) the range its precision denotes
// (search.html#number: 100 is [99.5, 100.5), 100.00 [99.995, 100.005), 1e2 [50, 150)):
//
//	eq: L <= lo and hi < H     ne: lo < L or hi >= H
//	gt: hi > V    ge: hi >= V  lt: lo < V    le: lo <= V
//	sa: lo >= H   eb: hi < L   ap: lo <= ApHi and hi >= ApLo, V ± 10 % (at least [L, H))
type NumCond struct {
	Units      []string
	Prefix     string
	V, L, H    float64
	ApLo, ApHi float64
}

// NumConds returns the conditions of a number or quantity criterion's values (OR-ed). A quantity value
// with a UCUM unit that has a canonical form matches canonically (5400|http://unitsofmeasure.org|mg finds
// 5.4 g); with another system, by system and code; with "||code", by code or human unit; without units,
// any value.
func NumConds(c Criterion) []NumCond {
	if c.Param.Type == TypeComposite {
		return compositeNumConds(c, time.Now())
	}
	var out []NumCond
	for _, v := range c.Values {
		r, ok := new(big.Rat).SetString(v.Text)
		if !ok {
			continue // Parse accepted only decimals
		}
		half := halfUnit(v.Text)
		lo, hi := new(big.Rat).Sub(r, half), new(big.Rat).Add(r, half)
		pad := new(big.Rat).Abs(new(big.Rat).Mul(r, big.NewRat(1, 10)))
		if pad.Cmp(half) < 0 {
			pad = half
		}
		apLo, apHi := new(big.Rat).Sub(r, pad), new(big.Rat).Add(r, pad)
		units := []string{unitAny}
		if c.Param.Type == TypeQuantity && v.HasSystem && (v.System != "" || v.Code != "") {
			var canon ucum.Value
			canonical := false
			if v.System == ucum.System {
				canon, canonical = ucum.Canonical(v.Code)
			}
			switch {
			case canonical:
				for _, x := range []*big.Rat{r, lo, hi, apLo, apHi} {
					x.Mul(x, canon.Mag)
				}
				units = []string{unitCanonical + canon.Dim.String()}
			case v.System != "" && v.Code != "":
				units = []string{unitSystem + v.System + "|" + v.Code}
			case v.Code != "":
				units = []string{unitCode + v.Code}
			default:
				// A system without a code: any value of the system. Not a form the spec defines; the system
				// alone is not indexed, so nothing matches.
				units = nil
			}
		}
		if units == nil {
			continue
		}
		out = append(out, NumCond{Units: units, Prefix: v.Prefix, V: ratFloat(r), L: ratFloat(lo), H: ratFloat(hi),
			ApLo: ratFloat(apLo), ApHi: ratFloat(apHi)})
	}
	return out
}

// Matches reports whether an index row's range [lo, hi] meets the condition (as the stores' queries).
func (c NumCond) Matches(lo, hi float64) bool {
	switch c.Prefix {
	case "ne":
		return lo < c.L || hi >= c.H
	case "gt":
		return hi > c.V
	case "ge":
		return hi >= c.V
	case "lt":
		return lo < c.V
	case "le":
		return lo <= c.V
	case "sa":
		return lo >= c.H
	case "eb":
		return hi < c.L
	case "ap":
		return lo <= c.ApHi && hi >= c.ApLo
	}
	return lo >= c.L && hi < c.H
}

// halfUnit is half a unit of the last digit of a decimal as written: 100 → 0.5, 100.00 → 0.005,
// 1e2 → 50, 1.5e-3 → 0.00005.
func halfUnit(s string) *big.Rat {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e := s[i+1:]
		neg := strings.HasPrefix(e, "-")
		e = strings.TrimLeft(e, "+-")
		for _, d := range e {
			exp = exp*10 + int(d-'0')
			if exp > 400 {
				break
			}
		}
		if neg {
			exp = -exp
		}
	}
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		exp -= len(mant) - i - 1
	}
	unit := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt(exp))), nil))
	if exp < 0 {
		unit.Inv(unit)
	}
	return unit.Mul(unit, big.NewRat(1, 2))
}

func absInt(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// dedupeNums sorts keys and drops repeats (a quantity whose code and human unit are the same).
func dedupeNums(ks []NumKey) []NumKey {
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.U != b.U {
			return a.U < b.U
		}
		if a.Lo != b.Lo {
			return a.Lo < b.Lo
		}
		return a.Hi < b.Hi
	})
	out := ks[:1]
	for _, k := range ks[1:] {
		if k != out[len(out)-1] {
			out = append(out, k)
		}
	}
	return out
}

// numberOK reports whether s is a decimal search value whose exponent a float64 can hold (|e| <= 400;
// beyond, exact arithmetic on it would cost megabytes for nothing).
func numberOK(s string) bool {
	if !isDecimal(s) {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	e := strings.TrimLeft(s[i+1:], "+-0")
	return len(e) <= 3
}
