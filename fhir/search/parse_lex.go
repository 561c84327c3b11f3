package search

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/careflow/careflow/fhir/outcome"
)

// Lexical helpers of Parse: escaping, value syntax and dates.

// validName reports whether a parameter name uses only the characters search parameter names, modifiers,
// chains and _has use: letters, digits, "_", ".", ":", "|" and "-". Anything else ($, [, ], {, }, spaces…)
// makes the name unknown.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '|' || c == '-') {
			return false
		}
	}
	return true
}

// splitValues splits a parameter value on unescaped commas (OR) and drops empty items. The items keep
// their escapes.
func splitValues(raw string) []string {
	var out []string
	for _, s := range splitUnescaped(raw, ',') {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// splitUnescaped splits s on every sep not preceded by an escaping backslash. The parts keep their escapes.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && isEscapable(s[i+1]) {
				i++
			}
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func isEscapable(c byte) bool { return c == ',' || c == '|' || c == '$' || c == '\\' }

// unescape removes the search escapes \, \| \$ and \\. Any other backslash is kept as is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && isEscapable(s[i+1]) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitPrefix separates a comparison prefix (eq ne gt lt ge le sa eb ap) from a date, number or quantity
// value; the prefix is "eq" when absent.
func splitPrefix(s string) (prefix, rest string) {
	if len(s) >= 2 {
		switch s[:2] {
		case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap":
			return s[:2], s[2:]
		}
	}
	return "eq", s
}

// searchDate reads a search date value (without its prefix) by ParseDateTime's rule in the server's time
// zone, UTC, returning the range in UTC. Two things only a URL needs: a space where the timezone's "+"
// belongs (an unencoded "+" in a URL decodes as a space) is read as "+", and at most nine fractional
// digits are accepted (a query names nanoseconds at the finest).
func searchDate(s string) (low, high time.Time, ok bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i-1 > 9 {
			return low, high, false
		}
	}
	return ParseDateTime(strings.Replace(s, " ", "+", 1), time.UTC)
}

// isDecimal reports whether s is a decimal number: -?digits(.digits)?([eE][+-]?digits)?.
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, rest := leadingDigits(s)
	if intPart == 0 {
		return false
	}
	if strings.HasPrefix(rest, ".") {
		n, r := leadingDigits(rest[1:])
		if n == 0 {
			return false
		}
		rest = r
	}
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		rest = rest[1:]
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			rest = rest[1:]
		}
		n, r := leadingDigits(rest)
		if n == 0 {
			return false
		}
		rest = r
	}
	return rest == ""
}

func leadingDigits(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i, s[i:]
}

func allDigits(s string) bool {
	n, rest := leadingDigits(s)
	return n > 0 && rest == ""
}

// isID reports whether s is a FHIR resource id: 1 to 64 of [A-Za-z0-9-.].
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isIdent reports whether s matches [A-Za-z][A-Za-z0-9]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isAbsolute reports whether a reference value is an absolute URL or URN rather than a local reference.
func isAbsolute(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "urn:")
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// clip quotes client text for a message, shortened to at most 64 bytes.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// checkText rejects parameter names and values that are not UTF-8 or hold a control character (C0 but tab,
// CR and LF; DEL; C1).
func checkText(params url.Values) *outcome.Error {
	for name, raws := range params {
		if badText(name) {
			return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name,
				"search parameter %s: the name is not UTF-8 or holds a control character", clip(name))
		}
		for _, raw := range raws {
			if badText(raw) {
				return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, name,
					"search parameter %s: the value %s is not UTF-8 or holds a control character", clip(name), clip(raw))
			}
		}
	}
	return nil
}

// badText reports whether s is not UTF-8 or holds a control character other than tab, CR and LF.
func badText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return !utf8.ValidString(s[i:]) || strings.ContainsFunc(s[i:], isControl)
		}
		if isControl(rune(c)) {
			return true
		}
	}
	return false
}

func isControl(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\r' && r != '\n' }
