package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/storage"
)

// Transactions without database transactions (FerretDB has none; the same code serves MongoDB).
//
// Transact is a two-phase commit over the version claims of write (mongo.go):
//
//  1. Intent. A document in "transactions" lists the resources the transaction touches, so that recovery
//     can find what a crashed process left behind.
//  2. Claims, in one global order (resource type, then id). An id that does not exist is first reserved by a
//     placeholder current-version document (version 0, deleted, marked with the transaction id): it makes
//     Create of that id fail like any taken id, and reads treat it as absent. Then every op's next
//     version is claimed by inserting its history document "Type/id/n+1", marked with the transaction id
//     and carrying the search-index fields needed to publish it. A claim that is taken belongs to another
//     writer: a conditional op (If-Match) fails with a version conflict; an unconditional one waits for
//     that writer — it publishes, commits or rolls back — and claims the next version. Waiting while
//     holding claims cannot deadlock: placeholders never wait, every transaction takes its claims in the
//     same order, and single writes hold one claim and never wait while holding it. A transaction that
//     waits longer than the store's TxTimeout gives up (storage.ErrTxAborted).
//  3. Commit point: inserting {_id: txid, state: "committed"} into "txoutcomes". Whoever decides the fate
//     of a transaction does so by that insert — its owner commits, anyone who finds it older than
//     TxTimeout aborts it — and the unique _id makes exactly one decision win (an update would not do:
//     FerretDB's updates are no compare-and-set).
//  4. Publish: each claimed version replaces its current-version document, then the marks are removed
//     from the claims and the intent is deleted.
//
// Visibility (isolation.go). After the claims, the current-version documents the transaction replaces are
// marked with its id (placeholders are marked from the start). Nothing of a transaction that has not
// committed is ever visible: marked documents are read as they are, claims are skipped. From the commit
// point on, a reader that meets a mark reads the claimed version, so reads by id see the whole
// transaction at once; searches wait for committed transactions still publishing and run again when one
// that committed meanwhile could change their answer (a few times, then once more under a hold that
// publishers wait for: hold.go); the change feed lists a transaction's versions together once all its
// marks are cleared.
//
// Failure. Before the commit point a failing transaction deletes the marks on current-version documents,
// its claims, then its placeholders, then its intent. A crashed one is rolled back the same way as soon as
// its owner is known gone (lease.go) or once older than TxTimeout, by recovery (at Open and every
// RecoveryInterval) or by a writer it blocks. After the commit point it is rolled forward (step 4) as soon
// as its owner is known gone — by recovery, by a reader that meets its marks, by a search waiting for it —
// or once its owner has shown no sign of life for TxTimeout (the owner heartbeats in the intent while it
// publishes, which takes long for large transactions on FerretDB); a writer blocked by one of its claims
// publishes that claim itself after a short grace period. Every step is idempotent and guarded by the
// transaction mark, so any number of processes may settle the same transaction at once. A settled
// transaction's intent is marked done and lingers for TxLinger, for the readers' fence.

const (
	// txCollection holds the intent of every transaction not yet settled.
	txCollection = "transactions"
	// outcomeCollection holds the decision on each transaction: committed or aborted.
	outcomeCollection = "txoutcomes"

	stateCommitted = "committed"
	stateAborted   = "aborted"
)

// outcomeRetention is how long a decision is kept after its transaction was settled, so that a writer
// meeting a claim left behind by a late, aborted owner still finds the verdict.
const outcomeRetention = time.Hour

// Hooks run between the phases of Transact, to inject failures in tests. A hook that returns an error
// abandons the transaction at that point as if its process had died there: Transact returns the error
// without cleaning up, and recovery settles what is left.
type Hooks struct {
	// AfterClaims runs when every version is claimed, before the commit point.
	AfterClaims func(ctx context.Context, txID string) error
	// AfterCommit runs right after the commit point, before anything is published.
	AfterCommit func(ctx context.Context, txID string) error
	// AfterPublish runs after the versions of one resource type are published (types in order).
	AfterPublish func(ctx context.Context, txID, typ string) error
	// BeforeVisible runs when versions ("Type/id/vid") have taken their visibility instant, right before
	// the write that makes them visible to the change feed (a create, an update's claim, the clearing of
	// a transaction's marks). Tests use it to stall that write.
	BeforeVisible func(ctx context.Context, versions []string)
	// ReaderWaits runs when a query starts waiting for committed transaction txID to finish publishing
	// (isolation.go).
	ReaderWaits func(ctx context.Context, txID string)
	// BeforePublish runs before the version of typ/id of a committed transaction replaces its
	// current-version document (versions of one type are published in parallel).
	BeforePublish func(ctx context.Context, typ, id string)
	// TxHeld runs when the owner of committed transaction txID starts waiting for a query's hold before it
	// publishes (hold.go).
	TxHeld func(ctx context.Context, txID string)
	// HeldRun runs when a query holds types and is about to run (hold.go).
	HeldRun func(ctx context.Context, types []string)
	// SearchStep runs inside a search's run (isolation.go): step "count" before the total is counted by a
	// query of its own, "done" when the run has read everything.
	SearchStep func(ctx context.Context, typ, step string)
}

