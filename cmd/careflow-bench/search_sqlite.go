package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/validate"
	"github.com/careflow/careflow/storage/sqlite"
)

// The search and workflows benchmarks on the embedded store (--database sqlite:PATH). One process owns a
// SQLite file, so the load cannot run next to the server as it does on MongoDB: the script first runs
// careflow-bench with --load-only, which opens the file with sqlite.Open, stores the data set through the
// storage.Store interface exactly as it does on MongoDB (validate, registry.Index, Store.Create with the
// bundle's ids), closes the store, measures the file and saves the load's numbers (--load-stats); then it
// starts the server on the file and runs careflow-bench again with --load-stats, which generates the data
// set again (to choose the same query parameters) without writing it, and times the queries over HTTP.
// There is no raw side: the raw finds are MongoDB's (the scripts compare the stores instead).

// savedLoad is the part of loadStats that --load-stats carries from the load run to the query run.
type savedLoad struct {
	Patients  int           `json:"patients"`
	Seed      uint64        `json:"seed"`
	Today     string        `json:"today"`
	Store     string        `json:"store"`
	Written   int           `json:"written"`
	Existing  int           `json:"existing"`
	Elapsed   time.Duration `json:"elapsed"`
	Close     time.Duration `json:"close"`
	BodyBytes int64         `json:"bodyBytes"`
	CPU       *cpuTime      `json:"cpu,omitempty"`
	DBCPU     *cpuTime      `json:"dbCPU,omitempty"`
	Disk      *diskStats    `json:"disk,omitempty"`
}

// diskStats is the size of a SQLite store's files after a load.
type diskStats struct {
	DBBefore, WALBefore int64 // bytes of the data file and the WAL when the store had closed
	DB, WAL             int64 // the same after PRAGMA wal_checkpoint(TRUNCATE)
	PageSize, FreePages int64
	Versions, Resources int64        // rows of ver and res
	Tables              []tableBytes // bytes per table and index (dbstat), largest first; empty when dbstat is unavailable
}

// tableBytes is the space one table or index takes.
type tableBytes struct {
	Name  string
	Bytes int64
}

// perVersion is the bytes on disk per stored resource version.
func (d *diskStats) perVersion() float64 {
	if d.Versions == 0 {
		return 0
	}
	return float64(d.DB+d.WAL) / float64(d.Versions)
}

// saveLoad writes the load's numbers to path.
func saveLoad(path string, c searchConfig, l *loadStats) error {
	data, err := json.Marshal(savedLoad{Patients: c.patients, Seed: c.seed, Today: c.today.Format(time.DateOnly), Store: l.store, Written: l.written, Existing: l.existing, Elapsed: l.elapsed,
		Close: l.closeElapsed, BodyBytes: l.bodyBytes, CPU: l.cpu, DBCPU: l.dbCPU, Disk: l.disk})
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("--load-stats: %w", err)
	}
	return nil
}

// readLoad reads what saveLoad wrote into l; the data set must be c's.
func readLoad(path string, c searchConfig, l *loadStats) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--load-stats: %w", err)
	}
	var s savedLoad
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("--load-stats %s: %w", path, err)
	}
	if s.Patients != c.patients || s.Seed != c.seed || s.Today != c.today.Format(time.DateOnly) {
		return fmt.Errorf("--load-stats %s: the file was loaded with %d patients, seed %d, today %s; this run wants %d, %d, %s",
			path, s.Patients, s.Seed, s.Today, c.patients, c.seed, c.today.Format(time.DateOnly))
	}
	l.store, l.written, l.existing, l.elapsed, l.closeElapsed = s.Store, s.Written, s.Existing, s.Elapsed, s.Close
	l.bodyBytes, l.cpu, l.dbCPU, l.disk = s.BodyBytes, s.CPU, s.DBCPU, s.Disk
	l.skipped, l.genElapsed = false, 0
	return nil
}

// runSQLite loads the data set into a fresh SQLite file (--load-only) or times the queries against a
// server on a file loaded so (--load-stats).
func runSQLite(ctx context.Context, c searchConfig, registry *search.Registry, v *validate.Validator, started time.Time, out io.Writer) error {
	env := &searchEnv{cfg: c, registry: registry, validator: v}
	if !c.loadOnly {
		load, err := env.pass(ctx, false) // the facts, to choose the same parameters as on MongoDB
		if err != nil {
			return err
		}
		if err := readLoad(c.loadStats, c, load); err != nil {
			return err
		}
		return env.query(ctx, load, started, out)
	}
	if _, err := os.Stat(c.sqlitePath); err == nil {
		return fmt.Errorf("%s already exists: the load wants a fresh file", c.sqlitePath)
	}
	store, err := sqlite.Open(ctx, sqlite.Options{Path: c.sqlitePath})
	if err != nil {
		return err
	}
	env.store = store
	load, err := env.pass(ctx, true)
	if err != nil {
		_ = store.Close(context.Background())
		return err
	}
	load.store = "storage/sqlite"
	t0 := time.Now()
	if err := store.Close(ctx); err != nil {
		return fmt.Errorf("close the store: %w", err)
	}
	load.closeElapsed = time.Since(t0)
	if load.disk, err = measureDisk(ctx, c.sqlitePath); err != nil {
		return err
	}
	progress("  on disk: %d + %d bytes (db + WAL) after a checkpoint, %d versions: %.0f bytes per version",
		load.disk.DB, load.disk.WAL, load.disk.Versions, load.disk.perVersion())
	if c.loadStats != "" {
		if err := saveLoad(c.loadStats, c, load); err != nil {
			return err
		}
	}
	err = env.query(ctx, load, started, out)
	if c.dropDB {
		err = errors.Join(err, removeSQLite(c.sqlitePath))
	}
	return err
}

// measureDisk measures a closed SQLite store's files, checkpoints its WAL into the data file
// (PRAGMA wal_checkpoint(TRUNCATE)) and measures them again, with the space per table when SQLite has the
// dbstat table.
func measureDisk(ctx context.Context, path string) (*diskStats, error) {
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	d := &diskStats{DBBefore: size(path), WALBefore: size(path + "-wal")}
	db := sqlite.OpenFile(path)
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer conn.Close()
	var busy, logFrames, checkpointed int64
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	for _, q := range []struct {
		sql string
		to  *int64
	}{
		{"SELECT count(*) FROM ver", &d.Versions},
		{"SELECT count(*) FROM res", &d.Resources},
		{"PRAGMA page_size", &d.PageSize},
		{"PRAGMA freelist_count", &d.FreePages},
	} {
		if err := conn.QueryRowContext(ctx, q.sql).Scan(q.to); err != nil {
			return nil, fmt.Errorf("%s: %w", q.sql, err)
		}
	}
	if rows, err := conn.QueryContext(ctx, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"); err == nil {
		for rows.Next() {
			var t tableBytes
			if rows.Scan(&t.Name, &t.Bytes) == nil {
				d.Tables = append(d.Tables, t)
			}
		}
		_ = rows.Close()
	} else {
		progress("  (no per-table sizes: %v)", err)
	}
	d.DB, d.WAL = size(path), size(path+"-wal")
	return d, nil
}

// removeSQLite removes a SQLite store's files.
func removeSQLite(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-lock"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
