package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/careflow/careflow/fhir/fhirpath"
)

// Index field suffixes. A parameter with Field f stores:
//
//	token:     f = token keys (tokenKeys: "c:code", "s:system|code", "n:code" without a system, "y:system"
//	           without a code, "t:…" identifier types), f+"_t" = normalised display texts (for :text)
//	string:    f = normalised values (Normalize), f+"_e" = exact values (for :exact)
//	reference: f = "Type/id" or absolute URLs, f+"_i" = token keys of Reference.identifier (for :identifier)
//	uri:       f = values
//	number, quantity: f+"_q" = []NumKey, each value's range under its unit keys (numeric.go)
//	date:      f+"_lo" / f+"_hi" = the earliest start / latest end over all values, as time.Time (the
//	           envelope), and when a resource has several values (AllergyIntolerance reaction onsets,
//	           CarePlan activity dates) f+"_r" = each value's range as RangeKey: queries use the envelope
//	           to select candidates and match those resources exactly on their ranges
//
// and, for sorting, f+"_sort" = one string per resource (see sortKey). Absent values mean :missing=true.
const (
	SuffixText       = "_t"
	SuffixExact      = "_e"
	SuffixIdentifier = "_i"
	SuffixLow        = "_lo"
	SuffixHigh       = "_hi"
	SuffixSort       = "_sort"
	SuffixRanges     = "_r"
)

// rangeLayout renders range bounds so that they sort and parse back exactly.
const rangeLayout = "2006-01-02T15:04:05.000000000Z"

// RangeKey renders one date value's range [lo, hi) for the index.
func RangeKey(lo, hi time.Time) string {
	return lo.UTC().Format(rangeLayout) + "|" + hi.UTC().Format(rangeLayout)
}

// ParseRangeKey reads a RangeKey back.
func ParseRangeKey(k string) (lo, hi time.Time, ok bool) {
	a, b, found := strings.Cut(k, "|")
	if !found {
		return time.Time{}, time.Time{}, false
	}
	lo, err1 := time.Parse(rangeLayout, a)
	hi, err2 := time.Parse(rangeLayout, b)
	return lo, hi, err1 == nil && err2 == nil
}

// DateMatches reports whether a resource value's range [lo, hi) matches a date search value per the
// prefix definitions of search.html#prefix.
func DateMatches(lo, hi time.Time, v Value, now time.Time) bool {
	inside := !lo.Before(v.Low) && !hi.After(v.High)
	switch v.Prefix {
	case "ne":
		return !inside
	case "gt":
		return hi.After(v.High)
	case "lt":
		return lo.Before(v.Low)
	case "ge":
		return hi.After(v.High) || inside
	case "le":
		return lo.Before(v.Low) || inside
	case "sa":
		return !lo.Before(v.High)
	case "eb":
		return !hi.After(v.Low)
	case "ap":
		pad := ApproximatePad(v, now)
		return lo.Before(v.High.Add(pad)) && hi.After(v.Low.Add(-pad))
	}
	return inside
}

// ApproximatePad is how far "ap" widens a value: 10% of its distance from now, at least a day.
func ApproximatePad(v Value, now time.Time) time.Duration {
	gap := now.Sub(v.Low)
	if gap < 0 {
		gap = -gap
	}
	if pad := gap / 10; pad > 24*time.Hour {
		return pad
	}
	return 24 * time.Hour
}

// ServerFields are parameters the store answers from its own fields instead of extracted values.
var serverFields = map[string]bool{"_id": true, "_lastUpdated": true}

// Token key forms.
func tokenCode(code string) string            { return "c:" + code }
func tokenSystemCode(sys, code string) string { return "s:" + sys + "|" + code }
func tokenNoSystem(code string) string        { return "n:" + code }
func tokenSystem(sys string) string           { return "y:" + sys }
func tokenOfType(sys, code, value string) string {
	return "t:" + sys + "|" + code + "|" + value
}

