package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the statements searches run prepared, by SQL text, on the read pool: compiling a
// search's statements (sqlite3_prepare_v2) was 7.5 % of ingest's CPU, whose conditional creates run the
// same few statements with new values thousands of times. A cached statement is a database/sql Stmt of the
// read pool; a read transaction runs it through Tx.StmtContext, which reuses the statement already
// prepared on the transaction's connection (and prepares it there, once, the first time). The cache holds
// at most max texts, least recently used first out (closing a statement in use is deferred by
// database/sql until its runs end).
//
// A text not cached yet runs unprepared in the transaction as before, and is prepared on the pool in the
// background: preparing on the pool needs a free connection, and the transaction holds one, so a search
// waiting for it could wait for itself when every connection is in a transaction.
type stmtCache struct {
	db  *sql.DB
	max int

	mu      sync.Mutex
	byText  map[string]*list.Element // of *cachedStmt
	lru     *list.List               // front: most recently used
	closed  bool
	pending sync.WaitGroup // the preparations under way (close waits for them; tests too)
	// ctx is the preparations' context, cancelled by close: one waiting for a free read connection gives up.
	ctx    context.Context
	cancel context.CancelFunc
}

type cachedStmt struct {
	text string
	st   *sql.Stmt // nil while being prepared
}

// searchStmtCacheSize bounds the cached search statements. Searches differ in shape (criteria, number of
// values, page size), not in values, so a server's working set is a few dozen texts.
const searchStmtCacheSize = 256

// maxCachedText is the longest SQL text cached: longer ones (the adapters' lookups of hundreds of values
// OR-ed in one criterion, each count of values its own text) are one-offs whose compilation is small
// next to their run, and each prepared copy — one per read connection — would hold SQLite memory.
const maxCachedText = 2048

func newStmtCache(db *sql.DB, max int) *stmtCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &stmtCache{db: db, max: max, byText: map[string]*list.Element{}, lru: list.New(), ctx: ctx, cancel: cancel}
}

// get returns the prepared statement for text, or nil when it is not prepared yet (it then starts
// preparing it) or is not cached (longer than maxCachedText).
func (c *stmtCache) get(text string) *sql.Stmt {
	if len(text) > maxCachedText {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if e, ok := c.byText[text]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).st
	}
	cs := &cachedStmt{text: text}
	c.byText[text] = c.lru.PushFront(cs)
	c.evictLocked()
	c.pending.Add(1)
	go c.prepare(cs)
	return nil
}

// prepare prepares cs on the pool and stores it, unless it was evicted meanwhile or the cache closed.
func (c *stmtCache) prepare(cs *cachedStmt) {
	defer c.pending.Done()
	st, err := c.db.PrepareContext(c.ctx, cs.text)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byText[cs.text]
	if err != nil || c.closed || !ok || e.Value.(*cachedStmt) != cs {
		if err == nil {
			_ = st.Close()
		}
		if err != nil && ok && e.Value.(*cachedStmt) == cs {
			// Not preparable on its own (the search reports its own error): forget it, so a later run
			// may try again.
			c.lru.Remove(e)
			delete(c.byText, cs.text)
		}
		return
	}
	cs.st = st
}

func (c *stmtCache) evictLocked() {
	for c.lru.Len() > c.max {
		e := c.lru.Back()
		cs := e.Value.(*cachedStmt)
		c.lru.Remove(e)
		delete(c.byText, cs.text)
		if cs.st != nil {
			_ = cs.st.Close()
		}
	}
}

// close closes every cached statement; get returns nil from then on. It returns once no preparation is
// under way: one may be opening a read connection, which creates the WAL's files if the writer's close
// had already removed them — after the store's Close, in a directory its owner is deleting. A preparation
// waiting for a free read connection gives up (ctx); one that ends closes its statement itself.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	for e := c.lru.Front(); e != nil; e = e.Next() {
		if cs := e.Value.(*cachedStmt); cs.st != nil {
			_ = cs.st.Close()
		}
	}
	c.lru.Init()
	c.byText = map[string]*list.Element{}
	c.mu.Unlock()
	c.cancel()
	c.pending.Wait()
}

// cachedTx runs statements in a read transaction, prepared through the store's statement cache.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
}

// QueryContext runs text in the transaction: as the cached statement when there is one.
func (t cachedTx) QueryContext(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	st := t.cache.get(text)
	if st == nil {
		return t.tx.QueryContext(ctx, text, args...)
	}
	// The statement bound to the transaction is closed with it (Tx.Commit/Rollback): closing it here,
	// before the rows are read, would close them too.
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// QueryRowContext is QueryContext for one row.
func (t cachedTx) QueryRowContext(ctx context.Context, text string, args ...any) *sql.Row {
	st := t.cache.get(text)
	if st == nil {
		return t.tx.QueryRowContext(ctx, text, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}
