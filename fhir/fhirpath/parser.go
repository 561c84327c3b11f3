package fhirpath

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// parser is a recursive-descent parser over the token list of one expression. Operator precedence follows
// the FHIRPath grammar (lowest first): implies; or xor; and; in contains; = ~ != !~; < > <= >=; |; is as;
// + - &; * / div mod; unary + -; postfix . and [].
type parser struct {
	src  string
	toks []token
	pos  int
	// types collects every type specifier of the expression, so Check can validate them against a model.
	types []typeSpec
}

// Precedence levels of the binary operators.
const (
	precImplies = iota + 1
	precOr
	precAnd
	precMembership
	precEquality
	precInequality
	precUnion
	precType
	precAdditive
	precMultiplicative
)

// binaryPrec returns the precedence of t as a binary operator, or 0 if it is not one.
func binaryPrec(t token) int {
	switch t.kind {
	case tokOp:
		switch t.text {
		case "=", "!=", "~", "!~":
			return precEquality
		case "<", ">", "<=", ">=":
			return precInequality
		case "|":
			return precUnion
		case "+", "-", "&":
			return precAdditive
		case "*", "/":
			return precMultiplicative
		}
	case tokIdent:
		switch t.text {
		case "implies":
			return precImplies
		case "or", "xor":
			return precOr
		case "and":
			return precAnd
		case "in", "contains":
			return precMembership
		case "is", "as":
			return precType
		case "div", "mod":
			return precMultiplicative
		}
	}
	return 0
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) isOp(text string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == text
}

func (p *parser) expectOp(text, context string) error {
	t := p.peek()
	if t.kind != tokOp || t.text != text {
		return p.errorf(t, "expected '%s' %s, found %s", text, context, t)
	}
	p.next()
	return nil
}

func (p *parser) errorf(t token, format string, args ...any) *SyntaxError {
	return syntaxErrorf(p.src, t.pos, format, args...)
}

// text returns the source text from byte offset start to the end of the last consumed token.
func (p *parser) text(start int) string {
	if p.pos == 0 {
		return ""
	}
	return p.src[start:p.toks[p.pos-1].end]
}

// parseExpr parses a binary expression whose operators bind at least as tightly as minPrec.
func (p *parser) parseExpr(minPrec int) (expr, error) {
	start := p.peek().pos
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		opTok := p.peek()
		prec := binaryPrec(opTok)
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		op := opTok.text
		switch op {
		case "is", "as":
			p.next()
			spec, err := p.parseTypeSpec()
			if err != nil {
				return nil, err
			}
			left = &typeExpr{op: op, operand: left, spec: spec, text: p.text(start)}
			continue
		case "=", "!=", "|", "and", "or", "xor", "implies":
		default:
			return nil, p.errorf(opTok, "operator '%s' is not supported", op)
		}
		p.next()
		// All binary operators are left-associative: the right operand binds one level tighter.
		right, err := p.parseExpr(prec + 1)
		if err != nil {
			return nil, err
		}
		if op == "|" {
			// Chains of unions (the official expressions have up to 32 parts) are evaluated in one pass.
			if u, ok := left.(*unionExpr); ok {
				u.parts = append(u.parts, right)
			} else {
				left = &unionExpr{parts: []expr{left, right}}
			}
		} else {
			left = &binaryExpr{op: op, left: left, right: right, text: p.text(start)}
		}
	}
}

// parseUnary parses an optionally signed postfix expression. Only a '-' directly before a number literal
// is supported (a negative literal); other polarity expressions need arithmetic, which is not supported.
func (p *parser) parseUnary() (expr, error) {
	t := p.peek()
	if t.kind == tokOp && (t.text == "-" || t.text == "+") {
		if n := p.peekAt(1); n.kind == tokNumber {
			p.next()
			p.next()
			text := n.text
			if t.text == "-" {
				text = "-" + text
			}
			return p.postfix(numberLiteral(text))
		}
		return nil, p.errorf(t, "unary '%s' is only supported before a number literal", t.text)
	}
	term, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	return p.postfix(term)
}

