package search

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
)

// ParseOptions control how Parse treats what it does not understand and how it pages.
type ParseOptions struct {
	Strict       bool // Prefer: handling=strict: unknown or unsupported parameters are errors, not ignored
	DefaultCount int  // page size when _count is absent
	MaxCount     int  // a larger _count is clamped to it (not an error); 0 means no maximum
}

// maxDepth bounds how many chain (a.b) and reverse-chain (_has) levels one parameter may nest.
const maxDepth = 4

// MaxValues bounds the values of one search: the comma-separated values of all its parameters together.
// Each value becomes terms of one SQL statement or MongoDB filter, whose cost grows faster than the number
// of terms: on the embedded store a criterion of 1,000 prefix or date values takes ~0.1 s of CPU to
// prepare, of 5,000 about 2 s.
const MaxValues = 1000

// Parse turns the query parameters of GET [base]/[type]?… (or the merged form body of POST _search) into a
// Query (http://hl7.org/fhir/R4/search.html).
//
// Every *Param, type name and modifier in the result comes from the registry or from a fixed list: nothing
// a client sends becomes a field name or an operator. Client text only ever appears as data in Value.
//
// Choices where the specification leaves room:
//   - An empty value (name=, or empty items between commas) is ignored as the specification asks; a
//     parameter with no non-empty value is listed in Query.Ignored (reason "empty value"), even when strict.
//   - A chain through a reference that may point to several types and has no :Type modifier is resolved to
//     the one served target type that has the chained parameter; resources of types careflow does not
//     serve cannot exist here, so this is the same as searching across all targets. When several served
//     targets have the parameter the request is rejected (400) and the client must add :Type.
//   - A chain or _has that reaches a type careflow does not serve is an unsupported parameter (ignored, or
//     400 when strict).
//   - A dateTime value without a timezone is taken as UTC, the server's time zone (ParseDateTime states the
//     rule; the indexer follows it too). At most nine fractional digits are accepted. A space where the timezone's "+" belongs (an
//     unencoded "+" in a URL decodes as a space) is read as "+".
//   - A reference value Type/id/_history/n searches for Type/id: the version is ignored. An absolute URL
//     is kept whole in Text; RefType/RefID are also set when it ends in …/Type/id[/_history/n] with Type
//     one of the parameter's targets.
//   - _include without :iterate must name the searched type as source, and _revinclude without :iterate
//     a reference that can point to the searched type; other directives are unsupported (ignored, or
//     400 when strict). :recurse is read as :iterate.
//   - A backslash not followed by , | $ or \ is kept as a literal backslash.
//   - _count, _sort, _total, _summary and _cursor may be repeated only with the same value.
//   - Chains and _has nest at most maxDepth levels (400 beyond).
//   - A search holds at most MaxValues values, over all its parameters (400 beyond).
//   - A parameter name or value that is not UTF-8 or holds a control character other than tab, CR and LF
//     (the whitespace a FHIR string may hold) is rejected (400): no stored value can contain one, and
//     databases refuse some (NUL in a MongoDB key or regular expression).
func (r *Registry) Parse(typ string, params url.Values, o ParseOptions) (*Query, *outcome.Error) {
	if _, ok := r.byType[typ]; !ok {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, typ,
			"resource type %s is not supported", clip(typ))
	}
	if err := checkText(params); err != nil {
		return nil, err
	}
	p := &parser{r: r, typ: typ, o: o, q: &Query{Type: typ}}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := p.param(name, params[name]); err != nil {
			return nil, err
		}
	}
	p.finish()
	return p.q, nil
}

// parser holds the state of one Parse call.
type parser struct {
	r   *Registry
	typ string
	o   ParseOptions
	q   *Query

	values int // the criteria's values so far (MaxValues)
}

// failure is a problem with one parameter. An ignorable failure is an unknown or unsupported parameter:
// skipped under lenient handling, an error under strict handling. Others are always errors.
type failure struct {
	ignorable bool
	code      string
	msg       string
}

