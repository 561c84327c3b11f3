package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, w storage.Write) (*storage.Version, error) {
	if w.ID == "" {
		w.ID = storage.NewID()
	}
	pre := prestamp(w.Body, w.ID).packed(s.codec)
	var v *storage.Version
	err := s.w.do(ctx, func(t *wtx) error {
		var err error
		v, err = t.createStamped(w, pre)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	var v *storage.Version
	var created bool
	err := s.w.do(ctx, func(t *wtx) error {
		var err error
		v, created, err = t.update(w, pre)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return v, created, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error) {
	var v *storage.Version
	err := s.w.do(ctx, func(t *wtx) error {
		var err error
		v, err = t.delete(typ, id, pre)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Transact implements storage.Store: the ops run in one savepoint of the writer's transaction, so they
// commit together or not at all, and no reader sees any of them before the commit.
func (s *Store) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	seen := make(map[string]int, len(ops))
	for i, op := range ops {
		invalid := func(format string, args ...any) error {
			return &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID,
				Err: fmt.Errorf("%w: "+format, append([]any{storage.ErrTxInvalid}, args...)...)}
		}
		switch op.Kind {
		case storage.TxCreate, storage.TxUpdate, storage.TxDelete:
		default:
			return nil, invalid("unknown op kind %v", op.Kind)
		}
		if op.Write.Type == "" || op.Write.ID == "" && op.Kind != storage.TxCreate {
			return nil, invalid("an op needs a resource type and id")
		}
		if op.Write.ID == "" {
			continue
		}
		key := op.Write.Type + "/" + op.Write.ID
		if j, dup := seen[key]; dup {
			return nil, invalid("%s is also the target of op %d", key, j)
		}
		seen[key] = i
	}
	if len(ops) == 0 {
		return []storage.TxResult{}, nil
	}
	// Creates get their id and are stamped here, outside the writer (see prestamp).
	creates := make([]storage.Write, len(ops))
	pre := make([]*stamped, len(ops))
	for i, op := range ops {
		if op.Kind == storage.TxCreate {
			creates[i] = op.Write
			if creates[i].ID == "" {
				creates[i].ID = storage.NewID()
			}
			pre[i] = prestamp(creates[i].Body, creates[i].ID).packed(s.codec)
		}
	}
	var out []storage.TxResult
	err := s.w.do(ctx, func(t *wtx) error {
		out = make([]storage.TxResult, len(ops))
		for i, op := range ops {
			var r storage.TxResult
			var err error
			switch op.Kind {
			case storage.TxCreate:
				r.Version, err = t.createStamped(creates[i], pre[i])
				r.Created = err == nil
			case storage.TxUpdate:
				r.Version, r.Created, err = t.update(op.Write, op.Precondition)
			case storage.TxDelete:
				r.Version, err = t.delete(op.Write.Type, op.Write.ID, op.Precondition)
			}
			if err != nil {
				id := op.Write.ID
				return &storage.TxError{Index: i, Type: op.Write.Type, ID: id, Err: err}
			}
			out[i] = r
			if h := s.hooks.AfterTxOp; h != nil {
				h(i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// cur is a resource's row in res.
type cur struct {
	rid, vid, seq int64
	lu            time.Time
	deleted       bool
}

func (t *wtx) current(tid int64, id string) (*cur, error) {
	var c cur
	var lu int64
	err := t.queryRow("SELECT rid, vid, seq, lu, deleted FROM res WHERE tid = ? AND id = ?", tid, id).
		Scan(&c.rid, &c.vid, &c.seq, &lu, &c.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read current version: %w", err)
	}
	c.lu = time.UnixMilli(lu).UTC()
	return &c, nil
}

// typeID interns a resource type.
func (t *wtx) typeID(name string) (int64, error) {
	if id, ok := t.w.s.names.typeID(name); ok {
		return id, nil
	}
	var id int64
	if err := t.queryRow("INSERT INTO types(name) VALUES(?) RETURNING tid", name).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: intern type %s: %w", name, err)
	}
	t.w.s.names.addType(name, id)
	t.interned = true
	return id, nil
}

// fieldID interns an index field of a type.
func (t *wtx) fieldID(tid int64, name string) (int64, error) {
	if id, ok := t.w.s.names.fieldID(tid, name); ok {
		return id, nil
	}
	var id int64
	if err := t.queryRow("INSERT INTO fields(tid, name) VALUES(?, ?) RETURNING fid", tid, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: intern field %s: %w", name, err)
	}
	t.w.s.names.addField(tid, name, id)
	t.interned = true
	return id, nil
}

// systemID interns a code system of token keys (tokenkey.go).
func (t *wtx) systemID(uri string) (int64, error) {
	if sid, ok := t.w.s.names.systemID(uri); ok {
		return sid, nil
	}
	var sid int64
	if err := t.queryRow("INSERT INTO systems(uri) VALUES(?) RETURNING sid", uri).Scan(&sid); err != nil {
		return 0, fmt.Errorf("sqlite: intern code system %s: %w", uri, err)
	}
	t.w.s.names.addSystem(uri, sid)
	t.interned = true
	return sid, nil
}

// tokenField marks field fid as holding token keys in their stored form (tokenkey.go).
func (t *wtx) tokenField(fid int64) error {
	if t.w.s.names.isToken(fid) {
		return nil
	}
	if _, err := t.exec("UPDATE fields SET tok = 1 WHERE fid = ?", fid); err != nil {
		return fmt.Errorf("sqlite: mark token field %d: %w", fid, err)
	}
	t.w.s.names.markToken(fid)
	t.interned = true // a rollback reloads the names, marks included
	return nil
}

// addVersion appends a version to ver and returns its sequence number. stored is body's stored form when
// the caller has it already (nil: the body is packed here).
func (t *wtx) addVersion(rid, tid, vid int64, lu time.Time, deleted bool, method string, body, stored []byte) (int64, error) {
	var seq int64
	ms := lu.UnixMilli()
	if stored == nil {
		stored = t.w.s.codec.pack(body)
	}
	err := t.queryRow("INSERT INTO ver(rid, tid, vid, lu, vis, deleted, method, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
		rid, tid, vid, ms, ms, deleted, method, stored).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("sqlite: store version: %w", err)
	}
	return seq, nil
}

func (t *wtx) create(w storage.Write) (*storage.Version, error) {
	return t.createStamped(w, nil)
}

// createStamped creates w; pre, when not nil, is w.Body already stamped for w.ID (prestamp).
func (t *wtx) createStamped(w storage.Write, pre *stamped) (*storage.Version, error) {
	if w.Type == "" {
		return nil, errors.New("sqlite: create: no resource type")
	}
	id := w.ID
	if id == "" {
		id = storage.NewID()
	}
	method := w.Method
	if method == "" {
		method = "POST"
	}
	tid, err := t.typeID(w.Type)
	if err != nil {
		return nil, err
	}
	c, err := t.current(tid, id)
	if err != nil {
		return nil, err
	}
	if c != nil {
		return nil, fmt.Errorf("sqlite: create %s/%s: %w", w.Type, id, storage.ErrExists)
	}
	lu := t.w.stamp(time.Time{})
	body, stored, ok := pre.at(lu, id)
	if !ok {
		if body, err = resource.Stamp(w.Body, id, "1", lu); err != nil {
			return nil, fmt.Errorf("sqlite: stamp %s/%s: %w", w.Type, id, err)
		}
	}
	var rid int64
	if err := t.queryRow("INSERT INTO res(tid, id, vid, lu, deleted, seq) VALUES(?, ?, 1, ?, 0, 0) RETURNING rid", tid, id, lu.UnixMilli()).Scan(&rid); err != nil {
		return nil, fmt.Errorf("sqlite: create %s/%s: %w", w.Type, id, err)
	}
	seq, err := t.addVersion(rid, tid, 1, lu, false, method, body, stored)
	if err != nil {
		return nil, err
	}
	if _, err := t.exec("UPDATE res SET seq = ? WHERE rid = ?", seq, rid); err != nil {
		return nil, fmt.Errorf("sqlite: create %s/%s: %w", w.Type, id, err)
	}
	if err := t.index(rid, tid, w.Index); err != nil {
		return nil, err
	}
	return &storage.Version{Type: w.Type, ID: id, VersionID: 1, LastUpdated: lu, Method: method, Body: body}, nil
}

// stamped is the body of a create stamped (id, versionId 1, meta.lastUpdated) before it reaches the
// writer, with a placeholder lastUpdated that the writer overwrites in place once it has chosen the real
// one: the parse and re-encoding of resource.Stamp (~100 µs for a 2 KB Patient) then runs in the
// request's goroutine instead of the single writer's. The result is byte for byte resource.Stamp's with
// the real lastUpdated, since Stamp's output depends on lastUpdated only through that one string, whose
// length is fixed (FormatInstant, UTC, milliseconds).
//
// The stored (compressed) form is made there too (packed): the writer would otherwise spend about a tenth
// of its time per create in zstd. It is concatenated zstd frames, which decode, as any sequence of frames
// does, to the whole body: one raw (uncompressed) block holding the body up to and including the instant
// (or, when that head is long, the head compressed and then the instant alone in the raw frame), then the
// rest compressed. The writer overwrites the instant in the raw block as in body. Costs ~50 bytes per
// version more than one frame (the head is not compressed and the rest cannot refer to it: 494 → 547
// bytes for a 725-byte Patient; TestPrestampPacked bounds it).
type stamped struct {
	body []byte
	id   string
	// off is where the placeholder instant starts in body.
	off int
	// stored is body's stored form (nil: the writer packs the body); storedOff is where the placeholder
	// instant starts in it.
	stored    []byte
	storedOff int
}

// placeholderLU is the lastUpdated a body is stamped with before the writer sets the real one.
var placeholderLU = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

const lastUpdatedMember = `"lastUpdated":"`

// prestamp stamps body as version 1 of id with the placeholder lastUpdated. It returns nil — the writer
// then stamps the body itself — when Stamp fails (the writer reports the error) or when the stamped body
// holds the placeholder member more than once (a client's body could), so that the one to overwrite is
// unambiguous.
func prestamp(body []byte, id string) *stamped {
	out, err := resource.Stamp(body, id, "1", placeholderLU)
	if err != nil {
		return nil
	}
	member := []byte(lastUpdatedMember + resource.FormatInstant(placeholderLU) + `"`)
	i := bytes.Index(out, member)
	if i < 0 || bytes.Contains(out[i+1:], member) {
		return nil
	}
	return &stamped{body: out, id: id, off: i + len(lastUpdatedMember)}
}

// packed makes s's stored form with c (see stamped) and returns s; a nil s stays nil.
func (s *stamped) packed(c *codec) *stamped {
	if s == nil {
		return nil
	}
	n := len(resource.FormatInstant(placeholderLU))
	end := s.off + n
	out := make([]byte, 0, len(s.body)/2+64)
	if end <= maxRawFrame {
		// The usual case: the id and meta come first, and the short head is not worth a frame of its own.
		out = append(out, rawFrame(s.body[:end])...)
	} else {
		out = append(c.pack(s.body[:s.off]), rawFrame(s.body[s.off:end])...)
	}
	s.storedOff = len(out) - n
	s.stored = c.enc.EncodeAll(s.body[end:], out)
	return s
}

// maxRawFrame is the most bytes rawFrame takes (its content size is one byte).
const maxRawFrame = 255

// rawFrame is a zstd frame holding b (at most 255 bytes) as one raw block, so that b's bytes appear
// verbatim at the frame's end (RFC 8878, 3.1.1): the magic number; a frame header descriptor with
// Single_Segment_Flag set and a 1-byte Frame_Content_Size; that size; the block header (Last_Block,
// Block_Type Raw, Block_Size, 3 bytes little-endian); b.
func rawFrame(b []byte) []byte {
	h := uint32(1) | uint32(len(b))<<3
	out := append([]byte{}, zstdMagic...)
	out = append(out, 0x20, byte(len(b)), byte(h), byte(h>>8), byte(h>>16))
	return append(out, b...)
}

// at returns the body with lastUpdated lu and its stored form (nil when not packed); ok is false when s
// is nil, was stamped for another id, or lu does not format to the placeholder's length.
func (s *stamped) at(lu time.Time, id string) (body, stored []byte, ok bool) {
	if s == nil || s.id != id {
		return nil, nil, false
	}
	v := resource.FormatInstant(lu)
	if len(v) != len(resource.FormatInstant(placeholderLU)) {
		return nil, nil, false
	}
	copy(s.body[s.off:], v)
	if s.stored != nil {
		copy(s.stored[s.storedOff:], v)
	}
	return s.body, s.stored, true
}

// conflict checks an If-Match precondition against the current row (nil: no resource).
func conflict(c *cur, pre storage.Precondition) error {
	if pre.VersionID == 0 {
		return nil
	}
	if c == nil {
		return &storage.VersionConflictError{Expected: pre.VersionID}
	}
	if c.vid != pre.VersionID || c.deleted {
		return &storage.VersionConflictError{Expected: pre.VersionID, Current: c.vid}
	}
	return nil
}

func (t *wtx) update(w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	if w.Type == "" || w.ID == "" {
		return nil, false, errors.New("sqlite: update: no resource type or id")
	}
	method := w.Method
	if method == "" {
		method = "PUT"
	}
	tid, err := t.typeID(w.Type)
	if err != nil {
		return nil, false, err
	}
	c, err := t.current(tid, w.ID)
	if err != nil {
		return nil, false, err
	}
	if err := conflict(c, pre); err != nil {
		return nil, false, err
	}
	if c == nil {
		w.Method = method
		v, err := t.create(w)
		return v, err == nil, err
	}
	vid := c.vid + 1
	lu := t.w.stamp(c.lu)
	body, err := resource.Stamp(w.Body, w.ID, strconv.FormatInt(vid, 10), lu)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: stamp %s/%s: %w", w.Type, w.ID, err)
	}
	seq, err := t.addVersion(c.rid, tid, vid, lu, false, method, body, nil)
	if err != nil {
		return nil, false, err
	}
	if _, err := t.exec("UPDATE res SET vid = ?, lu = ?, deleted = 0, seq = ? WHERE rid = ?", vid, lu.UnixMilli(), seq, c.rid); err != nil {
		return nil, false, fmt.Errorf("sqlite: update %s/%s: %w", w.Type, w.ID, err)
	}
	if err := t.unindex(c.rid); err != nil {
		return nil, false, err
	}
	if err := t.index(c.rid, tid, w.Index); err != nil {
		return nil, false, err
	}
	return &storage.Version{Type: w.Type, ID: w.ID, VersionID: vid, LastUpdated: lu, Method: method, Body: body}, c.deleted, nil
}

func (t *wtx) delete(typ, id string, pre storage.Precondition) (*storage.Version, error) {
	tid, err := t.typeID(typ)
	if err != nil {
		return nil, err
	}
	c, err := t.current(tid, id)
	if err != nil {
		return nil, err
	}
	if err := conflict(c, pre); err != nil {
		return nil, err
	}
	if c == nil || c.deleted {
		return nil, nil
	}
	vid := c.vid + 1
	lu := t.w.stamp(c.lu)
	seq, err := t.addVersion(c.rid, tid, vid, lu, true, "DELETE", nil, nil)
	if err != nil {
		return nil, err
	}
	if _, err := t.exec("UPDATE res SET vid = ?, lu = ?, deleted = 1, seq = ? WHERE rid = ?", vid, lu.UnixMilli(), seq, c.rid); err != nil {
		return nil, fmt.Errorf("sqlite: delete %s/%s: %w", typ, id, err)
	}
	if err := t.unindex(c.rid); err != nil {
		return nil, err
	}
	return &storage.Version{Type: typ, ID: id, VersionID: vid, LastUpdated: lu, Method: "DELETE", Deleted: true}, nil
}

// unindex removes a resource's search values.
func (t *wtx) unindex(rid int64) error {
	for _, q := range []string{"DELETE FROM ixk WHERE rid = ?", "DELETE FROM ixd WHERE rid = ?", "DELETE FROM srt WHERE rid = ?", deleteNumeric} {
		if _, err := t.exec(q, rid); err != nil {
			return fmt.Errorf("sqlite: remove index values: %w", err)
		}
	}
	return nil
}

// index stores a resource's search values (storage.Write.Index, as search.Registry.Index extracts them):
// string lists go to ixk under their field name, a string parameter's as one stringKey per value
// (stringkey.go); a date parameter's range (field_lo, field_hi, or each of
// field_r when it has several values) to ixd under the parameter's field; field_sort of a date or string
// parameter to srt (the others' sort keys are read from ixk). Rows are
// inserted with multi-row statements (one per table and up to rowsPerInsert rows).
func (t *wtx) index(rid, tid int64, idx map[string]any) error {
	var keys, dates, sorts, nums []any
	for name, val := range idx {
		switch {
		case strings.HasSuffix(name, search.SuffixNumeric):
			fid, err := t.fieldID(tid, strings.TrimSuffix(name, search.SuffixNumeric))
			if err != nil {
				return err
			}
			if nums, err = numericRows(nums, rid, fid, name, val); err != nil {
				return err
			}
		case strings.HasSuffix(name, search.SuffixSort):
			// Only date and string parameters' keys are stored, in the ordered walk (srt_walk): a
			// parameter of either type has, with every sort key, its date range (field_lo) or its :exact
			// values (field_e). The sort key of a token, reference or uri parameter is the least of its
			// values in ixk, which searches read there (search.go, sortKeys).
			base := strings.TrimSuffix(name, search.SuffixSort)
			if idx[base+search.SuffixLow] == nil && idx[base+search.SuffixExact] == nil && idx[base+search.SuffixNumeric] == nil {
				continue
			}
			s, ok := val.(string)
			if !ok {
				return fmt.Errorf("sqlite: index field %s: sort key of type %T", name, val)
			}
			fid, err := t.fieldID(tid, name)
			if err != nil {
				return err
			}
			sorts = append(sorts, rid, fid, s, t.walkMark(fid))
		case strings.HasSuffix(name, search.SuffixLow):
			base := strings.TrimSuffix(name, search.SuffixLow)
			ranges, err := dateRanges(idx, base)
			if err != nil {
				return err
			}
			fid, err := t.fieldID(tid, base)
			if err != nil {
				return err
			}
			for _, r := range ranges {
				dates = append(dates, rid, fid, r[0], r[1])
			}
		case strings.HasSuffix(name, search.SuffixHigh), strings.HasSuffix(name, search.SuffixRanges):
			// With field_lo.
		default:
			var vals []string
			token := false
			switch v := val.(type) {
			case []string:
				vals = v
			case search.TokenKeys:
				stored, err := storedTokenKeys(v, t.systemID)
				if err != nil {
					return err
				}
				vals, token = stored, true
			case string:
				vals = []string{v}
			default:
				return fmt.Errorf("sqlite: index field %s: values of type %T", name, val)
			}
			if len(vals) == 0 {
				continue
			}
			if _, ok := idx[name+search.SuffixExact]; ok {
				continue // a string parameter's normalised values: stored with its exact values, as stringKeys
			}
			if base, ok := stringField(idx, name); ok {
				name, vals = base, stringKeys(vals)
			}
			fid, err := t.fieldID(tid, name)
			if err != nil {
				return err
			}
			if token {
				if err := t.tokenField(fid); err != nil {
					return err
				}
			}
			for _, k := range vals {
				keys = append(keys, rid, fid, k)
			}
		}
	}
	if err := t.insertRows("INSERT OR IGNORE INTO ixk(rid, f, v) VALUES ", 3, keys); err != nil {
		return err
	}
	if err := t.insertRows("INSERT OR IGNORE INTO ixd(rid, f, lo, hi) VALUES ", 4, dates); err != nil {
		return err
	}
	if err := t.insertRows(insertNumeric, 5, nums); err != nil {
		return err
	}
	return t.insertRows("INSERT INTO srt(rid, f, v, w) VALUES ", 4, sorts)
}

// rowsPerInsert bounds the rows of one multi-row INSERT (and so the number of cached statement shapes).
const rowsPerInsert = 64

// insertRows inserts args (width values per row) with prefix followed by the VALUES tuples.
func (t *wtx) insertRows(prefix string, width int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/width, rowsPerInsert)
		tuple := "(" + placeholders(width) + ")"
		q := prefix + strings.Repeat(tuple+",", n-1) + tuple
		if _, err := t.exec(q, args[:n*width]...); err != nil {
			return fmt.Errorf("sqlite: store index values: %w", err)
		}
		args = args[n*width:]
	}
	return nil
}

// dateRanges returns the ranges of a date parameter as [lo, hi] microsecond pairs: each value's range
// when the index holds several (field_r), else the one range field_lo..field_hi.
func dateRanges(idx map[string]any, base string) ([][2]int64, error) {
	if rs, ok := idx[base+search.SuffixRanges].([]string); ok && len(rs) > 0 {
		out := make([][2]int64, 0, len(rs))
		for _, k := range rs {
			lo, hi, ok := search.ParseRangeKey(k)
			if !ok {
				return nil, fmt.Errorf("sqlite: index %s: bad range %q", base, k)
			}
			out = append(out, [2]int64{lowMicros(lo), highMicros(hi)})
		}
		return out, nil
	}
	lo, ok1 := idx[base+search.SuffixLow].(time.Time)
	hi, ok2 := idx[base+search.SuffixHigh].(time.Time)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("sqlite: index %s: want time values in %s and %s", base, base+search.SuffixLow, base+search.SuffixHigh)
	}
	return [][2]int64{{lowMicros(lo), highMicros(hi)}}, nil
}

// lowMicros and highMicros map an instant to Unix microseconds, rounding a range's start down and its end
// up (the index keeps microsecond precision; FHIR instants carry milliseconds).
func lowMicros(t time.Time) int64 { return t.Unix()*1e6 + int64(t.Nanosecond())/1e3 }

func highMicros(t time.Time) int64 {
	us := t.Unix()*1e6 + int64(t.Nanosecond())/1e3
	if t.Nanosecond()%1e3 != 0 {
		us++
	}
	return us
}
