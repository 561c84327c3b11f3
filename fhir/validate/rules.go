package validate

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/outcome"
)

// walker checks the rules the JSON schema cannot express, walking a decoded resource with the element model
// so that the FHIR type of every value is known.
type walker struct {
	v    *Validator
	col  *collector
	path []step // location of the value being checked, below the root resource
	// containerIDs are the ids of the contained resources of the resource being walked, which local
	// references ("#id") must name; computed when the first local reference is met.
	containerIDs map[string]bool
	container    map[string]any
}

func (w *walker) push(s step) { w.path = append(w.path, s) }
func (w *walker) pop()        { w.path = w.path[:len(w.path)-1] }

func (w *walker) issue(code, msg string) { w.col.addPath(w.path, code, msg) }

// resource validates a resource at the current path: against its schema, then with the element model.
// contained tells whether it is a contained resource, which may not contain resources itself.
func (w *walker) resource(resourceType string, res map[string]any, contained bool) {
	w.v.schemaCheck(resourceType, res, w.path, w.col)
	t, ok := w.v.model.Type(resourceType)
	if !ok {
		return
	}
	if !contained {
		// Local references inside this resource (and its contained resources) resolve against its own
		// contained list.
		saved, savedIDs := w.container, w.containerIDs
		w.container, w.containerIDs = res, nil
		defer func() { w.container, w.containerIDs = saved, savedIDs }()
	} else if _, nested := res["contained"]; nested {
		w.push(step{key: "contained"})
		w.issue(outcome.CodeInvariant, "a contained resource must not contain other resources (dom-2)")
		w.pop()
	}
	w.object(t, res)
}

// embedded checks a value of type Resource (contained, Bundle.entry.resource, …) at the current path.
func (w *walker) embedded(v any, contained bool) {
	res, ok := v.(map[string]any)
	if !ok {
		w.issue(outcome.CodeStructure, "expected a resource (JSON object), found "+describe(v))
		return
	}
	rt, present := res["resourceType"]
	name, isString := rt.(string)
	switch {
	case !present:
		w.push(step{key: "resourceType"})
		w.issue(outcome.CodeRequired, "resourceType is missing")
		w.pop()
		return
	case !isString:
		w.push(step{key: "resourceType"})
		w.issue(outcome.CodeInvalid, "resourceType must be a string, found "+describe(rt))
		w.pop()
		return
	}
	if _, known := w.v.schemas[name]; !known {
		w.push(step{key: "resourceType"})
		w.issue(outcome.CodeInvalid, quote(name)+" is not a FHIR R4 resource type")
		w.pop()
		return
	}
	w.resource(name, res, contained)
}

// object checks the properties of an object of complex type t (a datatype, backbone element or resource).
func (w *walker) object(t *model.Type, obj map[string]any) {
	if w.col.full() {
		return
	}
	// Choice alternatives present, to find choice elements given more than once; few objects have any.
	var chosen [4]*model.Element
	choices := chosen[:0]
	for key, val := range obj {
		ext := false
		name := key
		if len(key) > 1 && key[0] == '_' {
			ext, name = true, key[1:]
		}
		e := t.Elements[name]
		if e == nil {
			continue // unknown properties are reported by the schema
		}
		if e.Choice != "" {
			choices = append(choices, e)
		}
		w.push(step{key: key})
		switch {
		case ext:
			w.primitiveExtension(e, val, obj[name])
		case e.Array:
			if arr, ok := val.([]any); ok {
				primitive := w.v.model.IsPrimitive(e.Type)
				var exts []any
				if primitive {
					exts, _ = obj["_"+name].([]any)
				}
				for i, item := range arr {
					w.push(step{index: i})
					switch {
					case item == nil && !primitive:
						w.issue(outcome.CodeInvalid, nullMessage)
					case item == nil:
						if i >= len(exts) || exts[i] == nil {
							w.issue(outcome.CodeInvalid, "null is only allowed in a primitive array when the _"+name+
								" entry at the same index has an id or extensions")
						}
					default:
						w.value(e, item)
					}
					w.pop()
				}
			} // not an array: the schema reports it
		default:
			if _, isArr := val.([]any); isArr && !w.v.model.IsPrimitive(e.Type) {
				w.issue(outcome.CodeStructure, "expected a single "+e.Type+" object, found an array")
			} else if val != nil {
				w.value(e, val)
			}
		}
		w.pop()
	}
	if len(choices) > 1 {
		w.choiceClash(choices)
	}
	for i := range w.v.required[t] {
		if r := &w.v.required[t][i]; !r.present(obj) {
			w.push(step{key: r.name})
			w.issue(outcome.CodeRequired, r.describe())
			w.pop()
		}
	}
}

