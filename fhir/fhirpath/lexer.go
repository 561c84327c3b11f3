package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokenKind classifies a lexical token.
type tokenKind int

const (
	tokEOF        tokenKind = iota
	tokIdent                // plain identifier, including keywords such as and, is, true
	tokDelimIdent           // `delimited identifier`
	tokString               // 'string literal' (text holds the unescaped value)
	tokNumber               // 123 or 1.5
	tokDateTime             // @2020-01-01… (recognised only to be rejected with a clear message)
	tokThis                 // $this, $index, $total (text holds the name without $)
	tokEnv                  // %name, %`name`, %'name' (text holds the name without %)
	tokOp                   // punctuation and symbolic operators: . , ( ) [ ] { } | = != ~ !~ < > <= >= + - * / &
)

// token is one lexical token; pos is its byte offset in the source.
type token struct {
	kind tokenKind
	text string
	pos  int // byte offset of the first character
	end  int // byte offset after the last character
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return strconv.Quote(t.text)
	case tokDelimIdent:
		return "`" + t.text + "`"
	case tokThis:
		return "$" + t.text
	case tokEnv:
		return "%" + t.text
	default:
		return "'" + t.text + "'"
	}
}

// lex splits src into tokens, skipping whitespace and comments. The last token is always tokEOF.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		// Skip whitespace and comments.
		for i < len(src) {
			c := src[i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				i++
				continue
			}
			if strings.HasPrefix(src[i:], "//") {
				end := strings.IndexByte(src[i:], '\n')
				if end < 0 {
					i = len(src)
				} else {
					i += end + 1
				}
				continue
			}
			if strings.HasPrefix(src[i:], "/*") {
				end := strings.Index(src[i+2:], "*/")
				if end < 0 {
					return nil, syntaxErrorf(src, i, "unterminated comment")
				}
				i += 2 + end + 2
				continue
			}
			break
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tokEOF, pos: len(src), end: len(src)})
			return toks, nil
		}
		start := i
		c := src[i]
		switch {
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tokIdent, text: src[start:i], pos: start})
		case c >= '0' && c <= '9':
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			}
			toks = append(toks, token{kind: tokNumber, text: src[start:i], pos: start})
		case c == '\'' || c == '`':
			s, n, err := lexQuoted(src, i)
			if err != nil {
				return nil, err
			}
			kind := tokString
			if c == '`' {
				kind = tokDelimIdent
			}
			toks = append(toks, token{kind: kind, text: s, pos: start})
			i = n
		case c == '$':
			i++
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			if i == start+1 {
				return nil, syntaxErrorf(src, start, "'$' must be followed by a name such as $this")
			}
			toks = append(toks, token{kind: tokThis, text: src[start+1 : i], pos: start})
		case c == '%':
			i++
			switch {
			case i < len(src) && isIdentStart(src[i]):
				for i < len(src) && isIdentPart(src[i]) {
					i++
				}
				toks = append(toks, token{kind: tokEnv, text: src[start+1 : i], pos: start})
			case i < len(src) && (src[i] == '\'' || src[i] == '`'):
				s, n, err := lexQuoted(src, i)
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tokEnv, text: s, pos: start})
				i = n
			default:
				return nil, syntaxErrorf(src, start, "'%%' must be followed by an environment variable name")
			}
		case c == '@':
			i++
			for i < len(src) && (isIdentPart(src[i]) || strings.IndexByte("-:.+TZ", src[i]) >= 0) {
				i++
			}
			toks = append(toks, token{kind: tokDateTime, text: src[start:i], pos: start})
		default:
			op := ""
			for _, cand := range []string{"!=", "!~", "<=", ">=", ".", ",", "(", ")", "[", "]", "{", "}", "|", "=", "~", "<", ">", "+", "-", "*", "/", "&"} {
				if strings.HasPrefix(src[i:], cand) {
					op = cand
					break
				}
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, syntaxErrorf(src, i, "unexpected character %q", r)
			}
			toks = append(toks, token{kind: tokOp, text: op, pos: start})
			i += len(op)
		}
		toks[len(toks)-1].end = i
	}
}

// lexQuoted reads a '…' or `…` literal starting at src[i] and returns its unescaped value and the offset after
// the closing quote. Escapes are those of FHIRPath: \' \" \` \\ \/ \f \n \r \t \uXXXX.
func lexQuoted(src string, i int) (string, int, error) {
	quote := src[i]
	start := i
	i++
	var b strings.Builder
	for i < len(src) {
		c := src[i]
		switch {
		case c == quote:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(src) {
				return "", 0, syntaxErrorf(src, i, "unterminated escape sequence")
			}
			e := src[i+1]
			switch e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if i+6 > len(src) {
					return "", 0, syntaxErrorf(src, i, `invalid \u escape: want 4 hex digits`)
				}
				v, err := strconv.ParseUint(src[i+2:i+6], 16, 16)
				if err != nil {
					return "", 0, syntaxErrorf(src, i, `invalid \u escape %q: want 4 hex digits`, src[i:i+6])
				}
				b.WriteRune(rune(v))
				i += 4
			default:
				return "", 0, syntaxErrorf(src, i, "invalid escape sequence \\%c", e)
			}
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	what := "string literal"
	if quote == '`' {
		what = "delimited identifier"
	}
	return "", 0, syntaxErrorf(src, start, "unterminated %s", what)
}

func isIdentStart(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// SyntaxError reports an expression that cannot be compiled, with the position of the offending text.
type SyntaxError struct {
	Expr   string // the expression as given to Compile
	Offset int    // byte offset of the problem in Expr
	Line   int    // 1-based line of Offset
	Column int    // 1-based column (in bytes) of Offset
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: %s at line %d, column %d of %q", e.Msg, e.Line, e.Column, e.Expr)
}

func syntaxErrorf(src string, offset int, format string, args ...any) *SyntaxError {
	line, col := lineColumn(src, offset)
	return &SyntaxError{Expr: src, Offset: offset, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// lineColumn converts a byte offset of src to a 1-based line and column.
func lineColumn(src string, offset int) (line, col int) {
	line, col = 1, 1
	for i := 0; i < offset && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func column(src string, offset int) int {
	_, col := lineColumn(src, offset)
	return col
}