// abandoned is the error of a hook that stopped a transaction.
type abandoned struct {
	at  string
	err error
}

func (e *abandoned) Error() string {
	return fmt.Sprintf("mongo: transaction abandoned %s: %v", e.at, e.err)
}

func (e *abandoned) Unwrap() error { return e.err }

// txOp is one op of a transaction with its plan.
type txOp struct {
	i       int // position in the caller's ops
	op      storage.TxOp
	typ, id string
	method  string
	cur     *doc // the current-version document the op builds on (nil: none)

	noop    bool // a delete of nothing
	created bool
	vid     int64
	lu      time.Time
	view    bson.D // the current-version document to publish
	body    []byte
}

func (o *txOp) fail(err error) error {
	return &storage.TxError{Index: o.i, Type: o.typ, ID: o.op.Write.ID, Err: err}
}

// needsPlaceholder reports an op that stores a version of an id with no current-version document.
func (o *txOp) needsPlaceholder() bool { return !o.noop && o.cur == nil }

// needsArchive reports an op replacing a version 1 that is only in its current-version document.
func (o *txOp) needsArchive() bool { return !o.noop && o.cur != nil && o.cur.VersionID == 1 }

type tx struct {
	id      string
	started time.Time
	ops     []*txOp // in claim order
}

// target names a resource of a transaction in its intent.
type target struct {
	Type string `bson:"t"`
	ID   string `bson:"id"`
}

type intent struct {
	ID      string        `bson:"_id"`
	Started bson.DateTime `bson:"started"`
	Ops     []target      `bson:"ops"`
	// Owner is the instance running the transaction (lease.go); empty in intents of an older careflow.
	Owner string `bson:"owner,omitempty"`
	// Types are the resource types of Ops, sorted (readers select the transactions that concern them).
	Types []string `bson:"types,omitempty"`
	// Beat is the last heartbeat of the owner while it publishes.
	Beat bson.DateTime `bson:"beat,omitempty"`
	// Done: everything is published and the marks are cleared; the intent lingers for readers
	// (isolation.go) for TxLinger after DoneAt, then its owner (or recovery, when the owner is gone)
	// deletes it.
	Done   bool          `bson:"done,omitempty"`
	DoneAt bson.DateTime `bson:"doneAt,omitempty"`
	// Held: the owner of the committed transaction waits for a query's hold before it publishes (hold.go).
	Held bool `bson:"held,omitempty"`
}

func (t *tx) types() []string {
	var out []string
	for _, o := range t.ops { // in claim order: by type
		if len(out) == 0 || out[len(out)-1] != o.typ {
			out = append(out, o.typ)
		}
	}
	return out
}

func (t *tx) targets() []target {
	out := make([]target, len(t.ops))
	for k, o := range t.ops {
		out[k] = target{o.typ, o.id}
	}
	return out
}

// Transact implements storage.Store (see the comment at the top of this file).
func (s *Store) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	if err := s.ensureTypes(ctx, opTypes(ops)...); err != nil { // first writes of types, before any timestamp (collections.go)
		return nil, fmt.Errorf("mongo: transaction: %w", err)
	}
	t := &tx{id: storage.NewID(), started: s.now().UTC().Truncate(time.Millisecond)}
	seen := make(map[string]int, len(ops))
	for i, op := range ops {
		o := &txOp{i: i, op: op, typ: op.Write.Type, id: op.Write.ID, method: op.Write.Method}
		invalid := func(format string, args ...any) error {
			return o.fail(fmt.Errorf("%w: "+format, append([]any{storage.ErrTxInvalid}, args...)...))
		}
		switch op.Kind {
		case storage.TxCreate:
			if o.id == "" {
				o.id = storage.NewID()
			}
			if o.method == "" {
				o.method = "POST"
			}
		case storage.TxUpdate:
			if o.method == "" {
				o.method = "PUT"
			}
		case storage.TxDelete:
			o.method = "DELETE"
		default:
			return nil, invalid("unknown op kind %v", op.Kind)
		}
		if o.typ == "" || o.id == "" {
			return nil, invalid("an op needs a resource type and id")
		}
		key := o.typ + "/" + o.id
		if j, dup := seen[key]; dup {
			return nil, invalid("%s is also the target of op %d", key, j)
		}
		seen[key] = i
		t.ops = append(t.ops, o)
	}
	if len(t.ops) == 0 {
		return []storage.TxResult{}, nil
	}
	sort.Slice(t.ops, func(a, b int) bool {
		if t.ops[a].typ != t.ops[b].typ {
			return t.ops[a].typ < t.ops[b].typ
		}
		return t.ops[a].id < t.ops[b].id
	})

	// 1. Intent.
	if _, err := s.db.Collection(txCollection).InsertOne(ctx, intent{ID: t.id, Started: bson.NewDateTimeFromTime(t.started), Ops: t.targets(), Owner: s.instance, Types: t.types()}); err != nil {
		return nil, fmt.Errorf("mongo: transaction %s: record intent: %w", t.id, err)
	}
	marking := false // marks may have been written
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.rollBack(ctx, t.id, t.targets(), marking); err != nil {
			s.log.Warn("transaction roll-back failed; recovery will finish it", "tx", t.id, "err", err)
		}
	}

	// 2. Claims, then the marks on the current-version documents the claims will replace.
	if err := s.claimAll(ctx, t); err != nil {
		cleanup()
		return nil, err
	}
	marking = true
	if err := s.markCurrent(ctx, t); err != nil {
		cleanup()
		return nil, err
	}
	if h := s.hooks.AfterClaims; h != nil {
		if err := h(ctx, t.id); err != nil {
			return nil, &abandoned{"after the claims", err}
		}
	}

	// 3. Commit point.
	state, commitErr := s.decide(ctx, t.id, stateCommitted)
	if commitErr != nil {
		// The insert may or may not have happened: settle it with a decision that cannot be doubted.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		var err error
		state, err = s.decide(dctx, t.id, stateAborted)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("mongo: transaction %s: outcome unknown (recovery will settle it): %w", t.id, errors.Join(commitErr, err))
		}
	}
	if state != stateCommitted {
		cleanup()
		if commitErr != nil {
			return nil, fmt.Errorf("mongo: transaction %s rolled back: commit failed: %w", t.id, commitErr)
		}
		return nil, fmt.Errorf("mongo: transaction %s outlived the transaction timeout (%s) and was rolled back: %w", t.id, s.txTimeout, storage.ErrTxAborted)
	}
	if h := s.hooks.AfterCommit; h != nil {
		if err := h(ctx, t.id); err != nil {
			return nil, &abandoned{"after the commit point", err}
		}
	}

	// 4. Publish. The transaction is durable from here on: a failure is finished by recovery, not
	// reported to the client, and a client that goes away does not stop it.
	if err := s.finish(context.WithoutCancel(ctx), t); err != nil {
		var ab *abandoned
		if errors.As(err, &ab) {
			return nil, err
		}
		s.log.Error("transaction committed but not fully published; recovery will finish it", "tx", t.id, "err", err)
	}

	results := make([]storage.TxResult, len(ops))
	for _, o := range t.ops {
		if o.noop {
			continue
		}
		v := &storage.Version{Type: o.typ, ID: o.id, VersionID: o.vid, LastUpdated: o.lu, Method: o.method, Body: o.body, Deleted: o.op.Kind == storage.TxDelete}
		results[o.i] = storage.TxResult{Version: v, Created: o.created}
	}
	return results, nil
}

