package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Durability says when Record returns.
type Durability int

const (
	// Written: the record is in the outbox file (the operating system's cache) before the response is
	// sent: it survives any crash of careflow. The shipper syncs the file to disk at each batch, so a power
	// loss can lose the last batch interval (≤ ShipInterval) of records.
	Written Durability = iota
	// Synced: the outbox is synced to disk before the response is sent (group sync: concurrent requests
	// share one fsync). Nothing is lost, even on power loss; every request waits for a disk sync.
	Synced
)

// Options tune a Log.
type Options struct {
	Durability Durability
	// ShipInterval is the longest a record waits in the outbox before the shipper moves it into the store
	// (default 200 ms); a batch also ships when MaxBatch records are waiting.
	ShipInterval time.Duration
	MaxBatch     int // default 1000
	// RotateBytes: when the whole outbox has been shipped and is larger than this, it is emptied (default
	// 8 MiB).
	RotateBytes int64
	Logger      *slog.Logger
}

// Log is the durable audit outbox and its shipper.
type Log struct {
	opt      Options
	store    storage.Store
	registry *search.Registry
	path     string

	mu   sync.Mutex // guards the fields below
	cond *sync.Cond // signalled when a group write or a group sync ends
	f    *os.File
	size int64 // bytes written to the outbox file
	// Group write: concurrent Records append their lines to pending, and one of them (the writer) writes
	// everything pending with one write call while the others wait for it.
	pending, spare []byte
	group          *group // the group the records in pending belong to
	queued         uint64 // records appended to pending (numbered from 1)
	written        uint64 // records in the file
	writing        bool
	synced         uint64 // records known to be on disk
	syncing        bool
	lines          sync.Pool // *[]byte buffers to encode a record in

	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	flushes chan chan error
}

// Open opens (or creates) the outbox at path and starts the shipper, which first replays what a previous
// process recorded and did not ship. store receives the AuditEvents; registry indexes them.
func Open(path string, store storage.Store, registry *search.Registry, opt Options) (*Log, error) {
	if opt.ShipInterval <= 0 {
		opt.ShipInterval = 200 * time.Millisecond
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 1000
	}
	if opt.RotateBytes <= 0 {
		opt.RotateBytes = 8 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: outbox: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: outbox: %w", err)
	}
	l := &Log{opt: opt, store: store, registry: registry, path: path, f: f, size: st.Size(),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}), flushes: make(chan chan error)}
	l.cond = sync.NewCond(&l.mu)
	l.group = &group{}
	go l.ship()
	return l, nil
}

