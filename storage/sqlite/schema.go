package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"

	"github.com/careflow/careflow/fhir/search"
)

// schemaVersion is the layout this code reads and writes; PRAGMA user_version holds the file's.
const schemaVersion = 8

// schema creates the tables (see the package comment). Times are integers: lu and vis Unix milliseconds,
// ixd bounds Unix microseconds. Index tables are WITHOUT ROWID and clustered by resource (rid first), so
// that a write appends its rows together and an update removes them by rid; their secondary indexes
// answer searches. srt holds one sort key per parameter; the keys of date and string parameters (w = 1)
// are also in srt_walk, ordered by (field, value), so that a search sorted on one of them and selecting no
// small set of resources walks that order and stops after the page (search.go, walk). Token, reference
// and uri parameters have no rows in srt (since version 3): their sort key is the least of their values,
// read from ixk by resource (rid, f) for the resources a search selects (search.go, leastKey).
var schema = []string{
	`CREATE TABLE types(tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
	// tok is 1 on the fields whose token keys are stored as tokenkey.go describes, old on the fields of a
	// file upgraded from version 7 or earlier (they may hold token keys as the index gave them).
	`CREATE TABLE fields(fid INTEGER PRIMARY KEY, tid INTEGER NOT NULL, name TEXT NOT NULL, tok INTEGER, old INTEGER, UNIQUE(tid, name))`,
	`CREATE TABLE res(
		rid INTEGER PRIMARY KEY,
		tid INTEGER NOT NULL,
		id TEXT NOT NULL,
		vid INTEGER NOT NULL,
		lu INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		seq INTEGER NOT NULL)`,
	`CREATE UNIQUE INDEX res_id ON res(tid, id)`,
	`CREATE INDEX res_lu ON res(tid, lu)`,
	`CREATE TABLE ver(
		seq INTEGER PRIMARY KEY,
		rid INTEGER NOT NULL,
		tid INTEGER NOT NULL,
		vid INTEGER NOT NULL,
		lu INTEGER NOT NULL,
		vis INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		method TEXT NOT NULL,
		body BLOB)`,
	`CREATE UNIQUE INDEX ver_rid ON ver(rid, vid)`,
	`CREATE INDEX ver_tid ON ver(tid, vis)`,
	`CREATE INDEX ver_vis ON ver(vis)`,
	`CREATE TABLE ixk(rid INTEGER NOT NULL, f INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY(rid, f, v)) WITHOUT ROWID`,
	`CREATE INDEX ixk_fv ON ixk(f, v)`,
	`CREATE TABLE ixd(rid INTEGER NOT NULL, f INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY(rid, f, lo, hi)) WITHOUT ROWID`,
	`CREATE INDEX ixd_lo ON ixd(f, lo, hi)`,
	`CREATE INDEX ixd_hi ON ixd(f, hi, lo)`,
	`CREATE TABLE srt(rid INTEGER NOT NULL, f INTEGER NOT NULL, v TEXT NOT NULL, w INTEGER, PRIMARY KEY(rid, f)) WITHOUT ROWID`,
	srtWalk,
	resDeleted,
	`CREATE TABLE walked(f INTEGER PRIMARY KEY)`, // the fields whose sort keys are in srt_walk (walked.go)
	systemsTable,
}

// systemsTable interns the code systems of token keys (tokenkey.go).
const systemsTable = `CREATE TABLE systems(sid INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE)`

// srtWalk orders the sort keys of date and string parameters (the ones clients sort large results by:
// dates, names); a partial index, so token and reference keys cost no second copy. w is in it too (one
// header byte), or SQLite would read each row to check the index's own condition.
const srtWalk = `CREATE INDEX srt_walk ON srt(f, v, w) WHERE w`

// resDeleted lists deleted resources by type, so that a type's live resources are counted on indexes
// (all of res_id's minus these) without reading every row.
const resDeleted = `CREATE INDEX res_deleted ON res(tid) WHERE deleted`

// migrate creates the schema in a new file, upgrades a file of an earlier layout (reindex runs at the end
// of an upgrade, in its transaction, with the version upgraded from: it fills in what the stored
// resources need re-extracted for) and refuses a file written by another layout.
func migrate(ctx context.Context, db *sql.DB, reindex func(ctx context.Context, tx *sql.Tx, from int) error) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read the schema version: %w", err)
	}
	switch v {
	case schemaVersion:
		return nil
	case 1, 2, 3, 4, 5, 6, 7:
		return upgrade(ctx, db, v, reindex)
	case 0:
	default:
		return fmt.Errorf("sqlite: the database has schema version %d; this careflow reads version %d", v, schemaVersion)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create the schema: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: create the schema: %s: %w", stmt, err)
		}
	}
	for v := 1; v < schemaVersion; v++ {
		if step := upgradeSteps[v]; step != nil {
			if err := step(ctx, tx); err != nil {
				return fmt.Errorf("sqlite: create the schema: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
		return fmt.Errorf("sqlite: create the schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create the schema: %w", err)
	}
	return nil
}

// upgrades are the statements that take a file from version v to v+1 (upgrades[v]).
var upgrades = map[int][]string{
	// srt gains w, set on the sort keys of date parameters (their field has date ranges in ixd) and string
	// parameters (their field has :exact keys, field_e), and the indexes srt_walk and res_deleted are built.
	1: {
		`ALTER TABLE srt ADD COLUMN w INTEGER`,
		`UPDATE srt SET w = 1 WHERE f IN (
			SELECT s.fid FROM fields s JOIN fields b ON b.tid = s.tid AND s.name = b.name || '` + search.SuffixSort + `'
			WHERE EXISTS (SELECT 1 FROM ixd WHERE ixd.f = b.fid)
			   OR EXISTS (SELECT 1 FROM fields e WHERE e.tid = b.tid AND e.name = b.name || '` + search.SuffixExact + `'))`,
		srtWalk,
		resDeleted,
	},
	// The sort keys of token, reference and uri parameters (never walked; searches read them from ixk now)
	// are dropped: about four fifths of srt.
	2: {`DELETE FROM srt WHERE w IS NULL`},
	// The fields with keys in srt_walk are listed as walked (walked.go); from now on a field's keys join
	// srt_walk once a search sorts on it.
	6: walkedUpgrade,
	// Token fields are marked as their resources are written (tokenkey.go); the keys stored before keep
	// their form, which searches still match.
	7: {`ALTER TABLE fields ADD COLUMN tok INTEGER`, `ALTER TABLE fields ADD COLUMN old INTEGER`, `UPDATE fields SET old = 1`, systemsTable},
}

// upgradeSteps are the schema steps written as functions, run after upgrades[v]: each is self-contained
// (it only adds its own tables or rewrites rows a new file does not have), so a new file runs them all
// too. Version 4 adds the number and quantity index, ixq (numeric.go); version 6 merges the two rows of
// each string value into one (stringkey.go).
var upgradeSteps = map[int]func(ctx context.Context, tx *sql.Tx) error{
	numericStep:         addNumericTables,
	mergeStringKeysStep: mergeStringKeys,
}

// numericStep is the version whose upgrade adds the number and quantity index (to version 4).
const numericStep = 3

// compositeStep is the version whose upgrade indexes composite and near values (to version 5): no table
// changes — composite keys live in ixk and ixq, positions in ixq — but the resources stored before have
// none, so the upgrade re-indexes them as the one to version 4 does (reindex, numeric.go).
const compositeStep = 4

// upgrade takes a file of version from to schemaVersion in place, in one transaction.
func upgrade(ctx context.Context, db *sql.DB, from int, reindex func(ctx context.Context, tx *sql.Tx, from int) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: upgrade the schema from version %d: %w", from, err)
	}
	defer func() { _ = tx.Rollback() }()
	for v := from; v < schemaVersion; v++ {
		for _, stmt := range upgrades[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlite: upgrade the schema from version %d: %s: %w", v, stmt, err)
			}
		}
		if step := upgradeSteps[v]; step != nil {
			if err := step(ctx, tx); err != nil {
				return fmt.Errorf("sqlite: upgrade the schema from version %d: %w", v, err)
			}
		}
	}
	if reindex != nil {
		if err := reindex(ctx, tx, from); err != nil {
			return fmt.Errorf("sqlite: upgrade the schema from version %d: %w", from, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
		return fmt.Errorf("sqlite: upgrade the schema from version %d: %w", from, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: upgrade the schema from version %d: %w", from, err)
	}
	return nil
}

// names interns resource types and index fields as integers. Readers look names up; only the writer adds
// them (inside its transaction: after a failed commit it reloads what the file holds).
type names struct {
	mu     sync.RWMutex
	types  map[string]int64
	typeOf map[int64]string
	fields map[fieldKey]int64
	tokens map[int64]bool // the fields marked tok
	old    map[int64]bool // the fields marked old
	// systems and systemOf intern the code systems of token keys (tokenkey.go).
	systems  map[string]int64
	systemOf map[int64]string
}

type fieldKey struct {
	tid  int64
	name string
}

func loadNames(ctx context.Context, db *sql.DB) (*names, error) {
	n := &names{}
	if err := n.load(ctx, db); err != nil {
		return nil, err
	}
	return n, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachRow runs query and scan on each row of its answer; errors name what (the table loaded).
func eachRow(ctx context.Context, db queryer, what, query string, scan func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("sqlite: load %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("sqlite: load %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load %s: %w", what, err)
	}
	return nil
}

func (n *names) load(ctx context.Context, db queryer) error {
	types := map[string]int64{}
	typeOf := map[int64]string{}
	fields := map[fieldKey]int64{}
	tokens, old := map[int64]bool{}, map[int64]bool{}
	err := eachRow(ctx, db, "types", "SELECT tid, name FROM types", func(rows *sql.Rows) error {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		types[name], typeOf[id] = id, name
		return nil
	})
	if err != nil {
		return err
	}
	err = eachRow(ctx, db, "fields", "SELECT fid, tid, name, tok IS NOT NULL, old IS NOT NULL FROM fields", func(rows *sql.Rows) error {
		var fid, tid int64
		var name string
		var tok, wasOld bool
		if err := rows.Scan(&fid, &tid, &name, &tok, &wasOld); err != nil {
			return err
		}
		fields[fieldKey{tid, name}] = fid
		if tok {
			tokens[fid] = true
		}
		if wasOld {
			old[fid] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	systems, systemOf := map[string]int64{}, map[int64]string{}
	err = eachRow(ctx, db, "systems", "SELECT sid, uri FROM systems", func(rows *sql.Rows) error {
		var sid int64
		var uri string
		if err := rows.Scan(&sid, &uri); err != nil {
			return err
		}
		systems[uri], systemOf[sid] = sid, uri
		return nil
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.types, n.typeOf, n.fields, n.tokens, n.old = types, typeOf, fields, tokens, old
	n.systems, n.systemOf = systems, systemOf
	n.mu.Unlock()
	return nil
}

// typeID returns the id of a type; ok is false when nothing of that type was ever written.
func (n *names) typeID(name string) (int64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	id, ok := n.types[name]
	return id, ok
}

func (n *names) typeName(tid int64) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.typeOf[tid]
}

// fieldID returns the id of an index field of a type; ok is false when no resource ever had it.
func (n *names) fieldID(tid int64, name string) (int64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	id, ok := n.fields[fieldKey{tid, name}]
	return id, ok
}

// fieldIDs returns the ids of the field name over every type that has it.
func (n *names) fieldIDs(name string) []int64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []int64
	for k, id := range n.fields {
		if k.name == name {
			out = append(out, id)
		}
	}
	return out
}

// allTypes returns every type ever written, with its id.
func (n *names) allTypes() map[string]int64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make(map[string]int64, len(n.types))
	for k, v := range n.types {
		out[k] = v
	}
	return out
}

func (n *names) addType(name string, id int64) {
	n.mu.Lock()
	n.types[name], n.typeOf[id] = id, name
	n.mu.Unlock()
}

func (n *names) addField(tid int64, name string, id int64) {
	n.mu.Lock()
	n.fields[fieldKey{tid, name}] = id
	n.mu.Unlock()
}

// isToken reports whether field fid holds token keys in their stored form (tokenkey.go). It may be true
// before a reader's snapshot holds the mark (the writer sets it before its commit), which is harmless: the
// stored forms only appear with it, and public keys read back as they are.
func (n *names) isToken(fid int64) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.tokens[fid]
}

// isOld reports whether field fid existed before its file was upgraded to version 8 (tokenkey.go).
func (n *names) isOld(fid int64) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.old[fid]
}

// systemID returns the number of an interned code system.
func (n *names) systemID(uri string) (int64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	sid, ok := n.systems[uri]
	return sid, ok
}

// systemURI returns the code system interned as sid.
func (n *names) systemURI(sid int64) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	uri, ok := n.systemOf[sid]
	return uri, ok
}

func (n *names) addSystem(uri string, sid int64) {
	n.mu.Lock()
	n.systems[uri], n.systemOf[sid] = sid, uri
	n.mu.Unlock()
}

func (n *names) markToken(fid int64) {
	n.mu.Lock()
	n.tokens[fid] = true
	n.mu.Unlock()
}
