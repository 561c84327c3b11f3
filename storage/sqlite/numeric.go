package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/careflow/careflow/fhir/search"
)

// Number and quantity search values (search.NumKey) live in ixq: one row per value and unit key, the
// value's closed range [lo, hi] as REAL (a Quantity's lo = hi; a Range's bounds, ±MaxFloat64 when open),
// clustered by resource like the other index tables, and found through ixq_fu by (field, unit key, lo):
// every number or quantity search names its unit keys (search.NumConds; "" for any unit), so every lookup
// seeks (f, u) and ranges on lo.
var numericSchema = []string{
	`CREATE TABLE IF NOT EXISTS ixq(rid INTEGER NOT NULL, f INTEGER NOT NULL, u TEXT NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, PRIMARY KEY(rid, f, u, lo, hi)) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS ixq_fu ON ixq(f, u, lo, hi)`,
}

const (
	insertNumeric = "INSERT OR IGNORE INTO ixq(rid, f, u, lo, hi) VALUES "
	deleteNumeric = "DELETE FROM ixq WHERE rid = ?"
)

// addNumericTables is the schema step that adds ixq to a file written before it: it creates the table and
// its index (if absent: the step is self-contained and may run on any later layout). Resources stored
// before it get their number and quantity rows when they are next written; `careflow copy` to a new file
// recomputes every search value at once. (The store does not hold the search registry that would let the
// step re-index the stored bodies itself.)
func addNumericTables(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range numericSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: add the number and quantity index: %s: %w", stmt, err)
		}
	}
	return nil
}

// numericRows appends the ixq rows (rid, f, u, lo, hi) of one number or quantity field.
func numericRows(rows []any, rid, fid int64, name string, val any) ([]any, error) {
	keys, ok := val.([]search.NumKey)
	if !ok {
		return nil, fmt.Errorf("sqlite: index field %s: values of type %T", name, val)
	}
	for _, k := range keys {
		rows = append(rows, rid, fid, k.U, k.Lo, k.Hi)
	}
	return rows, nil
}

// numeric is the condition "a has a number or quantity value matching one of the criterion's values"
// (search.NumCond spells the comparisons).
func (b *builder) numeric(a string, tid int64, c search.Criterion) string {
	f, ok := b.field(tid, c.Param.Field)
	if !ok {
		return "0"
	}
	// Grouped by unit key, so that each unit is one seek of ixq_fu with its comparisons OR-ed: a search
	// of many values in one unit is one term per value, not two.
	var units []string
	byUnit := map[string][]string{}
	for _, n := range search.NumConds(c) {
		var cmp string
		switch n.Prefix {
		case "ne":
			cmp = "(lo < " + b.arg(n.L) + " OR hi >= " + b.arg(n.H) + ")"
		case "gt":
			cmp = "hi > " + b.arg(n.V)
		case "ge":
			cmp = "hi >= " + b.arg(n.V)
		case "lt":
			cmp = "lo < " + b.arg(n.V)
		case "le":
			cmp = "lo <= " + b.arg(n.V)
		case "sa":
			cmp = "lo >= " + b.arg(n.H)
		case "eb":
			cmp = "hi < " + b.arg(n.L)
		case "ap":
			cmp = "(lo <= " + b.arg(n.ApHi) + " AND hi >= " + b.arg(n.ApLo) + ")"
		default:
			cmp = "(lo >= " + b.arg(n.L) + " AND hi < " + b.arg(n.H) + ")"
		}
		for _, u := range n.Units {
			if _, seen := byUnit[u]; !seen {
				units = append(units, u)
			}
			byUnit[u] = append(byUnit[u], cmp)
		}
	}
	var conds []string
	for _, u := range units {
		conds = append(conds, "(u = "+b.arg(u)+" AND "+or(byUnit[u])+")")
	}
	if len(conds) == 0 {
		return "0"
	}
	return a + ".rid IN (SELECT rid FROM ixq WHERE f = " + f + " AND " + or(conds) + ")"
}

// near is the condition "a's position is within the distance of one of the criterion's points"
// (search.NearConds): the rows of unit key "g" in the box (a seek of ixq_fu on (f, "g") and a range on
// the latitude), then, by the resource's clustered rows, the exact test on the unit vector in the rows
// "v" and "w", computed as search.NearCond.Matches computes it.
func (b *builder) near(a string, tid int64, c search.Criterion) string {
	f, ok := b.field(tid, c.Param.Field)
	if !ok {
		return "0"
	}
	var conds []string
	for _, n := range search.NearConds(c) {
		var lons []string
		for _, r := range n.Lon {
			lons = append(lons, "(ng.hi >= "+b.arg(r[0])+" AND ng.hi <= "+b.arg(r[1])+")")
		}
		conds = append(conds, "(ng.lo >= "+b.arg(n.LatLo)+" AND ng.lo <= "+b.arg(n.LatHi)+" AND "+or(lons)+
			" AND nv.lo * "+b.arg(n.X)+" + nv.hi * "+b.arg(n.Y)+" + nw.lo * "+b.arg(n.Z)+" >= "+b.arg(n.MinDot)+")")
	}
	u := search.NearUnits
	return a + ".rid IN (SELECT ng.rid FROM ixq ng" +
		" JOIN ixq nv ON nv.rid = ng.rid AND nv.f = ng.f AND nv.u = " + b.arg(u[1]) +
		" JOIN ixq nw ON nw.rid = ng.rid AND nw.f = ng.f AND nw.u = " + b.arg(u[2]) +
		" WHERE ng.f = " + f + " AND ng.u = " + b.arg(u[0]) + " AND " + or(conds) + ")"
}

