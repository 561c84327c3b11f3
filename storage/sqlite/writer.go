package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// errClosed reports a write submitted to a closed store.
var errClosed = errors.New("sqlite: store closed")

// writer owns the one writer connection. Writes are jobs run by one goroutine: it opens a transaction,
// runs the job that woke it and every job queued meanwhile (up to batch), commits once and only then
// reports each job's outcome (group commit). A job that fails fails alone (see group); a failed commit
// fails every job of the group.
type writer struct {
	s     *Store
	conn  *sql.Conn
	batch int
	jobs  chan *job
	quit  chan struct{}
	ended chan struct{}
	stmts map[string]wstmt
	once  sync.Once
	// walked are the fields whose sort keys go to srt_walk (walked.go); the writer's alone.
	walked map[int64]bool

	// mu guards the clock of the change feed (see horizon).
	mu sync.Mutex
	// last is the newest lastUpdated handed out; versions get strictly increasing ones.
	last time.Time
	// floor is the newest horizon handed out: later versions get a lastUpdated at or after it.
	floor time.Time
	// open is the lastUpdated of the first version of the group being written (zero when none): every
	// version not yet committed has a lastUpdated at or after it.
	open time.Time
}

type job struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
}

func newWriter(s *Store, conn *sql.Conn, batch int, walked map[int64]bool) *writer {
	w := &writer{s: s, conn: conn, batch: batch, jobs: make(chan *job, batch), quit: make(chan struct{}),
		ended: make(chan struct{}), stmts: map[string]wstmt{}, walked: walked}
	go w.loop()
	return w
}

// do runs fn in the writer and waits until its group has committed (nil) or it failed. fn must not keep
// the *wtx. Once submitted, a job is waited for even if ctx ends: the caller learns whether it landed.
func (w *writer) do(ctx context.Context, fn func(*wtx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case w.jobs <- j:
	case <-w.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-w.ended:
		select {
		case err := <-j.done:
			return err
		default:
			return errClosed
		}
	}
}

// stop finishes the queued jobs and ends the writer.
func (w *writer) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.ended
	for _, ws := range w.stmts {
		_ = ws.st.Close()
	}
	_ = w.conn.Close()
}

func (w *writer) alive() error {
	select {
	case <-w.ended:
		return errClosed
	default:
		return nil
	}
}

func (w *writer) loop() {
	defer close(w.ended)
	for {
		var first *job
		select {
		case first = <-w.jobs:
		case <-w.quit:
			// Finish what was queued before the store closed.
			for {
				select {
				case j := <-w.jobs:
					w.group(j)
				default:
					return
				}
			}
		}
		w.group(first)
	}
}

// group writes first and the jobs queued behind it in one transaction.
func (w *writer) group(first *job) {
	ctx := context.Background() // a request's cancellation must not abort the writes it shares a commit with
	g := &group{t: &wtx{w: w, ctx: ctx}}
	if err := g.begin(); err != nil {
		first.done <- err
		return
	}
	g.add(first)
fill:
	for len(g.jobs) < w.batch && g.broken == nil {
		select {
		case j := <-w.jobs:
			g.add(j)
		default:
			break fill
		}
	}
	err := g.broken
	if h := w.s.hooks.BeforeCommit; h != nil && err == nil {
		err = h(len(g.jobs))
	}
	if err == nil {
		if _, cerr := w.conn.ExecContext(ctx, "COMMIT"); cerr != nil {
			err = fmt.Errorf("sqlite: commit: %w", cerr)
		}
	} else if g.broken == nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
	}
	if h := w.s.hooks.AfterCommit; h != nil && err == nil {
		h(len(g.jobs))
	}
	if err != nil {
		g.rollback()
	}
	if w.s.cache != nil {
		w.s.cache.settle() // before any acknowledgement (cache.go)
	}
	w.mu.Lock()
	w.open = time.Time{}
	w.mu.Unlock()
	for i, j := range g.jobs {
		if g.errs[i] == nil {
			g.errs[i] = err
		}
		j.done <- g.errs[i]
	}
}

// group is the transaction of one group commit and the jobs run in it. Jobs run without savepoints: a
// savepoint makes SQLite copy every page a job changes before changing it (the sub-journal), which cost
// about 15 % of a create's CPU. A job that fails before changing anything — a failed precondition, an
// existing id, a cancelled request — fails alone at no cost. One that fails after a change cannot be
// undone on its own: the transaction is rolled back and the jobs of the group that had succeeded run
// again, in order, in a new one (restart), so each job still lands or fails alone.
type group struct {
	t    *wtx
	jobs []*job
	errs []error
	// broken is set when the transaction could not be restarted: every job of the group fails with it.
	broken error
}