// postfix parses the `.invocation` and `[index]` steps following a term.
func (p *parser) postfix(term expr) (expr, error) {
	var base expr = term
	var steps []step
	if pe, ok := term.(*pathExpr); ok {
		base, steps = pe.base, pe.steps
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			s, err := p.parseInvocation(true)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s)
		case p.isOp("["):
			start := p.next().pos
			idx, err := p.parseExpr(1)
			if err != nil {
				return nil, err
			}
			if err := p.expectOp("]", "to close the indexer"); err != nil {
				return nil, err
			}
			steps = append(steps, &indexStep{index: idx, text: p.text(start)})
		default:
			if len(steps) == 0 && base != nil {
				return base, nil
			}
			return &pathExpr{base: base, steps: steps}, nil
		}
	}
}

// parseInvocation parses a member name or function call. afterDot is false at the start of a term.
func (p *parser) parseInvocation(afterDot bool) (step, error) {
	t := p.next()
	switch t.kind {
	case tokIdent:
		if p.isOp("(") {
			return p.parseCall(t)
		}
		if !afterDot && isKeyword(t.text) {
			return nil, p.errorf(t, "unexpected keyword '%s'", t.text)
		}
		return &memberStep{name: t.text}, nil
	case tokDelimIdent:
		return &memberStep{name: t.text}, nil
	case tokThis, tokEnv:
		return nil, p.errorf(t, "%s cannot follow '.'", t)
	default:
		return nil, p.errorf(t, "expected a name or function call, found %s", t)
	}
}

// parseCall parses the argument list of function name (the current token is '(').
func (p *parser) parseCall(name token) (step, error) {
	fn, ok := lookupFunction(name.text)
	if !ok {
		return nil, p.errorf(name, "unknown or unsupported function '%s'", name.text)
	}
	p.next() // (
	s := &callStep{fn: fn}
	if fn.typeArg {
		spec, err := p.parseTypeSpec()
		if err != nil {
			return nil, err
		}
		s.spec = spec
		if err := p.expectOp(")", "after the type argument of "+fn.name+"()"); err != nil {
			return nil, err
		}
		s.text = p.text(name.pos)
		return s, nil
	}
	if !p.isOp(")") {
		for {
			arg, err := p.parseExpr(1)
			if err != nil {
				return nil, err
			}
			s.args = append(s.args, arg)
			if !p.isOp(",") {
				break
			}
			p.next()
		}
	}
	if err := p.expectOp(")", "to close the arguments of "+fn.name+"()"); err != nil {
		return nil, err
	}
	s.text = p.text(name.pos)
	if n := len(s.args); n < fn.minArgs || n > fn.maxArgs {
		return nil, p.errorf(name, "%s() takes %s, got %d", fn.name, arity(fn.minArgs, fn.maxArgs), n)
	}
	return s, nil
}

func arity(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max && min == 1:
		return "1 argument"
	case min == max:
		return strconv.Itoa(min) + " arguments"
	default:
		return strconv.Itoa(min) + " to " + strconv.Itoa(max) + " arguments"
	}
}

// parseTypeSpec parses a type specifier: Name, FHIR.Name or System.Name.
func (p *parser) parseTypeSpec() (typeSpec, error) {
	t := p.next()
	if t.kind != tokIdent && t.kind != tokDelimIdent {
		return typeSpec{}, p.errorf(t, "expected a type name, found %s", t)
	}
	spec := typeSpec{name: t.text, pos: t.pos}
	if (t.text == "FHIR" || t.text == "System") && p.isOp(".") {
		p.next()
		n := p.next()
		if n.kind != tokIdent && n.kind != tokDelimIdent {
			return typeSpec{}, p.errorf(n, "expected a type name after '%s.', found %s", t.text, n)
		}
		spec.ns, spec.name = t.text, n.text
	}
	if spec.ns == "System" && !isSystemType(spec.name) {
		return typeSpec{}, p.errorf(t, "unknown type System.%s", spec.name)
	}
	if p.isOp(".") {
		return typeSpec{}, p.errorf(p.peek(), "unexpected '.' after type %s: put the type expression in parentheses to navigate its result", spec)
	}
	p.types = append(p.types, spec)
	return spec, nil
}

