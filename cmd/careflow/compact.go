package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/careflow/careflow/storage/sqlite"
)

// runCompact runs careflow compact: the embedded store's file rewritten without its free pages.
func runCompact(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("database", env("CAREFLOW_DATABASE", defaultDatabase), "the embedded store's file, as serve --database: sqlite:PATH (CAREFLOW_DATABASE)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: careflow compact [--database sqlite:PATH]

Rewrites the embedded store's data file without its free pages (SQLite's VACUUM) and prints its size
before and after. SQLite reuses the pages that deletions and index rewrites free (an upgrade of the
file's layout frees some) but never gives them back to the disk. Stop careflow first: a file in use is
refused. The rewrite needs free disk space about the size of the file; an interrupted one leaves the
file as it was.

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
		return fmt.Errorf("compact: unexpected arguments %q", fs.Args())
	}
	path, err := embeddedPath("compact", *db, "MongoDB gives space back with its own compact command")
	if err != nil {
		return err
	}
	before, after, err := sqlite.Compact(ctx, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d → %d bytes (%.1f MB freed)\n", path, before, after, float64(before-after)/1e6)
	return nil
}
