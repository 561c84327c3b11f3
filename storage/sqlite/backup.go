package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Backed describes a backup Backup wrote.
type Backed struct {
	// Bytes is the size of the backup file.
	Bytes int64
	// Resources counts the resources whose current version is not a deletion; Versions every version,
	// deletions included.
	Resources, Versions int64
}

// Backup writes a consistent copy of the data file at path to dest, also while a careflow server has the
// file open and writes to it: the copy is one read transaction's snapshot (SQLite's VACUUM INTO, on a
// connection of its own that only reads the file), so it holds every write acknowledged before Backup started and no
// part of one that was not committed, and the server's writes go on meanwhile (its checkpoints only stop
// short of the frames the snapshot still reads until Backup ends). The copy has no free pages and is a
// data file careflow opens as it is: restoring is stopping careflow and putting the copy in the file's
// place.
//
// dest must not exist: Backup never overwrites a file. The copy is written to a temporary file in dest's
// directory (mode 0600: it holds patient data), checked (PRAGMA quick_check, its schema version), synced
// to the disk and only then given dest's name, so an interrupted or failed Backup leaves no file at dest.
func Backup(ctx context.Context, path, dest string) (Backed, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Backed{}, fmt.Errorf("sqlite: backup: no data file at %s", path)
		}
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return Backed{}, fmt.Errorf("sqlite: backup: %s exists: a backup never overwrites a file", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	// Not query_only, which refuses VACUUM INTO; VACUUM INTO only reads the file it copies.
	src, err := openDB(path, []string{"busy_timeout = 10000"}, true)
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer src.Close()
	version, err := dataVersion(ctx, src, path)
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	// VACUUM INTO wants a file that does not exist or is empty: an empty temporary file, which also
	// reserves a name no concurrent Backup uses.
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmpPath)
		}
	}()
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", tmpPath); err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup %s: %w", path, err)
	}
	b, err := checkBackup(ctx, tmpPath, version)
	if err != nil {
		return Backed{}, err
	}
	if err := syncFile(tmpPath); err != nil {
		return Backed{}, err
	}
	if err := publish(tmpPath, dest); err != nil {
		return Backed{}, err
	}
	done = true
	if err := syncFile(filepath.Dir(dest)); err != nil {
		return Backed{}, err
	}
	return b, nil
}

// dataVersion returns the schema version of the careflow data file db, or an error when it is none this
// careflow reads.
func dataVersion(ctx context.Context, db *sql.DB, path string) (int, error) {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if version < 1 || version > schemaVersion {
		return 0, fmt.Errorf("%s is not a careflow data file this careflow reads (schema version %d)", path, version)
	}
	return version, nil
}

// checkBackup checks the copy at path (SQLite's quick_check, the source's schema version) and counts
// what it holds.
func checkBackup(ctx context.Context, path string, version int) (Backed, error) {
	db, err := openDB(path, []string{"query_only = true"}, true)
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: check the copy: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: check the copy: %w", err)
	}
	if check != "ok" {
		return Backed{}, fmt.Errorf("sqlite: backup: the copy fails SQLite's quick_check: %s", check)
	}
	var b Backed
	var got int
	err = db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM res WHERE deleted = 0), (SELECT count(*) FROM ver)`).Scan(&got, &b.Resources, &b.Versions)
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: check the copy: %w", err)
	}
	if got != version {
		return Backed{}, fmt.Errorf("sqlite: backup: the copy has schema version %d, the file %d", got, version)
	}
	st, err := os.Stat(path)
	if err != nil {
		return Backed{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	b.Bytes = st.Size()
	return b, nil
}

// publish gives the complete copy tmp the name dest: a hard link, which fails rather than replace a dest
// created meanwhile, or, on a file system without hard links (some network shares), a rename once dest is
// checked absent again.
func publish(tmp, dest string) error {
	err := os.Link(tmp, dest)
	if err == nil {
		_ = os.Remove(tmp)
		return nil
	}
	_, serr := os.Lstat(dest)
	if errors.Is(err, fs.ErrExist) || serr == nil {
		return fmt.Errorf("sqlite: backup: %s exists: a backup never overwrites a file", dest)
	}
	if !errors.Is(serr, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: backup: %s: %w", dest, errors.Join(err, serr))
	}
	if rerr := os.Rename(tmp, dest); rerr != nil {
		return fmt.Errorf("sqlite: backup: %w", errors.Join(err, rerr))
	}
	return nil
}

// syncFile flushes the file or directory at path to the disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqlite: backup: sync %s: %w", path, err)
	}
	return nil
}
