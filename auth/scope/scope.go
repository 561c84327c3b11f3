// Package scope parses SMART App Launch 2.0 scopes (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)
// and answers which granted scopes allow a permission on a resource type.
//
// Resource scopes are context/Type.permissions[?query]:
//
//   - context: patient (confined to the token's patient compartment), user (what the user may access) or
//     system (a backend client's pre-configured policy);
//   - Type: a FHIR resource type or * for every type;
//   - permissions: a non-empty subset of the in-order string cruds (v2), or v1 read (= rs), write (= cud)
//     or * (= cruds). Out-of-order, repeated or unknown letters make the scope invalid; the spec lets a
//     server ignore such scopes, and careflow ignores them (they grant nothing) rather than guess;
//   - query (v2 granular scopes, e.g. patient/Observation.rs?category=…|laboratory): see Filter below.
//
// Every other scope (openid, fhirUser, profile, launch, launch/patient, offline_access, online_access, …)
// is kept in Set.Other and grants no access to resources.
package scope

import (
	"fmt"
	"net/url"
	"strings"
)

// Permission is a set of SMART v2 permission letters.
type Permission uint8

// The SMART v2 permissions, in the order a scope must list them.
const (
	Create Permission = 1 << iota // c: type-level create
	Read                          // r: instance read, vread and instance history
	Update                        // u: instance update and patch
	Delete                        // d: instance delete
	Search                        // s: type and system search, type and system history
)

// All is every permission (cruds).
const All = Create | Read | Update | Delete | Search

const letters = "cruds"

// String renders p as its in-order letters ("rs"); "" for none.
func (p Permission) String() string {
	var b strings.Builder
	for i := range len(letters) {
		if p&(1<<i) != 0 {
			b.WriteByte(letters[i])
		}
	}
	return b.String()
}

// Each calls f with every single permission of p, in cruds order.
func (p Permission) Each(f func(Permission)) {
	for i := range len(letters) {
		if q := Permission(1 << i); p&q != 0 {
			f(q)
		}
	}
}

// ParsePermission parses a v2 letter string (a non-empty in-order subset of cruds) or a v1 suffix
// (read, write, *).
func ParsePermission(s string) (Permission, error) {
	switch s {
	case "read":
		return Read | Search, nil
	case "write":
		return Create | Update | Delete, nil
	case "*":
		return All, nil
	case "":
		return 0, fmt.Errorf("no permissions")
	}
	var p Permission
	next := 0 // index in letters of the next letter allowed
	for i := range len(s) {
		k := strings.IndexByte(letters[next:], s[i])
		if k < 0 {
			return 0, fmt.Errorf("permissions %q are not an in-order subset of cruds", s)
		}
		next += k
		p |= 1 << next
		next++
	}
	return p, nil
}

// Context is the launch context of a resource scope.
type Context uint8

// The scope contexts.
const (
	Patient Context = iota + 1 // patient/: the token's patient compartment only
	User                       // user/: whatever the user may access
	System                     // system/: a backend client's policy
)

func (c Context) String() string {
	switch c {
	case Patient:
		return "patient"
	case User:
		return "user"
	case System:
		return "system"
	}
	return "?"
}

// Resource is one parsed resource scope.
type Resource struct {
	Raw         string
	Context     Context
	Type        string // a resource type, or "*"
	Permissions Permission
	// Filter is the query of a v2 granular scope (nil without one). careflow never lets such a scope grant
	// more than it names: a grant that carries a Filter allows only resources that match every parameter
	// of it, and a caller that cannot check that must refuse (see Access). Only plain token-style
	// param=value pairs are accepted; a query with a modifier (param:in), a chain (a.b), _has, _filter or
	// any result parameter (_include, _count, _sort, _elements, …) makes the whole scope invalid, so it
	// grants nothing.
	Filter url.Values
}

// Matches reports whether r grants the single permission p on type typ.
func (r Resource) Matches(p Permission, typ string) bool {
	return r.Permissions&p != 0 && (r.Type == "*" && !NamedOnly(typ) || r.Type == typ)
}

// NamedOnly reports the resource types a wildcard scope (patient/*.rs, user/*.cruds) does not cover: a
// scope must name them. AuditEvent, the access log, is one: reading who accessed what is a separate
// permission (privacy and security officers), not part of "all clinical data".
func NamedOnly(typ string) bool { return typ == "AuditEvent" }

// Set is the parsed scope claim of a token.
type Set struct {
	Resources []Resource
	// Other holds the valid scopes that are not resource scopes (openid, fhirUser, launch/patient,
	// offline_access, …): they grant no resource access.
	Other []string
	// Invalid holds resource-like scopes that could not be parsed (bad letters, bad type, unsupported
	// query); they grant nothing.
	Invalid []string
}

// Parse parses a space-separated scope string (the OAuth 2.0 scope claim).
func Parse(s string) Set {
	return ParseList(strings.Fields(s))
}

// ParseList parses scopes given one per element (some servers issue the claim as a JSON array).
func ParseList(scopes []string) Set {
	var set Set
	for _, raw := range scopes {
		if raw == "" {
			continue
		}
		r, isResource, err := ParseScope(raw)
		switch {
		case err != nil:
			set.Invalid = append(set.Invalid, raw)
		case isResource:
			set.Resources = append(set.Resources, r)
		default:
			set.Other = append(set.Other, raw)
		}
	}
	return set
}

