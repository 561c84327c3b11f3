package validate

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
)

// MaxIssues caps the number of issues one validation reports; a resource with more problems gets the first
// MaxIssues-1 (in expression order) and a final note saying how many were left out.
const MaxIssues = 100

// collectLimit stops collecting long before memory matters, whatever the input.
const collectLimit = 10 * MaxIssues

// issue is a problem found while validating, before it becomes an outcome.Issue.
type issue struct {
	expr string // FHIRPath; empty for malformed JSON
	code string
	msg  string
	// distinct marks schema issues that say something own issues at the same location do not (an unknown
	// or missing element): they give way only to an own issue with the same code.
	distinct bool
}

// collector gathers the issues of one validation. Issues found by the decoder and the element-model walk
// ("own" issues) take precedence over schema errors about the value at the same location, which typically
// describe the same problem less clearly (an empty string also fails the string pattern, "yesterday" fails
// the date pattern).
type collector struct {
	root   string // the resource type that starts every expression
	own    []issue
	schema []issue
	total  int
}

func (c *collector) full() bool { return c.total >= collectLimit }

// addPath records an own issue at a location given as steps below the root resource.
func (c *collector) addPath(path []step, code, msg string) {
	c.add(c.expr(path), code, msg)
}

// add records an own issue at a FHIRPath expression.
func (c *collector) add(expr, code, msg string) {
	if c.full() {
		return
	}
	c.total++
	c.own = append(c.own, issue{expr: expr, code: code, msg: msg})
}

// addSchema records an issue reported by the JSON schema. distinct marks issues about the presence of
// elements rather than their value (see issue.distinct).
func (c *collector) addSchema(expr, code, msg string, distinct bool) {
	if c.full() {
		return
	}
	c.total++
	c.schema = append(c.schema, issue{expr: expr, code: code, msg: msg, distinct: distinct})
}

// expr renders a location as FHIRPath: property names become ".name" (a primitive's "_name" extension
// sibling becomes "name", where FHIRPath finds its id and extensions), array indexes "[n]".
func (c *collector) expr(path []step) string {
	var sb strings.Builder
	sb.Grow(len(c.root) + 16*len(path))
	sb.WriteString(c.root)
	for _, s := range path {
		if s.key == "" {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
			continue
		}
		name := s.key
		if len(name) > 1 && name[0] == '_' {
			name = name[1:]
		}
		sb.WriteByte('.')
		writeIdentifier(&sb, name)
	}
	return sb.String()
}

// exprRaw renders a location whose last property name is kept verbatim (for unknown properties).
func (c *collector) exprRaw(path []step, raw string) string {
	var sb strings.Builder
	sb.WriteString(c.expr(path))
	sb.WriteByte('.')
	writeIdentifier(&sb, raw)
	return sb.String()
}

// writeIdentifier writes a FHIRPath identifier, delimiting it with backticks when it is not a simple one. A
// choice element's name ("deceased[x]") is written as is, the way FHIR names choice elements.
func writeIdentifier(sb *strings.Builder, name string) {
	base := strings.TrimSuffix(name, "[x]")
	simple := base != ""
	for i := 0; i < len(base) && simple; i++ {
		c := base[i]
		simple = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
	}
	if simple {
		sb.WriteString(name)
		return
	}
	sb.WriteByte('`')
	sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), "`", "\\`"))
	sb.WriteByte('`')
}

// result turns the collected issues into the *outcome.Error Validate returns, or nil when there are none.
func (c *collector) result() *outcome.Error {
	if len(c.own)+len(c.schema) == 0 {
		return nil
	}
	covered := make(map[string]bool, len(c.own))
	coveredCode := make(map[[2]string]bool, len(c.own))
	for _, is := range c.own {
		covered[is.expr] = true
		coveredCode[[2]string{is.expr, is.code}] = true
	}
	all := c.own
	seen := map[issue]bool{}
	for _, is := range c.schema {
		if seen[is] || coveredCode[[2]string{is.expr, is.code}] || (covered[is.expr] && !is.distinct) {
			continue
		}
		seen[is] = true
		all = append(all, is)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].expr != all[j].expr {
			return all[i].expr < all[j].expr
		}
		if all[i].msg != all[j].msg {
			return all[i].msg < all[j].msg
		}
		return all[i].code < all[j].code
	})
	// Exact duplicates (the same problem reached twice) are reported once.
	uniq := all[:0]
	for i, is := range all {
		if i > 0 && is == all[i-1] {
			continue
		}
		uniq = append(uniq, is)
	}
	all = uniq
	dropped := 0
	if len(all) > MaxIssues {
		dropped = len(all) - (MaxIssues - 1)
		all = all[:MaxIssues-1]
	}
	out := make([]outcome.Issue, 0, len(all)+1)
	for _, is := range all {
		oi := outcome.Issue{Severity: outcome.SeverityErr, Code: is.code, Diagnostics: is.msg}
		if is.expr != "" {
			oi.Diagnostics = is.expr + ": " + is.msg
			oi.Expression = []string{is.expr}
		}
		out = append(out, oi)
	}
	if dropped > 0 || c.full() {
		more := strconv.Itoa(dropped) + " more issues"
		if c.full() {
			more = "more issues"
		}
		out = append(out, outcome.Issue{
			Severity:    outcome.SeverityErr,
			Code:        outcome.CodeTooCostly,
			Diagnostics: "validation stopped reporting after " + strconv.Itoa(MaxIssues-1) + " issues; " + more + " not shown",
		})
	}
	return &outcome.Error{Status: http.StatusBadRequest, Issues: out}
}
