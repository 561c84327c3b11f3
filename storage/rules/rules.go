// Package rules wraps a storage.Store so that every update of a resource type is checked against rules
// about the change itself — typically status transitions (a completed CarePlan does not become active
// again) — whatever interaction makes it: PUT, conditional update, PATCH, or a write entry of a
// transaction. The check and the write are one step: the previous version a rule saw is the version the
// write replaces (compare-and-set), so a concurrent update can never slip a forbidden transition through.
//
// Effects (WithEffects) go further: an effect derives, from an update, other writes that must be stored
// with it (an Appointment cancelled frees its slots); the update and those writes are one transaction,
// pinned to the versions the effect read.
package rules

import (
	"context"
	"errors"
	"fmt"

	"github.com/careflow/careflow/storage"
)

// Rule checks the update of a resource from previous to proposed (both resource JSON). It returns nil
// when the change is allowed, else an error the API reports as is (an *outcome.Error with a 4xx status
// for a forbidden change).
type Rule func(previous, proposed []byte) error

// Effect derives, from an update of a resource from previous (nil when it creates) to proposed, the other
// writes that must be stored atomically with it (an Appointment cancelled frees its slots). It reads
// through r, and returns each op with the precondition of the version it read (the whole step is retried
// when another write came first); nil when the update needs none. An error is reported as is.
type Effect func(ctx context.Context, r storage.Store, previous, proposed []byte) ([]storage.TxOp, error)

// maxAttempts bounds how often an update without a client precondition is retried after a concurrent
// update replaced the version its rule checked.
const maxAttempts = 32

// Store is a storage.Store whose updates obey per-type rules. Other calls pass through.
type Store struct {
	storage.Store
	rules   map[string][]Rule
	effects map[string][]Effect
}

// WithEffects returns the Store with per-type effects: every update of a resource of the type (PUT,
// conditional update, PATCH, transaction entries) stores the writes its effects derive in one transaction
// with it. A write the same transaction already makes to a resource wins over an effect's.
func (s *Store) WithEffects(effects map[string][]Effect) *Store {
	c := *s
	c.effects = effects
	return &c
}

// effectOps runs the effects of typ on an update replacing cur (nil: creating) with proposed.
func (s *Store) effectOps(ctx context.Context, typ string, cur *storage.Version, proposed []byte) ([]storage.TxOp, error) {
	var prev []byte
	if cur != nil && !cur.Deleted {
		prev = cur.Body
	}
	var out []storage.TxOp
	for _, e := range s.effects[typ] {
		ops, err := e(ctx, s.Store, prev, proposed)
		if err != nil {
			return nil, err
		}
		out = append(out, ops...)
	}
	return out, nil
}

// New wraps s; rules maps a resource type to the rules of its updates.
func New(s storage.Store, rules map[string][]Rule) *Store {
	return &Store{Store: s, rules: rules}
}

// check runs the rules of typ on an update replacing cur (nil: nothing current, no rule applies).
func (s *Store) check(typ string, cur *storage.Version, proposed []byte) error {
	if cur == nil || cur.Deleted {
		return nil
	}
	for _, r := range s.rules[typ] {
		if err := r(cur.Body, proposed); err != nil {
			return err
		}
	}
	return nil
}

// current returns the current version of a resource (its deletion when it is deleted), nil when it never
// existed.
func (s *Store) current(ctx context.Context, typ, id string) (*storage.Version, error) {
	v, err := s.Store.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case errors.As(err, &gone):
		return gone.Deleted, nil
	case err != nil:
		return nil, fmt.Errorf("rules: read %s/%s: %w", typ, id, err)
	}
	return v, nil
}