// claimAll claims every op's version in claim order. On failure the claims made so far stay (the caller
// rolls back).
func (s *Store) claimAll(ctx context.Context, t *tx) error {
	if err := s.loadCurrent(ctx, t.ops); err != nil {
		return err
	}
	// Plan everything first: a failed precondition fails the transaction before anything is written.
	for _, o := range t.ops {
		if err := s.plan(t, o); err != nil {
			return err
		}
	}
	if err := s.reserve(ctx, t); err != nil {
		return err
	}
	if err := s.archiveFirst(ctx, t.ops); err != nil {
		return err
	}
	return s.claimVersions(ctx, t)
}

// loadCurrent reads the current-version documents of ops, one query per type. Creates are not read: their
// id is expected to be new, and reserving it (a unique insert) finds out if it is not.
func (s *Store) loadCurrent(ctx context.Context, ops []*txOp) error {
	byType := map[string][]*txOp{}
	for _, o := range ops {
		if o.op.Kind == storage.TxCreate {
			continue
		}
		byType[o.typ] = append(byType[o.typ], o)
	}
	for typ, group := range byType {
		ids := make([]string, len(group))
		for k, o := range group {
			ids[k] = o.id
		}
		raws, err := s.find(ctx, typ, in(fID, ids), nil, 0, versionProjection)
		if err != nil {
			return fmt.Errorf("mongo: transaction: read %s: %w", typ, err)
		}
		found := make(map[string]*doc, len(raws))
		for _, raw := range raws {
			var d doc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("mongo: transaction: read %s: %w", typ, err)
			}
			found[d.ID] = &d
		}
		for _, o := range group {
			o.cur = found[o.id]
		}
	}
	return nil
}

// replan re-reads o's current-version document and plans o again.
func (s *Store) replan(ctx context.Context, t *tx, o *txOp) error {
	cur, err := s.current(ctx, o.typ, o.id)
	if err != nil {
		return err
	}
	if cur.placeholder() && cur.Tx != "" && cur.Tx != t.id && s.settleOrphan(ctx, cur.Tx) {
		// Another transaction's reservation, whose owner is gone: settled, look again.
		if cur, err = s.current(ctx, o.typ, o.id); err != nil {
			return err
		}
	}
	o.cur = cur
	return s.plan(t, o)
}

