package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// readStmts are the read statements prepared once (database/sql prepares each on a connection the first
// time it runs there).
type readStmts struct {
	read, readRid, vread *sql.Stmt
}

// readSQL and vreadSQL read a current version and a given version. They join nothing: SQLite (3.54)
// re-prepares a statement that joins two tables every time new values are bound to it (the planner marks
// a bound variable of a join term as "re-prepare on bind" and the driver clears the bindings before each
// run), so a join re-parsed and re-planned every read (~40 % of a read's time in SQLite); a scalar subquery
// keeps the prepared program (TestReadStatementsStayPrepared). The plans are the join's: a res_id seek,
// then ver by its rowid (read) or by ver_rid (vread).
const (
	readSQL = `SELECT v.vid, v.lu, v.deleted, v.method, v.body
		FROM ver v WHERE v.seq = (SELECT seq FROM res WHERE tid = ?1 AND id = ?2)`
	// readRidSQL is readSQL with the resource's rid, which keys the version cache's invalidation.
	readRidSQL = `SELECT v.vid, v.lu, v.deleted, v.method, v.body, v.rid
		FROM ver v WHERE v.seq = (SELECT seq FROM res WHERE tid = ?1 AND id = ?2)`
	vreadSQL = `SELECT v.vid, v.lu, v.deleted, v.method, v.body
		FROM ver v WHERE v.rid = (SELECT rid FROM res WHERE tid = ?1 AND id = ?2) AND v.vid = ?3`
)

func prepareReads(ctx context.Context, db *sql.DB) (*readStmts, error) {
	var r readStmts
	var err error
	if r.read, err = db.PrepareContext(ctx, readSQL); err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if r.readRid, err = db.PrepareContext(ctx, readRidSQL); err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if r.vread, err = db.PrepareContext(ctx, vreadSQL); err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return &r, nil
}

func (r *readStmts) close() {
	if r == nil {
		return
	}
	_ = r.read.Close()
	_ = r.readRid.Close()
	_ = r.vread.Close()
}

