package search

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// parseDate parses a search date — YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.f…]][Z|±hh:mm] — and
// returns the range [low, high) its precision denotes, in UTC. A dateTime without a timezone is UTC; a
// space in place of the timezone's "+" (an unencoded "+" in a URL) is accepted.
func parseDate(s string) (low, high time.Time, ok bool) {
	num := func(i, w int) (int, bool) {
		if i+w > len(s) {
			return 0, false
		}
		n := 0
		for _, c := range []byte(s[i : i+w]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok := num(0, 4)
	if !ok || y < 1 {
		return low, high, false
	}
	if len(s) == 4 {
		low = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return low, low.AddDate(1, 0, 0), true
	}
	m, ok := num(5, 2)
	if s[4] != '-' || !ok || m < 1 || m > 12 {
		return low, high, false
	}
	if len(s) == 7 {
		low = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		return low, low.AddDate(0, 1, 0), true
	}
	d, ok := num(8, 2)
	if len(s) < 10 || s[7] != '-' || !ok || d < 1 || d > daysIn(y, time.Month(m)) {
		return low, high, false
	}
	if len(s) == 10 {
		low = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		return low, low.AddDate(0, 0, 1), true
	}
	hh, ok1 := num(11, 2)
	mm, ok2 := num(14, 2)
	if s[10] != 'T' || len(s) < 16 || s[13] != ':' || !ok1 || !ok2 || hh > 23 || mm > 59 {
		return low, high, false
	}
	i, prec, sec, nsec := 16, time.Minute, 0, 0
	if i < len(s) && s[i] == ':' {
		if sec, ok = num(i+1, 2); !ok || sec > 59 {
			return low, high, false
		}
		i, prec = i+3, time.Second
		if i < len(s) && s[i] == '.' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			digits := j - i - 1
			if digits == 0 || digits > 9 {
				return low, high, false
			}
			frac, _ := strconv.Atoi(s[i+1 : j])
			for k := digits; k < 9; k++ {
				frac *= 10
			}
			// The precision is one unit of the last digit: .5 → 100ms, .123 → 1ms.
			nsec, i, prec = frac, j, pow10Duration(9-digits)
		}
	}
	offset := 0
	if i < len(s) {
		switch s[i] {
		case 'Z':
			i++
		case '+', '-', ' ':
			oh, ok1 := num(i+1, 2)
			om, ok2 := num(i+4, 2)
			if !ok1 || !ok2 || s[i+3] != ':' || oh > 14 || om > 59 || oh == 14 && om != 0 {
				return low, high, false
			}
			offset = oh*3600 + om*60
			if s[i] == '-' {
				offset = -offset
			}
			i += 6
		default:
			return low, high, false
		}
	}
	if i != len(s) {
		return low, high, false
	}
	low = time.Date(y, time.Month(m), d, hh, mm, sec, nsec, time.FixedZone("", offset)).UTC()
	return low, low.Add(prec), true
}

// pow10Duration returns 10^n nanoseconds.
func pow10Duration(n int) time.Duration {
	d := time.Duration(1)
	for range n {
		d *= 10
	}
	return d
}

// daysIn returns the number of days of a month, leap years included.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
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