// plan decides what o stores on top of o.cur, checking its precondition and kind.
func (s *Store) plan(t *tx, o *txOp) error {
	cur := o.cur
	mine := cur.placeholder() && cur.Tx == t.id
	exists := cur != nil && !cur.placeholder()
	if pre := o.op.Precondition; pre.VersionID != 0 && (!exists || cur.Deleted || cur.VersionID != pre.VersionID) {
		c := &storage.VersionConflictError{Expected: pre.VersionID}
		if exists {
			c.Current = cur.VersionID
		}
		return o.fail(c)
	}
	o.noop = false
	switch o.op.Kind {
	case storage.TxCreate:
		if cur != nil && !mine {
			return o.fail(fmt.Errorf("mongo: create %s/%s: %w", o.typ, o.id, storage.ErrExists))
		}
	case storage.TxDelete:
		if !exists || cur.Deleted {
			o.noop = true
			return nil
		}
	}
	var prev time.Time
	o.vid = 1
	if cur != nil {
		o.vid = cur.VersionID + 1
		prev = cur.LastUpdated.Time()
	}
	o.lu = s.timestamp(prev)
	o.created = o.op.Kind != storage.TxDelete && (!exists || cur.Deleted)
	w := o.op.Write
	w.Type, w.ID = o.typ, o.id
	var err error
	// The feed lists a transaction's versions from their history documents, visible when their marks are
	// cleared (clearMarks); the current-version documents carry a null visibility.
	o.view, o.body, err = currentDoc(w, o.id, o.vid, o.lu, nil, o.method, o.op.Kind == storage.TxDelete)
	return err
}

// placeholderDoc reserves id for transaction t.
func placeholderDoc(t *tx, id string) bson.D {
	at := bson.NewDateTimeFromTime(t.started)
	return bson.D{
		{Key: fID, Value: id}, {Key: fVersion, Value: int64(0)}, {Key: fLastUpdated, Value: at}, {Key: fDeleted, Value: true},
		{Key: fMethod, Value: ""}, {Key: fTx, Value: t.id}, {Key: fTxTime, Value: at},
	}
}

// reserve inserts the placeholders of the ops that need one, one ordered insert per type. An id taken
// meanwhile is replanned on the document that took it.
func (s *Store) reserve(ctx context.Context, t *tx) error {
	var run []*txOp
	flush := func() error {
		for attempt := 0; len(run) > 0; attempt++ {
			if attempt >= maxAttempts {
				return run[0].fail(fmt.Errorf("mongo: reserve %s/%s: still contended after %d attempts: %w", run[0].typ, run[0].id, maxAttempts, storage.ErrTxAborted))
			}
			docs := make([]any, len(run))
			for k, o := range run {
				docs[k] = placeholderDoc(t, o.id)
			}
			_, err := s.db.Collection(run[0].typ).InsertMany(ctx, docs)
			if err == nil {
				for _, o := range run {
					o.cur = &doc{ID: o.id, LastUpdated: bson.NewDateTimeFromTime(t.started), Deleted: true, Tx: t.id}
				}
				run = nil
				return nil
			}
			k, dup := firstDuplicate(err)
			if !dup {
				return fmt.Errorf("mongo: transaction: reserve %s ids: %w", run[0].typ, err)
			}
			for _, o := range run[:k] {
				o.cur = &doc{ID: o.id, LastUpdated: bson.NewDateTimeFromTime(t.started), Deleted: true, Tx: t.id}
			}
			o := run[k]
			if err := s.replan(ctx, t, o); err != nil {
				return err
			}
			run = run[k:]
			if !o.needsPlaceholder() {
				run = run[1:]
			}
		}
		return nil
	}
	for _, o := range t.ops {
		if len(run) > 0 && run[0].typ != o.typ {
			if err := flush(); err != nil {
				return err
			}
		}
		if o.needsPlaceholder() {
			run = append(run, o)
		}
	}
	return flush()
}

// archiveDoc is the history copy of a version that only its current-version document holds.
func archiveDoc(typ string, cur *doc) bson.D {
	h := bson.D{
		{Key: fID, Value: historyID(typ, cur.ID, cur.VersionID)},
		{Key: fType, Value: typ},
		{Key: fResourceID, Value: cur.ID},
		{Key: fVersion, Value: cur.VersionID},
		{Key: fLastUpdated, Value: cur.LastUpdated},
	}
	if cur.Visible != nil {
		// Same visibility as the current-version document it copies: one version, one place in the feed.
		// Without one (written before careflow had it) the feed orders the copy by lastUpdated, like the
		// original.
		h = append(h, bson.E{Key: fVisible, Value: *cur.Visible})
	}
	h = append(h, bson.E{Key: fDeleted, Value: cur.Deleted}, bson.E{Key: fMethod, Value: cur.Method})
	if !cur.Deleted {
		h = append(h, bson.E{Key: fBody, Value: cur.Body})
	}
	return h
}

// archiveFirst copies the versions 1 that ops replace into history (as write does), in one insert.
func (s *Store) archiveFirst(ctx context.Context, ops []*txOp) error {
	var docs []any
	for _, o := range ops {
		if o.needsArchive() {
			docs = append(docs, archiveDoc(o.typ, o.cur))
		}
	}
	if len(docs) == 0 {
		return nil
	}
	_, err := s.db.Collection(historyCollection).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return fmt.Errorf("mongo: transaction: archive: %w", err)
	}
	return nil
}

