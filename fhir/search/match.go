package search

import (
	"slices"
	"strings"
)

// Match evaluates criteria in memory against a resource's id and its index fields (as Index extracts
// them), with the same semantics as the database queries, for the criteria that need nothing but the
// resource itself: token (plain, :not), string (plain, :exact, :contains), reference (plain, :Type,
// :identifier), uri (plain) and _id. supported is false when a criterion needs more (dates, chains,
// _has, :missing, :text, :of-type, :above, :below): the caller cannot decide in memory then.
//
// Transactions use it to resolve a conditional reference to a resource created in the same Bundle.
func Match(criteria []Criterion, id string, index map[string]any) (matched, supported bool) {
	matched = true
	for _, c := range criteria {
		ok, sup := matchOne(c, id, index)
		if !sup {
			return false, false
		}
		matched = matched && ok
	}
	return matched, true
}

func matchOne(c Criterion, id string, index map[string]any) (matched, supported bool) {
	if c.Has != nil || c.Chain != nil || c.OrMissing || c.Param == nil {
		return false, false
	}
	p := c.Param
	values := func(field string) []string {
		switch v := index[field].(type) {
		case []string:
			return v
		case string:
			return []string{v}
		}
		return nil
	}
	anyIn := func(field string, keys []string) bool {
		have := values(field)
		for _, k := range keys {
			if slices.Contains(have, k) {
				return true
			}
		}
		return false
	}
	if p.Code == "_id" {
		if c.Modifier != "" {
			return false, false
		}
		for _, v := range c.Values {
			if v.Code == id {
				return true, true
			}
		}
		return false, true
	}
	switch p.Type {
	case TypeToken:
		if c.Modifier != "" && c.Modifier != "not" {
			return false, false
		}
		var keys []string
		for _, v := range c.Values {
			keys = append(keys, TokenKey(v))
		}
		found := anyIn(p.Field, keys)
		if c.Modifier == "not" {
			return !found, true
		}
		return found, true
	case TypeString:
		for _, v := range c.Values {
			switch c.Modifier {
			case "exact":
				if slices.Contains(values(p.Field+SuffixExact), v.Text) {
					return true, true
				}
			case "contains", "":
				want := Normalize(v.Text)
				for _, have := range values(p.Field) {
					if (c.Modifier == "" && strings.HasPrefix(have, want)) || (c.Modifier == "contains" && strings.Contains(have, want)) {
						return true, true
					}
				}
			default:
				return false, false
			}
		}
		return false, true
	case TypeReference:
		var keys []string
		field := p.Field
		switch {
		case c.Modifier == "identifier":
			field += SuffixIdentifier
			for _, v := range c.Values {
				keys = append(keys, TokenKey(v))
			}
		case c.Modifier != "" && !isTypeName(c.Modifier):
			return false, false
		default:
			for _, v := range c.Values {
				switch {
				case v.RefType != "" && v.RefID != "" && strings.Contains(v.Text, "://"):
					keys = append(keys, ReferenceKey(v.Text))
				case v.RefType != "":
					keys = append(keys, v.RefType+"/"+v.RefID)
				case v.RefID != "" && c.Modifier != "":
					keys = append(keys, c.Modifier+"/"+v.RefID)
				case v.RefID != "":
					for _, t := range p.Target {
						keys = append(keys, t+"/"+v.RefID)
					}
				default:
					keys = append(keys, ReferenceKey(v.Text))
				}
			}
		}
		return anyIn(field, keys), true
	case TypeURI:
		if c.Modifier != "" {
			return false, false
		}
		var keys []string
		for _, v := range c.Values {
			keys = append(keys, v.Text)
		}
		return anyIn(p.Field, keys), true
	}
	return false, false
}