// CodingOfKey inverts the index key of a coding that has a code: "s:system|code", or "n:code" for one
// without a system. Other keys ("c:code" and "y:system", which every such coding also has, and
// identifier keys) report false. A system is taken to hold no "|" (token search could not name it).
func CodingOfKey(key string) (system, code string, ok bool) {
	switch {
	case strings.HasPrefix(key, "s:"):
		system, code, ok = strings.Cut(key[2:], "|")
		return system, code, ok && code != ""
	case strings.HasPrefix(key, "n:"):
		return "", key[2:], len(key) > 2
	}
	return "", "", false
}

// TokenKey returns the index key a token search value matches: code, system|code, |code or system|. A
// code alone also matches the key of a code without a system (TokenMatches adds it).
func TokenKey(v Value) string {
	switch {
	case !v.HasSystem:
		return tokenCode(v.Code)
	case v.System == "":
		return tokenNoSystem(v.Code)
	case v.Code == "":
		return tokenSystem(v.System)
	}
	return tokenSystemCode(v.System, v.Code)
}

// OfTypeKey returns the index key of an identifier :of-type search value.
func OfTypeKey(typeSystem, typeCode, value string) string {
	return tokenOfType(typeSystem, typeCode, value)
}

// tokenKeys are the index keys of a coded value: with a system, its code alone ("c:code") and with its
// system ("s:system|code"); without one, only "n:code", which a search of the code alone matches too
// (TokenMatches) — it used to have "c:code" as well, which stores written before still hold and which
// searches still match. A "system|" search matches the system|code keys by prefix (TokenMatches), so a
// coded value needs no key of its own for its system — which used to be a third of the bytes of the token
// index; a value with a system and no code gets one ("y:system").
func tokenKeys(sys, code string, hasSystem bool) []string {
	if code == "" {
		if sys != "" {
			return []string{tokenSystem(sys)}
		}
		return nil
	}
	if hasSystem && sys != "" {
		return []string{tokenCode(code), tokenSystemCode(sys, code)}
	}
	return []string{tokenNoSystem(code)}
}

// TokenKeys is the type of a token parameter's index field (field) and of a reference's :identifier
// field (field+SuffixIdentifier): the keys of tokenKeys and tokenOfType. Every other key field is a
// []string. A store may keep token keys in another form, and knows them by this type (storage/sqlite
// keeps a coding's two keys as one, tokenkey.go).
type TokenKeys []string

// TokenMatch is what token search values match in an index field (search values of a token parameter, or
// of a reference's :identifier): a value equal to one of Keys, or starting with one of Prefixes.
type TokenMatch struct {
	Keys, Prefixes []string
}

// TokenMatches returns what values (OR-ed) match: "system|" matches the key of a value with that system
// and no code, and every system|code key of the system; a code alone, the keys of that code with a system
// ("c:code") and without one ("n:code"); every other form, its TokenKey.
func TokenMatches(values []Value) TokenMatch {
	var m TokenMatch
	for _, v := range values {
		m.Keys = append(m.Keys, TokenKey(v))
		if !v.HasSystem {
			m.Keys = append(m.Keys, tokenNoSystem(v.Code))
		}
		if v.HasSystem && v.System != "" && v.Code == "" {
			m.Prefixes = append(m.Prefixes, tokenSystemCode(v.System, ""))
		}
	}
	return m
}

// Normalize folds a string for the default string search: accents removed, lower case, white space
// collapsed ("Zoë  Ölund" → "zoe olund").
func Normalize(s string) string {
	if ascii(s) {
		// The common case: no accents to fold, so no Unicode decomposition.
		return strings.Join(strings.Fields(strings.ToLower(s)), " ")
	}
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteString(string(unicode.ToLower(r)))
	}
	return b.String()
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// IndexBody is Index over a resource's JSON, decoded with exact numbers as the write path decodes it.
func (r *Registry) IndexBody(typ string, body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("search: index %s: decode the body: %w", typ, err)
	}
	return r.Index(typ, tree)
}

