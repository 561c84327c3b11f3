package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/careflow/careflow/storage"
)

// ImportResource replaces whatever the store holds for typ/id with exactly versions — the resource's
// complete history, oldest first, as another store lists it (careflow copy) — keeping their version
// numbers, lastUpdated, methods, deletions and bodies byte for byte, and indexes the current version with
// index (search values as search.Registry.Index extracts them; none when that version is a deletion).
//
// It is one write of the writer, in one savepoint of its transaction: readers, and a crash, see the
// resource as it was or as imported, never in between. The versions take new sequence numbers and, as
// their visibility instant (vis), the time of the import (importVisible): the change feed lists them as
// written now, after everything listed before, while their lastUpdated stays the original one.
func (s *Store) ImportResource(ctx context.Context, typ, id string, versions []*storage.Version, index map[string]any) error {
	if err := storage.CheckImport(typ, id, versions, index); err != nil {
		return err
	}
	last := versions[len(versions)-1]
	return s.w.do(ctx, func(t *wtx) error {
		tid, err := t.typeID(typ)
		if err != nil {
			return err
		}
		c, err := t.current(tid, id)
		if err != nil {
			return err
		}
		var rid int64
		if c != nil {
			rid = c.rid
			if _, err := t.exec("DELETE FROM ver WHERE rid = ?", rid); err != nil {
				return fmt.Errorf("sqlite: import %s/%s: remove the versions held: %w", typ, id, err)
			}
			if err := t.unindex(rid); err != nil {
				return err
			}
		} else if err := t.queryRow("INSERT INTO res(tid, id, vid, lu, deleted, seq) VALUES(?, ?, ?, ?, ?, 0) RETURNING rid",
			tid, id, last.VersionID, last.LastUpdated.UnixMilli(), last.Deleted).Scan(&rid); err != nil {
			return fmt.Errorf("sqlite: import %s/%s: %w", typ, id, err)
		}
		vis := t.w.importVisible().UnixMilli()
		var seq int64
		for _, v := range versions {
			var body []byte
			if !v.Deleted {
				body = t.w.s.codec.pack(v.Body)
			}
			if err := t.queryRow("INSERT INTO ver(rid, tid, vid, lu, vis, deleted, method, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
				rid, tid, v.VersionID, v.LastUpdated.UnixMilli(), vis, v.Deleted, v.Method, body).Scan(&seq); err != nil {
				return fmt.Errorf("sqlite: import %s/%s/%d: %w", typ, id, v.VersionID, err)
			}
		}
		if _, err := t.exec("UPDATE res SET vid = ?, lu = ?, deleted = ?, seq = ? WHERE rid = ?",
			last.VersionID, last.LastUpdated.UnixMilli(), last.Deleted, seq, rid); err != nil {
			return fmt.Errorf("sqlite: import %s/%s: %w", typ, id, err)
		}
		if last.Deleted {
			return nil
		}
		return t.index(rid, tid, index)
	})
}

// importVisible returns the visibility instant of imported versions, under the rules of stamp: now, at
// millisecond precision, at or after every version written before and every horizon handed out (so the
// change feed stays in sequence order and a traversal that took a horizon before it still lists it
// later), and it opens the group for horizon. Unlike stamp it need not be strictly after the last one —
// the feed orders equal instants by sequence number, and no lastUpdated is derived from it — so a bulk
// import does not push the writer's clock ahead of real time.
func (w *writer) importVisible() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.s.now().UTC().Truncate(time.Millisecond)
	if t.Before(w.last) {
		t = w.last
	}
	if t.Before(w.floor) {
		t = w.floor
	}
	w.last = t
	if w.open.IsZero() {
		w.open = t
	}
	return t
}