func fail(code, format string, args ...any) *failure {
	return &failure{code: code, msg: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) *failure {
	return &failure{ignorable: true, code: outcome.CodeNotSupported, msg: fmt.Sprintf(format, args...)}
}

// report turns a failure on parameter name into an error, or records it as ignored (nil error).
func (p *parser) report(name string, f *failure) *outcome.Error {
	if f == nil {
		return nil
	}
	if f.ignorable && !p.o.Strict {
		p.ignore(name, f.msg)
		return nil
	}
	return outcome.At(http.StatusBadRequest, f.code, name, "search parameter %s: %s", clip(name), f.msg)
}

func (p *parser) ignore(name, reason string) {
	p.q.Ignored = append(p.q.Ignored, Ignored{Name: name, Reason: reason})
}

// unsupportedParam tells why a standard parameter careflow does not implement is skipped ("" when the
// parameter is not one of them).
func unsupportedParam(name string) string {
	switch name {
	case "_contained", "_containedType", "_list", "_filter":
		return name + " is not supported"
	case "_query":
		return "named queries (_query) are not supported"
	case "_text":
		return "narrative search (_text) is not supported"
	case "_content":
		return "full-text search (_content) is not supported"
	case "_type":
		return "_type applies only to searches across all resource types"
	}
	return ""
}

// param handles every value of one parameter name.
func (p *parser) param(name string, raws []string) *outcome.Error {
	if !validName(name) {
		return p.report(name, &failure{ignorable: true, code: outcome.CodeInvalid,
			msg: "unknown search parameter (the name contains characters no search parameter uses)"})
	}
	switch name {
	case "_format", "_pretty":
		return nil // handled by the HTTP layer
	case "_count":
		return p.report(name, p.count(name, raws))
	case "_sort":
		return p.report(name, p.sort(name, raws))
	case "_total":
		return p.report(name, p.single(name, raws, &p.q.Total, "none", "estimate", "accurate"))
	case "_summary":
		return p.report(name, p.single(name, raws, &p.q.Summary, "true", "text", "data", "count", "false"))
	case "_cursor":
		return p.report(name, p.single(name, raws, &p.q.Cursor))
	case "_elements":
		return p.report(name, p.elements(name, raws))
	case "_include", "_include:iterate", "_include:recurse",
		"_revinclude", "_revinclude:iterate", "_revinclude:recurse":
		base, mod, _ := strings.Cut(name, ":")
		for _, raw := range raws {
			if err := p.report(name, p.include(name, base == "_revinclude", mod != "", raw)); err != nil {
				return err
			}
		}
		return nil
	}
	base, _, _ := strings.Cut(name, ":")
	if why := unsupportedParam(base); why != "" {
		return p.report(name, unsupported("%s", why))
	}
	for _, raw := range raws {
		segs := splitValues(raw)
		if len(segs) == 0 {
			p.ignore(name, "empty value")
			continue
		}
		c, f := p.criterion(p.typ, name, segs, 0)
		if f != nil {
			if err := p.report(name, f); err != nil {
				return err
			}
			continue
		}
		if p.values += len(segs); p.values > MaxValues {
			return outcome.At(http.StatusBadRequest, outcome.CodeTooCostly, name,
				"a search may hold at most %d values (the comma-separated values of all its parameters together)", MaxValues)
		}
		p.q.Criteria = append(p.q.Criteria, c)
	}
	return nil
}

// finish applies defaults and puts Ignored in a stable order.
func (p *parser) finish() {
	q := p.q
	if !q.CountSet {
		q.Count = max(p.o.DefaultCount, 0)
		if p.o.MaxCount > 0 && q.Count > p.o.MaxCount {
			q.Count = p.o.MaxCount
		}
	}
	sort.SliceStable(q.Ignored, func(i, j int) bool {
		a, b := q.Ignored[i], q.Ignored[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Reason < b.Reason
	})
	out := q.Ignored[:0]
	for i, ig := range q.Ignored {
		if i == 0 || ig != q.Ignored[i-1] {
			out = append(out, ig)
		}
	}
	q.Ignored = out
}

// criterion parses the parameter name (which may be chained, a _has, or carry a modifier) on typ and its
// comma-separated values (still escaped, none empty).
func (p *parser) criterion(typ, name string, segs []string, depth int) (Criterion, *failure) {
	if depth > maxDepth {
		return Criterion{}, fail(outcome.CodeInvalid, "chains and _has may nest at most %d levels", maxDepth)
	}
	if rest, ok := strings.CutPrefix(name, "_has:"); ok {
		return p.has(typ, rest, segs, depth)
	}
	if name == "_has" {
		return Criterion{}, fail(outcome.CodeInvalid, "_has must be written _has:Type:reference:parameter")
	}
	if head, tail, ok := strings.Cut(name, "."); ok {
		return p.chain(typ, head, tail, segs, depth)
	}
	code, mod, hasMod := strings.Cut(name, ":")
	prm, ok := p.r.Lookup(typ, code)
	if why, known := p.r.NotIndexed(typ, code); !ok && known {
		// A known filter careflow cannot apply: ignoring it would answer more than was asked for.
		return Criterion{}, fail(outcome.CodeNotSupported, "search parameter %s of %s is not supported: %s", code, typ, why)
	}
	if !ok {
		return Criterion{}, unsupported("unknown search parameter %s for %s", clip(code), typ)
	}
	if hasMod && mod == "" {
		return Criterion{}, fail(outcome.CodeInvalid, "empty modifier")
	}
	if f := p.checkModifier(prm, mod); f != nil {
		return Criterion{}, f
	}
	c := Criterion{Param: prm, Modifier: mod}
	for _, seg := range segs {
		v, f := p.value(prm, mod, seg)
		if f != nil {
			return Criterion{}, f
		}
		c.Values = append(c.Values, v)
	}
	return c, nil
}

// has parses the rest of _has:Type:reference:parameter.
func (p *parser) has(typ, rest string, segs []string, depth int) (Criterion, *failure) {
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Criterion{}, fail(outcome.CodeInvalid, "_has must be written _has:Type:reference:parameter")
	}
	src, refCode, inner := parts[0], parts[1], parts[2]
	if _, ok := p.r.byType[src]; !ok {
		return Criterion{}, unsupported("_has: resource type %s is not served", clip(src))
	}
	ref, ok := p.r.Lookup(src, refCode)
	if !ok {
		return Criterion{}, unsupported("_has: unknown search parameter %s for %s", clip(refCode), src)
	}
	if ref.Type != TypeReference {
		return Criterion{}, fail(outcome.CodeInvalid, "_has: %s.%s is not a reference parameter", src, ref.Code)
	}
	if !contains(ref.Target, typ) {
		return Criterion{}, fail(outcome.CodeInvalid, "_has: %s.%s cannot refer to %s", src, ref.Code, typ)
	}
	c, f := p.criterion(src, inner, segs, depth+1)
	if f != nil {
		return Criterion{}, f
	}
	return Criterion{Has: &Has{Type: src, Ref: ref, Criterion: c}}, nil
}

// chain parses head.tail where head is a reference parameter, optionally with a :Type modifier.
func (p *parser) chain(typ, head, tail string, segs []string, depth int) (Criterion, *failure) {
	code, mod, hasMod := strings.Cut(head, ":")
	ref, ok := p.r.Lookup(typ, code)
	if !ok {
		return Criterion{}, unsupported("unknown search parameter %s for %s", clip(code), typ)
	}
	if ref.Type != TypeReference {
		return Criterion{}, fail(outcome.CodeInvalid, "%s is a %s parameter and cannot be chained", ref.Code, ref.Type)
	}
	if tail == "" {
		return Criterion{}, fail(outcome.CodeInvalid, "empty chained parameter after %s.", clip(head))
	}
	var target string
	if hasMod {
		if !contains(ref.Target, mod) {
			return Criterion{}, fail(outcome.CodeInvalid, "%s is not a type %s can refer to (%s)",
				clip(mod), ref.Code, strings.Join(ref.Target, ", "))
		}
		if _, ok := p.r.byType[mod]; !ok {
			return Criterion{}, unsupported("chained resource type %s is not served", mod)
		}
		target = mod
	} else {
		var served []string
		for _, t := range ref.Target {
			if _, ok := p.r.byType[t]; ok {
				served = append(served, t)
			}
		}
		if len(served) == 0 {
			return Criterion{}, unsupported("%s refers to types that are not served (%s)",
				ref.Code, strings.Join(ref.Target, ", "))
		}
		next := tail
		if i := strings.IndexAny(tail, ".:"); i >= 0 {
			next = tail[:i]
		}
		var cands []string
		for _, t := range served {
			if _, ok := p.r.Lookup(t, next); ok || next == "_has" {
				cands = append(cands, t)
			}
		}
		switch len(cands) {
		case 0:
			return Criterion{}, unsupported("unknown search parameter %s for %s", clip(next), strings.Join(served, ", "))
		case 1:
			target = cands[0]
		default:
			sort.Strings(cands)
			return Criterion{}, fail(outcome.CodeInvalid,
				"ambiguous chain: %s may refer to %s; name the type, e.g. %s:%s.%s",
				ref.Code, strings.Join(cands, ", "), ref.Code, cands[0], clip(tail))
		}
	}
	c, f := p.criterion(target, tail, segs, depth+1)
	if f != nil {
		return Criterion{}, f
	}
	return Criterion{Param: ref, Modifier: mod, Chain: &Chained{Type: target, Criterion: c}}, nil
}

// checkModifier accepts the modifiers careflow implements for the parameter's type: unknown ones are
// malformed requests (invalid), known FHIR modifiers careflow does not implement are not-supported.
func (p *parser) checkModifier(prm *Param, mod string) *failure {
	if mod == "" || mod == "missing" {
		switch prm.Type {
		case TypeString, TypeToken, TypeReference, TypeDate, TypeURI, TypeNumber, TypeQuantity, TypeComposite, TypeSpecial:
			return nil
		}
		return unsupported("%s parameters are not supported", prm.Type)
	}
	var ok bool
	var notImpl []string
	switch prm.Type {
	case TypeString:
		ok = mod == "exact" || mod == "contains"
	case TypeToken:
		switch mod {
		case "not", "text":
			ok = true
		case "of-type":
			if prm.Code != "identifier" {
				return fail(outcome.CodeInvalid, "modifier :of-type applies only to identifier parameters")
			}
			ok = true
		}
		notImpl = []string{"in", "not-in", "above", "below"}
	case TypeReference:
		ok = mod == "identifier" || contains(prm.Target, mod)
		if !ok && p.isResourceType(mod) {
			return fail(outcome.CodeInvalid, "%s is not a type %s can refer to (%s)",
				mod, prm.Code, strings.Join(prm.Target, ", "))
		}
		notImpl = []string{"above", "below"}
	case TypeURI:
		ok = mod == "above" || mod == "below"
	case TypeDate, TypeNumber, TypeQuantity:
	case TypeComposite, TypeSpecial:
		// search.html#modifiers defines none for composites (each part is in its component's syntax);
		// near takes none.
		return fail(outcome.CodeInvalid, "%s parameter %s takes no modifier but :missing", prm.Type, prm.Code)
	default:
		return unsupported("%s parameters are not supported", prm.Type)
	}
	switch {
	case ok:
		return nil
	case contains(notImpl, mod):
		return fail(outcome.CodeNotSupported, "modifier :%s is not supported", mod)
	}
	return fail(outcome.CodeInvalid, "unknown modifier %s for %s parameter %s", clip(":"+mod), prm.Type, prm.Code)
}

// isResourceType reports whether name is a FHIR resource type.
func (p *parser) isResourceType(name string) bool {
	if _, ok := p.r.byType[name]; ok {
		return true
	}
	return p.r.model != nil && p.r.model.IsResource(name)
}

// value parses one comma-separated value (still escaped) of prm under modifier mod.
func (p *parser) value(prm *Param, mod, seg string) (Value, *failure) {
	raw := unescape(seg)
	v := Value{Raw: raw}
	if mod == "missing" {
		switch raw {
		case "true":
			v.Missing = true
		case "false":
		default:
			return v, fail(outcome.CodeInvalid, ":missing takes true or false, not %s", clip(raw))
		}
		return v, nil
	}
	switch prm.Type {
	case TypeString, TypeURI:
		v.Text = raw
	case TypeToken:
		return tokenValue(v, mod, seg)
	case TypeDate:
		v.Prefix, raw = splitPrefix(raw)
		lo, hi, ok := searchDate(raw)
		if !ok {
			return v, fail(outcome.CodeInvalid,
				"invalid date %s: expected [prefix]YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]",
				clip(v.Raw))
		}
		v.Low, v.High = lo, hi
	case TypeNumber:
		v.Prefix, v.Text = splitPrefix(raw)
		if !numberOK(v.Text) {
			return v, fail(outcome.CodeInvalid, "invalid number %s", clip(v.Raw))
		}
	case TypeQuantity:
		parts := splitUnescaped(seg, '|')
		if len(parts) != 1 && len(parts) != 3 {
			return v, fail(outcome.CodeInvalid, "invalid quantity %s: expected [prefix]number[|system|code]", clip(raw))
		}
		v.Prefix, v.Text = splitPrefix(unescape(parts[0]))
		if !numberOK(v.Text) {
			return v, fail(outcome.CodeInvalid, "invalid quantity %s: expected [prefix]number[|system|code]", clip(raw))
		}
		if len(parts) == 3 {
			v.HasSystem, v.System, v.Code = true, unescape(parts[1]), unescape(parts[2])
		}
	case TypeReference:
		return p.referenceValue(prm, mod, v, seg)
	case TypeComposite:
		return p.compositeValue(prm, v, seg)
	case TypeSpecial:
		return nearValue(v, seg)
	}
	return v, nil
}

// compositeValue parses one value per component, joined by "$" (search.html#composite), each in its
// component's syntax.
func (p *parser) compositeValue(prm *Param, v Value, seg string) (Value, *failure) {
	parts := splitUnescaped(seg, '$')
	if len(parts) != len(prm.Components) {
		var names []string
		for _, c := range prm.Components {
			names = append(names, c.Param.Code)
		}
		return v, fail(outcome.CodeInvalid, "composite %s takes %d values joined by $ (%s), not %s",
			prm.Code, len(prm.Components), strings.Join(names, "$"), clip(v.Raw))
	}
	for i, part := range parts {
		c := prm.Components[i]
		if part == "" {
			return v, fail(outcome.CodeInvalid, "composite %s: the value of component %s is empty in %s", prm.Code, c.Param.Code, clip(v.Raw))
		}
		cv, f := p.value(c.Param, "", part)
		if f != nil {
			return v, fail(f.code, "composite %s, component %s: %s", prm.Code, c.Param.Code, f.msg)
		}
		v.Parts = append(v.Parts, cv)
	}
	return v, nil
}

// tokenValue parses [system|]code, or system|type-code|value for :of-type, or free text for :text.
func tokenValue(v Value, mod, seg string) (Value, *failure) {
	if mod == "text" {
		v.Code = v.Raw
		return v, nil
	}
	parts := splitUnescaped(seg, '|')
	if mod == "of-type" {
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return v, fail(outcome.CodeInvalid, ":of-type takes type-system|type-code|value, not %s", clip(v.Raw))
		}
		v.HasSystem, v.System, v.TypeCode, v.Code = true, unescape(parts[0]), unescape(parts[1]), unescape(parts[2])
		return v, nil
	}
	switch len(parts) {
	case 1:
		v.Code = unescape(parts[0])
	case 2:
		if parts[0] == "" && parts[1] == "" {
			return v, fail(outcome.CodeInvalid, "token %s has neither system nor code", clip(v.Raw))
		}
		v.HasSystem, v.System, v.Code = true, unescape(parts[0]), unescape(parts[1])
	default:
		return v, fail(outcome.CodeInvalid, "invalid token %s: expected [system|]code (escape a literal | as \\|)", clip(v.Raw))
	}
	return v, nil
}