// Index extracts the search-index fields of a resource of type typ: for every parameter of the type, its
// expression is evaluated and the values normalised by parameter type. The result maps field names to
// values ([]string, time.Time) ready to store next to the resource; RefsField holds the resource's
// references to served types, whatever element holds them.
func (r *Registry) Index(typ string, resource map[string]any) (map[string]any, error) {
	out := map[string]any{}
	// Each expression's result, by its text: a composite's components are other parameters' expressions
	// (clinical-code is the code of four Observation composites and a parameter itself).
	var evals map[string][]fhirpath.Node
	shared := r.componentExprs[typ]
	eval := func(e *fhirpath.Expression) ([]fhirpath.Node, error) {
		if !shared[e.String()] {
			return e.Evaluate(r.model, resource)
		}
		if nodes, ok := evals[e.String()]; ok {
			return nodes, nil
		}
		nodes, err := e.Evaluate(r.model, resource)
		if err == nil {
			if evals == nil {
				evals = map[string][]fhirpath.Node{}
			}
			evals[e.String()] = nodes
		}
		return nodes, err
	}
	for code, p := range r.byType[typ] {
		if serverFields[code] || p.shared {
			continue
		}
		nodes, err := eval(p.Expression)
		if err != nil {
			return nil, fmt.Errorf("search: index %s.%s: %w", typ, code, err)
		}
		if len(nodes) == 0 {
			continue
		}
		switch p.Type {
		case TypeComposite:
			if err := r.indexComposite(p, eval, nodes, out); err != nil {
				return nil, fmt.Errorf("search: index %s.%s: %w", typ, code, err)
			}
			continue
		case TypeSpecial:
			indexNear(p, nodes, out)
			continue
		}
		x := extracted{units: r.units}
		for _, n := range nodes {
			x.add(p.Type, n)
		}
		x.store(p.Field, p.Type == TypeToken, out)
	}
	if refs := r.localRefs(resource); len(refs) > 0 {
		out[RefsField] = refs
	}
	return out, nil
}

