// Package sqlite implements storage.Store on an embedded SQLite database: the default store, which needs no
// database server. The driver is github.com/mattn/go-sqlite3 (the SQLite C library through cgo; chosen by
// measurement, docs/ARCHITECTURE.md), or modernc.org/sqlite (SQLite in pure Go) when careflow is built
// without cgo (CGO_ENABLED=0, or no C compiler): the same SQL, the same file format.
//
// Layout (schema.go): res holds one row per resource (its current version number, lastUpdated, deletion
// flag and the sequence number of its current version); ver holds every version, body included, under a
// global sequence number (the change feed's order); the index tables hold the search values of current,
// non-deleted resources: ixk the string keys (tokens, strings, references, uris, and the _refs of every
// resource), ixd the date ranges (one row per value, so that a date search is exact on resources with
// several dates), srt one sort key per parameter. Type and index-field names are interned as integers.
//
// Concurrency: one process owns a data file (an exclusive lock on PATH-lock refuses a second one). All
// writes go through one writer connection driven by one goroutine that commits the writes arriving while
// the previous commit runs as one SQLite transaction (group commit), each write in its own savepoint so
// that it succeeds or fails on its own; a write is acknowledged only after its commit. Reads run on a
// pool of read-only connections, each request in one read transaction (a consistent snapshot). SQLite
// transactions make a transaction Bundle atomic, isolated and durable; the single writer makes the change
// feed exact (feed.go).
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Options configure Open.
type Options struct {
	// Path is the database file; its directory is created when missing.
	Path string
	// Logger receives the store's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Synchronous is SQLite's PRAGMA synchronous for the writer: "full" (the default: an acknowledged
	// write survives a power loss) or "normal" (it survives a crash of the process; the last commits may
	// be lost on power loss).
	Synchronous string
	// Readers is the number of read connections; default 2 × GOMAXPROCS, at least 4.
	Readers int
	// MaxBatch bounds how many writes share one commit; default 256.
	MaxBatch int
	// ReadCache is how many current versions the read cache keeps, decoded (cache.go): default 10,000
	// (~20 MB of ~2 KB bodies); negative: no cache. Built without cgo the store has no cache.
	ReadCache int
	// Reindex extracts the search values of a stored resource (search.Registry.Index). When opening a file
	// upgrades it to a layout that adds an index kind (number and quantity, schema 4), the values of that
	// kind of every current resource are computed with it in the upgrade; nil leaves them to be filled in
	// when each resource is next written (searches of that kind miss the others until then).
	Reindex func(typ string, body []byte) (map[string]any, error)
	// Clock replaces time.Now (tests).
	Clock func() time.Time
	// Hooks inject failures (tests); leave zero in production.
	Hooks Hooks
}

// Hooks inject failures for tests.
type Hooks struct {
	// BeforeCommit runs in the writer just before a group's COMMIT with the number of writes in it; an
	// error aborts the group as a failed COMMIT would.
	BeforeCommit func(writes int) error
	// AfterCommit runs in the writer right after a group's COMMIT succeeded, before the writes are answered.
	AfterCommit func(writes int)
	// AfterTxOp runs in the writer after op i of a transaction has been written, before the next one.
	AfterTxOp func(i int)
}

// Store is a storage.Store on one SQLite database file.
type Store struct {
	path   string
	log    *slog.Logger
	now    func() time.Time
	hooks  Hooks
	read   *sql.DB
	write  *sql.DB
	lock   *os.File // held exclusively while the store is open
	w      *writer
	stmts  *readStmts
	search *stmtCache    // the statements searches run, prepared
	cache  *versionCache // nil: none
	codec  *codec
	names  *names
	locks  *namedLocks
	closed sync.Once
	// walkAsked are the fields a search has asked the writer to make walked; walks counts the requests
	// running (walked.go).
	walkAsked sync.Map
	walks     sync.WaitGroup
}

// ParseDSN reads a database setting "sqlite:PATH" (PATH relative to the working directory, or absolute;
// "sqlite:///abs/path" and "sqlite://rel" are accepted too) and returns the path; ok is false when s is
// not a sqlite: setting.
func ParseDSN(s string) (path string, ok bool, err error) {
	rest, found := strings.CutPrefix(s, "sqlite:")
	if !found {
		return "", false, nil
	}
	rest = strings.TrimPrefix(rest, "//")
	if rest == "" {
		return "", true, errors.New("sqlite: the database setting names no file (want sqlite:PATH)")
	}
	if strings.ContainsAny(rest, "?#") {
		return "", true, fmt.Errorf("sqlite: %q: options in the path are not supported (want sqlite:PATH)", s)
	}
	return rest, true, nil
}

