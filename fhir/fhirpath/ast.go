package fhirpath

// The syntax tree. Every expression is evaluated against `this`, the collection an expression term starts
// from: the resource at the top level, the current item inside where(), select(), exists() and all().
// A path is a term followed by steps (member navigation, function calls, indexers), each applied to the
// previous step's output.

// expr is a compiled (sub)expression.
type expr interface {
	eval(c *evalCtx, this []item) ([]item, error)
}

// step is one element of a path after its first term: `.name`, `.fn(args)` or `[index]`.
type step interface {
	apply(c *evalCtx, input, this []item) ([]item, error)
}

// literalExpr is a constant collection: a string, number or boolean literal, or {}.
type literalExpr struct {
	items []item
}

// thisExpr is $this.
type thisExpr struct{}

// resourceExpr is %resource, %rootResource or %context: the resource being evaluated.
type resourceExpr struct{}

// typeFilterExpr is a type name at the start of a path (Patient.name, Resource.id): it keeps the items of
// `this` that are of that type, which is how unions over many resource types select the right branch.
type typeFilterExpr struct {
	spec typeSpec
}

// pathExpr is base followed by steps; a nil base means the first step applies to `this` (`name.given`,
// `exists()`).
type pathExpr struct {
	base  expr
	steps []step
}

// unionExpr is a chain of '|' operators: parts[0] | parts[1] | …
type unionExpr struct {
	parts []expr
}

// binaryExpr is one of = != and or xor implies.
type binaryExpr struct {
	op          string
	left, right expr
	text        string
}

// typeExpr is `operand is Type` or `operand as Type`.
type typeExpr struct {
	op      string // "is" or "as"
	operand expr
	spec    typeSpec
	text    string
}

// memberStep navigates to the child elements called name, flattening arrays and choice alternatives.
type memberStep struct {
	name string
}

// callStep invokes a function on its input.
type callStep struct {
	fn   *function
	args []expr
	spec typeSpec // the type argument of is(), as() and ofType()
	text string   // the call as written, for error messages
}

// indexStep is [index].
type indexStep struct {
	index expr
	text  string
}