// shareFields gives the parameters of a type that select the same elements one index field: the field of
// the one whose code sorts first. Values are extracted from the elements and the parameter's type only,
// so such parameters always have identical values, and storing them once saves a copy of every key (a
// Patient's phonetic keys were an eighth of its index rows). Searches, sorts and chains name the field
// through Param.Field, in every store; a resource indexed before, with both fields, has the shared one
// too, so it is still found. Parameters share when they have the same type (and targets) and their
// expressions select the same paths on the type (sameElements): Patient, Person, Practitioner and
// RelatedPerson phonetic as name; Coverage patient as beneficiary; a few R4 duplicates.
func (r *Registry) shareFields() {
	for typ, params := range r.byType {
		codes := make([]string, 0, len(params))
		for code := range params {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		owner := map[string]*Param{}
		for _, code := range codes {
			p := params[code]
			if serverFields[code] || p.Type == TypeComposite {
				continue // a composite's values depend on its components too
			}
			k := p.Type + "\x00" + strings.Join(p.Target, ",") + "\x00" + sameElements(typ, p.expression)
			if o, ok := owner[k]; ok {
				p.Field, p.shared = o.Field, true
				continue
			}
			owner[k] = p
		}
	}
}

// sameElements is a key of what expr selects on a resource of type typ: when expr is a union of paths that
// each start with a type name ("Patient.name | Person.name"), the sorted paths of typ, Resource and
// DomainResource written as typ's (a path of another type selects nothing on it); otherwise expr itself.
func sameElements(typ, expr string) string {
	parts := strings.Split(expr, " | ")
	var mine []string
	for _, part := range parts {
		t, _, ok := strings.Cut(part, ".")
		if !ok || !isTypeName(t) {
			return expr
		}
		switch t {
		case typ:
			mine = append(mine, part)
		case "Resource", "DomainResource":
			mine = append(mine, typ+part[len(t):])
		}
	}
	sort.Strings(mine)
	return strings.Join(mine, " | ")
}

// extracted collects one parameter's values.
type extracted struct {
	keys, texts, exact, idents []string
	lo, hi                     time.Time
	hasDate                    bool
	ranges                     []string // every date value as RangeKey, for exact matching when there are several
	sortKey                    string
	nums                       []NumKey // number and quantity values (numeric.go)
	numLeast                   float64  // the least of them, the sort key
	hasNum                     bool
	units                      *unitCache // the registry's (nil: units are parsed every time)
}

func (x *extracted) addKey(ks ...string) { x.keys = append(x.keys, ks...) }

func (x *extracted) sortCandidate(s string) {
	if s != "" && (x.sortKey == "" || s < x.sortKey) {
		x.sortKey = s
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func primitive(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "true"
		}
		return "false"
	case json.Number:
		return t.String()
	case float64:
		return fmt.Sprint(t)
	}
	return ""
}

func (x *extracted) add(ptype string, n fhirpath.Node) {
	switch ptype {
	case TypeToken:
		x.addToken(n)
	case TypeString:
		x.addString(n)
	case TypeReference:
		x.addReference(n)
	case TypeURI:
		if s := primitive(n.Value); s != "" {
			x.addKey(s)
			x.sortCandidate(s)
		}
	case TypeDate:
		x.addDate(n)
	case TypeNumber:
		x.addNumber(n)
	case TypeQuantity:
		x.addQuantity(n)
	}
}

func (x *extracted) addCoding(c map[string]any) {
	code, sys := primitive(c["code"]), str(c, "system")
	x.addKey(tokenKeys(sys, code, true)...)
	if d := str(c, "display"); d != "" {
		x.texts = append(x.texts, Normalize(d))
	}
	x.sortCandidate(code)
}

func (x *extracted) addToken(n fhirpath.Node) {
	m, isObj := n.Value.(map[string]any)
	if !isObj {
		if s := primitive(n.Value); s != "" {
			x.addKey(tokenKeys("", s, false)...)
			x.sortCandidate(s)
		}
		return
	}
	switch n.Type {
	case "Coding":
		x.addCoding(m)
	case "CodeableConcept":
		codings, _ := m["coding"].([]any)
		for _, c := range codings {
			if cm, ok := c.(map[string]any); ok {
				x.addCoding(cm)
			}
		}
		if t := str(m, "text"); t != "" {
			x.texts = append(x.texts, Normalize(t))
		}
	case "Identifier":
		sys, val := str(m, "system"), str(m, "value")
		x.addKey(tokenKeys(sys, val, true)...)
		x.sortCandidate(val)
		if typ, ok := m["type"].(map[string]any); ok {
			codings, _ := typ["coding"].([]any)
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok && val != "" {
					x.addKey(tokenOfType(str(cm, "system"), primitive(cm["code"]), val))
				}
			}
			if t := str(typ, "text"); t != "" {
				x.texts = append(x.texts, Normalize(t))
			}
		}
	case "ContactPoint":
		// search.html: a ContactPoint token matches on value, with ContactPoint.system as the system.
		sys, val := str(m, "system"), str(m, "value")
		x.addKey(tokenKeys(sys, val, true)...)
		x.sortCandidate(val)
	}
}