// Open opens (creating when needed) the database at o.Path and starts its writer. A second Open of the
// same file, from this process or another, fails while the first is open.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	syncMode := strings.ToLower(o.Synchronous)
	switch syncMode {
	case "":
		syncMode = "full"
	case "full", "normal":
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q: want full or normal", o.Synchronous)
	}
	if dir := filepath.Dir(o.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create the data directory: %w", err)
		}
	}
	lock, err := lockFile(o.Path + "-lock")
	if err != nil {
		return nil, err
	}
	codec, err := newCodec()
	if err != nil {
		unlockFile(lock)
		return nil, err
	}
	s := &Store{path: o.Path, log: log, now: time.Now, hooks: o.Hooks, lock: lock, locks: newNamedLocks(), codec: codec}
	if o.Clock != nil {
		s.now = o.Clock
	}
	fail := func(err error) (*Store, error) {
		s.closeDBs()
		unlockFile(lock)
		return nil, err
	}
	common := []string{"busy_timeout = 10000", "foreign_keys = off", "cache_size = -16000", "temp_store = memory"}
	// page_size only takes effect on a new file, before WAL mode is set (a file keeps the size it was created
	// with). 4 KiB: a create dirties ~45 pages scattered over the index (one per unique key), and commits
	// write them whole to the WAL and again at the checkpoint — on this machine's disk the writer waits on
	// that I/O (the same load on tmpfs: +50 % creates/s). 4 KiB pages write 35 % fewer bytes per create than
	// 8 KiB pages: +10–15 % creates/s and +9 % coordination-Bundle ingest, −1–2 % history ingest, reads
	// unchanged (docs/PERFORMANCE.md, session 9). A checkpoint every 20,000 WAL pages (~80 MB) rather than
	// 5,000 8 KiB pages: fewer rewrites of the same page into the file, +6–17 % creates/s (measured in two
	// steps), reads and ingest unchanged.
	s.write, err = openDB(o.Path, append(common, "page_size = 4096", "journal_mode = wal", "synchronous = "+syncMode, "wal_autocheckpoint = 20000"), false)
	if err != nil {
		return fail(err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.write, func(ctx context.Context, tx *sql.Tx, from int) error {
		if o.Reindex == nil {
			if from <= compositeStep {
				log.Warn("storage: the data file gained the number, quantity, composite and near indexes; resources stored before are found by those searches once rewritten (or after careflow copy)")
			}
			if from <= tokenStep {
				log.Info("storage: token keys stored before keep their form until their resources are written again; searches match both")
			}
			return nil
		}
		if from <= compositeStep {
			n, err := reindexNumeric(ctx, tx, codec, o.Reindex)
			if err != nil {
				return err
			}
			log.Info("storage: number, quantity, composite and near values indexed for the resources stored before", "resources", n)
		}
		if from <= tokenStep {
			n, err := rewriteTokenKeys(ctx, tx, codec, o.Reindex)
			if err != nil {
				return err
			}
			log.Info("storage: token keys stored one per coding", "fields", n)
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	readers := o.Readers
	if readers <= 0 {
		readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	s.read, err = openDB(o.Path, append(common, "query_only = true"), true)
	if err != nil {
		return fail(err)
	}
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	if s.names, err = loadNames(ctx, s.write); err != nil {
		return fail(err)
	}
	if s.stmts, err = prepareReads(ctx, s.read); err != nil {
		return fail(err)
	}
	s.search = newStmtCache(s.read, searchStmtCacheSize)
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fail(fmt.Errorf("sqlite: writer connection: %w", err))
	}
	batch := o.MaxBatch
	if batch <= 0 {
		batch = 256
	}
	if o.ReadCache >= 0 {
		cache := newVersionCache(cmp.Or(o.ReadCache, 10000))
		ok, err := watchRes(conn, cache.touch)
		if err != nil {
			_ = conn.Close()
			return fail(err)
		}
		if ok {
			s.cache = cache
		}
	}
	walked, err := loadWalked(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return fail(err)
	}
	s.w = newWriter(s, conn, batch, walked)
	log.Info("storage: embedded SQLite store", "path", o.Path, "synchronous", syncMode, "readers", readers, "driver", driverName, "read_cache", s.cache != nil)
	return s, nil
}

// openDB opens a database/sql pool on path whose connections run pragmas when they open.
func openDB(path string, pragmas []string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_txlock", "deferred")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	return sql.OpenDB(connector{drv: sqliteDriver(), dsn: dsn, pragmas: pragmas}), nil
}

// OpenFile opens a plain database/sql pool on a careflow data file, for tools that inspect one (sizes,
// checkpoints) while no store has it open.
func OpenFile(path string) *sql.DB {
	db, _ := openDB(path, nil, false)
	return db
}

// connector opens connections of the driver (driver_cgo.go, driver_nocgo.go) without registering it
// globally, and runs the pragmas, in order, on each new connection.
type connector struct {
	drv     driver.Driver
	dsn     string
	pragmas []string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok && len(c.pragmas) > 0 {
		_ = conn.Close()
		return nil, errors.New("sqlite: the driver's connections cannot run pragmas")
	}
	for _, p := range c.pragmas {
		if _, err := ex.ExecContext(ctx, "PRAGMA "+p, nil); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("sqlite: PRAGMA %s: %w", p, err)
		}
	}
	return conn, nil
}

func (c connector) Driver() driver.Driver { return c.drv }

func (s *Store) closeDBs() {
	s.search.close()
	s.stmts.close()
	s.codec.close()
	if s.read != nil {
		_ = s.read.Close()
	}
	if s.write != nil {
		_ = s.write.Close()
	}
}

// Close stops the writer after the writes already submitted, updates the query planner's statistics,
// closes the database and releases the data file.
func (s *Store) Close(ctx context.Context) error {
	var err error
	s.closed.Do(func() {
		s.w.stop()
		s.walks.Wait() // the walk requests end once the writer has (errClosed)
		if _, e := s.write.ExecContext(ctx, "PRAGMA optimize"); e != nil {
			s.log.Warn("sqlite: PRAGMA optimize at close failed", "err", e)
		}
		s.closeDBs()
		unlockFile(s.lock)
	})
	return err
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.w.alive(); err != nil {
		return err
	}
	return nil
}

// Optimize refreshes the query planner's statistics (ANALYZE on what changed); run it after a bulk load.
func (s *Store) Optimize(ctx context.Context) error {
	return s.w.do(ctx, func(tx *wtx) error {
		_, err := tx.exec("PRAGMA optimize=0x10002")
		return err
	})
}
