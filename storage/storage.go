// Package storage defines careflow's persistence contract in FHIR terms — versioned resources with create,
// read, vread, update, delete and history — and a conformance suite (storagetest) that every implementation
// must pass. The MongoDB implementation lives in storage/mongo.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/careflow/careflow/fhir/search"
)

// NewID returns a fresh server-assigned logical id: a random (version 4) UUID, which fits FHIR's id type
// ([A-Za-z0-9\-\.]{1,64}).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Version is one stored version of a resource.
type Version struct {
	Type        string
	ID          string
	VersionID   int64
	LastUpdated time.Time // millisecond precision, UTC
	Deleted     bool
	// Method is the interaction that produced the version: POST, PUT, PATCH or DELETE.
	Method string
	// Body is the resource JSON exactly as served (id and meta stamped); nil when Deleted.
	Body []byte
}

// ETag returns the weak ETag of the version, W/"n".
func (v *Version) ETag() string { return `W/"` + strconv.FormatInt(v.VersionID, 10) + `"` }

// Write is a resource to store. The store stamps id, meta.versionId and meta.lastUpdated into Body.
type Write struct {
	Type string
	ID   string // required for Update; Create assigns one when empty
	// Body is the validated resource JSON as the client sent it.
	Body []byte
	// Method recorded in history (POST, PUT, PATCH); defaults to POST for Create and PUT for Update.
	Method string
	// Index holds the resource's search values, by field name, pre-normalised by the caller: as
	// search.Registry.Index returns them, with token fields typed search.TokenKeys (a store may keep those
	// in its own form and searches them so; storage/sqlite does).
	Index map[string]any
}

// Precondition is the version an update or delete expects to replace (If-Match); zero means any.
type Precondition struct {
	VersionID int64
}

// HistoryQuery selects versions for the history interactions. Type and ID narrow it to a type or an
// instance; both empty means the whole system. Results are newest first.
//
// Instance history (ID set) lists the resource's versions by LastUpdated. Type and system history are
// the change feed: a traversal lists, newest visible first, versions that became visible at or after
// Since: every one that became visible (to every reader) before the page's Horizon, and possibly later
// ones. A client that passes each traversal's Horizon as the next traversal's Since receives every version
// at least once (under the store's documented assumptions). A store may deliver a version again — always
// the same version, so the client deduplicates by type, id and versionId: the MongoDB store lists every
// version visible when a traversal starts (a client reads its own writes at once), and the next traversal,
// from a Horizon a settle window behind that start, lists the versions of that window again — at least
// once, duplicates deducible by id+versionId.
type HistoryQuery struct {
	Type, ID string
	// Since: instance history includes versions with LastUpdated >= Since; type and system history
	// versions visible at or after Since (zero: all).
	Since time.Time
	Count int // page size (> 0)
	// After is an opaque cursor from a previous page's Next; it keeps the traversal's Horizon.
	After string
}

// HistoryPage is one page of history, newest first.
type HistoryPage struct {
	Versions []*Version
	// Next is the cursor of the following page; empty on the last page.
	Next string
	// Horizon (type and system history; zero for instance history): the traversal lists every version
	// that became visible in [Since, Horizon) — and may list versions that became visible after it, which
	// the next traversal (Since = Horizon) can list again — and reports the same Horizon, never before
	// Since, on all its pages. Versions that become visible later have a visibility instant at or after it.
	Horizon time.Time
	// Total is the number of versions matching the query (without paging) when the store computed it
	// cheaply; -1 otherwise.
	Total int
}

// Store persists versioned FHIR resources. Implementations are safe for concurrent use by any number of
// server instances sharing one database.
type Store interface {
	// Create stores version 1 of a new resource (server-assigned id when w.ID is empty). A w.ID that
	// already exists fails with ErrExists.
	Create(ctx context.Context, w Write) (*Version, error)
	// Read returns the current version; ErrNotFound if it never existed; a *GoneError if deleted.
	Read(ctx context.Context, typ, id string) (*Version, error)
	// VRead returns one version; ErrNotFound if that version does not exist; deleted versions are returned
	// with Deleted set.
	VRead(ctx context.Context, typ, id string, versionID int64) (*Version, error)
	// Update stores a new version (creating the resource when it does not exist or was deleted;
	// created reports that). A failed precondition returns a *VersionConflictError.
	Update(ctx context.Context, w Write, pre Precondition) (v *Version, created bool, err error)
	// Delete records a deletion. Deleting a resource that does not exist or is already deleted is not an
	// error and returns (nil, nil). A failed precondition returns a *VersionConflictError.
	Delete(ctx context.Context, typ, id string, pre Precondition) (*Version, error)
	// History lists versions newest first, with stable keyset paging.
	History(ctx context.Context, q HistoryQuery) (*HistoryPage, error)
	// Search returns one page of the current, non-deleted resources of q.Type that match q, in q.Sort
	// order (then by id), with keyset paging through q.Cursor.
	Search(ctx context.Context, q *search.Query) (*SearchPage, error)
	// Exists reports which of ids name resources of typ: true for a current one, false for a deleted one.
	// Ids never created, or only reserved by a transaction that has not committed, are absent.
	Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error)
	// Referrers finds the current, non-deleted resources of any type whose references (the
	// search.RefsField index values their Write carried) include one of keys: at most limit of them as
	// "Type/id", sorted, and how many there are in all.
	Referrers(ctx context.Context, keys []string, limit int) (refs []string, total int, err error)
	// Distinct returns, for each of the search-index fields given (search.Param Field names), the distinct
	// values, sorted, that the current, non-deleted resources of typ hold. The $meta operation lists the
	// tags, security labels and profiles in use with it.
	Distinct(ctx context.Context, typ string, fields ...string) (map[string][]string, error)
	// Lock acquires a named mutex shared by every server instance on the database, waiting until it is
	// free or ctx ends. A lock whose holder died expires after a timeout. Conditional creates use it so that
	// concurrent identical requests create one resource.
	Lock(ctx context.Context, name string) (release func(), err error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Transact applies ops atomically: either every op takes effect, or none does and the store is as if
	// the call never happened — also when the process dies part-way (the store recovers on restart). Each
	// op has the semantics of the corresponding single call (Create, Update, Delete, with its
	// Precondition); an op that would fail fails the whole transaction with a *TxError naming it and
	// wrapping the usual error (ErrExists, *VersionConflictError, …). A resource may be the target of at
	// most one op (ErrTxInvalid otherwise). Concurrent transactions and single writes on the same
	// resources serialise per resource: no update is lost and versions stay sequential. Reads (Read,
	// VRead, History, Search) never observe the versions of a transaction that has not committed, and a
	// read that returns a version of a committed transaction has all of its other versions visible to it
	// (read committed; each call is one read — see docs/ARCHITECTURE.md for each store).
	// Results are in ops order.
	Transact(ctx context.Context, ops []TxOp) ([]TxResult, error)
}

