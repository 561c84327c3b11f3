package sqlite

import (
	"context"
	"errors"
	"fmt"
)

// Walked fields. A search sorted on a date or string parameter with no selective criterion walks the
// parameter's sort keys in order (srt_walk, search.go walk) and stops after the page. Keeping a key in that
// ordered index costs a write a page of the index per key, scattered by value: 6.4 of the 48 pages a
// Patient create wrote (docs/PERFORMANCE.md, session 9), for sorts most fields never see. So a field's keys
// join srt_walk (srt.w = 1) only once the field is walked — listed in the table walked — and a field
// becomes walked the first time a search would walk it: that search sorts its matches instead (as one
// selecting few resources does), and asks the writer to mark the field's stored keys and list it, in one
// transaction. Readers check the list in their own snapshot, so no search walks a field whose keys are
// not all in srt_walk. Opening a file written before (version 6 or earlier) lists every field that
// already has keys in srt_walk.

// loadWalked reads the walked fields from the file.
func loadWalked(ctx context.Context, q queryer) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT f FROM walked")
	if err != nil {
		return nil, fmt.Errorf("sqlite: load the walked fields: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var f int64
		if err := rows.Scan(&f); err != nil {
			return nil, fmt.Errorf("sqlite: load the walked fields: %w", err)
		}
		out[f] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load the walked fields: %w", err)
	}
	return out, nil
}

// walkMark is srt.w for a sort key of field f: 1 (in srt_walk) when the field is walked, else NULL.
func (t *wtx) walkMark(f int64) any {
	if t.w.walked[f] {
		return 1
	}
	return nil
}

// enableWalk lists field f as walked and puts its stored keys in srt_walk (a scan of srt, once per field).
func (t *wtx) enableWalk(f int64) error {
	if t.w.walked[f] {
		return nil
	}
	if _, err := t.exec("INSERT OR IGNORE INTO walked(f) VALUES (?)", f); err != nil {
		return fmt.Errorf("sqlite: walk field %d: %w", f, err)
	}
	if _, err := t.exec("UPDATE srt SET w = 1 WHERE f = ? AND w IS NULL", f); err != nil {
		return fmt.Errorf("sqlite: walk field %d: %w", f, err)
	}
	t.w.walked[f] = true
	t.walkedChanged = true
	return nil
}

// isWalked reports whether field f is walked in the snapshot db reads.
func isWalked(ctx context.Context, db rowQueryer, f int64) (bool, error) {
	var ok bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM walked WHERE f = ?)", f).Scan(&ok); err != nil {
		return false, fmt.Errorf("sqlite: search: is field %d walked: %w", f, err)
	}
	return ok, nil
}

// requestWalk asks the writer, once, to make field f walked; it does not wait (Store.walks does).
func (s *Store) requestWalk(f int64) {
	if _, asked := s.walkAsked.LoadOrStore(f, true); asked {
		return
	}
	s.walks.Add(1)
	go func() {
		defer s.walks.Done()
		if err := s.w.do(context.Background(), func(t *wtx) error { return t.enableWalk(f) }); err != nil {
			s.walkAsked.Delete(f)
			if !errors.Is(err, errClosed) {
				s.log.Warn("sqlite: could not make a sort field walked", "field", f, "err", err)
			}
		}
	}()
}

// walkedUpgrade lists, in a file of version 6 or earlier, every field with keys in srt_walk.
var walkedUpgrade = []string{
	`CREATE TABLE walked(f INTEGER PRIMARY KEY)`,
	`INSERT INTO walked SELECT DISTINCT f FROM srt WHERE w`,
}
