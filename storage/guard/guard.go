// Package guard wraps a storage.Store so that a failing or unreachable database, and a search that runs
// too long, never hold a request or answer 500:
//
//   - every call is bounded: point calls (Create, Read, VRead, Update, Delete, Exists, Lock, Ping) by
//     DBTimeout, Transact by DBTimeout per 100 ops, queries (Search, History, Distinct, Referrers and
//     ReadConsistent, which holds searches) by QueryTimeout — the search-time budget;
//   - a call that fails because the database did not answer (its DBTimeout passed, or an error that is not
//     one of the storage contract's and a quick Ping fails) returns a 503 OperationOutcome with issue code
//     transient (the HTTP layer adds Retry-After); while the database is down, queries are bounded by
//     DBTimeout too, so that every request answers within it; the first call that succeeds again ends that;
//   - a query that exceeds its budget while the database answers returns a 400 OperationOutcome with issue
//     code too-costly: the same search would exceed it again, so it is the client's to narrow, not to retry;
//   - a store opened with Opening serves 503 until its database first answers (careflow starts while the
//     database is down), opening it in the background.
//
// The stores stop their own work when a call's context ends (storage/sqlite: the driver interrupts the
// statement; storage/mongo: the driver sends the deadline as maxTimeMS and abandons the operation), so a
// bounded call frees the database too. The tests of this package check that with both stores.
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Defaults of Options.
const (
	DefaultDBTimeout    = 5 * time.Second
	DefaultQueryTimeout = 30 * time.Second
	// txOpsPerTimeout: a transaction gets one DBTimeout per this many ops (at least one).
	txOpsPerTimeout = 100
)