// TxKind is what a transaction op does.
type TxKind int

const (
	// TxCreate stores version 1 of a new resource, as Create: the store assigns an id when Write.ID is
	// empty; an id that exists (even deleted) fails with ErrExists.
	TxCreate TxKind = iota + 1
	// TxUpdate stores a new version, as Update: it creates the resource when it does not exist or was
	// deleted.
	TxUpdate
	// TxDelete records a deletion of Write.Type/Write.ID, as Delete: deleting what does not exist or is
	// already deleted does nothing (TxResult.Version is nil) unless a Precondition is given.
	TxDelete
)

func (k TxKind) String() string {
	switch k {
	case TxCreate:
		return "create"
	case TxUpdate:
		return "update"
	case TxDelete:
		return "delete"
	}
	return "TxKind(" + strconv.Itoa(int(k)) + ")"
}

// TxOp is one operation of a transaction.
type TxOp struct {
	Kind TxKind
	// Write is the resource to store; for TxDelete only Type and ID are used.
	Write Write
	// Precondition is the version an update or delete expects to replace (If-Match); zero means any.
	Precondition Precondition
}

// TxResult is the outcome of one op of a committed transaction.
type TxResult struct {
	// Version is the version the op stored; nil for a TxDelete that had nothing to delete.
	Version *Version
	// Created reports that the op created the resource (always for TxCreate; for TxUpdate when the
	// resource did not exist or was deleted).
	Created bool
}

// TxError reports why a transaction failed; nothing of it was stored.
type TxError struct {
	// Index is the failing op's position in the ops passed to Transact.
	Index int
	// Type and ID name the op's resource (ID is empty for a create with a store-assigned id).
	Type, ID string
	// Err is why: ErrExists, *VersionConflictError, ErrTxInvalid, ErrTxAborted, or a database error.
	Err error
}

func (e *TxError) Error() string {
	return fmt.Sprintf("storage: transaction failed at op %d (%s/%s): %v", e.Index, e.Type, e.ID, e.Err)
}

func (e *TxError) Unwrap() error { return e.Err }

// ErrTxInvalid reports a malformed transaction: an op without a type or id, an unknown kind, or two ops on
// the same resource.
var ErrTxInvalid = errors.New("storage: invalid transaction")

// ErrTxAborted reports a transaction the store gave up on before its commit point — it waited too long for
// another writer of one of its resources, or outlived the store's transaction timeout and was rolled back
// — and that may succeed when retried.
var ErrTxAborted = errors.New("storage: transaction aborted")

// SearchPage is one page of search results.
type SearchPage struct {
	Versions []*Version
	// Next and Prev are cursors of the following and preceding pages; empty when there is none.
	Next, Prev string
	// Total is the number of matches over all pages, or -1 when not computed: with _total=none, and on
	// pages after the first unless _total=accurate.
	Total int
}

// ErrNotFound reports a resource or version that does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrExists reports a create of an id that is already taken.
var ErrExists = errors.New("storage: resource already exists")

// ErrBadCursor reports a paging cursor the store cannot decode.
var ErrBadCursor = errors.New("storage: invalid paging cursor")

// ErrTooCostly reports a search the store refuses to run because it would touch too many resources (a
// chain or _has matching more resources than the store resolves).
var ErrTooCostly = errors.New("storage: search too costly")

// GoneError reports a read of a deleted resource.
type GoneError struct {
	Deleted *Version // the deletion version
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("storage: %s/%s deleted (version %d)", e.Deleted.Type, e.Deleted.ID, e.Deleted.VersionID)
}

// VersionConflictError reports that the current version is not the expected one.
type VersionConflictError struct {
	Expected, Current int64 // Current is 0 when the resource does not exist
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("storage: expected version %d, current is %d", e.Expected, e.Current)
}

// ConsistentReader is a store's optional capability to run several reads as one: together they hold all or
// nothing of every transaction (storage/sqlite: one read transaction; storage/mongo: one fence on the
// transactions in flight on types). docs/ARCHITECTURE.md, "Read isolation". Store decorators pass it
// through with ReadConsistent.
type ConsistentReader interface {
	ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error
}

// ReadConsistent runs read as one read of store when store is a ConsistentReader, and as it is otherwise.
func ReadConsistent(ctx context.Context, store Store, types []string, read func(ctx context.Context) error) error {
	if cr, ok := store.(ConsistentReader); ok {
		return cr.ReadConsistent(ctx, types, read)
	}
	return read(ctx)
}
