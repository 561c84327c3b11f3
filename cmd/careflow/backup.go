package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/careflow/careflow/storage/sqlite"
)

// runBackup runs careflow backup: a consistent copy of the embedded store's file, taken while careflow
// runs.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("database", env("CAREFLOW_DATABASE", defaultDatabase), "the embedded store's file, as serve --database: sqlite:PATH (CAREFLOW_DATABASE)")
	to := fs.String("to", "", "the backup file to write; it must not exist (required)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: careflow backup [--database sqlite:PATH] --to FILE

Writes a consistent copy of the embedded store's data file to FILE, also while careflow runs and
writes: the copy holds every write acknowledged before the backup started and nothing of a write not
committed, and careflow's requests go on meanwhile. FILE must not exist; it appears only once the copy
is complete, checked and on the disk. The copy has no free pages. To restore it, stop careflow and put
the copy in place of the data file (its -wal and -shm files removed).

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected arguments %q", fs.Args())
	}
	if *to == "" {
		return errors.New("backup: --to FILE is required")
	}
	path, err := embeddedPath("backup", *db, "MongoDB is backed up with its own tools (mongodump, Atlas backups)")
	if err != nil {
		return err
	}
	b, err := sqlite.Backup(ctx, path, *to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s → %s: %d resources, %d versions, %d bytes\n", path, *to, b.Resources, b.Versions, b.Bytes)
	return nil
}

// embeddedPath returns the data file of database, an embedded store's sqlite:PATH setting, for the
// command cmd; for MongoDB, an error that says what to use instead (other).
func embeddedPath(cmd, database, other string) (string, error) {
	path, ok, err := sqlite.ParseDSN(database)
	if !ok {
		return "", fmt.Errorf("%s: %s is not the embedded store (sqlite:PATH); %s", cmd, redact(database), other)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	return path, nil
}