// choiceClash reports choice elements given with more than one alternative (deceasedBoolean and
// deceasedDateTime). An alternative counts once whether it has a value, an _extension sibling or both.
func (w *walker) choiceClash(choices []*model.Element) {
	bases := map[string]map[string]bool{}
	for _, e := range choices {
		if bases[e.Choice] == nil {
			bases[e.Choice] = map[string]bool{}
		}
		bases[e.Choice][e.Name] = true
	}
	for base, names := range bases {
		if len(names) < 2 {
			continue
		}
		w.col.add(w.col.exprRaw(w.path, base+"[x]"), outcome.CodeStructure, fmt.Sprintf(
			"%s[x] is a single choice element but %s are present; give only one of them",
			base, strings.Join(sortedKeys(names), " and ")))
	}
}

// value checks one (non-null) value of element e at the current path.
func (w *walker) value(e *model.Element, v any) {
	switch {
	case e.Type == "Resource":
		w.embedded(v, e.Name == "contained")
	case w.v.model.IsPrimitive(e.Type):
		w.primitive(e.Type, v)
	default:
		obj, ok := v.(map[string]any)
		if !ok {
			w.issue(outcome.CodeStructure, fmt.Sprintf("expected a %s object, found %s", e.Type, describe(v)))
			return
		}
		t, ok := w.v.model.Type(e.Type)
		if !ok {
			return
		}
		switch e.Type {
		case "Reference":
			w.reference(obj)
		case "Extension":
			w.extension(t, obj)
		}
		w.object(t, obj)
	}
}

// primitiveExtension checks the "_name" sibling of primitive element e, holding its id and extensions (an
// Element, or for repeating elements an array of Elements or nulls lined up with the values).
func (w *walker) primitiveExtension(e *model.Element, val, values any) {
	elem, _ := w.v.model.Type("Element")
	if !w.v.model.IsPrimitive(e.Type) {
		return // "_name" of a complex element is unknown to the schema, which reports it
	}
	if !e.Array {
		if obj, ok := val.(map[string]any); ok {
			w.object(elem, obj)
		} else if val != nil {
			w.issue(outcome.CodeStructure, "expected an object with the id and extensions of "+e.Name+", found "+describe(val))
		}
		return
	}
	exts, ok := val.([]any)
	if !ok {
		return // the schema reports it
	}
	vals, hasValues := values.([]any)
	if hasValues && len(vals) != len(exts) {
		w.issue(outcome.CodeStructure, fmt.Sprintf("%s has %d entries but _%s has %d; the arrays must line up",
			e.Name, len(vals), e.Name, len(exts)))
	}
	for i, item := range exts {
		w.push(step{index: i})
		switch x := item.(type) {
		case nil:
			if i >= len(vals) {
				w.issue(outcome.CodeInvalid, "entry has neither a value nor extensions")
			}
		case map[string]any:
			w.object(elem, x)
		default:
			w.issue(outcome.CodeStructure, "expected an object with the id and extensions of "+e.Name+", or null, found "+describe(x))
		}
		w.pop()
	}
}

