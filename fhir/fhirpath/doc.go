// Package fhirpath evaluates the subset of FHIRPath (http://hl7.org/fhirpath/N1) that FHIR R4
// SearchParameter expressions use, against resources held as decoded JSON, typed with the element model of
// package model. careflow uses it to extract search index values at write time.
//
//	e, err := fhirpath.Compile("Patient.telecom.where(system='email')")
//	nodes, err := e.Evaluate(m, patient) // []Node{{Value: map[…], Type: "ContactPoint", Path: "Patient.telecom[1]"}}
//
// Compile once (an *Expression is immutable and safe for concurrent use), optionally Check it against the
// model once, then Evaluate it per resource.
//
// # Grammar
//
// Supported, with FHIRPath precedence (loosest first):
//
//	expr      = expr ("implies") expr | expr ("or" | "xor") expr | expr "and" expr
//	          | expr ("=" | "!=") expr | expr "|" expr | expr ("is" | "as") typeSpec
//	          | ["-" | "+"] number | term { "." invocation | "[" expr "]" }
//	term      = literal | "$this" | "%resource" | "%rootResource" | "%context" | "%ucum" | "%sct" | "%loinc"
//	          | "(" expr ")" | TypeName | invocation
//	invocation = identifier | `delimited identifier` | function "(" [args] ")"
//	literal   = 'string' (escapes \' \" \` \\ \/ \f \n \r \t \uXXXX) | 123 | 1.5 | true | false | {}
//	typeSpec  = Name | FHIR.Name | System.Name
//
// Comments (// and /* */) are allowed. A capitalised identifier at the start of a path is a type name: it
// keeps the input items of that type, so "CarePlan.subject" is empty on a Patient and "Resource.id" or
// "DomainResource.text" apply to every resource (with the abstract hierarchy: Resource ⊃ DomainResource ⊃
// the resources with narrative).
//
// Functions: empty(), exists([criteria]), all(criteria), where(criteria), select(projection), first(),
// last(), tail(), count(), not(), hasValue(), resolve(), extension(url), ofType(T), as(T), is(T).
//
// Everything else is rejected by Compile with a *SyntaxError giving line and column: other functions,
// the operators < > <= >= ~ !~ in contains + - * / div mod &, date/time and quantity literals, $index,
// $total and other environment variables.
//
// # Semantics
//
// Navigation flattens arrays and skips JSON nulls. A primitive that only has extensions ("_birthDate"
// without "birthDate") yields no item; the id and extensions of a primitive that has a value are reachable
// (Patient.birthDate.extension('…')). Navigating to a choice element's base name (value, deceased,
// effective, onset…) yields whichever alternatives are present, typed by the alternative (valueQuantity →
// "Quantity"); the JSON names (valueQuantity) are accepted as well. Contained resources (and other
// elements of type Resource) are typed by their resourceType. Navigation to an element that the type does
// not define is empty, as FHIRPath specifies; Check reports it.
//
// Types: FHIR types are those of the model plus Resource, DomainResource, BackboneElement, SimpleQuantity
// and MoneyQuantity; System types are Any, Boolean, String, Integer, Decimal, Date, DateTime, Time and
// Quantity. An unqualified name is a FHIR type if the model knows it, else a System type (Quantity is
// FHIR.Quantity, String is System.String). `is`, `as` and ofType match specialisations, following the FHIR
// specification's type hierarchy: code, id and markdown are strings; url, canonical, oid and uuid are
// uris; positiveInt and unsignedInt are integers; Age, Count, Distance, Duration, SimpleQuantity and
// MoneyQuantity are Quantities; every resource is a Resource and those with narrative DomainResources;
// backbone elements are BackboneElements; all data types are Elements. So `Patient.gender is string` is
// true. FHIR and System types are distinct, as FHIRPath's model section says: `Patient.gender is
// System.String` is false while `'x' is String` is true. `is` needs a single item (empty gives empty, more
// is an error); `as` filters like ofType, because R4 search parameters apply it to collections. An unknown
// type name is an evaluation error when reached (Check finds it without data).
//
// resolve() fetches nothing: "#id" yields the contained resource (with its value), "Type/id",
// "Type/id/_history/v" and absolute URLs ending so yield a node of that resource type with a nil Value;
// other references (urn:uuid:…) take their type from Reference.type when present and are otherwise
// unresolvable (no item, so `resolve() is Patient` is false in where()).
//
// Equality (=, !=): empty if either side is empty; collections are equal when they have the same size and
// their items are pairwise equal in order. Strings compare by exact text whatever their FHIR type (code,
// uri, date, dateTime…, and string literals against any of them); numbers numerically (1 = 1.0); booleans;
// complex values by deep JSON equality; values of different kinds are unequal (so a deceasedDateTime !=
// false is true). Dates and times are compared as text, not as instants: different precisions or time
// zones of the same instant are unequal instead of empty/equal.
//
// Booleans follow FHIRPath's three-valued logic and singleton evaluation: an empty collection is unknown,
// one boolean is its value, one other item is true, more items are an error. where(), exists(criteria)
// and all() treat an empty criterion as false.
//
// Union (|) keeps order and removes duplicates: items with the same location (Path) and equal computed
// values. Equal values at different locations are kept (FHIRPath would merge them); callers that index
// values deduplicate anyway and keep the locations for debugging.
//
// extension(url) evaluates its argument against the enclosing $this (a literal in practice) and returns
// the matching extensions of each input item.
package fhirpath