// row scans one version: vid, lu, deleted, method, body.
func (s *Store) scanVersion(sc interface{ Scan(...any) error }, typ, id string, extra ...any) (*storage.Version, error) {
	v := &storage.Version{Type: typ, ID: id}
	var lu int64
	var body []byte
	if err := sc.Scan(append([]any{&v.VersionID, &lu, &v.Deleted, &v.Method, &body}, extra...)...); err != nil {
		return nil, err
	}
	v.LastUpdated = time.UnixMilli(lu).UTC()
	if !v.Deleted {
		var err error
		if v.Body, err = s.codec.unpack(body); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Read implements storage.Store. A resource read recently and not written since comes from the version
// cache (cache.go); otherwise one statement reads it and fills the cache.
func (s *Store) Read(ctx context.Context, typ, id string) (*storage.Version, error) {
	tid, ok := s.names.typeID(typ)
	if !ok {
		return nil, fmt.Errorf("sqlite: read %s/%s: %w", typ, id, storage.ErrNotFound)
	}
	var v *storage.Version
	if s.cache == nil {
		var err error
		if v, err = s.scanVersion(s.stmts.read.QueryRowContext(ctx, tid, id), typ, id); err != nil {
			return nil, readError(typ, id, err)
		}
	} else {
		e, gen := s.cache.get(tid, id)
		if e == nil {
			var err error
			if e, err = s.readCurrent(ctx, tid, id); err != nil {
				return nil, readError(typ, id, err)
			}
			s.cache.put(tid, id, e, gen)
		}
		v = &storage.Version{Type: typ, ID: id, VersionID: e.vid, LastUpdated: time.UnixMilli(e.lu).UTC(), Deleted: e.deleted, Method: e.method}
		if !e.deleted {
			v.Body = bytes.Clone(e.body) // the caller owns it
		}
	}
	if v.Deleted {
		return nil, &storage.GoneError{Deleted: v}
	}
	return v, nil
}

func readError(typ, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	return fmt.Errorf("sqlite: read %s/%s: %w", typ, id, err)
}

// readCurrent reads the current version of (tid, id) for the cache: readSQL's columns and the rid.
func (s *Store) readCurrent(ctx context.Context, tid int64, id string) (*cachedVersion, error) {
	e := &cachedVersion{}
	var stored []byte
	if err := s.stmts.readRid.QueryRowContext(ctx, tid, id).Scan(&e.vid, &e.lu, &e.deleted, &e.method, &stored, &e.rid); err != nil {
		return nil, err
	}
	if !e.deleted {
		var err error
		if e.body, err = s.codec.unpack(stored); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// VRead implements storage.Store.
func (s *Store) VRead(ctx context.Context, typ, id string, vid int64) (*storage.Version, error) {
	tid, ok := s.names.typeID(typ)
	if !ok {
		return nil, fmt.Errorf("sqlite: vread %s/%s/%d: %w", typ, id, vid, storage.ErrNotFound)
	}
	row := s.stmts.vread.QueryRowContext(ctx, tid, id, vid)
	v, err := s.scanVersion(row, typ, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: vread %s/%s/%d: %w", typ, id, vid, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: vread %s/%s/%d: %w", typ, id, vid, err)
	}
	return v, nil
}

// History implements storage.Store. Instance history pages by version number. Type and system history
// are the change feed, in global sequence order (see horizon): a traversal's first page fixes its
// horizon H; its pages list the versions visible in [Since, H), newest first, and the cursor keeps H and
// the last sequence number served.
func (s *Store) History(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	if q.Count <= 0 {
		q.Count = 50
	}
	if q.ID != "" {
		return s.instanceHistory(ctx, q)
	}
	return s.feed(ctx, q)
}

func (s *Store) instanceHistory(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	out := &storage.HistoryPage{Total: -1}
	tid, ok := s.names.typeID(q.Type)
	if !ok {
		out.Total = 0
		return out, nil
	}
	before := int64(1) << 62
	if q.After != "" {
		n, err := strconv.ParseInt(q.After, 10, 64)
		if err != nil || n < 1 {
			return nil, storage.ErrBadCursor
		}
		before = n
	}
	rows, err := s.read.QueryContext(ctx, `SELECT v.vid, v.lu, v.deleted, v.method, v.body FROM res r JOIN ver v ON v.rid = r.rid
		WHERE r.tid = ? AND r.id = ? AND v.lu >= ? AND v.vid < ? ORDER BY v.vid DESC LIMIT ?`,
		tid, q.ID, sinceMillis(q.Since), before, q.Count+1)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history %s/%s: %w", q.Type, q.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := s.scanVersion(rows, q.Type, q.ID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: history %s/%s: %w", q.Type, q.ID, err)
		}
		out.Versions = append(out.Versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: history %s/%s: %w", q.Type, q.ID, err)
	}
	if len(out.Versions) > q.Count {
		out.Versions = out.Versions[:q.Count]
		out.Next = strconv.FormatInt(out.Versions[q.Count-1].VersionID, 10)
	} else if q.After == "" {
		out.Total = len(out.Versions)
	}
	return out, nil
}

func sinceMillis(t time.Time) int64 {
	if t.IsZero() {
		return -1 << 62
	}
	// lu >= Since at millisecond precision: round a sub-millisecond Since up.
	ms := t.UnixMilli()
	if t.Nanosecond()%1e6 != 0 {
		ms++
	}
	return ms
}

// feedCursor is where a change-feed traversal stands: its horizon and the last version served.
type feedCursor struct {
	horizon int64 // ms
	lastVis int64 // ms
	lastSeq int64
}

func (c feedCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("f.%d.%d.%d", c.horizon, c.lastVis, c.lastSeq)))
}

func decodeFeedCursor(s string) (feedCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return feedCursor{}, storage.ErrBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "f" {
		return feedCursor{}, storage.ErrBadCursor
	}
	var n [3]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(parts[i+1], 10, 64); err != nil {
			return feedCursor{}, storage.ErrBadCursor
		}
	}
	return feedCursor{horizon: n[0], lastVis: n[1], lastSeq: n[2]}, nil
}

