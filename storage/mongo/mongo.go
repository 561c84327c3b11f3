// Package mongo implements storage.Store on MongoDB (or any server speaking its wire protocol, such as
// FerretDB) with go.mongodb.org/mongo-driver/v2, using only operations that both execute correctly: no
// multi-document transactions, no $lookup, no partial indexes.
//
// Layout: one collection per resource type holds each resource's current version (_id = logical id), so a
// read is one lookup by _id and a create one insert; the collection "history" holds the versions
// (_id = "Type/id/vid"): every version after the first, and the first once the resource has changed. A new
// version is claimed by inserting its history document, then published to the current-version document
// (see write). History reads merge both collections.
//
// Transactions (Transact, tx.go) claim their versions the same way, marked with the transaction's id so
// that every read ignores them, and publish them only after a single insert into "txoutcomes" has
// committed the transaction; "transactions" lists the transactions not yet settled, for recovery
// (recovery.go).
package mongo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

const historyCollection = "history"

// Field names of stored documents.
const (
	fID          = "_id"
	fVersion     = "vid"
	fLastUpdated = "lu"
	fDeleted     = "del"
	fMethod      = "m"
	fBody        = "raw"
	// fVisible is when the version became visible to the change feed (type and system history), set by
	// the write that made it visible (see feed.go). null on a current-version document whose version the
	// feed reads from its history document instead; absent on documents written before careflow had it
	// (the feed then uses fLastUpdated).
	fVisible    = "vis"
	fType       = "t"   // history only
	fResourceID = "rid" // history only
	// Transaction marks (tx.go): a history document or placeholder carrying fTx belongs to a transaction
	// that has not been settled; fTxTime is when that transaction started and fIndex holds the search
	// index fields of a claimed version, to publish it.
	fTx     = "tx"
	fTxTime = "txt"
	fIndex  = "idx"
	// fTxDone names, on a history document, the transaction whose claim it was once its mark is cleared:
	// the change feed hides it until the whole transaction is cleared (isolation.go).
	fTxDone = "txd"
)

// Store is a storage.Store on one MongoDB database.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	types    []string
	registry *search.Registry
	log      *slog.Logger
	now      func() time.Time
	// cols are the types whose collection has its indexes (collections.go).
	cols collections

	// feedSettle is how far behind now the change feed's horizon lags (Options.FeedSettle); negative: none.
	feedSettle time.Duration
	txTimeout  time.Duration
	lockTTL    time.Duration
	hooks      Hooks
	// searchIndexes: the search-parameter indexes are (to be) created.
	searchIndexes bool
	// ferret: the server is FerretDB (see expand.go and Options.SearchIndexes).
	ferret bool
	// stopRecovery ends the periodic recovery loop; recoveryDone is closed when it has ended.
	stopRecovery context.CancelFunc
	recoveryDone chan struct{}

	// instance is this store's id in "instances" (lease.go); host is the host name it registered with.
	instance, host string
	leaseTTL       time.Duration
	stopLeaseLoop  func()
	// txLinger is how long a finished transaction keeps its intent (isolation.go); lingering holds the
	// goroutines that delete them, cut short by Close.
	txLinger   time.Duration
	lingerCtx  context.Context
	stopLinger context.CancelFunc
	lingering  sync.WaitGroup
}

