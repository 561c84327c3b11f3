package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errClosed reports a write submitted to a closed store.
var errClosed = errors.New("sqlite: store closed")

// writer owns the one writer connection. Writes are jobs run by one goroutine: it opens a transaction,
// runs the job that woke it and every job queued meanwhile (up to batch), each in a savepoint, commits once
// and only then reports each job's outcome (group commit). A job that fails is rolled back to its
// savepoint and fails alone; a failed commit fails every job of the group.
type writer struct {
	s     *Store
	conn  *sql.Conn
	batch int
	jobs  chan *job
	quit  chan struct{}
	ended chan struct{}
	stmts map[string]*sql.Stmt
	once  sync.Once

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

func newWriter(s *Store, conn *sql.Conn, batch int) *writer {
	w := &writer{s: s, conn: conn, batch: batch, jobs: make(chan *job, batch), quit: make(chan struct{}),
		ended: make(chan struct{}), stmts: map[string]*sql.Stmt{}}
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
	for _, st := range w.stmts {
		_ = st.Close()
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
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		first.done <- fmt.Errorf("sqlite: begin: %w", err)
		return
	}
	t := &wtx{w: w, ctx: ctx}
	var ran []*job
	var errs []error
	run := func(j *job) {
		ran = append(ran, j)
		errs = append(errs, t.run(j))
	}
	run(first)
fill:
	for len(ran) < w.batch {
		select {
		case j := <-w.jobs:
			run(j)
		default:
			break fill
		}
	}
	var err error
	if h := w.s.hooks.BeforeCommit; h != nil {
		err = h(len(ran))
	}
	if err == nil {
		_, err = w.conn.ExecContext(ctx, "COMMIT")
	}
	if h := w.s.hooks.AfterCommit; h != nil && err == nil {
		h(len(ran))
	}
	if err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		// Names interned in the lost transaction are gone: reload them from the file.
		if lerr := w.s.names.load(ctx, w.conn); lerr != nil {
			w.s.log.Error("sqlite: reload names after a failed commit", "err", lerr)
		}
	}
	w.mu.Lock()
	w.open = time.Time{}
	w.mu.Unlock()
	for i, j := range ran {
		if errs[i] == nil {
			errs[i] = err
		}
		j.done <- errs[i]
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
	// interned: the running job added a type or field name.
	interned bool
}

// run runs one job in its own savepoint.
func (t *wtx) run(j *job) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	if _, err := t.w.conn.ExecContext(t.ctx, "SAVEPOINT job"); err != nil {
		return fmt.Errorf("sqlite: savepoint: %w", err)
	}
	t.interned = false
	if err := j.fn(t); err != nil {
		if _, rerr := t.w.conn.ExecContext(t.ctx, "ROLLBACK TO job"); rerr != nil {
			return errors.Join(err, fmt.Errorf("sqlite: roll back a failed write: %w", rerr))
		}
		_, _ = t.w.conn.ExecContext(t.ctx, "RELEASE job")
		if t.interned {
			// The names this job interned were rolled back with it.
			if lerr := t.w.s.names.load(t.ctx, t.w.conn); lerr != nil {
				return errors.Join(err, lerr)
			}
		}
		return err
	}
	if _, err := t.w.conn.ExecContext(t.ctx, "RELEASE job"); err != nil {
		return fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return nil
}

// stmt returns the writer's prepared statement for q.
func (t *wtx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := t.w.stmts[q]; ok {
		return st, nil
	}
	st, err := t.w.conn.PrepareContext(t.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
	}
	t.w.stmts[q] = st
	return st, nil
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

func (t *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}
