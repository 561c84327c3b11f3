package sqlite

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/search"
)

// Token keys. The index gives a coding (or identifier, or contact point) that has a system and a code two
// keys, search.TokenKeys "c:code" (a search of the code alone) and "s:system|code". Both depend on the
// value, so an identifier's or a phone number's two keys each land on a page of ixk_fv of their own: a
// Patient's identifiers and telecoms were about a fifth of the pages a create wrote. This store keeps
// every coding as one codeKey "c:code␀S" instead, where S is its system interned as a number (the table
// systems, names.systemID; base 36) and empty without a system ("n:code"), and the code is empty for a
// system without a code ("y:system"), plus one systemKey "m:S" per system of the field's values. A system
// URI is often longer than the code, and the s: keys wrote it twice (table and index). Each token search
// value is then one index lookup:
//
//   - a code alone (with any system or none): the range of keys that start "c:code␀";
//   - "|code": the key "c:code␀"; "system|code": the key "c:code␀S";
//   - "system|": the key "m:S". A system's m: keys differ only by resource, and new resources have higher
//     rids, so a create appends its m: keys to the ends of a few ranges every create of the period writes.
//
// Identifier types ("t:…") keep their key. FHIR strings cannot carry a NUL (fhir/validate refuses
// U+0000), so a codeKey is unambiguous. The system and code of "s:system|code" are split at the "|"
// before a code the value also has a "c:code" key for (a system may hold a "|"; search.TokenMatches
// writes the keys of a value with both, and search values are matched by their parts, not re-parsed).
//
// Fields stored this way are marked in fields.tok (names.isToken), so that SearchIndex and Distinct give
// their callers the keys search.Registry.Index wrote (publicTokenKeys). The fields of a file upgraded from
// version 7 or earlier are marked fields.old: their resources keep the keys as the index gave them until
// they are next written, so searches on those fields also match those (storedTokenMatch).

const (
	codePrefix   = "c:"
	systemPrefix = "m:"
)

// codeKey is the stored key of a coding with a code (empty: none) and a system interned as sid (0: none).
func codeKey(code string, sid int64) string {
	if sid == 0 {
		return codePrefix + code + keySep
	}
	return codePrefix + code + keySep + strconv.FormatInt(sid, 36)
}

// systemKey is the stored key of a field whose values include a coding of the system interned as sid.
func systemKey(sid int64) string { return systemPrefix + strconv.FormatInt(sid, 36) }

// storedTokenKeys returns the stored keys of a token field's public keys (search.TokenKeys), sorted and
// unique; intern gives a system's number, interning it if new.
func storedTokenKeys(public []string, intern func(system string) (int64, error)) ([]string, error) {
	var codes []string // the codes of "c:code" keys: codings with a system and a code
	for _, k := range public {
		if code, ok := strings.CutPrefix(k, codePrefix); ok {
			codes = append(codes, code)
		}
	}
	out := make([]string, 0, len(public))
	covered := make([]bool, len(codes))
	for _, k := range public {
		switch {
		case strings.HasPrefix(k, codePrefix):
			// With its system, below.
		case strings.HasPrefix(k, "s:"):
			sys, code := splitSystemCode(k[2:], codes)
			sid, err := intern(sys)
			if err != nil {
				return nil, err
			}
			out = append(out, codeKey(code, sid), systemKey(sid))
			if i := slices.Index(codes, code); i >= 0 {
				covered[i] = true
			}
		case strings.HasPrefix(k, "y:"):
			sid, err := intern(k[2:])
			if err != nil {
				return nil, err
			}
			out = append(out, codeKey("", sid), systemKey(sid))
		case strings.HasPrefix(k, "n:"):
			out = append(out, codeKey(k[2:], 0))
		default:
			out = append(out, k)
		}
	}
	for i, code := range codes {
		if !covered[i] {
			// Only when two codings' s: keys coincide (code "a|b" in system "x" and code "b" in system
			// "x|a" are both "s:x|a|b"): the second is kept as "c:b", which only a code search on a field
			// of a file upgraded from version 7 finds.
			out = append(out, codePrefix+code)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// splitSystemCode splits "system|code" at the "|" before one of codes, or else at the first "|".
func splitSystemCode(rest string, codes []string) (sys, code string) {
	for i := 0; i < len(rest); i++ {
		if rest[i] == '|' && slices.Contains(codes, rest[i+1:]) {
			return rest[:i], rest[i+1:]
		}
	}
	sys, code, _ = strings.Cut(rest, "|")
	return sys, code
}

// publicTokenKeys calls fn with the public keys (search.TokenKeys) a stored key of a token field stands
// for: a codeKey's "c:code" and "s:system|code", or "n:code", or "y:system"; none for a systemKey; any
// other key itself. system gives the URI of an interned system.
func publicTokenKeys(stored string, system func(sid int64) (string, bool), fn func(key string) error) error {
	if strings.HasPrefix(stored, systemPrefix) {
		return nil
	}
	rest, ok := strings.CutPrefix(stored, codePrefix)
	if !ok {
		return fn(stored)
	}
	code, s, ok := strings.Cut(rest, keySep)
	if !ok {
		return fn(stored)
	}
	if s == "" {
		return fn("n:" + code)
	}
	sid, err := strconv.ParseInt(s, 36, 64)
	uri, known := system(sid)
	if err != nil || !known {
		return fmt.Errorf("sqlite: token key %q names no known system", stored)
	}
	if code == "" {
		return fn("y:" + uri)
	}
	if err := fn(codePrefix + code); err != nil {
		return err
	}
	return fn("s:" + uri + "|" + code)
}

// storedTokenMatch returns what a token field's stored keys must equal, or start with, to match the
// search values (as search.TokenMatches defines it for the public keys); when legacy, the public keys a
// file of version 7 or earlier holds too. system gives the number of an interned system (none: no stored
// key names it).
func storedTokenMatch(values []search.Value, system func(uri string) (int64, bool), legacy bool) search.TokenMatch {
	var out search.TokenMatch
	if legacy {
		out = search.TokenMatches(values)
	}
	for _, v := range values {
		switch {
		case !v.HasSystem:
			out.Prefixes = append(out.Prefixes, codeKey(v.Code, 0))
		case v.System == "":
			out.Keys = append(out.Keys, codeKey(v.Code, 0))
		default:
			sid, ok := system(v.System)
			switch {
			case !ok:
			case v.Code == "":
				out.Keys = append(out.Keys, systemKey(sid))
			default:
				out.Keys = append(out.Keys, codeKey(v.Code, sid))
			}
		}
	}
	return out
}