// Options configure Open.
type Options struct {
	// URI is a MongoDB connection string. Its path names the database; DefaultDatabase is used otherwise.
	URI             string
	DefaultDatabase string
	// Types are the resource types stored (one collection each).
	Types []string
	// Registry, when set, declares the search parameters whose index fields get database indexes.
	Registry *search.Registry
	Logger   *slog.Logger
	// TxTimeout bounds how long a transaction may take to reach its commit point. An older pending
	// transaction is presumed dead (its process crashed) and rolled back by recovery, or by a writer it
	// blocks. Default DefaultTxTimeout.
	TxTimeout time.Duration
	// RecoveryInterval is how often the store settles transactions that crashed processes left behind,
	// besides once at Open. Default DefaultRecoveryInterval; negative: only at Open and on Recover.
	RecoveryInterval time.Duration
	// LockTTL is how long a lock (Lock) outlives a holder that died without releasing it; live holders
	// renew theirs. Default DefaultLockTTL.
	LockTTL time.Duration
	// FeedSettle is how far the horizon of type and system history (the change feed) lags behind now:
	// they list every version visible so far, and the next poll, from that horizon, lists the last
	// FeedSettle again, so that a version that became visible late is not missed. At least the longest a
	// write takes to become visible after taking its visibility instant plus the largest clock difference
	// between the server instances sharing the database (see feed.go). Default DefaultFeedSettle;
	// negative: no settle window (the horizon is now; exact only with one instance and no concurrent
	// writers — for tests).
	FeedSettle time.Duration
	// LeaseTTL is how long this instance's lease outlives its last renewal: another instance presumes it
	// gone (and settles its transactions at once) when it has not renewed its lease for that long
	// (lease.go). Default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// TxLinger is how long a transaction keeps its intent, marked done, after publishing, so that a query
	// that ran meanwhile notices it (isolation.go); a query that takes longer runs again. Default
	// DefaultTxLinger.
	TxLinger time.Duration
	// Clock replaces time.Now (tests).
	Clock func() time.Time
	// Hooks inject failures between the phases of a transaction. For tests; leave zero in production.
	Hooks Hooks
	// Monitor, when set, observes every database command (benchmarks count them).
	Monitor *event.CommandMonitor
	// SearchIndexes says whether the search-parameter indexes (one per parameter and type) are created:
	// IndexesAuto (the default) creates them unless the server is FerretDB, IndexesAlways and
	// IndexesNever force the choice. FerretDB v1 never uses them for queries, and they cost it about 40 %
	// more database CPU per write (docs/PERFORMANCE.md).
	SearchIndexes IndexMode
}

// IndexMode selects whether search-parameter indexes are created.
type IndexMode string

// Index modes.
const (
	IndexesAuto   IndexMode = "auto"
	IndexesAlways IndexMode = "always"
	IndexesNever  IndexMode = "never"
)

// ParseIndexMode parses auto, always or never ("" is auto).
func ParseIndexMode(s string) (IndexMode, error) {
	switch m := IndexMode(s); m {
	case "":
		return IndexesAuto, nil
	case IndexesAuto, IndexesAlways, IndexesNever:
		return m, nil
	}
	return "", fmt.Errorf("search indexes %q: want auto, always or never", s)
}

// Defaults of Options.
const (
	DefaultTxTimeout        = time.Minute
	DefaultRecoveryInterval = 30 * time.Second
	DefaultFeedSettle       = 2 * time.Second
	DefaultTxLinger         = 5 * time.Second
)