// claimDoc is o's history document, marked as a claim of t, with the search-index fields to publish it.
func claimDoc(t *tx, o *txOp) bson.D {
	h := historyDoc(o.typ, o.view)
	h = append(h, bson.E{Key: fTx, Value: t.id}, bson.E{Key: fTxTime, Value: bson.NewDateTimeFromTime(t.started)})
	if o.op.Kind != storage.TxDelete && len(o.op.Write.Index) > 0 {
		keys := make([]string, 0, len(o.op.Write.Index))
		for k := range o.op.Write.Index {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		idx := make(bson.D, 0, len(keys))
		for _, k := range keys {
			idx = append(idx, indexFields(k, o.op.Write.Index[k])...)
		}
		h = append(h, bson.E{Key: fIndex, Value: idx})
	}
	return h
}

// claimVersions inserts the claims in claim order (one ordered insert); a taken claim is contended for.
func (s *Store) claimVersions(ctx context.Context, t *tx) error {
	var pending []*txOp
	for _, o := range t.ops {
		if !o.noop {
			pending = append(pending, o)
		}
	}
	hist := s.db.Collection(historyCollection)
	for len(pending) > 0 {
		docs := make([]any, len(pending))
		for k, o := range pending {
			docs[k] = claimDoc(t, o)
		}
		_, err := hist.InsertMany(ctx, docs)
		if err == nil {
			return nil
		}
		k, dup := firstDuplicate(err)
		if !dup {
			return fmt.Errorf("mongo: transaction: claim: %w", err)
		}
		if err := s.contend(ctx, t, pending[k]); err != nil {
			return err
		}
		pending = pending[k+1:]
	}
	return nil
}

// markCurrent marks with t's id the current-version documents t's claims will replace (placeholders are
// marked already), so that readers resolve them through t's decision (isolation.go). It runs after the
// claims: with version n+1 claimed, nobody but t publishes over version n, so the mark stays until t
// publishes (FerretDB rewrites the whole document it read; only a late duplicate publish of version n
// could drop the mark). The filter is the id alone: the document is at the version t planned on.
func (s *Store) markCurrent(ctx context.Context, t *tx) error {
	mark := bson.D{{Key: "$set", Value: bson.D{{Key: fTx, Value: t.id}, {Key: fTxTime, Value: bson.NewDateTimeFromTime(t.started)}}}}
	byType := map[string][]string{}
	for _, o := range t.ops {
		if !o.noop && o.cur != nil && !o.cur.placeholder() {
			byType[o.typ] = append(byType[o.typ], o.id)
		}
	}
	return s.updateByIDs(ctx, byType, nil, mark)
}

// updateByIDs applies update to the documents of each type with the given ids (and extra conditions):
// one update by _id per document on FerretDB (a primary-key lookup in PostgreSQL, where an $in would read
// the whole collection in Go), publishers at a time; one update of up to 500 ids at a time on MongoDB.
func (s *Store) updateByIDs(ctx context.Context, byType map[string][]string, extra bson.D, update bson.D) error {
	type one struct {
		typ    string
		filter bson.D
		many   bool
	}
	var work []one
	for typ, ids := range byType {
		if s.ferret {
			for _, id := range ids {
				work = append(work, one{typ, append(bson.D{{Key: fID, Value: id}}, extra...), false})
			}
			continue
		}
		for len(ids) > 0 {
			n := min(500, len(ids))
			work = append(work, one{typ, append(in(fID, ids[:n]), extra...), true})
			ids = ids[n:]
		}
	}
	sem := make(chan struct{}, publishers)
	errs := make([]error, len(work))
	var wg sync.WaitGroup
	for k, w := range work {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			if w.many {
				_, err = s.db.Collection(w.typ).UpdateMany(ctx, w.filter, update)
			} else {
				_, err = s.db.Collection(w.typ).UpdateOne(ctx, w.filter, update)
			}
			if err != nil {
				errs[k] = fmt.Errorf("mongo: update %s: %w", w.typ, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// contend claims o's version after finding it taken: it settles or waits for the writer holding it, then
// claims the version after whatever that writer stored. A conditional op does not wait: unless the claim
// goes away when settled (a dead transaction's), its precondition has failed.
func (s *Store) contend(ctx context.Context, t *tx, o *txOp) error {
	hist := s.db.Collection(historyCollection)
	for attempt := 0; ; attempt++ {
		if attempt > 0 && s.now().Sub(t.started) > s.txTimeout {
			return o.fail(fmt.Errorf("mongo: transaction %s waited too long for another writer of %s/%s: %w", t.id, o.typ, o.id, storage.ErrTxAborted))
		}
		if err := s.unblock(ctx, o.typ, o.id, o.vid); err != nil {
			return err
		}
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return o.fail(err)
			}
		}
		if err := s.replan(ctx, t, o); err != nil {
			return err
		}
		if o.noop {
			return nil
		}
		if o.needsPlaceholder() {
			_, err := s.db.Collection(o.typ).InsertOne(ctx, placeholderDoc(t, o.id))
			if err != nil && !mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("mongo: transaction: reserve %s/%s: %w", o.typ, o.id, err)
			}
			if err != nil {
				continue // taken meanwhile: plan again
			}
			o.cur = &doc{ID: o.id, LastUpdated: bson.NewDateTimeFromTime(t.started), Deleted: true, Tx: t.id}
		}
		if o.needsArchive() {
			if err := s.archive(ctx, o.typ, o.cur); err != nil {
				return err
			}
		}
		_, err := hist.InsertOne(ctx, claimDoc(t, o))
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: transaction: claim %s/%s/%d: %w", o.typ, o.id, o.vid, err)
		}
		if pre := o.op.Precondition.VersionID; pre != 0 {
			return o.fail(&storage.VersionConflictError{Expected: pre, Current: o.vid})
		}
	}
}

// firstDuplicate returns the index of the document an ordered insert stopped at, when it stopped on a
// duplicate key.
func firstDuplicate(err error) (int, bool) {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return 0, false
	}
	we := bwe.WriteErrors[0]
	for _, e := range bwe.WriteErrors[1:] {
		if e.Index < we.Index {
			we = e
		}
	}
	if !mongo.IsDuplicateKeyError(we) {
		return 0, false
	}
	return we.Index, true
}