// primitive checks the lexical rules of a primitive value that the schema's patterns miss or express
// poorly. Values of the wrong JSON type are left to the schema.
func (w *walker) primitive(typ string, v any) {
	if s, ok := v.(string); ok && isBlank(s) {
		return // reported by the decoder
	}
	switch typ {
	case "date", "dateTime", "instant", "time":
		if s, ok := v.(string); ok {
			if msg := checkTemporal(typ, s); msg != "" {
				w.issue(outcome.CodeValue, msg)
			}
		}
	case "integer", "positiveInt", "unsignedInt":
		if n, ok := v.(json.Number); ok {
			if msg := checkInteger(typ, string(n)); msg != "" {
				w.issue(outcome.CodeValue, msg)
			}
		}
	case "xhtml":
		s, ok := v.(string)
		if !ok {
			w.issue(outcome.CodeValue, "narrative must be an XHTML string, found "+describe(v))
		} else if msg := checkXHTML(s); msg != "" {
			w.issue(outcome.CodeValue, msg)
		}
	}
}

// extension checks ext-1 (value[x] or nested extensions, not both) and that url is present.
func (w *walker) extension(t *model.Type, obj map[string]any) {
	if _, ok := obj["url"]; !ok {
		w.push(step{key: "url"})
		w.issue(outcome.CodeRequired, "extension url is missing")
		w.pop()
	}
	hasValue := false
	for key := range obj {
		name := strings.TrimPrefix(key, "_")
		if e := t.Elements[name]; e != nil && e.Choice == "value" {
			hasValue = true
			break
		}
	}
	nested, _ := obj["extension"].([]any)
	switch {
	case hasValue && len(nested) > 0:
		w.issue(outcome.CodeInvariant, "an extension must have either a value[x] or nested extensions, not both (ext-1)")
	case !hasValue && len(nested) == 0:
		w.issue(outcome.CodeRequired, "an extension must have a value[x] or nested extensions (ext-1)")
	}
}

// reference checks the syntax of Reference.reference and that local references name a contained resource.
func (w *walker) reference(obj map[string]any) {
	ref, ok := obj["reference"].(string)
	if !ok || isBlank(ref) {
		return
	}
	code, msg := w.referenceProblem(ref)
	if msg != "" {
		w.push(step{key: "reference"})
		w.issue(code, msg)
		w.pop()
	}
}

const referenceForms = "expected Type/id, Type/id/_history/vid, an absolute URL, #id (contained), urn:uuid:<uuid> or urn:oid:<oid>"

func (w *walker) referenceProblem(ref string) (code, msg string) {
	bad := func(why string) (string, string) {
		return outcome.CodeValue, quote(ref) + " is not a valid reference: " + why
	}
	switch {
	case strings.HasPrefix(ref, "#"):
		id := ref[1:]
		if id == "" {
			return "", "" // the container resource itself
		}
		if !isID(id) {
			return bad("the local id is not a valid id")
		}
		if !w.containedIDs()[id] {
			return outcome.CodeInvariant, quote(ref) + " does not match the id of any contained resource (ref-1)"
		}
		return "", ""
	case strings.HasPrefix(ref, "urn:uuid:"):
		if !isUUID(ref[len("urn:uuid:"):]) {
			return bad("expected urn:uuid: followed by a UUID such as 53fefa32-fcbb-4ff8-8a92-55ee120877b7")
		}
		return "", ""
	case strings.HasPrefix(ref, "urn:oid:"):
		if !isOID(ref[len("urn:oid:"):]) {
			return bad("expected urn:oid: followed by an OID such as 2.16.840.1.113883")
		}
		return "", ""
	case strings.HasPrefix(ref, "urn:"):
		return bad("only urn:uuid: and urn:oid: URNs can be references")
	}
	if strings.ContainsAny(ref, " \t\r\n") {
		return bad("it contains whitespace; " + referenceForms)
	}
	if hasScheme(ref) {
		u, err := url.Parse(ref)
		if err != nil {
			return bad("it is not a valid absolute URL")
		}
		if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
			return bad("the URL has no host")
		}
		if u.Opaque == "" && u.Host == "" && u.Path == "" {
			return bad("the URL is incomplete")
		}
		return "", ""
	}
	parts := strings.Split(ref, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return bad(referenceForms)
	}
	if !w.v.model.IsResource(parts[0]) {
		if _, ok := w.v.schemas[parts[0]]; !ok {
			return bad(quote(parts[0]) + " is not a resource type")
		}
	}
	if parts[1] == "" {
		return bad("the id is missing")
	}
	if !isID(parts[1]) {
		return bad("the id " + quote(parts[1]) + " is not valid (1 to 64 characters: letters, digits, '-' and '.')")
	}
	if len(parts) == 4 && !isID(parts[3]) {
		return bad("the version id " + quote(parts[3]) + " is not valid")
	}
	return "", ""
}

