package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
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
// before a code the field also has a "c:code" key for (the index writes both for such a coding, and a
// system may hold a "|"); search values are matched by their parsed parts, never re-split.
//
// Fields stored this way are marked in fields.tok (names.isToken), so that SearchIndex and Distinct give
// their callers the keys search.Registry.Index wrote (publicTokenKeys). Opening a file of version 7 or
// earlier rewrites its token fields' keys (rewriteTokenKeys, with Options.Reindex to tell which fields are
// token fields); a field it could not tell, or every field when the store has no Reindex, stays marked
// fields.old: its resources keep the keys as the index gave them until they are next written, so searches
// on it also match those (storedTokenMatch).

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

// tokenStep is the version whose upgrade stores token keys as described above (to version 8).
const tokenStep = 7

// rewriteTokenKeys stores the token keys of a file upgraded from version 7 or earlier as new writes store
// them, in the upgrade's transaction, and returns how many fields it rewrote. A field's kind is what
// extract (search.Registry.Index) gives for the current version of one resource that has rows in it: a
// token field's rows are rewritten resource by resource and the field marked tok; any other field holds
// no token keys. Either way it is no longer old, so its searches need not match the index's own forms. A
// field whose kind cannot be told (no current resource has it, or its resource's values lack it) stays
// old.
func rewriteTokenKeys(ctx context.Context, tx *sql.Tx, c *codec, extract func(typ string, body []byte) (map[string]any, error)) (int, error) {
	type field struct {
		fid       int64
		typ, name string
	}
	var fields []field
	rows, err := tx.QueryContext(ctx, "SELECT f.fid, t.name, f.name FROM fields f JOIN types t ON t.tid = f.tid WHERE f.old IS NOT NULL")
	if err != nil {
		return 0, fmt.Errorf("sqlite: rewrite token keys: %w", err)
	}
	for rows.Next() {
		var f field
		if err := rows.Scan(&f.fid, &f.typ, &f.name); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("sqlite: rewrite token keys: %w", err)
		}
		fields = append(fields, f)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("sqlite: rewrite token keys: %w", err)
	}
	systems := map[string]int64{}
	intern := func(uri string) (int64, error) {
		if sid, ok := systems[uri]; ok {
			return sid, nil
		}
		var sid int64
		err := tx.QueryRowContext(ctx, "INSERT INTO systems(uri) VALUES (?) ON CONFLICT(uri) DO UPDATE SET uri = excluded.uri RETURNING sid", uri).Scan(&sid)
		if err != nil {
			return 0, fmt.Errorf("sqlite: intern code system %s: %w", uri, err)
		}
		systems[uri] = sid
		return sid, nil
	}
	rewritten := 0
	for _, f := range fields {
		var stored []byte
		err := tx.QueryRowContext(ctx, `SELECT v.body FROM ixk k JOIN res r ON r.rid = k.rid JOIN ver v ON v.rid = r.rid AND v.vid = r.vid
			WHERE k.f = ? AND r.deleted = 0 LIMIT 1`, f.fid).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: rewrite token keys of %s.%s: %w", f.typ, f.name, err)
		}
		body, err := c.unpack(stored)
		if err != nil {
			return 0, err
		}
		idx, err := extract(f.typ, body)
		if err != nil {
			return 0, fmt.Errorf("sqlite: rewrite token keys of %s.%s: %w", f.typ, f.name, err)
		}
		switch idx[f.name].(type) {
		case nil:
			continue
		case search.TokenKeys:
			if err := rewriteField(ctx, tx, f.fid, intern); err != nil {
				return 0, fmt.Errorf("sqlite: rewrite token keys of %s.%s: %w", f.typ, f.name, err)
			}
			rewritten++
		}
		if _, err := tx.ExecContext(ctx, "UPDATE fields SET old = NULL WHERE fid = ?", f.fid); err != nil {
			return 0, fmt.Errorf("sqlite: rewrite token keys of %s.%s: %w", f.typ, f.name, err)
		}
	}
	return rewritten, nil
}

// rewriteField stores the keys of token field fid as storedTokenKeys gives them and marks the field tok:
// its rows read in one pass of the key index, grouped by resource, deleted, and inserted again in
// resource order with multi-row statements: the 47 token fields of the 10,000-patient file (2.1 million
// index rows) in 16 s, against 33 s resource by resource.
func rewriteField(ctx context.Context, tx *sql.Tx, fid int64, intern func(string) (int64, error)) error {
	byRid := map[int64][]string{}
	rows, err := tx.QueryContext(ctx, "SELECT rid, v FROM ixk WHERE f = ?", fid)
	if err != nil {
		return err
	}
	for rows.Next() {
		var rid int64
		var v string
		if err := rows.Scan(&rid, &v); err != nil {
			_ = rows.Close()
			return err
		}
		byRid[rid] = append(byRid[rid], v)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ixk WHERE f = ?", fid); err != nil {
		return err
	}
	var args []any
	flush := func() error {
		n := len(args) / 3
		if n == 0 {
			return nil
		}
		q := "INSERT INTO ixk(rid, f, v) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ",")
		_, err := tx.ExecContext(ctx, q, args...)
		args = args[:0]
		return err
	}
	for _, rid := range slices.Sorted(maps.Keys(byRid)) {
		stored, err := storedTokenKeys(byRid[rid], intern)
		if err != nil {
			return err
		}
		for _, k := range stored {
			args = append(args, rid, fid, k)
			if len(args) == 3*rowsPerInsert {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE fields SET tok = 1 WHERE fid = ?", fid)
	return err
}