// onlyDuplicates reports a bulk write whose every failure is a duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		return mongo.IsDuplicateKeyError(err)
	}
	if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return false
		}
	}
	return true
}

// decide records the decision on transaction txID unless one exists, and returns the one that holds.
func (s *Store) decide(ctx context.Context, txID, state string) (string, error) {
	outcomes := s.db.Collection(outcomeCollection)
	for attempt := 0; attempt < 3; attempt++ {
		_, err := outcomes.InsertOne(ctx, bson.D{{Key: fID, Value: txID}, {Key: "state", Value: state}, {Key: "at", Value: bson.NewDateTimeFromTime(s.now())}})
		if err == nil {
			return state, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return "", fmt.Errorf("mongo: transaction %s: record %s: %w", txID, state, err)
		}
		held, _, err := s.outcome(ctx, txID)
		if err != nil {
			return "", err
		}
		if held != "" {
			return held, nil
		}
		// Removed by the clean-up of settled transactions meanwhile: decide again.
	}
	return "", fmt.Errorf("mongo: transaction %s: could not record a decision", txID)
}

// outcome returns the decision on transaction txID and when it was taken; "" when there is none.
func (s *Store) outcome(ctx context.Context, txID string) (string, time.Time, error) {
	var o struct {
		State string        `bson:"state"`
		At    bson.DateTime `bson:"at"`
	}
	err := s.db.Collection(outcomeCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mongo: transaction %s: read outcome: %w", txID, err)
	}
	return o.State, o.At.Time(), nil
}

// pub is a version to publish over the current-version document at version prev.
type pub struct {
	id   string
	prev int64
	view bson.D
}

// publishers bounds the replacements publishAll runs at once.
//
// One replacement per command, never a bulk write of many: FerretDB v1.24 keeps a PostgreSQL connection
// open for every statement of an update command until the command ends (a defer in a loop in its
// msg_update.go) and needs one more to write, so an update command of ~50 statements exhausts its pool of
// 50 and hangs the whole server for good (measured: a 50-replacement bulk write froze it). One statement
// per command holds at most two connections.
const publishers = 4