// ParseScope parses one scope. isResource is false for a scope outside the resource grammar (openid,
// launch/patient, …); err is set for a scope that starts like a resource scope (patient/, user/,
// system/) but is not a valid one.
func ParseScope(raw string) (r Resource, isResource bool, err error) {
	ctxName, rest, found := strings.Cut(raw, "/")
	if !found {
		return Resource{}, false, nil
	}
	var ctx Context
	switch ctxName {
	case "patient":
		ctx = Patient
	case "user":
		ctx = User
	case "system":
		ctx = System
	default:
		return Resource{}, false, nil // launch/patient, launch/encounter, …
	}
	body, query, hasQuery := strings.Cut(rest, "?")
	dot := strings.LastIndexByte(body, '.')
	if dot < 0 {
		return Resource{}, true, fmt.Errorf("scope %q: no .permissions", raw)
	}
	typ, perms := body[:dot], body[dot+1:]
	if !validType(typ) {
		return Resource{}, true, fmt.Errorf("scope %q: %q is not a resource type or *", raw, typ)
	}
	p, err := ParsePermission(perms)
	if err != nil {
		return Resource{}, true, fmt.Errorf("scope %q: %w", raw, err)
	}
	r = Resource{Raw: raw, Context: ctx, Type: typ, Permissions: p}
	if hasQuery {
		if perms == "read" || perms == "write" || perms == "*" {
			return Resource{}, true, fmt.Errorf("scope %q: a query needs v2 permissions", raw)
		}
		f, err := parseFilter(query)
		if err != nil {
			return Resource{}, true, fmt.Errorf("scope %q: %w", raw, err)
		}
		r.Filter = f
	}
	return r, true, nil
}

func validType(t string) bool {
	if t == "*" {
		return true
	}
	if t == "" || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := range len(t) {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parseFilter parses a granular scope's query: one or more plain param=value pairs.
func parseFilter(q string) (url.Values, error) {
	if q == "" {
		return nil, fmt.Errorf("empty query")
	}
	f := url.Values{}
	for _, pair := range strings.Split(q, "&") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("query item %q is not param=value", pair)
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("query item %q: %w", pair, err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("query item %q: %w", pair, err)
		}
		if strings.HasPrefix(name, "_") || strings.ContainsAny(name, ":.") {
			return nil, fmt.Errorf("query parameter %q: only plain search parameters (no modifiers, chains or _parameters) restrict a scope", name)
		}
		f.Add(name, value)
	}
	return f, nil
}

// Access is what a Set allows for some permissions on one resource type. It is always a subset of what
// the scopes grant: for each permission the broadest single form is chosen, in the order unrestricted
// (a user/ or system/ scope without a query) > the patient compartment (a patient/ scope without a
// query) > the scopes with a query.
type Access struct {
	// Missing are the requested permissions that no usable scope grants; the access is refused unless it
	// is zero.
	Missing Permission
	// Confined is set when some permission is granted only through a patient/ scope: the request is
	// confined to the compartment of the token's patient.
	Confined bool
	// Filters, when not empty, restrict the access further: a resource is allowed only when, for every
	// element, it matches at least one of the element's alternatives (each alternative matched as a
	// search with all of its parameters). A caller that cannot check this must refuse the request.
	Filters [][]url.Values
	// Scopes are the granted scopes the access rests on.
	Scopes []string
}

// Allowed reports whether every requested permission is granted.
func (a Access) Allowed() bool { return a.Missing == 0 }

// Unrestricted reports whether the access is granted without compartment or filter restriction.
func (a Access) Unrestricted() bool { return a.Missing == 0 && !a.Confined && len(a.Filters) == 0 }

// Access answers what s allows for the permissions p on resource type typ. patientContext tells whether
// the token names a patient (its patient claim): without one, patient/ scopes cannot be confined and
// grant nothing.
func (s Set) Access(p Permission, typ string, patientContext bool) Access {
	var a Access
	p.Each(func(q Permission) {
		var confined, filtered []Resource
		for _, r := range s.Resources {
			if !r.Matches(q, typ) || (r.Context == Patient && !patientContext) {
				continue
			}
			switch {
			case r.Filter != nil:
				filtered = append(filtered, r)
			case r.Context == Patient:
				confined = append(confined, r)
			default:
				a.Scopes = appendNew(a.Scopes, r.Raw)
				return
			}
		}
		switch {
		case len(confined) > 0:
			a.Confined = true
			a.Scopes = appendNew(a.Scopes, confined[0].Raw)
		case len(filtered) > 0:
			alts := make([]url.Values, 0, len(filtered))
			for _, r := range filtered {
				alts = append(alts, r.Filter)
				a.Scopes = appendNew(a.Scopes, r.Raw)
				if r.Context == Patient {
					a.Confined = true
				}
			}
			a.Filters = append(a.Filters, alts)
		default:
			a.Missing |= q
		}
	})
	return a
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Name renders the scope that would grant permissions p on typ in context c ("patient/Observation.rs").
func Name(c Context, typ string, p Permission) string {
	return c.String() + "/" + typ + "." + p.String()
}
