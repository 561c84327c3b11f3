package search

import (
	"strings"
)

// Matcher evaluates criteria in memory against a resource's id and its index fields (as Index extracts
// them), with the same semantics as the database queries, for the criteria that need nothing but the
// resource itself: token (plain, :not), string (plain, :exact, :contains), reference (plain, :Type,
// :identifier), uri (plain) and _id. Criteria beyond that (dates, chains, _has, :missing, :text,
// :of-type, :above, :below) cannot be compiled into a Matcher.
//
// Transactions use it to resolve a conditional reference to a resource created in the same Bundle, and
// the adapters to pick, among many candidates read once, those whose reference is one of thousands.
type Matcher struct {
	parts []matchPart
}

// matchPart is one compiled criterion: any of its keys in field (or, for strings, a prefix or substring
// of a value).
type matchPart struct {
	field string
	keys  map[string]bool // token, reference, uri, _id, :exact: exact keys
	// prefixes also match (token "system|": every system|code key of the system)
	prefixes []string
	texts    []string // string: normalised values to match as prefix (or substring with contains)
	kind     int
}

const (
	matchKeys = iota
	matchNotKeys
	matchID
	matchPrefix
	matchContains
)

// NewMatcher compiles criteria; ok is false when one of them is beyond the in-memory matcher.
func NewMatcher(criteria []Criterion) (*Matcher, bool) {
	m := &Matcher{}
	for _, c := range criteria {
		part, ok := compile(c)
		if !ok {
			return nil, false
		}
		m.parts = append(m.parts, part)
	}
	return m, true
}

// Match compiles criteria and evaluates them on one resource (see Matcher); supported is false when the
// criteria are beyond the in-memory matcher.
func Match(criteria []Criterion, id string, index map[string]any) (matched, supported bool) {
	m, ok := NewMatcher(criteria)
	if !ok {
		return false, false
	}
	return m.Match(id, index), true
}

// Match reports whether the resource with this id and these index fields meets every criterion.
func (m *Matcher) Match(id string, index map[string]any) bool {
	for _, p := range m.parts {
		if !p.match(id, index) {
			return false
		}
	}
	return true
}

func keySet(keys []string) map[string]bool {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

func compile(c Criterion) (matchPart, bool) {
	if c.Has != nil || c.Chain != nil || c.OrMissing || c.Param == nil {
		return matchPart{}, false
	}
	p := c.Param
	if p.Code == "_id" {
		if c.Modifier != "" {
			return matchPart{}, false
		}
		var ids []string
		for _, v := range c.Values {
			ids = append(ids, v.Code)
		}
		return matchPart{kind: matchID, keys: keySet(ids)}, true
	}
	switch p.Type {
	case TypeToken:
		if c.Modifier != "" && c.Modifier != "not" {
			return matchPart{}, false
		}
		tm := TokenMatches(c.Values)
		kind := matchKeys
		if c.Modifier == "not" {
			kind = matchNotKeys
		}
		return matchPart{kind: kind, field: p.Field, keys: keySet(tm.Keys), prefixes: tm.Prefixes}, true
	case TypeString:
		switch c.Modifier {
		case "exact":
			var keys []string
			for _, v := range c.Values {
				keys = append(keys, v.Text)
			}
			return matchPart{kind: matchKeys, field: p.Field + SuffixExact, keys: keySet(keys)}, true
		case "", "contains":
			var texts []string
			for _, v := range c.Values {
				texts = append(texts, Normalize(v.Text))
			}
			kind := matchPrefix
			if c.Modifier == "contains" {
				kind = matchContains
			}
			return matchPart{kind: kind, field: p.Field, texts: texts}, true
		}
		return matchPart{}, false
	case TypeReference:
		var keys []string
		field := p.Field
		switch {
		case c.Modifier == "identifier":
			tm := TokenMatches(c.Values)
			return matchPart{kind: matchKeys, field: field + SuffixIdentifier, keys: keySet(tm.Keys), prefixes: tm.Prefixes}, true
		case c.Modifier != "" && !isTypeName(c.Modifier):
			return matchPart{}, false
		default:
			for _, v := range c.Values {
				keys = append(keys, ReferenceKeys(p, c.Modifier, v)...)
			}
		}
		return matchPart{kind: matchKeys, field: field, keys: keySet(keys)}, true
	case TypeURI:
		if c.Modifier != "" {
			return matchPart{}, false
		}
		var keys []string
		for _, v := range c.Values {
			keys = append(keys, v.Text)
		}
		return matchPart{kind: matchKeys, field: p.Field, keys: keySet(keys)}, true
	}
	return matchPart{}, false
}

// values returns the index values of field as strings.
func values(index map[string]any, field string) []string {
	switch v := index[field].(type) {
	case []string:
		return v
	case TokenKeys:
		return v
	case string:
		return []string{v}
	}
	return nil
}

func (p matchPart) match(id string, index map[string]any) bool {
	switch p.kind {
	case matchID:
		return p.keys[id]
	case matchKeys, matchNotKeys:
		found := false
		for _, v := range values(index, p.field) {
			if p.keys[v] || hasAnyPrefix(v, p.prefixes) {
				found = true
				break
			}
		}
		return found == (p.kind == matchKeys)
	case matchPrefix, matchContains:
		for _, have := range values(index, p.field) {
			for _, want := range p.texts {
				if (p.kind == matchPrefix && strings.HasPrefix(have, want)) || (p.kind == matchContains && strings.Contains(have, want)) {
					return true
				}
			}
		}
	}
	return false
}

// ReferenceKeys lists the index keys (see RefsField and ReferenceKey) that a value of reference parameter p
// matches, under modifier ("" or a resource type; not :identifier): an absolute URL as itself, Type/id,
// and a bare id as modifier/id or, without a type modifier, as Target/id for each of p's targets.
func ReferenceKeys(p *Param, modifier string, v Value) []string {
	switch {
	case v.RefType != "" && v.RefID != "" && strings.Contains(v.Text, "://"):
		return []string{ReferenceKey(v.Text)}
	case v.RefType != "":
		return []string{v.RefType + "/" + v.RefID}
	case v.RefID != "" && modifier != "" && modifier != "identifier":
		return []string{modifier + "/" + v.RefID}
	case v.RefID != "":
		keys := make([]string, 0, len(p.Target))
		for _, t := range p.Target {
			keys = append(keys, t+"/"+v.RefID)
		}
		return keys
	}
	return []string{ReferenceKey(v.Text)}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
