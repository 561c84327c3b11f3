package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// snapshotKey is the context key under which ReadConsistent binds its read transaction.
type snapshotKey struct{}

// snapshot is a read transaction bound to a context, with the store it belongs to (a context passed on to
// another store does not use it).
type snapshot struct {
	s  *Store
	tx *sql.Tx
}

// ReadConsistent runs read so that every Search it makes through ctx reads one SQLite read transaction: one
// snapshot of the database, which holds all or nothing of every transaction (a search page and its
// _include/_revinclude, docs/ARCHITECTURE.md "Read isolation"). types is not needed here (a snapshot
// covers every type); it is part of the signature the MongoDB store needs. The snapshot is taken at the
// first statement read makes, and read's calls must not run concurrently.
func (s *Store) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	if sn, ok := ctx.Value(snapshotKey{}).(*snapshot); ok && sn.s == s {
		return read(ctx) // already inside one
	}
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin consistent read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return read(context.WithValue(ctx, snapshotKey{}, &snapshot{s: s, tx: tx}))
}

// readTx returns the read transaction a search runs in: the one ReadConsistent bound to ctx, or a new one
// (own: the caller ends it).
func (s *Store) readTx(ctx context.Context) (tx *sql.Tx, own bool, err error) {
	if sn, ok := ctx.Value(snapshotKey{}).(*snapshot); ok && sn.s == s {
		return sn.tx, false, nil
	}
	tx, err = s.read.BeginTx(ctx, nil)
	return tx, err == nil, err
}
