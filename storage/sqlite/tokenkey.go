package sqlite

import (
	"slices"
	"strings"

	"github.com/careflow/careflow/fhir/search"
)

// Token keys. The index gives a coding (or identifier, or contact point) that has a system and a code two
// keys, search.TokenKeys "c:code" (a search of the code alone) and "s:system|code". Both depend on the
// value, so an identifier's or a phone number's two keys each land on a page of ixk_fv of their own: a
// Patient's identifiers and telecoms were about a fifth of the pages a create wrote. This store keeps one
// key per such coding instead, its codeKey "c:code␀system", and one systemKey "m:system" per system of
// the field's values:
//
//   - a search of the code alone reads the range of keys that start "c:code␀";
//   - system|code looks the whole codeKey up;
//   - "system|" looks up "m:system" (with "y:system", a coding with a system and no code, which keeps its
//     key). A system's m: keys differ only by resource, and new resources have higher rids, so a create
//     appends its m: keys to the ends of a few ranges that every create of the period writes to.
//
// Other token keys ("n:code" without a system, "y:system", identifier types "t:…") are stored as they
// are. FHIR strings cannot carry a NUL (fhir/validate refuses U+0000), so a codeKey is unambiguous. A
// system is taken to end at the first "|" of "s:system|code", as token search reads "system|code" and
// search.CodingOfKey reads the key; should a "c:code" key have no codeKey for its code (a system holding
// a "|"), it is kept as it is.
//
// Fields stored this way are marked in fields.tok (names.isToken), so that SearchIndex and Distinct give
// their callers the keys search.Registry.Index wrote (publicTokenKeys). Searches also match the keys
// files of version 7 and earlier hold ("c:code", "s:system|code", found by the prefix "s:system|"), which
// stay until their resource is next written: storedTokenMatch.

const (
	codePrefix   = "c:"
	systemPrefix = "m:"
)

// codeKey is the stored key of a coding with a system and a code.
func codeKey(sys, code string) string { return codePrefix + code + keySep + sys }

// systemOfKey splits the public key "s:system|code".
func systemOfKey(k string) (sys, code string, ok bool) {
	rest, ok := strings.CutPrefix(k, "s:")
	if !ok {
		return "", "", false
	}
	sys, code, ok = strings.Cut(rest, "|")
	return sys, code, ok && code != ""
}

// storedTokenKeys returns the stored keys of a token field's public keys, sorted and unique.
func storedTokenKeys(public []string) []string {
	out := make([]string, 0, len(public))
	var codes, systems []string
	for _, k := range public {
		if sys, code, ok := systemOfKey(k); ok {
			out = append(out, codeKey(sys, code))
			codes, systems = append(codes, code), append(systems, sys)
		}
	}
	for _, k := range public {
		if _, _, ok := systemOfKey(k); ok {
			continue
		}
		if code, ok := strings.CutPrefix(k, codePrefix); ok && slices.Contains(codes, code) {
			continue // the codeKey of a coding with this code holds it
		}
		out = append(out, k)
	}
	for _, sys := range systems {
		out = append(out, systemPrefix+sys)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// publicTokenKeys calls fn with the public keys (search.TokenKeys) a stored key of a token field stands
// for: a codeKey's "c:code" and "s:system|code", none for a systemKey, any other key itself.
func publicTokenKeys(stored string, fn func(key string) error) error {
	if strings.HasPrefix(stored, systemPrefix) {
		return nil
	}
	if rest, ok := strings.CutPrefix(stored, codePrefix); ok {
		if code, sys, ok := strings.Cut(rest, keySep); ok {
			if err := fn(codePrefix + code); err != nil {
				return err
			}
			return fn("s:" + sys + "|" + code)
		}
	}
	return fn(stored)
}

// storedTokenMatch returns what a token field's stored keys must equal, or start with, to match m
// (search.TokenMatches): the public forms themselves, which files of version 7 and earlier hold, and
// their stored forms.
func storedTokenMatch(m search.TokenMatch) search.TokenMatch {
	out := search.TokenMatch{Keys: slices.Clone(m.Keys), Prefixes: slices.Clone(m.Prefixes)}
	for _, k := range m.Keys {
		if sys, code, ok := systemOfKey(k); ok {
			out.Keys = append(out.Keys, codeKey(sys, code))
		} else if code, ok := strings.CutPrefix(k, codePrefix); ok {
			out.Prefixes = append(out.Prefixes, codePrefix+code+keySep)
		} else if sys, ok := strings.CutPrefix(k, "y:"); ok {
			out.Keys = append(out.Keys, systemPrefix+sys)
		}
	}
	return out
}