// Options tune a guarded store.
type Options struct {
	// DBTimeout bounds every point call and how long a request waits for a database that does not answer.
	DBTimeout time.Duration
	// QueryTimeout is the budget of a query (search, history, $meta's distinct values, referrers).
	QueryTimeout time.Duration
	// RetryOpen is the pause between attempts to open a store with Opening (default 1 s, doubling to 16 s).
	RetryOpen time.Duration
	// Logger receives the warnings (database down, back, not opened yet); nil discards them.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.DBTimeout <= 0 {
		o.DBTimeout = DefaultDBTimeout
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.RetryOpen <= 0 {
		o.RetryOpen = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a guarded storage.Store.
type Store struct {
	o     Options
	store atomic.Pointer[storage.Store] // nil until an Opening store is open
	down  atomic.Bool                   // the last call found the database unavailable

	stopOpening context.CancelFunc
	opened      chan struct{} // closed when the background opening ends (opened or stopped)
	closeOnce   sync.Once
}

// New guards an open store.
func New(s storage.Store, o Options) *Store {
	o.defaults()
	g := &Store{o: o, opened: make(chan struct{})}
	g.store.Store(&s)
	close(g.opened)
	return g
}

// Opening returns a guarded store that opens itself in the background with open, retrying until it
// succeeds or ctx ends (or Close is called); until then every call answers 503 and Ping fails.
func Opening(ctx context.Context, open func(ctx context.Context) (storage.Store, error), o Options) *Store {
	o.defaults()
	ctx, cancel := context.WithCancel(ctx)
	g := &Store{o: o, opened: make(chan struct{}), stopOpening: cancel}
	go g.open(ctx, open)
	return g
}

func (g *Store) open(ctx context.Context, open func(ctx context.Context) (storage.Store, error)) {
	defer close(g.opened)
	wait := g.o.RetryOpen
	for attempt := 1; ; attempt++ {
		s, err := open(ctx)
		if err == nil {
			g.store.Store(&s)
			if attempt > 1 {
				g.o.Logger.Info("storage: database reachable, store open", "attempts", attempt)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		g.o.Logger.Warn("storage: cannot open the store yet; answering 503 until the database answers", "err", err, "attempt", attempt, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 16*g.o.RetryOpen)
	}
}

// Close stops a background opening and closes the store when it has a Close method.
func (g *Store) Close(ctx context.Context) error {
	var err error
	g.closeOnce.Do(func() {
		if g.stopOpening != nil {
			g.stopOpening()
		}
		select {
		case <-g.opened:
		case <-ctx.Done():
			err = fmt.Errorf("guard: waiting for the store's opening: %w", ctx.Err())
			return
		}
		if p := g.store.Load(); p != nil {
			if c, ok := (*p).(interface{ Close(context.Context) error }); ok {
				err = c.Close(ctx)
			}
		}
	})
	return err
}

// Opened reports whether the store is open (always, for New).
func (g *Store) Opened() bool { return g.store.Load() != nil }

// OpenDone is closed when the background opening has ended: the store opened, or the opening was
// stopped (for New, at once).
func (g *Store) OpenDone() <-chan struct{} { return g.opened }

// Unwrap returns the guarded store (nil while an Opening store is not open).
func (g *Store) Unwrap() storage.Store {
	if p := g.store.Load(); p != nil {
		return *p
	}
	return nil
}

// errDBTimeout and errBudget are the causes of the contexts guard bounds calls with.
var (
	errDBTimeout = errors.New("guard: the database did not answer within the database timeout")
	errBudget    = errors.New("guard: the query exceeded its time budget")
)

// unavailable is the 503 of a database that does not answer.
func unavailable(cause error) error {
	e := outcome.New(http.StatusServiceUnavailable, outcome.CodeTransient, "the database is unavailable or did not answer in time; retry later")
	e.Cause = cause
	return e
}

// tooCostly is the 400 of a query over its budget. Its cause does not wrap the context error, so that no
// layer above maps it to a timeout (503) again.
func tooCostly(budget time.Duration, cause error) error {
	e := outcome.New(http.StatusBadRequest, outcome.CodeTooCostly, "the search exceeded the server's time budget of %s and was stopped; narrow it (fewer chained or _has criteria, more selective values, a smaller _count)", budget)
	e.Cause = errors.New(cause.Error())
	return e
}

// known reports whether err is an answer of the storage contract (or of a decorator), not a database
// failure.
func known(err error) bool {
	var gone *storage.GoneError
	var conflict *storage.VersionConflictError
	var oe *outcome.Error
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExists) || errors.Is(err, storage.ErrBadCursor) ||
		errors.Is(err, storage.ErrTooCostly) || errors.Is(err, storage.ErrTxInvalid) || errors.Is(err, storage.ErrTxAborted) ||
		errors.As(err, &gone) || errors.As(err, &conflict) || errors.As(err, &oe)
}

// call is one bounded store call.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
	cause  error // errDBTimeout or errBudget: which bound applies
	budget time.Duration
}

// begin bounds a call: queries by the budget (by DBTimeout while the database is down), others by d.
func (g *Store) begin(ctx context.Context, query bool, d time.Duration) (*call, storage.Store, error) {
	p := g.store.Load()
	if p == nil {
		return nil, nil, unavailable(errors.New("guard: the store is not open yet (its database has not answered)"))
	}
	c := &call{cause: errDBTimeout}
	if query && !g.down.Load() {
		d, c.cause = g.o.QueryTimeout, errBudget
	}
	c.budget = d
	c.ctx, c.cancel = context.WithTimeoutCause(ctx, d, c.cause)
	return c, *p, nil
}

// end classifies a call's error and records the database's state.
func (g *Store) end(parent context.Context, c *call, s storage.Store, err error) error {
	defer c.cancel()
	if err == nil || known(err) {
		if g.down.CompareAndSwap(true, false) {
			g.o.Logger.Info("storage: the database answers again")
		}
		return err
	}
	if parent.Err() != nil {
		return err // the request ended (client gone, its own deadline): not the database's doing
	}
	cause := context.Cause(c.ctx)
	if cause == nil && timedOut(err) {
		// The MongoDB driver gives up at the deadline it derived from the context, a moment before the
		// context itself ends.
		cause = c.cause
	}
	switch cause {
	case errBudget:
		if g.answers(parent, s) {
			return tooCostly(c.budget, err)
		}
		return g.markDown(err)
	case errDBTimeout:
		// Down, or answering too slowly (overloaded, a lock held long): 503 either way; only a database
		// that does not answer a ping bounds the queries that follow by DBTimeout.
		if g.down.Load() || !g.answers(parent, s) {
			return g.markDown(err)
		}
		return unavailable(err)
	}
	// Another error: the database failed, or something else did (kept as it is, a 500).
	if g.down.Load() || !g.answers(parent, s) {
		return g.markDown(err)
	}
	return err
}

// timedOut reports whether err is a timeout (a context deadline, or a network timeout).
func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

func (g *Store) markDown(err error) error {
	if g.down.CompareAndSwap(false, true) {
		g.o.Logger.Warn("storage: the database does not answer; requests answer 503 until it does", "err", err)
	}
	return unavailable(err)
}

// answers pings the database within a fifth of DBTimeout.
func (g *Store) answers(parent context.Context, s storage.Store) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), g.o.DBTimeout/5)
	defer cancel()
	return s.Ping(ctx) == nil
}

func (g *Store) point(ctx context.Context) (*call, storage.Store, error) {
	return g.begin(ctx, false, g.o.DBTimeout)
}

func (g *Store) query(ctx context.Context) (*call, storage.Store, error) {
	return g.begin(ctx, true, g.o.DBTimeout)
}