// containedIDs returns the ids of the contained resources local references can point to.
func (w *walker) containedIDs() map[string]bool {
	if w.containerIDs == nil {
		w.containerIDs = map[string]bool{}
		list, _ := w.container["contained"].([]any)
		for _, c := range list {
			if res, ok := c.(map[string]any); ok {
				if id, ok := res["id"].(string); ok {
					w.containerIDs[id] = true
				}
			}
		}
	}
	return w.containerIDs
}

// hasScheme reports whether s starts with a URI scheme ("http:", "urn:", …).
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'):
		case c == ':':
			return i > 0
		default:
			return false
		}
	}
	return false
}

// isID reports whether s matches the FHIR id type: [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a UUID in 8-4-4-4-12 hexadecimal form (either case).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

// isOID reports whether s is an OID as FHIR's oid type allows: [0-2](\.(0|[1-9][0-9]*))+.
func isOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts[0]) != 1 || parts[0][0] < '0' || parts[0][0] > '2' {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// checkInteger checks integer, positiveInt and unsignedInt values: whole numbers in the 32-bit range.
func checkInteger(typ, s string) string {
	digits := strings.TrimPrefix(s, "-")
	if strings.ContainsAny(digits, ".eE") || digits == "" {
		return fmt.Sprintf("%s is not a valid %s (a whole number without decimal point or exponent)", s, typ)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return fmt.Sprintf("%s is out of range for %s (32-bit signed integer)", s, typ)
	}
	switch {
	case typ == "positiveInt" && n < 1:
		return fmt.Sprintf("%s is not a valid positiveInt (must be 1 or more)", s)
	case typ == "unsignedInt" && n < 0:
		return fmt.Sprintf("%s is not a valid unsignedInt (must be 0 or more)", s)
	}
	return ""
}

// checkXHTML applies basic sanity checks to Narrative.div: one div element in the XHTML namespace, without
// the elements FHIR forbids in narrative (scripts, forms, frames, embedded objects, document structure).
// It is not a full XHTML validation.
func checkXHTML(s string) string {
	if !strings.HasPrefix(s, "<div") || len(s) < 5 || !strings.ContainsRune(" \t\r\n>/", rune(s[4])) {
		return "narrative must be an XHTML <div> element, found " + describe(s)
	}
	open := s
	if i := strings.IndexByte(s, '>'); i >= 0 {
		open = s[:i+1]
	}
	if !strings.Contains(open, `xmlns="http://www.w3.org/1999/xhtml"`) && !strings.Contains(open, `xmlns='http://www.w3.org/1999/xhtml'`) {
		return `narrative div must declare the XHTML namespace (xmlns="http://www.w3.org/1999/xhtml")`
	}
	end := strings.TrimRight(s, " \t\r\n")
	if !strings.HasSuffix(end, "</div>") && !(strings.HasSuffix(open, "/>") && len(open) == len(end)) {
		return "narrative must be a single <div> element ending with </div>"
	}
	for i := strings.IndexByte(s, '<'); i >= 0; {
		var name [10]byte
		n := 0
		j := i + 1
		for ; j < len(s) && isNameChar(lowerASCII(s[j])); j++ {
			if n < len(name) {
				name[n] = lowerASCII(s[j])
			}
			n++
		}
		if n <= len(name) && forbiddenTag(string(name[:n])) {
			return "narrative must not contain <" + string(name[:n]) + "> elements"
		}
		k := strings.IndexByte(s[j:], '<')
		if k < 0 {
			break
		}
		i = j + k
	}
	return ""
}

// forbiddenTag reports whether name is an element FHIR narrative must not contain
// (http://hl7.org/fhir/R4/narrative.html): scripts, forms, frames, embedded objects, document structure.
func forbiddenTag(name string) bool {
	switch name {
	case "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input", "base", "link",
		"meta", "head", "body", "html", "style":
		return true
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isNameChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' || c == '.'
}

// checkTemporal checks date, dateTime, instant and time values: the lexical form FHIR R4 prescribes and a
// real calendar date and clock time. It returns "" when the value is valid.
func checkTemporal(typ, s string) string {
	var forms string
	switch typ {
	case "date":
		forms = "expected YYYY, YYYY-MM or YYYY-MM-DD"
	case "dateTime":
		forms = "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)"
	case "instant":
		forms = "expected YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)"
	case "time":
		forms = "expected hh:mm:ss[.sss]"
	}
	bad := func(why string) string { return quote(s) + " is not a valid " + typ + ": " + why }
	p := temporalScanner{s: s}
	if typ == "time" {
		if why := p.clock(); why != "" {
			return bad(why)
		}
		if p.i != len(s) {
			return bad(forms)
		}
		return ""
	}
	year, ok := p.digits(4)
	if !ok {
		return bad(forms)
	}
	if year == 0 {
		return bad("year 0000 does not exist")
	}
	if p.i == len(s) {
		if typ == "instant" {
			return bad(forms)
		}
		return ""
	}
	if !p.lit('-') {
		return bad(forms)
	}
	month, ok := p.digits(2)
	if !ok {
		return bad(forms)
	}
	if month < 1 || month > 12 {
		return bad(fmt.Sprintf("month %02d does not exist", month))
	}
	if p.i == len(s) {
		if typ == "instant" {
			return bad(forms)
		}
		return ""
	}
	if !p.lit('-') {
		return bad(forms)
	}
	day, ok := p.digits(2)
	if !ok {
		return bad(forms)
	}
	if n := daysIn(year, month); day < 1 || day > n {
		return bad(fmt.Sprintf("day %02d does not exist (%s %04d has %d days)", day, monthNames[month-1], year, n))
	}
	if p.i == len(s) {
		if typ == "instant" {
			return bad(forms)
		}
		return ""
	}
	if typ == "date" || !p.lit('T') {
		return bad(forms)
	}
	if why := p.clock(); why != "" {
		return bad(why)
	}
	if p.i == len(s) {
		return bad("a time must have a time zone (Z, +hh:mm or -hh:mm)")
	}
	if !p.lit('Z') {
		if !p.lit('+') && !p.lit('-') {
			return bad(forms)
		}
		hh, ok1 := p.digits(2)
		ok2 := p.lit(':')
		mm, ok3 := p.digits(2)
		if !ok1 || !ok2 || !ok3 {
			return bad(forms)
		}
		if mm > 59 || hh > 14 || (hh == 14 && mm != 0) {
			return bad(fmt.Sprintf("time zone offset %02d:%02d does not exist", hh, mm))
		}
	}
	if p.i != len(s) {
		return bad(forms)
	}
	return ""
}

var monthNames = [12]string{"January", "February", "March", "April", "May", "June", "July", "August",
	"September", "October", "November", "December"}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// temporalScanner reads the parts of a date or time value.
type temporalScanner struct {
	s string
	i int
}

func (p *temporalScanner) digits(n int) (int, bool) {
	if p.i+n > len(p.s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v, true
}

func (p *temporalScanner) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// clock reads hh:mm:ss[.fraction] and returns why it is invalid, or "".
func (p *temporalScanner) clock() string {
	hh, ok1 := p.digits(2)
	ok2 := p.lit(':')
	mm, ok3 := p.digits(2)
	ok4 := p.lit(':')
	ss, ok5 := p.digits(2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return "expected a time as hh:mm:ss"
	}
	if hh > 23 || mm > 59 || ss > 60 {
		return fmt.Sprintf("time %02d:%02d:%02d does not exist", hh, mm, ss)
	}
	if p.lit('.') {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return "expected digits after the decimal point of the seconds"
		}
	}
	return ""
}