// stringParts lists the searchable strings of a value (search.html#string: HumanName and Address match on
// any of their parts).
func stringParts(n fhirpath.Node) []string {
	m, isObj := n.Value.(map[string]any)
	if !isObj {
		if s := primitive(n.Value); s != "" {
			return []string{s}
		}
		return nil
	}
	var fields []string
	switch n.Type {
	case "HumanName":
		fields = []string{"text", "family", "given", "prefix", "suffix"}
	case "Address":
		fields = []string{"text", "line", "city", "district", "state", "postalCode", "country"}
	default:
		return nil
	}
	var out []string
	for _, f := range fields {
		switch v := m[f].(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func (x *extracted) addString(n fhirpath.Node) {
	for _, s := range stringParts(n) {
		x.addKey(Normalize(s))
		x.exact = append(x.exact, s)
	}
	// Sort a HumanName by family name first, like every phone book.
	if m, ok := n.Value.(map[string]any); ok && n.Type == "HumanName" {
		if f := str(m, "family"); f != "" {
			x.sortCandidate(Normalize(f))
			return
		}
	}
	if parts := stringParts(n); len(parts) > 0 {
		x.sortCandidate(Normalize(parts[0]))
	}
}

func (x *extracted) addReference(n fhirpath.Node) {
	m, isObj := n.Value.(map[string]any)
	if !isObj {
		// canonical / uri targets.
		if s := primitive(n.Value); s != "" {
			x.addKey(s)
			x.sortCandidate(s)
		}
		return
	}
	if ref := str(m, "reference"); ref != "" && !strings.HasPrefix(ref, "#") {
		key := ReferenceKey(ref)
		x.addKey(key)
		x.sortCandidate(key)
	}
	if id, ok := m["identifier"].(map[string]any); ok {
		x.idents = append(x.idents, tokenKeys(str(id, "system"), str(id, "value"), true)...)
	}
}

// ReferenceKey normalises a literal reference for the index: "Type/id/_history/n" → "Type/id"; absolute
// URLs are kept whole (with any _history part removed).
func ReferenceKey(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

func (x *extracted) addDate(n fhirpath.Node) {
	var lo, hi time.Time
	var ok bool
	switch v := n.Value.(type) {
	case string:
		lo, hi, ok = DateRange(v)
	case map[string]any:
		switch n.Type {
		case "Period":
			var okS, okE bool
			lo, _, okS = DateRange(str(v, "start"))
			_, hi, okE = DateRange(str(v, "end"))
			if !okS {
				lo = time.Unix(-62135596800, 0).UTC() // 0001-01-01: open start
			}
			if !okE {
				hi = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // open end
			}
			ok = okS || okE
		case "Timing":
			// search.html#date: a Timing matches on its events and on the outer limits of its bounds.
			events, _ := v["event"].([]any)
			for _, e := range events {
				if s, isStr := e.(string); isStr {
					if l, h, good := DateRange(s); good {
						x.widen(l, h)
					}
				}
			}
			if rep, ok := v["repeat"].(map[string]any); ok {
				if b, ok := rep["boundsPeriod"].(map[string]any); ok {
					x.addDate(fhirpath.Node{Value: b, Type: "Period"})
				}
			}
			return
		}
	}
	if ok {
		x.widen(lo, hi)
	}
}

func (x *extracted) widen(lo, hi time.Time) {
	if !x.hasDate || lo.Before(x.lo) {
		x.lo = lo
	}
	if !x.hasDate || hi.After(x.hi) {
		x.hi = hi
	}
	x.hasDate = true
	x.ranges = append(x.ranges, RangeKey(lo, hi))
	x.sortCandidate(lo.UTC().Format("2006-01-02T15:04:05.000Z"))
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// store puts the values in out under field and its suffixed fields; the keys of a token parameter
// (token) as TokenKeys.
func (x *extracted) store(field string, token bool, out map[string]any) {
	if k := dedupe(x.keys); len(k) > 0 {
		if token {
			out[field] = TokenKeys(k)
		} else {
			out[field] = k
		}
	}
	if t := dedupe(x.texts); len(t) > 0 {
		out[field+SuffixText] = t
	}
	if e := dedupe(x.exact); len(e) > 0 {
		out[field+SuffixExact] = e
	}
	if i := dedupe(x.idents); len(i) > 0 {
		out[field+SuffixIdentifier] = TokenKeys(i)
	}
	if x.hasDate {
		out[field+SuffixLow] = x.lo
		out[field+SuffixHigh] = x.hi
		if r := dedupe(x.ranges); len(r) > 1 {
			out[field+SuffixRanges] = r
		}
	}
	if x.sortKey != "" {
		out[field+SuffixSort] = x.sortKey
	}
	if len(x.nums) > 0 {
		out[field+SuffixNumeric] = dedupeNums(x.nums)
		out[field+SuffixSort] = NumSortKey(x.numLeast)
	}
}

// DateRange is the indexer's reading of a FHIR date, dateTime or instant: ParseDateTime in the server's
// time zone, UTC, with the range in UTC — "1980" → [1980-01-01, 1981-01-01), "1980-05-02T10:00:00+02:00"
// → [08:00:00Z, 08:00:01Z). The query parser reads search values by the same rule, so a value without a
// zone means the same instants in the index and in a query.
func DateRange(s string) (time.Time, time.Time, bool) {
	return ParseDateTime(s, time.UTC)
}