// referenceValue parses id, Type/id, Type/id/_history/n, an absolute URL, or (for :identifier) a token.
func (p *parser) referenceValue(prm *Param, mod string, v Value, seg string) (Value, *failure) {
	if mod == "identifier" {
		return tokenValue(v, "", seg)
	}
	typeMod := mod // a :Type modifier (checkModifier allowed only targets)
	ref := v.Raw
	if isAbsolute(ref) {
		v.Text = ref
		if t, id, ok := urlTail(prm, ref); ok {
			if typeMod != "" && t != typeMod {
				return v, fail(outcome.CodeInvalid, "reference %s is not a %s", clip(ref), typeMod)
			}
			v.RefType, v.RefID = t, id
		}
		return v, nil
	}
	parts := strings.Split(ref, "/")
	switch {
	case len(parts) == 1:
		v.RefType, v.RefID = typeMod, parts[0]
	case len(parts) == 2 || len(parts) == 4 && parts[2] == "_history" && isID(parts[3]):
		t := parts[0]
		if !contains(prm.Target, t) {
			return v, fail(outcome.CodeInvalid, "%s cannot refer to %s (it refers to %s)",
				prm.Code, clip(t), strings.Join(prm.Target, ", "))
		}
		if typeMod != "" && t != typeMod {
			return v, fail(outcome.CodeInvalid, "reference %s is not a %s", clip(ref), typeMod)
		}
		v.RefType, v.RefID = t, parts[1]
	default:
		return v, fail(outcome.CodeInvalid, "invalid reference %s: expected id, Type/id or an absolute URL", clip(ref))
	}
	if !isID(v.RefID) {
		return v, fail(outcome.CodeInvalid, "invalid reference %s: %s is not a resource id", clip(ref), clip(v.RefID))
	}
	v.Text = v.RefID
	if v.RefType != "" {
		v.Text = v.RefType + "/" + v.RefID
	}
	return v, nil
}