// Update checks the rules against the current version and stores w in its place. With no client
// precondition, the write expects the version the rules saw and the whole step is retried if another
// update came first; a client precondition (If-Match) is honoured as given.
func (s *Store) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	if len(s.rules[w.Type]) == 0 && len(s.effects[w.Type]) == 0 {
		return s.Store.Update(ctx, w, pre)
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.current(ctx, w.Type, w.ID)
		if err != nil {
			return nil, false, err
		}
		if pre.VersionID != 0 && (cur == nil || cur.VersionID != pre.VersionID) {
			// The client's precondition fails whatever the rules say; the store reports it.
			return s.Store.Update(ctx, w, pre)
		}
		if err := s.check(w.Type, cur, w.Body); err != nil {
			return nil, false, err
		}
		more, err := s.effectOps(ctx, w.Type, cur, w.Body)
		if err != nil {
			return nil, false, err
		}
		if len(more) > 0 {
			// The update and its effects' writes: one transaction, pinned to the versions read.
			op := storage.TxOp{Kind: storage.TxUpdate, Write: w, Precondition: pre}
			switch {
			case cur == nil:
				op = storage.TxOp{Kind: storage.TxCreate, Write: asCreate(w)}
			case !cur.Deleted && pre.VersionID == 0:
				op.Precondition = storage.Precondition{VersionID: cur.VersionID}
			}
			res, err := s.Store.Transact(ctx, append([]storage.TxOp{op}, more...))
			var txErr *storage.TxError
			var conflict *storage.VersionConflictError
			if errors.As(err, &txErr) && (txErr.Index > 0 || pre.VersionID == 0) &&
				(errors.As(txErr.Err, &conflict) || errors.Is(txErr.Err, storage.ErrExists)) && attempt < maxAttempts {
				continue
			}
			if errors.As(err, &txErr) && txErr.Index == 0 {
				return nil, false, txErr.Err // as Update reports it
			}
			if err != nil {
				return nil, false, err
			}
			return res[0].Version, res[0].Created, nil
		}
		if cur == nil {
			// Nothing to check against: create it, unless someone else just did (then check against
			// theirs).
			v, err := s.Store.Create(ctx, asCreate(w))
			if errors.Is(err, storage.ErrExists) && attempt < maxAttempts {
				continue
			}
			return v, err == nil, err
		}
		if cur.Deleted {
			// A deleted resource starts afresh: no rule applies. (A concurrent re-creation in between is
			// not checked against: the store cannot expect "still deleted".)
			return s.Store.Update(ctx, w, pre)
		}
		v, created, err := s.Store.Update(ctx, w, storage.Precondition{VersionID: cur.VersionID})
		var conflict *storage.VersionConflictError
		if errors.As(err, &conflict) && pre.VersionID == 0 && attempt < maxAttempts {
			continue
		}
		return v, created, err
	}
}

// Transact checks the rules of every update op against the current version and applies the ops with
// those versions as preconditions; if a concurrent update came first (and the op had no client
// precondition), the transaction — which then left nothing behind — is checked and applied again.
func (s *Store) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	guarded := false
	for _, op := range ops {
		if op.Kind == storage.TxUpdate && (len(s.rules[op.Write.Type]) > 0 || len(s.effects[op.Write.Type]) > 0) {
			guarded = true
		}
	}
	if !guarded {
		return s.Store.Transact(ctx, ops)
	}
	for attempt := 0; ; attempt++ {
		checked := make([]storage.TxOp, len(ops))
		copy(checked, ops)
		pinned := map[int]bool{} // ops whose precondition the rules added
		targets := map[string]bool{}
		for _, op := range ops {
			targets[op.Write.Type+"/"+op.Write.ID] = true
		}
		var derived []storage.TxOp // the effects' writes, after ops
		derivedFrom := map[int]int{}
		for i, op := range ops {
			if op.Kind != storage.TxUpdate || len(s.rules[op.Write.Type]) == 0 && len(s.effects[op.Write.Type]) == 0 {
				continue
			}
			cur, err := s.current(ctx, op.Write.Type, op.Write.ID)
			if err != nil {
				return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
			}
			if op.Precondition.VersionID != 0 && (cur == nil || cur.VersionID != op.Precondition.VersionID) {
				continue // the store reports the client's failed precondition
			}
			if err := s.check(op.Write.Type, cur, op.Write.Body); err != nil {
				return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
			}
			switch {
			case cur == nil:
				checked[i] = storage.TxOp{Kind: storage.TxCreate, Write: asCreate(op.Write)}
				pinned[i] = true
			case op.Precondition.VersionID == 0 && !cur.Deleted:
				checked[i].Precondition = storage.Precondition{VersionID: cur.VersionID}
				pinned[i] = true
			}
			more, err := s.effectOps(ctx, op.Write.Type, cur, op.Write.Body)
			if err != nil {
				return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
			}
			for _, d := range more {
				if key := d.Write.Type + "/" + d.Write.ID; !targets[key] {
					targets[key] = true
					derivedFrom[len(ops)+len(derived)] = i
					derived = append(derived, d)
				}
			}
		}
		res, err := s.Store.Transact(ctx, append(checked, derived...))
		var txErr *storage.TxError
		var conflict *storage.VersionConflictError
		if errors.As(err, &txErr) && (pinned[txErr.Index] || txErr.Index >= len(ops)) &&
			(errors.As(txErr.Err, &conflict) || errors.Is(txErr.Err, storage.ErrExists)) && attempt < maxAttempts {
			continue
		}
		if errors.As(err, &txErr) && txErr.Index >= len(ops) {
			// An effect's write failed otherwise: reported at the op that caused it.
			i := derivedFrom[txErr.Index]
			return nil, &storage.TxError{Index: i, Type: ops[i].Write.Type, ID: ops[i].Write.ID, Err: txErr}
		}
		if err != nil {
			return nil, err
		}
		return res[:len(ops)], nil
	}
}

// asCreate is the write of an update that creates its resource: recorded in history as the update it is.
func asCreate(w storage.Write) storage.Write {
	if w.Method == "" {
		w.Method = "PUT"
	}
	return w
}

// ReadConsistent passes the wrapped store's consistent reads through (storage.ConsistentReader).
func (s *Store) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	return storage.ReadConsistent(ctx, s.Store, types, read)
}