// feed answers type and system history. Versions are listed by their visibility instant (vis: the
// lastUpdated given when written, or the time a copy was written for copied versions), which grows with
// the global sequence number, so (vis, seq) descending is the order of the sequence. The writer hands out
// a horizon H before which every version has committed (writer.horizon), and the snapshot is opened after
// taking it: a traversal lists exactly the versions with vis in [Since, H), and the next traversal, from
// Since = H, everything after. Every version exactly once, and a write is listed as soon as it is
// acknowledged (read-your-writes), since H is past every committed version.
func (s *Store) feed(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	var c feedCursor
	if q.After != "" {
		var err error
		if c, err = decodeFeedCursor(q.After); err != nil {
			return nil, err
		}
	} else {
		c.horizon = s.w.horizon().UnixMilli()
		c.lastVis, c.lastSeq = c.horizon, 1<<62
	}
	out := &storage.HistoryPage{Total: -1, Horizon: time.UnixMilli(c.horizon).UTC()}
	if !q.Since.IsZero() && !q.Since.Before(out.Horizon) {
		out.Horizon = q.Since
		return out, nil
	}
	var tid int64
	scope := ""
	if q.Type != "" {
		var ok bool
		if tid, ok = s.names.typeID(q.Type); !ok {
			return out, nil
		}
		scope = "v.tid = ? AND "
	}
	args := []any{}
	if scope != "" {
		args = append(args, tid)
	}
	upper := min(c.lastVis, c.horizon-1)
	args = append(args, sinceMillis(q.Since), upper, c.lastSeq, q.Count+1)
	rows, err := s.read.QueryContext(ctx, `SELECT r.tid, r.id, v.vid, v.lu, v.deleted, v.method, v.body, v.vis, v.seq
		FROM ver v JOIN res r ON r.rid = v.rid
		WHERE `+scope+`v.vis >= ? AND v.vis <= ? AND v.seq < ? ORDER BY v.vis DESC, v.seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	defer rows.Close()
	var last feedCursor
	for rows.Next() {
		var rtid int64
		var id string
		var vis, seq int64
		var v *storage.Version
		row := scanner(func(dest ...any) error {
			return rows.Scan(append([]any{&rtid, &id}, dest...)...)
		})
		if v, err = s.scanVersion(row, "", "", &vis, &seq); err != nil {
			return nil, fmt.Errorf("sqlite: history: %w", err)
		}
		v.Type, v.ID = s.names.typeName(rtid), id
		out.Versions = append(out.Versions, v)
		if len(out.Versions) <= q.Count {
			last = feedCursor{horizon: c.horizon, lastVis: vis, lastSeq: seq}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	if len(out.Versions) > q.Count {
		out.Versions = out.Versions[:q.Count]
		out.Next = last.encode()
	}
	return out, nil
}

// scanner adapts a function to the Scan method.
type scanner func(dest ...any) error

func (f scanner) Scan(dest ...any) error { return f(dest...) }

// Exists implements storage.Store.
func (s *Store) Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	tid, ok := s.names.typeID(typ)
	if !ok || len(ids) == 0 {
		return out, nil
	}
	for start := 0; start < len(ids); start += maxVars {
		chunk := ids[start:min(len(ids), start+maxVars)]
		args := []any{tid}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.read.QueryContext(ctx, "SELECT id, deleted FROM res WHERE tid = ? AND id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: exists %s: %w", typ, err)
		}
		for rows.Next() {
			var id string
			var deleted bool
			if err := rows.Scan(&id, &deleted); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: exists %s: %w", typ, err)
			}
			out[id] = !deleted
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: exists %s: %w", typ, err)
		}
	}
	return out, nil
}

// maxVars bounds the values bound in one IN list.
const maxVars = 500

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// Referrers implements storage.Store: one indexed lookup of the keys in the _refs field of every type.
func (s *Store) Referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	fids := s.names.fieldIDs(search.RefsField)
	if len(keys) == 0 || len(fids) == 0 {
		return nil, 0, nil
	}
	args := []any{}
	for _, f := range fids {
		args = append(args, f)
	}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT r.tid, r.id FROM ixk k JOIN res r ON r.rid = k.rid
		WHERE k.f IN (`+placeholders(len(fids))+`) AND k.v IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: referrers: %w", err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var tid int64
		var id string
		if err := rows.Scan(&tid, &id); err != nil {
			return nil, 0, fmt.Errorf("sqlite: referrers: %w", err)
		}
		refs = append(refs, s.names.typeName(tid)+"/"+id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: referrers: %w", err)
	}
	sort.Strings(refs)
	total := len(refs)
	if len(refs) > max(limit, 0) {
		refs = refs[:max(limit, 0)]
	}
	return refs, total, nil
}

// Distinct implements storage.Store: the index (f, v) lists a field's values in order.
func (s *Store) Distinct(ctx context.Context, typ string, fields ...string) (map[string][]string, error) {
	out := make(map[string][]string, len(fields))
	tid, ok := s.names.typeID(typ)
	for _, f := range fields {
		if !strings.HasPrefix(f, "s_") {
			return nil, fmt.Errorf("sqlite: distinct: %q is not a search-index field", f)
		}
		out[f] = nil
		if !ok {
			continue
		}
		fid, ok := s.names.fieldID(tid, f)
		if !ok {
			continue
		}
		token := s.names.isToken(fid) // its keys read back in their public form (tokenkey.go)
		rows, err := s.read.QueryContext(ctx, "SELECT DISTINCT v FROM ixk WHERE f = ? ORDER BY v", fid)
		if err != nil {
			return nil, fmt.Errorf("sqlite: distinct %s.%s: %w", typ, f, err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: distinct %s.%s: %w", typ, f, err)
			}
			if !token {
				out[f] = append(out[f], v)
				continue
			}
			err := publicTokenKeys(v, s.names.systemURI, func(k string) error { out[f] = append(out[f], k); return nil })
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: distinct %s.%s: %w", typ, f, err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: distinct %s.%s: %w", typ, f, err)
		}
		if token {
			slices.Sort(out[f])
			out[f] = slices.Compact(out[f])
		}
	}
	return out, nil
}