// parseTerm parses a literal, $this, an environment variable, a parenthesised expression, a type name or
// the first invocation of a path.
func (p *parser) parseTerm() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tokNumber:
		p.next()
		return numberLiteral(t.text), nil
	case tokString:
		p.next()
		return &literalExpr{items: []item{{Node: Node{Value: t.text, Type: typeSystemString}}}}, nil
	case tokDateTime:
		return nil, p.errorf(t, "date/time literals (%s) are not supported", t.text)
	case tokThis:
		if t.text != "this" {
			return nil, p.errorf(t, "$%s is not supported", t.text)
		}
		p.next()
		return &thisExpr{}, nil
	case tokEnv:
		p.next()
		switch t.text {
		case "resource", "rootResource", "context":
			return &resourceExpr{}, nil
		case "ucum":
			return stringLiteral("http://unitsofmeasure.org"), nil
		case "sct":
			return stringLiteral("http://snomed.info/sct"), nil
		case "loinc":
			return stringLiteral("http://loinc.org"), nil
		}
		return nil, p.errorf(t, "unknown or unsupported environment variable %s", t)
	case tokOp:
		switch t.text {
		case "(":
			p.next()
			inner, err := p.parseExpr(1)
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")", "to close the '(' at column "+strconv.Itoa(column(p.src, t.pos))); err != nil {
				return nil, err
			}
			return inner, nil
		case "{":
			p.next()
			if err := p.expectOp("}", "(only the empty collection {} is supported)"); err != nil {
				return nil, err
			}
			return &literalExpr{}, nil
		}
		return nil, p.errorf(t, "unexpected %s", t)
	case tokIdent:
		switch t.text {
		case "true", "false":
			p.next()
			return &literalExpr{items: []item{{Node: Node{Value: t.text == "true", Type: typeSystemBoolean}}}}, nil
		}
		if p.peekAt(1).kind == tokOp && p.peekAt(1).text == "(" {
			s, err := p.parseInvocation(false)
			if err != nil {
				return nil, err
			}
			return &pathExpr{steps: []step{s}}, nil
		}
		if isKeyword(t.text) {
			return nil, p.errorf(t, "unexpected keyword '%s'", t.text)
		}
		if unicode.IsUpper(rune(t.text[0])) {
			spec, err := p.parseTypeSpecNoDot()
			if err != nil {
				return nil, err
			}
			return &typeFilterExpr{spec: spec}, nil
		}
		p.next()
		return &pathExpr{steps: []step{&memberStep{name: t.text}}}, nil
	case tokDelimIdent:
		p.next()
		return &pathExpr{steps: []step{&memberStep{name: t.text}}}, nil
	case tokEOF:
		return nil, p.errorf(t, "unexpected end of expression")
	}
	return nil, p.errorf(t, "unexpected %s", t)
}

// parseTypeSpecNoDot parses the type name at the start of a path, where a following '.' is navigation.
// FHIR.Patient and System.String are recognised as qualified names.
func (p *parser) parseTypeSpecNoDot() (typeSpec, error) {
	t := p.next()
	spec := typeSpec{name: t.text, pos: t.pos}
	if (t.text == "FHIR" || t.text == "System") && p.isOp(".") && p.peekAt(1).kind == tokIdent {
		p.next()
		spec.ns, spec.name = t.text, p.next().text
		if spec.ns == "System" && !isSystemType(spec.name) {
			return typeSpec{}, p.errorf(t, "unknown type System.%s", spec.name)
		}
	}
	p.types = append(p.types, spec)
	return spec, nil
}

// isKeyword reports whether name is a FHIRPath operator keyword or boolean literal.
func isKeyword(name string) bool {
	switch name {
	case "and", "or", "xor", "implies", "is", "as", "in", "contains", "div", "mod", "true", "false":
		return true
	}
	return false
}

func numberLiteral(text string) *literalExpr {
	typ := typeSystemInteger
	if strings.Contains(text, ".") {
		typ = typeSystemDecimal
	}
	return &literalExpr{items: []item{{Node: Node{Value: json.Number(text), Type: typ}}}}
}

func stringLiteral(s string) *literalExpr {
	return &literalExpr{items: []item{{Node: Node{Value: s, Type: typeSystemString}}}}
}