// Open connects, checks that the database answers and creates the indexes the store needs (idempotent).
func Open(ctx context.Context, o Options) (*Store, error) {
	cs, copts, err := parseURI(ctx, o.URI)
	if err != nil {
		return nil, err
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = o.DefaultDatabase
	}
	if dbName == "" {
		dbName = "careflow"
	}
	copts.SetAppName("careflow")
	if o.Monitor != nil {
		copts.SetMonitor(o.Monitor)
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{client: client, db: client.Database(dbName), types: o.Types, registry: o.Registry, log: log, now: time.Now,
		txTimeout: o.TxTimeout, hooks: o.Hooks}
	if s.txTimeout <= 0 {
		s.txTimeout = DefaultTxTimeout
	}
	if o.Clock != nil {
		s.now = o.Clock
	}
	if s.feedSettle = o.FeedSettle; s.feedSettle == 0 {
		s.feedSettle = DefaultFeedSettle
	}
	if s.lockTTL = o.LockTTL; s.lockTTL <= 0 {
		s.lockTTL = DefaultLockTTL
	}
	if s.leaseTTL = o.LeaseTTL; s.leaseTTL <= 0 {
		s.leaseTTL = DefaultLeaseTTL
	}
	if s.txLinger = o.TxLinger; s.txLinger <= 0 {
		s.txLinger = DefaultTxLinger
	}
	s.instance = storage.NewID()
	s.lingerCtx, s.stopLinger = context.WithCancel(context.Background())
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if s.ferret, err = s.isFerretDB(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if s.searchIndexes, err = s.wantSearchIndexes(o.SearchIndexes); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := s.startLease(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	// Settle what a crashed process left behind before serving; failing that is not fatal (the periodic
	// pass and the writers that meet a stray claim settle it later).
	if err := s.Recover(ctx); err != nil {
		s.log.Warn("transaction recovery at start-up failed; it will be retried", "err", err)
	}
	interval := o.RecoveryInterval
	if interval == 0 {
		interval = DefaultRecoveryInterval
	}
	if interval > 0 {
		s.startRecovery(interval)
	}
	return s, nil
}

// parseURI parses uri into its connection string and client options, within ctx. For a mongodb+srv://
// URI the driver resolves the hosts while it parses (DNS SRV and TXT records), with lookups that take no
// context: a DNS server that does not answer would hold Open past its context (and the server's start or
// shutdown with it), so the parse then runs aside and is left to end on its own (bounded by the
// resolver's timeouts) when ctx ends first. A failed lookup is reported as such, not as an invalid URI.
func parseURI(ctx context.Context, uri string) (*connstring.ConnString, *options.ClientOptions, error) {
	parse := func() (*connstring.ConnString, *options.ClientOptions, error) {
		cs, err := connstring.ParseAndValidate(uri)
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr):
			return nil, nil, fmt.Errorf("mongo: resolve the hosts of the mongodb+srv:// URI: %w", err)
		case err != nil:
			return nil, nil, fmt.Errorf("mongo: invalid URI: %w", err)
		}
		copts := options.Client().ApplyURI(uri) // parses again (and resolves again): the options need it
		if err := copts.Validate(); err != nil {
			return nil, nil, fmt.Errorf("mongo: invalid URI: %w", err)
		}
		return cs, copts, nil
	}
	if !strings.HasPrefix(strings.ToLower(uri), connstring.SchemeMongoDBSRV+"://") {
		return parse()
	}
	type parsed struct {
		cs    *connstring.ConnString
		copts *options.ClientOptions
		err   error
	}
	done := make(chan parsed, 1)
	go func() {
		cs, copts, err := parse()
		done <- parsed{cs, copts, err}
	}()
	select {
	case p := <-done:
		return p.cs, p.copts, p.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("mongo: resolve the hosts of the mongodb+srv:// URI: %w", ctx.Err())
	}
}

// Close stops the periodic recovery and disconnects from the database.
func (s *Store) Close(ctx context.Context) error {
	if s.stopRecovery != nil {
		s.stopRecovery()
		<-s.recoveryDone
	}
	s.stopLinger() // finished transactions' intents are left to recovery (they linger for queries)
	s.lingering.Wait()
	s.stopLease(ctx)
	return s.client.Disconnect(ctx)
}

// Database exposes the underlying database (tests and tooling).
func (s *Store) Database() *mongo.Database { return s.db }

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	return nil
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	hist := []index{
		{"instance_history", bson.D{{Key: fType, Value: 1}, {Key: fResourceID, Value: 1}, {Key: fLastUpdated, Value: -1}}},
		{"type_history", bson.D{{Key: fType, Value: 1}, {Key: fLastUpdated, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}},
		{"system_history", bson.D{{Key: fLastUpdated, Value: -1}, {Key: fType, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}},
		// The change feed (feed.go): a range on the visibility instant, or for legacy documents equality on
		// it (missing) and a range on lastUpdated, both in the order of the feed's sort.
		{"type_feed", bson.D{{Key: fType, Value: 1}, {Key: fVisible, Value: -1}, {Key: fLastUpdated, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}},
		{"system_feed", bson.D{{Key: fVisible, Value: -1}, {Key: fLastUpdated, Value: -1}, {Key: fType, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}},
	}
	hist = append(hist, index{"pending_tx", bson.D{{Key: fTx, Value: 1}}})
	if err := s.createIndexes(ctx, historyCollection, hist); err != nil {
		return err
	}
	return s.ensureExistingTypes(ctx)
}

// isFerretDB reports whether the server is FerretDB (its buildInfo has ferretdbVersion).
func (s *Store) isFerretDB(ctx context.Context) (bool, error) {
	var info bson.M
	if err := s.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongo: buildInfo: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	return ferret, nil
}

// wantSearchIndexes decides whether search-parameter indexes are created (see Options.SearchIndexes).
func (s *Store) wantSearchIndexes(mode IndexMode) (bool, error) {
	switch mode {
	case IndexesAlways:
		return true, nil
	case IndexesNever:
		return false, nil
	case "", IndexesAuto:
		if s.ferret {
			s.log.Info("FerretDB: search-parameter indexes are not created (it does not use them)")
		}
		return !s.ferret, nil
	}
	return false, fmt.Errorf("mongo: search indexes %q: want auto, always or never", mode)
}

// index is a named index declaration.
type index struct {
	name string
	keys bson.D
}

// createIndexes creates the indexes of a collection that do not exist yet (by name). Asking again for an
// existing index is a no-op on MongoDB, but FerretDB v1.24 drops the connection on it (a panic in its
// createIndexes), so existing ones are listed first.
func (s *Store) createIndexes(ctx context.Context, coll string, indexes []index) error {
	cur, err := s.db.Collection(coll).Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("mongo: list %s indexes: %w", coll, err)
	}
	var existing []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return fmt.Errorf("mongo: list %s indexes: %w", coll, err)
	}
	have := map[string]bool{}
	for _, e := range existing {
		have[e.Name] = true
	}
	var missing []mongo.IndexModel
	for _, ix := range indexes {
		if !have[ix.name] {
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := s.db.Collection(coll).Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("mongo: create %s indexes: %w", coll, err)
	}
	return nil
}

// searchParamIndexes declares one index per search parameter of typ: on its values, or for dates on the start
// and end of their range. Modifier fields (:exact, :text, :identifier) and sort fields are not indexed: a
// MongoDB collection holds at most 64 indexes; the type with the most, Observation, needs 33 of them for
// its indexed parameters (TestIndexesPerTypeFit), 37 with the store's own and _id.
func (s *Store) searchParamIndexes(typ string) []index {
	if s.registry == nil {
		return nil
	}
	var out []index
	seen := map[string]bool{}
	for _, p := range s.registry.Params(typ) {
		switch p.Code {
		case "_id", "_lastUpdated":
			continue
		}
		if seen[p.Field] {
			continue // a parameter sharing another's field (search.Param.Field): indexed once
		}
		seen[p.Field] = true
		fields := []string{p.Field}
		switch p.Type {
		case search.TypeDate:
			fields = []string{p.Field + search.SuffixLow, p.Field + search.SuffixHigh}
		case search.TypeNumber, search.TypeQuantity, search.TypeComposite, search.TypeSpecial:
			if p.Numeric() {
				out = append(out, numericIndexes(p.Field)...)
				continue
			}
		}
		for _, f := range fields {
			out = append(out, index{f, bson.D{{Key: f, Value: 1}}})
		}
	}
	return out
}

// doc is a stored version as decoded from either collection.
type doc struct {
	ID          string        `bson:"_id"`
	Type        string        `bson:"t,omitempty"`
	ResourceID  string        `bson:"rid,omitempty"`
	VersionID   int64         `bson:"vid"`
	LastUpdated bson.DateTime `bson:"lu"`
	// Visible is fVisible; nil when absent or null.
	Visible *bson.DateTime `bson:"vis,omitempty"`
	Deleted bool           `bson:"del"`
	Method  string         `bson:"m"`
	Body    string         `bson:"raw"`
	// Tx marks a claim or placeholder of an unsettled transaction, started at TxTime.
	Tx     string        `bson:"tx,omitempty"`
	TxTime bson.DateTime `bson:"txt,omitempty"`
	// TxDone is the transaction of a cleared claim (fTxDone).
	TxDone string `bson:"txd,omitempty"`
}

// placeholder reports a current-version document that only reserves the id for a transaction creating the
// resource (version 0): the resource does not exist (yet).
func (d *doc) placeholder() bool { return d != nil && d.VersionID == 0 }

func (d *doc) version(typ string) *storage.Version {
	v := &storage.Version{Type: typ, ID: d.ID, VersionID: d.VersionID, LastUpdated: d.LastUpdated.Time().UTC(), Deleted: d.Deleted, Method: d.Method}
	if d.ResourceID != "" {
		v.Type, v.ID = d.Type, d.ResourceID
	}
	if !d.Deleted {
		v.Body = []byte(d.Body)
	}
	return v
}

// projection leaves out search-index fields.
var versionProjection = bson.D{
	{Key: fVersion, Value: 1}, {Key: fLastUpdated, Value: 1}, {Key: fVisible, Value: 1}, {Key: fDeleted, Value: 1}, {Key: fMethod, Value: 1},
	{Key: fBody, Value: 1}, {Key: fType, Value: 1}, {Key: fResourceID, Value: 1}, {Key: fTx, Value: 1}, {Key: fTxTime, Value: 1},
	{Key: fTxDone, Value: 1},
}

// timestamp returns the lastUpdated of a new version: now, at millisecond precision, and strictly after
// the version it replaces so that versions of a resource are ordered in time.
func (s *Store) timestamp(prev time.Time) time.Time {
	t := s.now().UTC().Truncate(time.Millisecond)
	if !t.After(prev) {
		t = prev.Add(time.Millisecond)
	}
	return t
}

// currentDoc builds the current-version document of w at version vid, visible to the change feed at vis
// (nil: null, the feed reads the version from its history document once that is visible).
func currentDoc(w storage.Write, id string, vid int64, lu time.Time, vis *time.Time, method string, deleted bool) (bson.D, []byte, error) {
	d := versionHeader(id, vid, lu, vis, method, deleted, 1+len(w.Index))
	var body []byte
	if !deleted {
		var err error
		body, err = resource.Stamp(w.Body, id, strconv.FormatInt(vid, 10), lu)
		if err != nil {
			return nil, nil, fmt.Errorf("mongo: stamp %s/%s: %w", w.Type, id, err)
		}
		d = append(d, bson.E{Key: fBody, Value: string(body)})
		for k, v := range w.Index {
			d = append(d, indexFields(k, v)...)
		}
	}
	return d, body, nil
}

// versionHeader is the bookkeeping fields a current-version document starts with, with room for extra more
// fields (the body and the search-index fields).
func versionHeader(id string, vid int64, lu time.Time, vis *time.Time, method string, deleted bool, extra int) bson.D {
	var visible any // null
	if vis != nil {
		visible = bson.NewDateTimeFromTime(*vis)
	}
	d := make(bson.D, 0, 6+extra)
	return append(d,
		bson.E{Key: fID, Value: id},
		bson.E{Key: fVersion, Value: vid},
		bson.E{Key: fLastUpdated, Value: bson.NewDateTimeFromTime(lu)},
		bson.E{Key: fVisible, Value: visible},
		bson.E{Key: fDeleted, Value: deleted},
		bson.E{Key: fMethod, Value: method},
	)
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, w storage.Write) (*storage.Version, error) {
	// The type's indexes on its first write (collections.go), before the version takes its lastUpdated: a
	// version inserted long after its lastUpdated would be late for the change feed.
	if err := s.ensureTypes(ctx, w.Type); err != nil {
		return nil, fmt.Errorf("mongo: create %s/%s: %w", w.Type, w.ID, err)
	}
	id := w.ID
	if id == "" {
		id = storage.NewID()
	}
	method := w.Method
	if method == "" {
		method = "POST"
	}
	lu := s.timestamp(time.Time{})
	// A created version is visible to the feed through its current-version document, from this insert on.
	d, body, err := currentDoc(w, id, 1, lu, &lu, method, false)
	if err != nil {
		return nil, err
	}
	s.beforeVisible(ctx, historyID(w.Type, id, 1))
	for attempt := 0; ; attempt++ {
		_, err := s.db.Collection(w.Type).InsertOne(ctx, d)
		if err == nil {
			break
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, fmt.Errorf("mongo: create %s/%s: %w", w.Type, id, err)
		}
		// Taken — unless by the reservation of a transaction whose owner is gone: settled, try again.
		if attempt == 0 {
			if cur, cerr := s.current(ctx, w.Type, id); cerr == nil && cur.placeholder() && cur.Tx != "" && s.settleOrphan(ctx, cur.Tx) {
				continue
			}
		}
		return nil, fmt.Errorf("mongo: create %s/%s: %w", w.Type, id, storage.ErrExists)
	}
	if s.visibleLate(lu) {
		created := &doc{ID: id, VersionID: 1, LastUpdated: bson.NewDateTimeFromTime(lu), Method: method, Body: string(body)}
		if err := s.revealAgain(ctx, w.Type, id, 1, created, lu); err != nil {
			s.log.Error("could not move a late version forward in the change feed; pollers may miss it", "type", w.Type, "id", id, "version", 1, "err", err)
		}
	}
	return &storage.Version{Type: w.Type, ID: id, VersionID: 1, LastUpdated: lu, Method: method, Body: body}, nil
}

func (s *Store) current(ctx context.Context, typ, id string) (*doc, error) {
	var d doc
	err := s.db.Collection(typ).FindOne(ctx, bson.D{{Key: fID, Value: id}}, options.FindOne().SetProjection(versionProjection)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: read %s/%s: %w", typ, id, err)
	}
	return &d, nil
}

// Read implements storage.Store.
func (s *Store) Read(ctx context.Context, typ, id string) (*storage.Version, error) {
	d, err := s.current(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if d, err = s.visible(ctx, typ, id, d); err != nil {
		return nil, err
	}
	if d == nil || d.placeholder() {
		return nil, fmt.Errorf("mongo: read %s/%s: %w", typ, id, storage.ErrNotFound)
	}
	v := d.version(typ)
	if v.Deleted {
		return nil, &storage.GoneError{Deleted: v}
	}
	return v, nil
}

// VRead implements storage.Store.
func (s *Store) VRead(ctx context.Context, typ, id string, vid int64) (*storage.Version, error) {
	d, err := s.current(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if d, err = s.visible(ctx, typ, id, d); err != nil {
		return nil, err
	}
	if d.placeholder() {
		d = nil
	}
	if d != nil && d.VersionID == vid {
		return d.version(typ), nil
	}
	if d == nil || vid < 1 {
		return nil, fmt.Errorf("mongo: vread %s/%s/%d: %w", typ, id, vid, storage.ErrNotFound)
	}
	var h doc
	err = s.db.Collection(historyCollection).FindOne(ctx, bson.D{{Key: fID, Value: historyID(typ, id, vid)}}).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: vread %s/%s/%d: %w", typ, id, vid, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: vread %s/%s/%d: %w", typ, id, vid, err)
	}
	if h.Tx != "" {
		// A transaction's claim: visible once the transaction has committed, before it is published.
		state, _, err := s.outcome(ctx, h.Tx)
		if err != nil {
			return nil, err
		}
		if state != stateCommitted {
			return nil, fmt.Errorf("mongo: vread %s/%s/%d: %w", typ, id, vid, storage.ErrNotFound)
		}
	}
	return h.version(typ), nil
}

func historyID(typ, id string, vid int64) string {
	return typ + "/" + id + "/" + strconv.FormatInt(vid, 10)
}

// historyDoc is the history collection's copy of a version document built by currentDoc.
func historyDoc(typ string, view bson.D) bson.D {
	h := bson.D{{Key: fType, Value: typ}}
	for _, e := range view {
		switch e.Key {
		case fID:
			h = append(h, bson.E{Key: fResourceID, Value: e.Value})
		case fVersion, fLastUpdated, fVisible, fDeleted, fMethod, fBody:
			h = append(h, e)
		}
	}
	id := view[0].Value.(string)
	vid := view[1].Value.(int64)
	return append(bson.D{{Key: fID, Value: historyID(typ, id, vid)}}, h...)
}

// archive copies a version created by Create (which writes only the current-version document) into
// history. It is idempotent.
func (s *Store) archive(ctx context.Context, typ string, cur *doc) error {
	_, err := s.db.Collection(historyCollection).InsertOne(ctx, archiveDoc(typ, cur))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: archive %s/%s/%d: %w", typ, cur.ID, cur.VersionID, err)
	}
	return nil
}

// Writers retry an unconditional write that lost a race this many times before giving up.
const maxAttempts = 200

// staleClaim is how long a claimed version may wait for its writer to publish it before other writers
// publish it themselves (the writer crashed between the two steps).
const staleClaim = 5 * time.Second

// next builds the document of version vid at lu, visible at lu; body is nil for a deletion.
type next func(vid int64, lu time.Time) (view bson.D, body []byte, err error)

// write moves a resource to its next version.
//
// Version numbers are claimed, not compared-and-set: the writer of version n+1 inserts the history document
// "Type/id/n+1", and the unique _id makes exactly one writer win, on MongoDB and on FerretDB alike. (Measured:
// FerretDB v1 evaluates the filter of updateOne, replaceOne and findOneAndUpdate apart from the write, so
// a {_id, vid} filter does not serialise writers there: 16 concurrent writers won the same version up to
// 9 times. A unique-index insert is the one write it makes atomic.) The winner then publishes the version to
// the current-version document, whose writers are thereby serialised.
func (s *Store) write(ctx context.Context, typ, id string, pre storage.Precondition, build next) (v *storage.Version, prev *doc, err error) {
	hist := s.db.Collection(historyCollection)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur, err := s.current(ctx, typ, id)
		if err != nil {
			return nil, nil, err
		}
		if pre.VersionID != 0 && (cur == nil || pre.VersionID != cur.VersionID || cur.Deleted) {
			c := &storage.VersionConflictError{Expected: pre.VersionID}
			if cur != nil {
				c.Current = cur.VersionID
			}
			return nil, nil, c
		}
		if cur == nil {
			return nil, nil, nil
		}
		if cur.VersionID == 1 {
			if err := s.archive(ctx, typ, cur); err != nil {
				return nil, nil, err
			}
		}
		vid := cur.VersionID + 1
		// lastUpdated is also the version's visibility instant: its claim, inserted next, makes it visible.
		lu := s.timestamp(cur.LastUpdated.Time())
		view, body, err := build(vid, lu)
		if err != nil {
			return nil, nil, err
		}
		s.beforeVisible(ctx, historyID(typ, id, vid))
		if _, err := hist.InsertOne(ctx, historyDoc(typ, view)); err != nil {
			if !mongo.IsDuplicateKeyError(err) {
				return nil, nil, fmt.Errorf("mongo: write %s/%s/%d: %w", typ, id, vid, err)
			}
			if pre.VersionID != 0 {
				return nil, nil, &storage.VersionConflictError{Expected: pre.VersionID, Current: vid}
			}
			if err := s.unblock(ctx, typ, cur.ID, vid); err != nil {
				return nil, nil, err
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, nil, err
			}
			continue
		}
		// The claim is the version's history document: the feed lists it from this insert on.
		if s.visibleLate(lu) {
			if err := s.revealAgain(ctx, typ, id, vid, nil, lu); err != nil {
				s.log.Error("could not move a late version forward in the change feed; pollers may miss it", "type", typ, "id", id, "version", vid, "err", err)
			}
		}
		if err := s.publish(ctx, typ, cur, view); err != nil {
			return nil, nil, err
		}
		ver := &storage.Version{Type: typ, ID: id, VersionID: vid, LastUpdated: lu, Body: body, Deleted: body == nil}
		return ver, cur, nil
	}
	return nil, nil, fmt.Errorf("mongo: write %s/%s: still contended after %d attempts", typ, id, maxAttempts)
}

// publish replaces the current-version document at version cur with view. Over a placeholder (version 0)
// it upserts: the transaction that reserved the id may roll back and remove it meanwhile.
func (s *Store) publish(ctx context.Context, typ string, cur *doc, view bson.D) error {
	opts := options.Replace()
	if cur.VersionID == 0 {
		opts.SetUpsert(true)
	}
	_, err := s.db.Collection(typ).ReplaceOne(ctx, bson.D{{Key: fID, Value: cur.ID}, {Key: fVersion, Value: cur.VersionID}}, view, opts)
	if err != nil && !mongo.IsDuplicateKeyError(err) { // duplicate: someone published it already
		return fmt.Errorf("mongo: publish %s/%s: %w", typ, cur.ID, err)
	}
	return nil
}

// unblock deals with the claim of version vid of typ/id that a writer found taken. A claim of a
// transaction is dealt with by unblockTx; a plain claim whose writer left it unpublished for staleClaim
// is published. Otherwise its owner is at work and the caller waits.
func (s *Store) unblock(ctx context.Context, typ, id string, vid int64) error {
	var raw bson.Raw
	err := s.db.Collection(historyCollection).FindOne(ctx, bson.D{{Key: fID, Value: historyID(typ, id, vid)}}).Decode(&raw)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil // rolled back meanwhile
	}
	if err != nil {
		return fmt.Errorf("mongo: read claim %s/%s/%d: %w", typ, id, vid, err)
	}
	c, err := decodeClaim(raw)
	if err != nil {
		return err
	}
	if c.Tx != "" {
		return s.unblockTx(ctx, c)
	}
	if s.now().Sub(c.LastUpdated.Time()) < staleClaim {
		return nil
	}
	s.log.Warn("publishing a version its writer left unpublished", "type", typ, "id", id, "version", vid)
	// Its writer may have died before checking that the claim became visible in time (feed.go): list it
	// again, later, rather than risk that pollers missed it.
	if err := s.revealAgain(ctx, typ, id, vid, nil, c.LastUpdated.Time()); err != nil {
		return err
	}
	view, err := s.claimView(c)
	if err != nil {
		return err
	}
	return s.publish(ctx, typ, &doc{ID: id, VersionID: vid - 1}, view)
}

