package validate

import (
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The FHIR schema gives most primitive types a pattern, and the schema validator runs it on every value:
// the pattern of string on every string (a narrative's whole text too), those of code, uri, id, date and
// dateTime on the elements of those types. Go's regexp engine was ~15 % of validation. compilePattern
// answers the most frequent of them with a matcher written for that one expression — accepting exactly
// the strings the expression matches (TestFastPatternsMatchRegexp compares them on every string of
// testdata/ and fhir/synth's output and on generated strings) — and compiles every other with regexp.
// Go's \s is [\t\n\f\r ] and \S any other character (a byte that is not UTF-8 is read as U+FFFD, which
// is not a space); a pattern's $ matches only at the end of the text.
func compilePattern(expr string) (jsonschema.Regexp, error) {
	if match, ok := fastPatterns[expr]; ok {
		return fastPattern{expr: expr, match: match}, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	return re, nil
}

// fastPattern is a pattern answered by a matcher of its own.
type fastPattern struct {
	expr  string
	match func(string) bool
}

func (p fastPattern) MatchString(s string) bool { return p.match(s) }

func (p fastPattern) String() string { return p.expr }

// fastPatterns are the FHIR schema's patterns (fhir.schema.json, by their exact text) that have a matcher.
var fastPatterns = map[string]func(string) bool{
	// string, markdown: at least one character, none of them a form feed.
	`^[ \r\n\t\S]+$`: func(s string) bool { return len(s) > 0 && !hasByte(s, '\f') },
	// uri, url, canonical: no space.
	`^\S*$`: func(s string) bool { return !hasSpace(s) },
	// code: words of non-space characters separated by single spaces.
	`^[^\s]+(\s[^\s]+)*$`: isCode,
	// id (isID, rules.go).
	`^[A-Za-z0-9\-\.]{1,64}$`: isID,
	// dateTime.
	`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`: isDateTime,
	// date.
	`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`: isDate,
	// instant.
	`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`: isInstant,
	// time.
	`^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$`: func(s string) bool {
		rest, ok := clock(s)
		return ok && rest == ""
	},
}

func hasByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// isSpace reports whether b is one of Go regexp's \s characters.
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\f' || b == '\r' }

func hasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return true
		}
	}
	return false
}

func isCode(s string) bool {
	if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// between reports whether s[i] is within lo..hi (s long enough).
func between(s string, i int, lo, hi byte) bool { return i < len(s) && s[i] >= lo && s[i] <= hi }

// year reads four digits other than 0000.
func year(s string) (string, bool) {
	if len(s) < 4 || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) || s[:4] == "0000" {
		return "", false
	}
	return s[4:], true
}

// month reads 01 to 12.
func month(s string) (string, bool) {
	if between(s, 0, '0', '0') && between(s, 1, '1', '9') || between(s, 0, '1', '1') && between(s, 1, '0', '2') {
		return s[2:], true
	}
	return "", false
}

// day reads 01 to 31.
func day(s string) (string, bool) {
	if between(s, 0, '0', '0') && between(s, 1, '1', '9') || between(s, 0, '1', '2') && between(s, 1, '0', '9') ||
		between(s, 0, '3', '3') && between(s, 1, '0', '1') {
		return s[2:], true
	}
	return "", false
}

// clock reads hh:mm:ss with an optional fraction: hours 00 to 23, minutes 00 to 59, seconds 00 to 60.
func clock(s string) (string, bool) {
	if !(between(s, 0, '0', '1') && between(s, 1, '0', '9') || between(s, 0, '2', '2') && between(s, 1, '0', '3')) ||
		!between(s, 2, ':', ':') || !between(s, 3, '0', '5') || !between(s, 4, '0', '9') || !between(s, 5, ':', ':') ||
		!(between(s, 6, '0', '5') && between(s, 7, '0', '9') || between(s, 6, '6', '6') && between(s, 7, '0', '0')) {
		return "", false
	}
	s = s[8:]
	if s != "" && s[0] == '.' {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 1 {
			return "", false // a '.' without digits
		}
		s = s[n:]
	}
	return s, true
}

// isZone reports whether s is exactly a time zone: Z, or ±hh:mm from -14:00 to +14:00 (hours 00 to 13
// with any minutes, or 14:00).
func isZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return false
	}
	if s[1:] == "14:00" {
		return true
	}
	return (between(s, 1, '0', '0') && between(s, 2, '0', '9') || between(s, 1, '1', '1') && between(s, 2, '0', '3')) &&
		between(s, 4, '0', '5') && between(s, 5, '0', '9')
}

// isDate: YYYY, YYYY-MM or YYYY-MM-DD.
func isDate(s string) bool {
	s, ok := year(s)
	if !ok {
		return false
	}
	if s == "" {
		return true
	}
	if s[0] != '-' {
		return false
	}
	if s, ok = month(s[1:]); !ok {
		return false
	}
	if s == "" {
		return true
	}
	if s[0] != '-' {
		return false
	}
	s, ok = day(s[1:])
	return ok && s == ""
}

// isDateTime: a date, or YYYY-MM-DDThh:mm:ss[.fff]zone.
func isDateTime(s string) bool {
	if i := indexByte(s, 'T'); i >= 0 {
		return i == 10 && isDate(s[:10]) && timeAndZone(s[11:])
	}
	return isDate(s)
}

// isInstant: YYYY-MM-DDThh:mm:ss[.fff]zone.
func isInstant(s string) bool {
	return len(s) > 10 && s[10] == 'T' && isDate(s[:10]) && timeAndZone(s[11:])
}

func timeAndZone(s string) bool {
	rest, ok := clock(s)
	return ok && isZone(rest)
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}
