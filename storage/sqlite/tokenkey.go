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
// Patient's identifiers and telecoms were about a fifth of the pages a create wrote. This store keeps one
// key per such coding instead, its codeKey "c:code␀S", and one systemKey "m:S" per system of the field's
// values, where S is the system interned as a number (the table systems, names.systemID; base 36): a
// system URI is often longer than the code, and was written in every s: key twice (table and index).
//
//   - a search of the code alone reads the range of keys that start "c:code␀";
//   - system|code looks the whole codeKey up;
//   - "system|" looks up "m:S" (with "y:system", a coding with a system and no code, which keeps its key). A
//     system's m: keys differ only by resource, and new resources have higher rids, so a create appends its
//     m: keys to the ends of a few ranges that every create of the period writes to.
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

// codeKey is the stored key of a coding with a system (interned as sid) and a code.
func codeKey(code string, sid int64) string {
	return codePrefix + code + keySep + strconv.FormatInt(sid, 36)
}

// systemKey is the stored key of a field whose values include a coding of the system interned as sid.
func systemKey(sid int64) string { return systemPrefix + strconv.FormatInt(sid, 36) }

// systemOfKey splits the public key "s:system|code".
func systemOfKey(k string) (sys, code string, ok bool) {
	rest, ok := strings.CutPrefix(k, "s:")
	if !ok {
		return "", "", false
	}
	sys, code, ok = strings.Cut(rest, "|")
	return sys, code, ok && code != ""
}

// storedTokenKeys returns the stored keys of a token field's public keys, sorted and unique; intern gives
// a system's number (interning it if new).
func storedTokenKeys(public []string, intern func(system string) (int64, error)) ([]string, error) {
	out := make([]string, 0, len(public))
	var codes []string
	var sids []int64
	for _, k := range public {
		if sys, code, ok := systemOfKey(k); ok {
			sid, err := intern(sys)
			if err != nil {
				return nil, err
			}
			out = append(out, codeKey(code, sid))
			codes, sids = append(codes, code), append(sids, sid)
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
	for _, sid := range sids {
		out = append(out, systemKey(sid))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// publicTokenKeys calls fn with the public keys (search.TokenKeys) a stored key of a token field stands
// for: a codeKey's "c:code" and "s:system|code", none for a systemKey, any other key itself; system gives
// the URI of an interned system.
func publicTokenKeys(stored string, system func(sid int64) (string, bool), fn func(key string) error) error {
	if strings.HasPrefix(stored, systemPrefix) {
		return nil
	}
	if rest, ok := strings.CutPrefix(stored, codePrefix); ok {
		if code, s, ok := strings.Cut(rest, keySep); ok {
			if err := fn(codePrefix + code); err != nil {
				return err
			}
			sid, err := strconv.ParseInt(s, 36, 64)
			uri, known := system(sid)
			if err != nil || !known {
				return fmt.Errorf("sqlite: token key %q names no known system", stored)
			}
			return fn("s:" + uri + "|" + code)
		}
	}
	return fn(stored)
}

// storedTokenMatch returns what a token field's stored keys must equal, or start with, to match m
// (search.TokenMatches): the public forms themselves, which files of version 7 and earlier hold, and
// their stored forms; system gives the number of an interned system (none: no stored key names it).
func storedTokenMatch(m search.TokenMatch, system func(uri string) (int64, bool)) search.TokenMatch {
	out := search.TokenMatch{Keys: slices.Clone(m.Keys), Prefixes: slices.Clone(m.Prefixes)}
	for _, k := range m.Keys {
		if sys, code, ok := systemOfKey(k); ok {
			if sid, ok := system(sys); ok {
				out.Keys = append(out.Keys, codeKey(code, sid))
			}
		} else if code, ok := strings.CutPrefix(k, codePrefix); ok {
			out.Prefixes = append(out.Prefixes, codePrefix+code+keySep)
		} else if sys, ok := strings.CutPrefix(k, "y:"); ok {
			if sid, ok := system(sys); ok {
				out.Keys = append(out.Keys, systemKey(sid))
			}
		}
	}
	return out
}