// Record appends r to the outbox (assigning its EventID when empty) and returns when it is as durable as
// Options.Durability says: call it before the response is sent. Concurrent Records share one write call
// (group write): each waits until its own line is in the file.
func (l *Log) Record(r *Record) error {
	if r.EventID == "" {
		r.EventID = storage.NewID()
	}
	buf, _ := l.lines.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	line := append(r.AppendJSON((*buf)[:0]), '\n')
	l.mu.Lock()
	l.pending = append(l.pending, line...)
	l.queued++
	mine, g := l.queued, l.group
	*buf = line
	l.lines.Put(buf)
	err := l.writeLocked(g)
	if err == nil && l.opt.Durability == Synced {
		err = l.syncLocked(mine)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return err
}

// group is the outcome of one group write.
type group struct {
	done bool
	err  error
}

// writeLocked waits until group g is in the file: one caller writes the pending group for everyone
// waiting (group write).
func (l *Log) writeLocked(g *group) error {
	for !g.done {
		if l.writing {
			l.cond.Wait()
			continue
		}
		l.writing = true
		out, cur, target := l.pending, l.group, l.queued
		l.pending, l.group = l.spare[:0], &group{}
		l.mu.Unlock()
		_, err := l.f.Write(out)
		l.mu.Lock()
		l.spare, l.writing, l.written = out[:0], false, target
		cur.done, cur.err = true, err
		if err != nil {
			// The group's records are lost (a torn line is skipped by the shipper); a '\n' ends it so that
			// the next record starts on a line of its own.
			_, _ = l.f.Write([]byte{'\n'})
			if st, serr := l.f.Stat(); serr == nil {
				l.size = st.Size()
			}
		} else {
			l.size += int64(len(out))
		}
		l.cond.Broadcast()
	}
	if g.err != nil {
		return fmt.Errorf("audit: outbox write: %w", g.err)
	}
	return nil
}

// syncLocked waits until record number n is on disk: one caller syncs for everyone waiting (group sync).
func (l *Log) syncLocked(n uint64) error {
	for l.synced < n {
		if l.syncing {
			l.cond.Wait()
			continue
		}
		l.syncing = true
		target := l.written
		l.mu.Unlock()
		err := l.f.Sync()
		l.mu.Lock()
		l.syncing = false
		if err == nil {
			l.synced = target
		}
		l.cond.Broadcast()
		if err != nil {
			return fmt.Errorf("audit: outbox sync: %w", err)
		}
	}
	return nil
}

// Flush ships everything recorded so far into the store.
func (l *Log) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case l.flushes <- done:
	case <-l.stopped:
		return errors.New("audit: log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ships what remains and stops the shipper.
func (l *Log) Close(ctx context.Context) error {
	err := l.Flush(ctx)
	close(l.stop)
	<-l.stopped
	return errors.Join(err, l.f.Close())
}

// statePath holds the outbox offset up to which records are stored.
func (l *Log) statePath() string { return l.path + ".shipped" }

func (l *Log) shippedOffset() int64 {
	raw, err := os.ReadFile(l.statePath())
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// saveOffset records the shipped offset atomically (write, sync, rename).
func (l *Log) saveOffset(n int64) error {
	tmp := l.statePath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(n, 10)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.statePath())
}

// ship is the shipper: it moves complete outbox lines into the store, batch by batch.
func (l *Log) ship() {
	defer close(l.stopped)
	tick := time.NewTicker(l.opt.ShipInterval)
	defer tick.Stop()
	offset := l.shippedOffset()
	for {
		var flush chan error
		select {
		case <-l.stop:
			return
		case flush = <-l.flushes:
		case <-tick.C:
		case <-l.wake:
			// Let a batch gather unless it is already large.
			l.mu.Lock()
			pending := l.size - offset
			l.mu.Unlock()
			if pending < int64(l.opt.MaxBatch)*512 {
				continue
			}
		}
		var err error
		for {
			var more bool
			offset, more, err = l.shipBatch(offset)
			if err != nil || !more {
				break
			}
		}
		if err != nil {
			l.opt.Logger.Error("audit: shipping the outbox into the store failed; retrying", "err", err)
		}
		if flush != nil {
			flush <- err
		}
	}
}

// shipBatch stores up to MaxBatch complete records from offset; it returns the new offset and whether
// more complete records wait.
func (l *Log) shipBatch(offset int64) (int64, bool, error) {
	l.mu.Lock()
	size := l.size
	l.mu.Unlock()
	if size < offset {
		offset = 0 // the outbox was emptied (rotation) after everything was shipped
	}
	if size == offset {
		return offset, false, l.rotate(offset)
	}
	if l.opt.Durability == Written {
		if err := l.f.Sync(); err != nil {
			return offset, false, fmt.Errorf("outbox sync: %w", err)
		}
	}
	chunk := make([]byte, min(size-offset, int64(l.opt.MaxBatch)*4096))
	n, err := l.f.ReadAt(chunk, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return offset, false, fmt.Errorf("outbox read: %w", err)
	}
	chunk = chunk[:n]
	end := bytes.LastIndexByte(chunk, '\n')
	if end < 0 {
		return offset, false, nil // a record still being written
	}
	chunk = chunk[:end+1]
	var ops []storage.TxOp
	var ids []string
	for _, line := range bytes.Split(bytes.TrimSuffix(chunk, []byte("\n")), []byte("\n")) {
		if len(ops) == l.opt.MaxBatch {
			break
		}
		w, err := l.write(line)
		if err != nil {
			// A record that cannot be stored (a torn line after a crash) is reported and skipped.
			l.opt.Logger.Error("audit: skipping an unreadable outbox record", "err", err, "offset", offset)
			continue
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: w})
		ids = append(ids, w.ID)
	}
	consumed := int64(len(chunk))
	if len(ops) == l.opt.MaxBatch { // stopped early: consume only the lines taken
		consumed = 0
		for i := 0; i < len(ops); i++ {
			consumed += int64(bytes.IndexByte(chunk[consumed:], '\n') + 1)
		}
	}
	if len(ops) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Replay after a crash: records stored before the crash are skipped, by id.
		have, err := l.store.Exists(ctx, "AuditEvent", ids)
		if err != nil {
			return offset, false, err
		}
		kept := ops[:0]
		for _, op := range ops {
			if !have[op.Write.ID] {
				kept = append(kept, op)
			}
		}
		if len(kept) > 0 {
			if _, err := l.store.Transact(ctx, kept); err != nil {
				return offset, false, err
			}
		}
	}
	offset += consumed
	if err := l.saveOffset(offset); err != nil {
		return offset, false, fmt.Errorf("saving the shipped offset: %w", err)
	}
	return offset, offset < size, nil
}

// write turns one outbox line into the AuditEvent to store.
func (l *Log) write(line []byte) (storage.Write, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return storage.Write{}, err
	}
	id, _ := tree["id"].(string)
	if id == "" {
		return storage.Write{}, errors.New("record without id")
	}
	index, err := l.registry.Index("AuditEvent", tree)
	if err != nil {
		return storage.Write{}, err
	}
	return storage.Write{Type: "AuditEvent", ID: id, Body: line, Index: index, Method: "POST"}, nil
}

// rotate empties a fully shipped outbox that has grown beyond RotateBytes.
func (l *Log) rotate(shipped int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size != shipped || l.size < l.opt.RotateBytes || l.writing || len(l.pending) > 0 {
		return nil
	}
	if err := l.saveOffset(0); err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("outbox rotate: %w", err)
	}
	l.size = 0
	return nil
}
