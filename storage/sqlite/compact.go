package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Compact rewrites the data file at path without its free pages (SQLite's VACUUM), while no store has it
// open. A file keeps the pages that deletions and index rewrites free — the upgrade to version 8 frees
// about a sixth of a file's index pages — and SQLite reuses them for later writes but never gives them back
// to the disk. Compact holds the file's lock throughout (a file in use is refused, as Open refuses it),
// checkpoints the WAL into the file before and after, and returns the file's size before and after. The
// rewrite needs free disk space about the size of the file; it runs in one transaction, so an interrupted
// Compact leaves the file as it was.
func Compact(ctx context.Context, path string) (before, after int64, err error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, fmt.Errorf("sqlite: compact: no data file at %s", path)
		}
		return 0, 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	lock, err := lockFile(path + "-lock")
	if err != nil {
		return 0, 0, err
	}
	defer unlockFile(lock)
	// The default temp_store: VACUUM builds the new file in a temporary file, not in memory.
	db, err := openDB(path, []string{"busy_timeout = 10000"}, false)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	defer db.Close()
	if _, err := dataVersion(ctx, db, path); err != nil {
		return 0, 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	size := func() (int64, error) {
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return 0, fmt.Errorf("sqlite: compact %s: checkpoint: %w", path, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return 0, fmt.Errorf("sqlite: compact: %w", err)
		}
		return st.Size(), nil
	}
	if before, err = size(); err != nil {
		return 0, 0, err
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return 0, 0, fmt.Errorf("sqlite: compact %s: %w", path, err)
	}
	if after, err = size(); err != nil {
		return 0, 0, err
	}
	return before, after, nil
}