// urlTail extracts Type and id from an absolute URL ending in …/Type/id or …/Type/id/_history/n, where
// Type is one the parameter can refer to.
func urlTail(prm *Param, u string) (typ, id string, ok bool) {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	parts := strings.Split(u, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	n := len(parts)
	if n < 2 {
		return "", "", false
	}
	typ, id = parts[n-2], parts[n-1]
	if !isID(id) || !contains(prm.Target, typ) {
		return "", "", false
	}
	return typ, id, true
}

// count handles _count.
func (p *parser) count(name string, raws []string) *failure {
	var s string
	if f := p.single(name, raws, &s); f != nil || s == "" {
		return f
	}
	if !allDigits(s) {
		return fail(outcome.CodeInvalid, "_count must be a non-negative integer, not %s", clip(s))
	}
	n, err := strconv.Atoi(s)
	if err != nil { // out of range
		if p.o.MaxCount <= 0 {
			return fail(outcome.CodeInvalid, "_count %s is too large", clip(s))
		}
		n = p.o.MaxCount
	}
	if p.o.MaxCount > 0 && n > p.o.MaxCount {
		n = p.o.MaxCount
	}
	p.q.Count, p.q.CountSet = n, true
	return nil
}

// single handles a result parameter that takes one value, from allowed when allowed is not empty.
// Repeating it with the same value is accepted; empty values are ignored.
func (p *parser) single(name string, raws []string, dst *string, allowed ...string) *failure {
	var val string
	for _, raw := range raws {
		if raw == "" {
			continue
		}
		if val != "" && raw != val {
			return fail(outcome.CodeInvalid, "%s may be given only once", name)
		}
		val = raw
	}
	if val == "" {
		p.ignore(name, "empty value")
		return nil
	}
	if len(allowed) > 0 && !contains(allowed, val) {
		return fail(outcome.CodeInvalid, "%s must be one of %s, not %s", name, strings.Join(allowed, ", "), clip(val))
	}
	*dst = val
	return nil
}

// sort handles _sort: a comma-separated list of parameter codes, each optionally prefixed with "-".
func (p *parser) sort(name string, raws []string) *failure {
	var s string
	if f := p.single(name, raws, &s); f != nil || s == "" {
		return f
	}
	for key := range strings.SplitSeq(s, ",") {
		if key == "" {
			continue
		}
		code, desc := strings.CutPrefix(key, "-")
		prm, ok := p.r.Lookup(p.typ, code)
		if why, known := p.r.NotIndexed(p.typ, code); !ok && known {
			return fail(outcome.CodeNotSupported, "cannot sort by %s: %s", code, why)
		}
		if !ok {
			return fail(outcome.CodeInvalid, "unknown sort parameter %s for %s", clip(code), p.typ)
		}
		switch prm.Type {
		case TypeComposite:
			return fail(outcome.CodeNotSupported, "cannot sort by composite parameter %s: the specification defines no order for composite values (sort by one of its components' parameters instead)", prm.Code)
		case TypeSpecial:
			return fail(outcome.CodeNotSupported, "cannot sort by special parameter %s: sorting by distance is not supported", prm.Code)
		}
		p.q.Sort = append(p.q.Sort, SortKey{Param: prm, Descending: desc})
	}
	return nil
}

// elements handles _elements: element names, or Type.element.
func (p *parser) elements(name string, raws []string) *failure {
	seen := map[string]bool{}
	for _, e := range p.q.Elements {
		seen[e] = true
	}
	empty := true
	for _, raw := range raws {
		for e := range strings.SplitSeq(raw, ",") {
			if e == "" {
				continue
			}
			empty = false
			t, el, dotted := strings.Cut(e, ".")
			if !dotted {
				t, el = "", e
			}
			if !isIdent(el) || dotted && (!isIdent(t) || t[0] < 'A' || t[0] > 'Z') {
				return fail(outcome.CodeInvalid, "_elements takes element names (or Type.element), not %s", clip(e))
			}
			if !seen[e] {
				seen[e] = true
				p.q.Elements = append(p.q.Elements, e)
			}
		}
	}
	if empty {
		p.ignore(name, "empty value")
	}
	return nil
}

// include handles one value of _include or _revinclude: *, Source:param[:Target] or Source:*.
func (p *parser) include(name string, rev, iterate bool, raw string) *failure {
	if raw == "" {
		p.ignore(name, "empty value")
		return nil
	}
	inc := Include{Iterate: iterate}
	if raw == "*" {
		inc.Source, inc.Wildcard = "*", true
		p.addInclude(rev, inc)
		return nil
	}
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || len(parts) == 3 && parts[2] == "" {
		return fail(outcome.CodeInvalid, "%s takes Source:parameter[:Target] or *, not %s", name, clip(raw))
	}
	inc.Source = parts[0]
	if _, ok := p.r.byType[inc.Source]; !ok {
		return unsupported("%s: resource type %s is not served", clip(raw), clip(inc.Source))
	}
	if len(parts) == 3 {
		inc.Target = parts[2]
	}
	if parts[1] == "*" {
		inc.Wildcard = true
	} else {
		prm, ok := p.r.Lookup(inc.Source, parts[1])
		if !ok {
			return unsupported("%s: unknown search parameter %s for %s", clip(raw), clip(parts[1]), inc.Source)
		}
		if prm.Type != TypeReference {
			return unsupported("%s: %s is not a reference parameter", clip(raw), prm.Code)
		}
		if inc.Target != "" && !contains(prm.Target, inc.Target) {
			return unsupported("%s: %s cannot refer to %s", clip(raw), prm.Code, clip(inc.Target))
		}
		if rev && !iterate && !contains(prm.Target, p.typ) {
			return unsupported("%s: %s.%s cannot refer to %s", clip(raw), inc.Source, prm.Code, p.typ)
		}
		inc.Param = prm
	}
	if inc.Wildcard && inc.Target != "" && !p.isResourceType(inc.Target) {
		return unsupported("%s: %s is not a resource type", clip(raw), clip(inc.Target))
	}
	if !iterate && !rev && inc.Source != p.typ {
		return unsupported("%s: the source type must be %s (use %s:iterate to include from included resources)",
			clip(raw), p.typ, name)
	}
	if !iterate && rev && inc.Target != "" && inc.Target != p.typ {
		return unsupported("%s: the target type must be %s", clip(raw), p.typ)
	}
	p.addInclude(rev, inc)
	return nil
}

func (p *parser) addInclude(rev bool, inc Include) {
	if rev {
		p.q.RevInclude = append(p.q.RevInclude, inc)
	} else {
		p.q.Include = append(p.q.Include, inc)
	}
}