// reindexNumeric fills ixq, and the sort rows of number and quantity parameters, for every current
// resource of a file upgraded to the layout that has them (version 4), and the composite keys of ixk
// (those holding search.CompositeSep; their ixq rows and near's are among ixq's) for a file upgraded to
// version 5: the values are extracted from each stored body with extract (search.Registry.Index, given
// in Options.Reindex), in the upgrade's transaction. Rows the resource has already are kept (INSERT OR
// IGNORE): only the new kinds of values are added.
func reindexNumeric(ctx context.Context, tx *sql.Tx, c *codec, extract func(typ string, body []byte) (map[string]any, error)) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT r.rid, r.tid, t.name, v.body FROM res r
		JOIN types t ON t.tid = r.tid JOIN ver v ON v.rid = r.rid AND v.vid = r.vid WHERE r.deleted = 0`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: re-index numbers and quantities: %w", err)
	}
	type stored struct {
		rid, tid int64
		typ      string
		body     []byte
	}
	var all []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.rid, &s.tid, &s.typ, &s.body); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("sqlite: re-index numbers and quantities: %w", err)
		}
		all = append(all, s)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("sqlite: re-index numbers and quantities: %w", err)
	}
	fields := map[fieldKey]int64{}
	fieldID := func(tid int64, name string) (int64, error) {
		k := fieldKey{tid, name}
		if id, ok := fields[k]; ok {
			return id, nil
		}
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT fid FROM fields WHERE tid = ? AND name = ?", tid, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			res, ierr := tx.ExecContext(ctx, "INSERT INTO fields(tid, name) VALUES (?, ?)", tid, name)
			if ierr != nil {
				return 0, ierr
			}
			id, err = res.LastInsertId()
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: field %s: %w", name, err)
		}
		fields[k] = id
		return id, nil
	}
	indexed := 0
	for _, s := range all {
		body, err := c.unpack(s.body)
		if err != nil {
			return 0, err
		}
		idx, err := extract(s.typ, body)
		if err != nil {
			return 0, fmt.Errorf("sqlite: re-index %s (rid %d): %w", s.typ, s.rid, err)
		}
		var nums, keys []any
		for name, val := range idx {
			base, ok := strings.CutSuffix(name, search.SuffixNumeric)
			if !ok {
				if vals, isKeys := val.([]string); isKeys && len(vals) > 0 && strings.Contains(vals[0], search.CompositeSep) {
					fid, err := fieldID(s.tid, name)
					if err != nil {
						return 0, err
					}
					for _, v := range vals {
						keys = append(keys, s.rid, fid, v)
					}
				}
				continue
			}
			fid, err := fieldID(s.tid, base)
			if err != nil {
				return 0, err
			}
			if nums, err = numericRows(nums, s.rid, fid, name, val); err != nil {
				return 0, err
			}
			if key, ok := idx[base+search.SuffixSort].(string); ok {
				sfid, err := fieldID(s.tid, base+search.SuffixSort)
				if err != nil {
					return 0, err
				}
				if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO srt(rid, f, v, w) VALUES (?, ?, ?, 1)", s.rid, sfid, key); err != nil {
					return 0, fmt.Errorf("sqlite: re-index a sort key: %w", err)
				}
			}
		}
		for len(keys) > 0 {
			n := min(len(keys), 3*rowsPerInsert)
			q := "INSERT OR IGNORE INTO ixk(rid, f, v) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n/3), ",")
			if _, err := tx.ExecContext(ctx, q, keys[:n]...); err != nil {
				return 0, fmt.Errorf("sqlite: re-index composite values: %w", err)
			}
			keys = keys[n:]
		}
		for len(nums) > 0 {
			n := len(nums)
			if n > 5*rowsPerInsert {
				n = 5 * rowsPerInsert
			}
			q := insertNumeric + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", n/5), ",")
			if _, err := tx.ExecContext(ctx, q, nums[:n]...); err != nil {
				return 0, fmt.Errorf("sqlite: re-index numbers and quantities: %w", err)
			}
			nums = nums[n:]
		}
		if len(idx) > 0 {
			indexed++
		}
	}
	return indexed, nil
}