// backoff waits before retrying a write that lost a race: short, growing, jittered.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+attempt) * time.Millisecond
	if d > 50*time.Millisecond {
		d = 50 * time.Millisecond
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	d += time.Duration(b[0]) * 20 * time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	method := w.Method
	if method == "" {
		method = "PUT"
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		v, prev, err := s.write(ctx, w.Type, w.ID, pre, func(vid int64, lu time.Time) (bson.D, []byte, error) {
			return currentDoc(w, w.ID, vid, lu, &lu, method, false)
		})
		if err != nil {
			return nil, false, err
		}
		if v != nil {
			v.Method = method
			return v, prev.Deleted, nil
		}
		// The resource does not exist: create it with the client's id.
		w.Method = method
		v, err = s.Create(ctx, w)
		if errors.Is(err, storage.ErrExists) {
			continue // a concurrent writer created it first: update that
		}
		return v, err == nil, err
	}
	return nil, false, fmt.Errorf("mongo: update %s/%s: still contended after %d attempts", w.Type, w.ID, maxAttempts)
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error) {
	cur, err := s.current(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.Deleted && pre.VersionID == 0 {
		return nil, nil
	}
	v, _, err := s.write(ctx, typ, id, pre, func(vid int64, lu time.Time) (bson.D, []byte, error) {
		return currentDoc(storage.Write{Type: typ}, id, vid, lu, &lu, "DELETE", true)
	})
	if v != nil {
		v.Method = "DELETE"
	}
	return v, err
}
