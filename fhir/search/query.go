package search

import "time"

// Query is a parsed search: criteria (all must hold) and result parameters.
type Query struct {
	Type     string
	Criteria []Criterion
	// Result parameters.
	Count      int       // page size; 0 means the caller's default (see CountSet)
	CountSet   bool      // _count was given (it may be 0: only the total is wanted)
	Sort       []SortKey // _sort, in order
	Total      string    // _total: "", none, estimate, accurate
	Summary    string    // _summary: "", true, text, data, count, false
	Elements   []string  // _elements
	Include    []Include // _include
	RevInclude []Include // _revinclude
	Cursor     string    // opaque paging cursor (_cursor)
	// Compartment, when set, restricts the search to one compartment instance (GET Patient/123/CarePlan).
	Compartment *Compartment
	// Ignored lists parameters that were not understood and were skipped (lenient handling); under
	// Prefer: handling=strict they are errors instead.
	Ignored []Ignored
}

// Criterion is one search parameter with its values: it holds when any value matches (comma = OR).
// Repeating a parameter gives several Criteria (AND).
type Criterion struct {
	Param    *Param
	Modifier string // "", exact, contains, text, not, missing, of-type, identifier, below, above, in, not-in, or a resource type (reference :Type)
	Values   []Value
	// Chain, for a chained parameter (patient.family=x, subject:Patient.name=x), is the criterion on the
	// referenced resource type; Modifier then holds the reference's type restriction, if any.
	Chain *Chained
	// Has is a reverse chain (_has:AllergyIntolerance:patient:clinical-status=active); Param is nil then.
	Has *Has
	// OrMissing also matches resources without a value for Param (server-built queries only, e.g. the
	// start/end window of $everything, which keeps undated resources).
	OrMissing bool
}

// Chained is the condition a referenced resource must meet.
type Chained struct {
	Type      string    // the referenced resource type
	Criterion Criterion // evaluated on that type (may itself be chained)
}

// Has is a reverse-chain condition: some resource of Type whose reference parameter Ref points to the
// candidate meets Criterion.
type Has struct {
	Type      string
	Ref       *Param // reference parameter on Type
	Criterion Criterion
}

// Value is one value of a criterion, parsed according to the parameter type.
type Value struct {
	Raw string // as sent (after unescaping \, \| \$)

	// date, number, quantity: the comparison prefix (eq when absent).
	Prefix string
	// date: the range the value's precision denotes, [Low, High) — birthdate=1980 is [1980-01-01, 1981-01-01).
	Low, High time.Time

	// token: System is the part before "|" (HasSystem tells whether "|" was present; "|code" has an empty
	// system), Code the part after. For :of-type, System and TypeCode are the identifier type's coding and
	// Code the identifier value. For :text, Code is the text.
	System    string
	HasSystem bool
	Code      string
	// TypeCode is the identifier type code of an :of-type value (System is then the type's system).
	TypeCode string

	// string, uri: the text. reference: a local reference "Type/id" (Type may be empty for a bare id), an
	// absolute URL, or for :identifier a token in System/Code.
	Text string
	// reference: the parts of a local reference.
	RefType, RefID string

	// composite: one value per component, parsed in the component's syntax (Param.Components).
	Parts []Value
	// near: the point and the distance in metres (near.go).
	Lat, Lon, Meters float64

	// missing: true or false for :missing.
	Missing bool
}

// SortKey is one _sort key.
type SortKey struct {
	Param      *Param
	Descending bool
}

// Include is one _include or _revinclude directive: Source:Param[:Target], with :iterate.
type Include struct {
	Source   string // resource type holding the reference ("*" for _include=*)
	Param    *Param // nil for "*"
	Target   string // optional target type
	Iterate  bool
	Wildcard bool
}

// Ignored is a parameter the parser skipped, with the reason.
type Ignored struct {
	Name   string
	Reason string
}

// ChainTypes lists the types a criterion's chains and _has go through (a chain without a type: every target
// of its parameter).
func (c Criterion) ChainTypes() []string {
	var out []string
	if c.Chain != nil {
		if c.Chain.Type != "" {
			out = append(out, c.Chain.Type)
		} else if c.Param != nil {
			out = append(out, c.Param.Target...)
		}
		out = append(out, c.Chain.Criterion.ChainTypes()...)
	}
	if c.Has != nil {
		out = append(append(out, c.Has.Type), c.Has.Criterion.ChainTypes()...)
	}
	return out
}