// Create implements storage.Store.
func (g *Store) Create(ctx context.Context, w storage.Write) (*storage.Version, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.Create(c.ctx, w)
	return v, g.end(ctx, c, s, err)
}

// Read implements storage.Store.
func (g *Store) Read(ctx context.Context, typ, id string) (*storage.Version, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.Read(c.ctx, typ, id)
	return v, g.end(ctx, c, s, err)
}

// VRead implements storage.Store.
func (g *Store) VRead(ctx context.Context, typ, id string, versionID int64) (*storage.Version, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.VRead(c.ctx, typ, id, versionID)
	return v, g.end(ctx, c, s, err)
}

// Update implements storage.Store.
func (g *Store) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, false, err
	}
	v, created, err := s.Update(c.ctx, w, pre)
	return v, created, g.end(ctx, c, s, err)
}

// Delete implements storage.Store.
func (g *Store) Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.Delete(c.ctx, typ, id, pre)
	return v, g.end(ctx, c, s, err)
}

// History implements storage.Store (a query).
func (g *Store) History(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	c, s, err := g.query(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.History(c.ctx, q)
	return p, g.end(ctx, c, s, err)
}

// Search implements storage.Store (a query).
func (g *Store) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	c, s, err := g.query(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.Search(c.ctx, q)
	return p, g.end(ctx, c, s, err)
}

// Exists implements storage.Store.
func (g *Store) Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.Exists(c.ctx, typ, ids)
	return m, g.end(ctx, c, s, err)
}

// Referrers implements storage.Store (a query).
func (g *Store) Referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	c, s, err := g.query(ctx)
	if err != nil {
		return nil, 0, err
	}
	refs, total, err := s.Referrers(c.ctx, keys, limit)
	return refs, total, g.end(ctx, c, s, err)
}

// Distinct implements storage.Store (a query).
func (g *Store) Distinct(ctx context.Context, typ string, fields ...string) (map[string][]string, error) {
	c, s, err := g.query(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.Distinct(c.ctx, typ, fields...)
	return m, g.end(ctx, c, s, err)
}

// Lock implements storage.Store: waiting for the lock is bounded by DBTimeout too (503 beyond); the lock
// itself is held until released (neither store ties it to the context it was taken with).
func (g *Store) Lock(ctx context.Context, name string) (func(), error) {
	c, s, err := g.point(ctx)
	if err != nil {
		return nil, err
	}
	release, err := s.Lock(c.ctx, name)
	return release, g.end(ctx, c, s, err)
}

// Ping implements storage.Store.
func (g *Store) Ping(ctx context.Context) error {
	c, s, err := g.point(ctx)
	if err != nil {
		return err
	}
	err = s.Ping(c.ctx)
	defer c.cancel()
	if err != nil {
		return fmt.Errorf("guard: ping: %w", err)
	}
	if g.down.CompareAndSwap(true, false) {
		g.o.Logger.Info("storage: the database answers again")
	}
	return nil
}

// Transact implements storage.Store: bounded by DBTimeout per 100 ops.
func (g *Store) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	c, s, err := g.begin(ctx, false, g.o.DBTimeout*time.Duration(1+len(ops)/txOpsPerTimeout))
	if err != nil {
		return nil, err
	}
	res, err := s.Transact(c.ctx, ops)
	return res, g.end(ctx, c, s, err)
}

// ReadConsistent passes the store's consistent reads through (storage.ConsistentReader), bounded as a
// query.
func (g *Store) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	c, s, err := g.query(ctx)
	if err != nil {
		return err
	}
	err = storage.ReadConsistent(c.ctx, s, types, read)
	return g.end(ctx, c, s, err)
}

// SearchIndex passes the store's index-only searches on (storage/sqlite; the workflows' fetcher uses them),
// bounded as a query. A store without them answers errors.ErrUnsupported before reading anything, and
// the caller reads bodies instead.
func (g *Store) SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error {
	type indexSearcher interface {
		SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
	}
	if _, ok := g.Unwrap().(indexSearcher); !ok {
		return errors.ErrUnsupported
	}
	c, s, err := g.query(ctx)
	if err != nil {
		return err
	}
	x, ok := s.(indexSearcher)
	if !ok {
		return g.end(ctx, c, s, errors.ErrUnsupported)
	}
	return g.end(ctx, c, s, x.SearchIndex(c.ctx, q, fields, fn))
}

// SearchBatch passes the store's search batch size on (the workflows' fetcher asks for it); 0 when it
// has none or is not open.
func (g *Store) SearchBatch() int {
	if h, ok := g.Unwrap().(interface{ SearchBatch() int }); ok {
		return h.SearchBatch()
	}
	return 0
}
