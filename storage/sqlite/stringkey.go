package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/careflow/careflow/fhir/search"
)

// String parameters. The index gives a string parameter two fields: f, each value normalised
// (search.Normalize: lower case, no accents, single spaces), which searches match by prefix and
// :contains, and f_e, the exact values, which :exact matches whole. This store keeps one ixk row per
// value under f instead of two: its stringKey, the normalised text followed, when the exact text
// differs, by a NUL and the exact text. A prefix of the normalised text is a prefix of the key, so the
// default search keeps its index range; :exact looks the whole key up; :contains only counts a match
// before the NUL. FHIR strings cannot carry a NUL (fhir/validate refuses U+0000), so the key is
// unambiguous. One row instead of two is a quarter fewer index rows for a Patient, and fewer scattered
// index pages written per create (docs/PERFORMANCE.md, session 9).

// keySep separates the normalised and the exact text of a stringKey.
const keySep = "\x00"

// stringKey is the ixk value of the string exact.
func stringKey(exact string) string {
	n := search.Normalize(exact)
	if n == exact {
		return n
	}
	return n + keySep + exact
}

// stringKeys returns the ixk values of a string parameter's exact values (f_e), sorted and unique.
func stringKeys(exact []string) []string {
	out := make([]string, len(exact))
	for i, e := range exact {
		out[i] = stringKey(e)
	}
	// exact is unique and stringKey one-to-one: the keys are unique too.
	slices.Sort(out)
	return out
}

// stringField reports whether name is the exact-values field (f_e) of a string parameter in idx, and
// returns the parameter's field f.
func stringField(idx map[string]any, name string) (base string, ok bool) {
	base, ok = strings.CutSuffix(name, search.SuffixExact)
	if !ok {
		return "", false
	}
	_, has := idx[base]
	return base, has
}

// mergeStringKeysStep is the version whose upgrade merges the f and f_e rows of string parameters
// into stringKey rows (to version 6).
const mergeStringKeysStep = 5

// mergeStringKeys rewrites the rows of every string parameter (a field f with a field f_e) as
// stringKeys of its f_e rows and removes the f_e rows; a new file has no such fields.
func mergeStringKeys(ctx context.Context, tx *sql.Tx) error {
	type pair struct{ base, exact int64 }
	rows, err := tx.QueryContext(ctx, `SELECT b.fid, e.fid FROM fields b JOIN fields e ON e.tid = b.tid AND e.name = b.name || '`+search.SuffixExact+`'`)
	if err != nil {
		return fmt.Errorf("merge string keys: %w", err)
	}
	var pairs []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.base, &p.exact); err != nil {
			_ = rows.Close()
			return fmt.Errorf("merge string keys: %w", err)
		}
		pairs = append(pairs, p)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("merge string keys: %w", err)
	}
	for _, p := range pairs {
		if _, err := tx.ExecContext(ctx, "DELETE FROM ixk WHERE f = ?", p.base); err != nil {
			return fmt.Errorf("merge string keys: %w", err)
		}
		// Page through the exact values in (v, rid) order: the rows written meanwhile are the other field's.
		lastV, lastRid := "", int64(-1)
		for {
			batch, err := exactRows(ctx, tx, p.exact, lastV, lastRid)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			args := make([]any, 0, 3*len(batch))
			for _, r := range batch {
				args = append(args, r.rid, p.base, stringKey(r.v))
			}
			for len(args) > 0 {
				n := min(len(args)/3, rowsPerInsert)
				q := "INSERT OR IGNORE INTO ixk(rid, f, v) VALUES " + strings.Repeat("(?, ?, ?),", n-1) + "(?, ?, ?)"
				if _, err := tx.ExecContext(ctx, q, args[:3*n]...); err != nil {
					return fmt.Errorf("merge string keys: %w", err)
				}
				args = args[3*n:]
			}
			last := batch[len(batch)-1]
			lastV, lastRid = last.v, last.rid
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM ixk WHERE f = ?", p.exact); err != nil {
			return fmt.Errorf("merge string keys: %w", err)
		}
	}
	return nil
}

type exactRow struct {
	rid int64
	v   string
}

// exactRows reads up to 5,000 rows of field f after (v, rid) in (v, rid) order (ixk_fv).
func exactRows(ctx context.Context, tx *sql.Tx, f int64, v string, rid int64) ([]exactRow, error) {
	rows, err := tx.QueryContext(ctx, "SELECT rid, v FROM ixk WHERE f = ? AND (v, rid) > (?, ?) ORDER BY v, rid LIMIT 5000", f, v, rid)
	if err != nil {
		return nil, fmt.Errorf("merge string keys: %w", err)
	}
	defer rows.Close()
	var out []exactRow
	for rows.Next() {
		var r exactRow
		if err := rows.Scan(&r.rid, &r.v); err != nil {
			return nil, fmt.Errorf("merge string keys: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("merge string keys: %w", err)
	}
	return out, nil
}