func (g *group) begin() error {
	if _, err := g.t.w.conn.ExecContext(g.t.ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	g.t.interned, g.t.walkedChanged = false, false
	return nil
}

// rollback ends the open transaction without its changes; names interned in it are reloaded from the file.
func (g *group) rollback() {
	t := g.t
	_, _ = t.w.conn.ExecContext(t.ctx, "ROLLBACK")
	if t.interned {
		// Names interned in the lost transaction are gone: reload them from the file.
		if err := t.w.s.names.load(t.ctx, t.w.conn); err != nil {
			t.w.s.log.Error("sqlite: reload names after a rollback", "err", err)
		}
	}
	if t.walkedChanged {
		// So are fields made walked in it.
		if walked, err := loadWalked(t.ctx, t.w.conn); err != nil {
			t.w.s.log.Error("sqlite: reload the walked fields after a rollback", "err", err)
		} else {
			t.w.walked = walked
		}
	}
	t.interned, t.walkedChanged = false, false
}

// add runs j in the open transaction and records its outcome.
func (g *group) add(j *job) {
	g.jobs = append(g.jobs, j)
	g.errs = append(g.errs, nil)
	i := len(g.jobs) - 1
	switch {
	case g.broken != nil:
		g.errs[i] = g.broken
	case j.ctx.Err() != nil:
		g.errs[i] = j.ctx.Err()
	default:
		if err := g.t.run(j); err != nil {
			g.errs[i] = err
			if g.t.dirty {
				g.restart()
			}
		}
	}
}

// restart rolls the transaction back and runs again every job of the group that has not failed. A job
// that fails now (it should not: it sees what it saw the first time) is marked failed, and if it had
// changed something the transaction starts over once more; each round marks one more job failed, so
// this ends.
func (g *group) restart() {
	for {
		g.rollback()
		if err := g.begin(); err != nil {
			g.broken = err
			for i := range g.errs {
				if g.errs[i] == nil {
					g.errs[i] = err
				}
			}
			return
		}
		again := false
		for i, j := range g.jobs {
			if g.errs[i] != nil {
				continue
			}
			if err := g.t.run(j); err != nil {
				g.errs[i] = err
				if g.t.dirty {
					again = true
					break
				}
			}
		}
		if !again {
			return
		}
	}
}

// stamp returns the lastUpdated of a new version: now at millisecond precision, after every version
// written before (strictly) and at or after every horizon handed out, and after prev, the version it
// replaces.
func (w *writer) stamp(prev time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.s.now().UTC().Truncate(time.Millisecond)
	if !t.After(w.last) {
		t = w.last.Add(time.Millisecond)
	}
	if !t.After(prev) {
		t = prev.Add(time.Millisecond)
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

// horizon returns an instant H such that every version with a lastUpdated (visibility instant) before H
// has committed, and every later version will get one at or after H. A reader that takes H and then
// opens its snapshot sees exactly the versions before H among those it selects (feed.go).
func (w *writer) horizon() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.open.IsZero() {
		return w.open
	}
	h := w.s.now().UTC().Truncate(time.Millisecond)
	if !h.After(w.last) {
		h = w.last.Add(time.Millisecond)
	}
	if h.After(w.floor) {
		w.floor = h
	}
	return h
}

// wtx is the writer's view of the open transaction, for one job at a time.
type wtx struct {
	w   *writer
	ctx context.Context
	// interned: a job of the open transaction added a type or field name.
	interned bool
	// walkedChanged: a job of the open transaction made a field walked.
	walkedChanged bool
	// dirty: the running job ran a statement that changes the database.
	dirty bool
}

// run runs one job in the open transaction; afterwards dirty tells whether it ran a statement that
// changes the database (and so, when it failed, left changes that only a rollback of the transaction
// removes).
func (t *wtx) run(j *job) error {
	t.dirty = false
	return j.fn(t)
}

// wstmt is a prepared statement of the writer; writes tells whether it may change the database (it is
// not a SELECT).
type wstmt struct {
	st     *sql.Stmt
	writes bool
}

// stmt returns the writer's prepared statement for q and marks the job dirty when q may change the
// database.
func (t *wtx) stmt(q string) (*sql.Stmt, error) {
	ws, ok := t.w.stmts[q]
	if !ok {
		st, err := t.w.conn.PrepareContext(t.ctx, q)
		if err != nil {
			t.dirty = t.dirty || !isSelect(q)
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		ws = wstmt{st: st, writes: !isSelect(q)}
		t.w.stmts[q] = ws
	}
	t.dirty = t.dirty || ws.writes
	return ws.st, nil
}

// isSelect tells whether q only reads.
func isSelect(q string) bool {
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

func (t *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *wtx) queryRow(q string, args ...any) *sql.Row {
	st, err := t.stmt(q)
	if err != nil {
		return t.w.conn.QueryRowContext(t.ctx, q, args...) // reports the same error on Scan
	}
	return st.QueryRowContext(t.ctx, args...)
}