// publishAll publishes versions of one type. Versions already published, or overtaken by later ones, are
// left alone.
func (s *Store) publishAll(ctx context.Context, typ string, pubs []pub) error {
	coll := s.db.Collection(typ)
	work := make(chan pub)
	errs := make(chan error, publishers)
	var wg sync.WaitGroup
	for w := 0; w < min(publishers, len(pubs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			for p := range work {
				if first != nil {
					continue
				}
				opts := options.Replace()
				if p.prev == 0 {
					opts.SetUpsert(true) // over a placeholder, which a roll-back may remove meanwhile
				}
				if h := s.hooks.BeforePublish; h != nil {
					h(ctx, typ, p.id)
				}
				_, err := coll.ReplaceOne(ctx, bson.D{{Key: fID, Value: p.id}, {Key: fVersion, Value: p.prev}}, p.view, opts)
				if err != nil && !mongo.IsDuplicateKeyError(err) { // duplicate: published already
					first = fmt.Errorf("mongo: publish %s/%s: %w", typ, p.id, err)
				}
			}
			errs <- first
		}()
	}
	for _, p := range pubs {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// finish publishes a committed transaction's versions, clears its marks and deletes its intent. It first
// waits while queries hold its types (hold.go), saying so in its intent; the heartbeat starts after (both
// rewrite the intent).
func (s *Store) finish(ctx context.Context, t *tx) error {
	err := s.awaitHolds(ctx, t.types(), func(ctx context.Context, held bool) error {
		if h := s.hooks.TxHeld; h != nil && held {
			h(ctx, t.id)
		}
		update := bson.D{{Key: "$set", Value: bson.D{{Key: "held", Value: true}}}}
		if !held {
			update = bson.D{{Key: "$unset", Value: bson.D{{Key: "held", Value: ""}}}}
		}
		if _, err := s.db.Collection(txCollection).UpdateOne(ctx, bson.D{{Key: fID, Value: t.id}}, update); err != nil {
			return fmt.Errorf("mongo: transaction %s: record held: %w", t.id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	stop := s.heartbeat(t.id)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	var claimIDs []string
	for start := 0; start < len(t.ops); {
		typ := t.ops[start].typ
		end := start
		var pubs []pub
		for ; end < len(t.ops) && t.ops[end].typ == typ; end++ {
			o := t.ops[end]
			if o.noop {
				continue
			}
			pubs = append(pubs, pub{o.id, o.vid - 1, o.view})
			claimIDs = append(claimIDs, historyID(o.typ, o.id, o.vid))
		}
		if err := s.publishAll(ctx, typ, pubs); err != nil {
			return err
		}
		if h := s.hooks.AfterPublish; h != nil && len(pubs) > 0 {
			if err := h(ctx, t.id, typ); err != nil {
				return &abandoned{"after publishing " + typ, err}
			}
		}
		start = end
	}
	if err := s.clearMarks(ctx, t.id, claimIDs); err != nil {
		return err
	}
	stop() // the heartbeat rewrites the intent: it must not undo done
	stopped = true
	return s.done(ctx, t.id)
}

// done records that transaction txID is settled (published, marks cleared) and deletes its intent
// TxLinger later, in the background, so that queries that ran meanwhile notice it (isolation.go). When
// the store closes first, the intent stays: recovery deletes it once TxLinger has passed.
func (s *Store) done(ctx context.Context, txID string) error {
	set := bson.D{{Key: "done", Value: true}, {Key: "doneAt", Value: bson.NewDateTimeFromTime(s.now())}}
	if _, err := s.db.Collection(txCollection).UpdateOne(ctx, bson.D{{Key: fID, Value: txID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
		return fmt.Errorf("mongo: transaction %s: record done: %w", txID, err)
	}
	s.lingering.Add(1)
	go func() {
		defer s.lingering.Done()
		t := time.NewTimer(s.txLinger)
		select {
		case <-t.C:
		case <-s.lingerCtx.Done():
			t.Stop()
			return // closing: a query that started before may still need it; recovery deletes it
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.db.Collection(txCollection).DeleteOne(ctx, bson.D{{Key: fID, Value: txID}}); err != nil {
			s.log.Warn("could not delete a settled transaction's intent; recovery will", "tx", txID, "err", err)
		}
	}()
	return nil
}

// clearChunk is how many claims one command of clearMarks settles. Clearing the marks makes versions
// visible to the change feed at the instant the command carries, so a command must end well within the
// feed's settle window (feed.go): FerretDB commits each updated document on its own, ~7 ms each on the
// development machine, so 64 claims take ~0.5 s, within the default window's half (1 s).
const clearChunk = 64

// clearMarks removes the marks of transaction txID from its claims (claimIDs) and sets their visibility
// instant, in chunks of clearChunk claims, publishers chunks at once. The filter is the mark (an index
// lookup on MongoDB; on FerretDB an equality PostgreSQL evaluates) plus an _id range, never a long $in
// (which FerretDB matches document by document in Go). FerretDB commits every updated document on its own,
// so chunks in parallel share the cost of those commits (measured: 10,000 marks take 72 s one after the
// other). A chunk whose command ended too late for the feed is made visible again, later (revealRange).
func (s *Store) clearMarks(ctx context.Context, txID string, claimIDs []string) error {
	if len(claimIDs) == 0 {
		return nil
	}
	hist := s.db.Collection(historyCollection)
	if s.ferret && len(claimIDs) <= maxExpand {
		// A few claims: one update by _id each (a primary-key lookup in PostgreSQL) instead of one that
		// scans the whole history table for the mark.
		return s.clearMarksByID(ctx, txID, claimIDs)
	}
	ids := append([]string(nil), claimIDs...)
	sort.Strings(ids)
	var chunks [][]string
	for len(ids) > 0 {
		n := min(clearChunk, len(ids))
		chunks = append(chunks, ids[:n])
		ids = ids[n:]
	}
	work := make(chan []string)
	errs := make([]error, min(publishers, len(chunks)))
	var wg sync.WaitGroup
	// One visibility instant for all the versions, so that the feed lists them together — renewed when
	// clearing takes so long (thousands of claims) that it would be late for the feed's settle window.
	var atMu sync.Mutex
	shared := s.visibleNow()
	first := shared
	instant := func() time.Time {
		atMu.Lock()
		defer atMu.Unlock()
		if s.feedSettle > 0 && s.now().Sub(shared) > s.feedSettle/4 {
			shared = s.visibleNow()
		}
		return shared
	}
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range work {
				if errs[w] != nil {
					continue
				}
				lo, hi := chunk[0], chunk[len(chunk)-1]
				at := instant()
				s.beforeVisible(ctx, chunk...)
				filter := bson.D{{Key: fTx, Value: txID}, {Key: fID, Value: bson.D{{Key: "$gte", Value: lo}, {Key: "$lte", Value: hi}}}}
				update := bson.D{
					{Key: "$unset", Value: bson.D{{Key: fTx, Value: ""}, {Key: fTxTime, Value: ""}, {Key: fIndex, Value: ""}}},
					{Key: "$set", Value: bson.D{{Key: fVisible, Value: bson.NewDateTimeFromTime(at)}, {Key: fTxDone, Value: txID}}},
				}
				if _, err := hist.UpdateMany(ctx, filter, update); err != nil {
					errs[w] = fmt.Errorf("mongo: transaction %s: clear marks: %w", txID, err)
					continue
				}
				if s.visibleLate(at) {
					if err := s.revealRange(ctx, lo, hi, at); err != nil {
						s.log.Error("could not move late versions forward in the change feed; pollers may miss them", "tx", txID, "versions", len(chunk), "err", err)
					}
				}
			}
		}()
	}
	for _, c := range chunks {
		work <- c
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.revealTxIfLate(ctx, txID, first)
}

// clearMarksByID makes the claims claimIDs of transaction txID visible (marks removed, visibility instant
// set, as clearMarks does), one update by _id per claim, publishers at a time.
func (s *Store) clearMarksByID(ctx context.Context, txID string, claimIDs []string) error {
	hist := s.db.Collection(historyCollection)
	sem := make(chan struct{}, publishers)
	errs := make([]error, len(claimIDs))
	var wg sync.WaitGroup
	at := s.visibleNow() // one instant for all (see clearMarks)
	for k, id := range claimIDs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.beforeVisible(ctx, id)
			update := bson.D{
				{Key: "$unset", Value: bson.D{{Key: fTx, Value: ""}, {Key: fTxTime, Value: ""}, {Key: fIndex, Value: ""}}},
				{Key: "$set", Value: bson.D{{Key: fVisible, Value: bson.NewDateTimeFromTime(at)}, {Key: fTxDone, Value: txID}}},
			}
			if _, err := hist.UpdateOne(ctx, bson.D{{Key: fID, Value: id}, {Key: fTx, Value: txID}}, update); err != nil {
				errs[k] = fmt.Errorf("mongo: transaction %s: clear mark of %s: %w", txID, id, err)
				return
			}
			if s.visibleLate(at) {
				if err := s.revealRange(ctx, id, id, at); err != nil {
					s.log.Error("could not move a late version forward in the change feed; pollers may miss it", "tx", txID, "version", id, "err", err)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.revealTxIfLate(ctx, txID, at)
}

// revealTxIfLate makes the versions of transaction txID visible to the change feed again, at a new
// instant, when its marks took longer to clear than the feed's settle window allows since first, the
// instant of its first cleared versions: the feed hides a transaction's versions until all are cleared
// (isolation.go), so the early ones may have been hidden from polls whose horizon passed their instant.
func (s *Store) revealTxIfLate(ctx context.Context, txID string, first time.Time) error {
	for attempt := 1; s.visibleLate(first); attempt++ {
		if attempt > revealAttempts {
			return fmt.Errorf("mongo: transaction %s: reveal again: still too late after %d attempts", txID, revealAttempts)
		}
		s.log.Warn("a transaction's versions became visible too late for the change feed's settle window; listing them again",
			"tx", txID, "visible", first, "late", s.now().Sub(first).String(), "settle", s.feedSettle.String())
		first = s.visibleNow()
		_, err := s.db.Collection(historyCollection).UpdateMany(ctx, bson.D{{Key: fTxDone, Value: txID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: fVisible, Value: bson.NewDateTimeFromTime(first)}}}})
		if err != nil {
			return fmt.Errorf("mongo: transaction %s: reveal again: %w", txID, err)
		}
	}
	return nil
}

// claim is a history document as stored, with the fields of a transaction's claim.
type claim struct {
	doc
	Index bson.Raw // the idx sub-document; nil when absent
}

func decodeClaim(raw bson.Raw) (*claim, error) {
	var c claim
	if err := bson.Unmarshal(raw, &c.doc); err != nil {
		return nil, fmt.Errorf("mongo: decode claim: %w", err)
	}
	if v, err := raw.LookupErr(fIndex); err == nil {
		idx, ok := v.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("mongo: decode claim %s: %s is not a document", c.ID, fIndex)
		}
		c.Index = idx
	}
	return &c, nil
}

// claimView rebuilds the current-version document of a claimed version. Its search-index fields come with
// a transaction's claim; a single write's claim has none, so they are extracted again from the body when
// the store knows the search parameters.
func (s *Store) claimView(c *claim) (bson.D, error) {
	view := bson.D{
		{Key: fID, Value: c.ResourceID}, {Key: fVersion, Value: c.VersionID}, {Key: fLastUpdated, Value: c.LastUpdated},
		{Key: fVisible, Value: nil}, // the feed reads the version from its history document
		{Key: fDeleted, Value: c.Deleted}, {Key: fMethod, Value: c.Method},
	}
	if c.Deleted {
		return view, nil
	}
	view = append(view, bson.E{Key: fBody, Value: c.Body})
	if len(c.Index) > 0 {
		elems, err := c.Index.Elements()
		if err != nil {
			return nil, fmt.Errorf("mongo: decode claim index: %w", err)
		}
		for _, e := range elems {
			view = append(view, bson.E{Key: e.Key(), Value: e.Value()})
		}
		return view, nil
	}
	if s.registry == nil {
		return view, nil
	}
	dec := json.NewDecoder(strings.NewReader(c.Body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("mongo: reindex %s/%s: %w", c.Type, c.ResourceID, err)
	}
	idx, err := s.registry.Index(c.Type, tree)
	if err != nil {
		return nil, fmt.Errorf("mongo: reindex %s/%s: %w", c.Type, c.ResourceID, err)
	}
	for k, v := range idx {
		view = append(view, bson.E{Key: k, Value: v})
	}
	return view, nil
}
