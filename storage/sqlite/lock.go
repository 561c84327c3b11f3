package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Lock implements storage.Store. One process owns the data file, so a named mutex in memory is shared by
// every request that can write to it.
func (s *Store) Lock(ctx context.Context, name string) (func(), error) {
	return s.locks.lock(ctx, name)
}

// namedLocks are mutexes by name, created on demand and dropped when nobody holds or waits for them.
type namedLocks struct {
	mu   sync.Mutex
	held map[string]*namedLock
}

type namedLock struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int
}

func newNamedLocks() *namedLocks { return &namedLocks{held: map[string]*namedLock{}} }

func (l *namedLocks) lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	nl := l.held[name]
	if nl == nil {
		nl = &namedLock{ch: make(chan struct{}, 1)}
		l.held[name] = nl
	}
	nl.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		if nl.refs--; nl.refs == 0 {
			delete(l.held, name)
		}
		l.mu.Unlock()
	}
	select {
	case nl.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, fmt.Errorf("sqlite: lock %q: %w", name, ctx.Err())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-nl.ch
			drop()
		})
	}, nil
}

// lockFile takes an exclusive, non-blocking lock on path (created when missing): a second careflow on the
// same data file fails at start instead of corrupting the single-writer assumptions.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sqlite: %s is in use by another careflow process (or another store in this one): %w", path, err)
	}
	return f, nil
}

func unlockFile(f *os.File) {
	if f == nil {
		return
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
