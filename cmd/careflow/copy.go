package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
)

// importer is a store that careflow copy can write: both stores implement it (storage/sqlite/copy.go,
// storage/mongo/copy.go).
type importer interface {
	storage.Store
	// ImportResource replaces, atomically for the resource, whatever the store holds for typ/id with
	// exactly versions (its complete history, oldest first: ids, version ids, lastUpdated, methods,
	// deletions and bodies kept byte for byte), the current one indexed with index (none when it is a
	// deletion). storage.CheckImport states what it accepts.
	ImportResource(ctx context.Context, typ, id string, versions []*storage.Version, index map[string]any) error
}

type copyOptions struct {
	from, to    string
	progress    string
	concurrency int
}

func parseCopyFlags(args []string, stderr io.Writer) (*copyOptions, error) {
	o := &copyOptions{}
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: careflow copy --from DATABASE --to DATABASE [flags]

Copies every resource with all of its versions — ids, version ids, lastUpdated, methods, deletions and
bodies byte for byte — from one store to another, e.g. from the embedded store to MongoDB:

  careflow copy --from sqlite:careflow-data/careflow.db --to mongodb://db.example.org:27017/careflow

DATABASE is a setting of serve --database: sqlite:PATH or a mongodb:// / mongodb+srv:// URI. The search
values of the copied resources are computed anew. Stop the servers of both stores first: the copy reads a
store that does not change, and writes one nobody reads meanwhile.

A copy is resumable: run it again after an interruption and it skips the resources whose current version
the target already has, and copies the rest (each resource is written whole or not at all). At the end it
prints the resources and versions of each type in both stores and compares their checksums — a SHA-256 over
the sorted lines "Type/id/versionId lastUpdated deleted sha256(body)" of every version — and exits non-zero
when they differ.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.from, "from", "", "the store to copy: sqlite:PATH or a mongodb:// / mongodb+srv:// URI")
	fs.StringVar(&o.to, "to", "", "the store to copy into (created when needed), as --from")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
	fs.IntVar(&o.concurrency, "concurrency", 8, "resources copied at once")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		fs.Usage()
		return nil, fmt.Errorf("copy: unexpected argument %q", fs.Arg(0))
	case o.from == "" || o.to == "":
		fs.Usage()
		return nil, errors.New("copy: give both --from and --to")
	case o.concurrency < 1:
		return nil, errors.New("copy: --concurrency must be at least 1")
	case o.progress != "auto" && o.progress != "always" && o.progress != "never":
		return nil, fmt.Errorf("copy: --progress %q: want auto, always or never", o.progress)
	}
	return o, nil
}

// runCopy runs careflow copy: every resource with all its versions from one store to another,
//
//	careflow copy --from sqlite:careflow-data/careflow.db --to mongodb://db.example.org:27017/careflow
func runCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseCopyFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	for _, db := range []string{o.from, o.to} {
		if _, err := databaseKey(db); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	if same, err := sameDatabase(o.from, o.to); err != nil {
		return fmt.Errorf("copy: %w", err)
	} else if same {
		return fmt.Errorf("copy: --from and --to name the same database (%s): a store cannot be copied onto itself", redact(o.from))
	}
	if err := sourceExists(ctx, o.from); err != nil {
		return fmt.Errorf("copy: --from: %w", err)
	}
	defs, err := r4.Load()
	if err != nil {
		return err
	}
	registry := defs.Registry
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	open := func(db string) (closer, error) {
		openCtx, cancel := openContext(ctx, db)
		defer cancel()
		// No settle window for the change feed, which lists the stores here: nothing else writes them
		// during a copy. The embedded store commits with synchronous=normal: what a power loss would undo,
		// the copy run again redoes.
		return openStore(openCtx, storeConfig{Database: db, SQLiteSync: "normal", FeedSettle: -1}, registry, log)
	}
	src, err := open(o.from)
	if err != nil {
		return fmt.Errorf("copy: open --from: %w", err)
	}
	defer closeStore(src)
	dst, err := open(o.to)
	if err != nil {
		return fmt.Errorf("copy: open --to: %w", err)
	}
	defer closeStore(dst)
	imp, ok := dst.(importer)
	if !ok {
		return fmt.Errorf("copy: the store %s cannot be copied into", redact(o.to))
	}
	c := &copier{src: src, dst: imp, registry: registry, types: definitions.ResourceTypes, concurrency: o.concurrency,
		progress: stderr, showProgress: o.progress == "always" || (o.progress == "auto" && isTerminal(stderr))}
	rep, err := c.run(ctx)
	if rep != nil {
		rep.print(stdout)
	}
	if err != nil {
		return err
	}
	if opt, ok := dst.(interface{ Optimize(context.Context) error }); ok {
		if err := opt.Optimize(ctx); err != nil {
			fmt.Fprintln(stderr, "careflow: copy: updating the query planner's statistics of the target failed:", err)
		}
	}
	if rep.srcSum != rep.dstSum {
		return errors.New("copy: the target differs from the source (checksums differ): did a server write to either store during the copy, or does the target hold resources the source does not?")
	}
	return nil
}

func closeStore(s closer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}

// databaseKey identifies the database a setting names: the absolute file of sqlite:PATH (symbolic links
// resolved when it exists); the sorted hosts and the database of a MongoDB URI.
func databaseKey(db string) (string, error) {
	if path, ok, err := sqlite.ParseDSN(db); ok {
		if err != nil {
			return "", err
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("database %q: %w", db, err)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		} else if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
			abs = filepath.Join(dir, filepath.Base(abs))
		}
		return "sqlite:" + abs, nil
	}
	if strings.HasPrefix(db, "mongodb://") || strings.HasPrefix(db, "mongodb+srv://") {
		cs, err := connstring.ParseAndValidate(db)
		if err != nil {
			return "", fmt.Errorf("database %s: %w", redact(db), err)
		}
		hosts := make([]string, 0, len(cs.Hosts))
		for _, h := range cs.Hosts {
			h = strings.ToLower(h)
			if cs.Scheme == connstring.SchemeMongoDB && !strings.Contains(h, ":") && !strings.HasSuffix(h, ".sock") {
				h += ":27017"
			}
			hosts = append(hosts, strings.Replace(h, "localhost:", "127.0.0.1:", 1))
		}
		sort.Strings(hosts)
		name := cs.Database
		if name == "" {
			name = "careflow" // as mongo.Open
		}
		return cs.Scheme + "://" + strings.Join(hosts, ",") + "/" + name, nil
	}
	return "", fmt.Errorf("database %q: want sqlite:PATH (the embedded store, e.g. %s) or a mongodb:// or mongodb+srv:// URI", redact(db), defaultDatabase)
}

// sameDatabase reports whether two settings name the same database.
func sameDatabase(a, b string) (bool, error) {
	ka, err := databaseKey(a)
	if err != nil {
		return false, err
	}
	kb, err := databaseKey(b)
	if err != nil {
		return false, err
	}
	if ka == kb {
		return true, nil
	}
	pa, okA, _ := sqlite.ParseDSN(a)
	pb, okB, _ := sqlite.ParseDSN(b)
	if okA && okB {
		ia, errA := os.Stat(pa)
		ib, errB := os.Stat(pb)
		return errA == nil && errB == nil && os.SameFile(ia, ib), nil
	}
	return false, nil
}

// sourceExists refuses a source that does not exist — opening it would create an empty one (a typo in
// --from would otherwise copy nothing, successfully).
func sourceExists(ctx context.Context, db string) error {
	if path, ok, _ := sqlite.ParseDSN(db); ok {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: no such database file (%w)", db, err)
		}
		return nil
	}
	cs, err := connstring.ParseAndValidate(db)
	if err != nil {
		return fmt.Errorf("%s: %w", redact(db), err)
	}
	name := cs.Database
	if name == "" {
		name = "careflow"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := mongodriver.Connect(options.Client().ApplyURI(db).SetAppName("careflow-copy"))
	if err != nil {
		return fmt.Errorf("%s: connect: %w", redact(db), err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	names, err := client.ListDatabaseNames(ctx, map[string]any{}, options.ListDatabases().SetAuthorizedDatabases(true))
	if err != nil {
		return nil // a user who may not list databases: the copy reports an empty source instead
	}
	if !slices.Contains(names, name) {
		return fmt.Errorf("%s: the server has no database %q", redact(db), name)
	}
	return nil
}

// copier copies the resources of src into dst.
type copier struct {
	src      storage.Store
	dst      importer
	registry *search.Registry
	// types are the resource types copied (and compared).
	types       []string
	concurrency int
	// progress receives the progress bar when showProgress.
	progress     io.Writer
	showProgress bool
	// imported, when set, is called after each resource imported with how many this run has imported
	// (tests).
	imported func(n int)
}

// inventory is what a store holds, as its change feed (type history) lists it.
type inventory struct {
	ids      map[string][]string // by type, sorted
	versions map[string]int      // by type
	// listed holds what the listing saw of each resource, by type and id.
	listed map[string]map[string]*listedResource
	// lines are the checksum lines of every version (see checksum).
	lines []string
}

func (inv *inventory) resources() int {
	n := 0
	for _, ids := range inv.ids {
		n += len(ids)
	}
	return n
}

// copyReport is the outcome of a copy.
type copyReport struct {
	types           []string
	src, dst        *inventory
	copied, skipped int
	srcSum, dstSum  string
	elapsed         time.Duration
}

// historyPage is the page size of the history listings.
const historyPage = 1000

// list reads the inventory of a store: the type history of each type, which lists every version of every
// resource, deletions included.
func (c *copier) list(ctx context.Context, s storage.Store) (*inventory, error) {
	inv := &inventory{ids: map[string][]string{}, versions: map[string]int{}, listed: map[string]map[string]*listedResource{}}
	for _, typ := range c.types {
		listed := map[string]*listedResource{}
		inv.listed[typ] = listed
		q := storage.HistoryQuery{Type: typ, Count: historyPage}
		for {
			page, err := s.History(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("list the %s history: %w", typ, err)
			}
			for _, v := range page.Versions {
				r := listed[v.ID]
				if r == nil {
					r = &listedResource{}
					listed[v.ID] = r
					inv.ids[typ] = append(inv.ids[typ], v.ID)
				}
				r.vids = append(r.vids, v.VersionID)
				if r.head == nil || v.VersionID > r.head.VersionID {
					head := *v
					head.Body = nil
					r.head = &head
				}
				inv.versions[typ]++
				inv.lines = append(inv.lines, checksumLine(v))
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		sort.Strings(inv.ids[typ])
	}
	return inv, nil
}

// checksumLine is "Type/id/vid lastUpdated deleted sha256(body)".
func checksumLine(v *storage.Version) string {
	sum := sha256.Sum256(v.Body)
	return v.Type + "/" + v.ID + "/" + strconv.FormatInt(v.VersionID, 10) + " " +
		v.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00") + " " + strconv.FormatBool(v.Deleted) + " " + hex.EncodeToString(sum[:])
}

// checksum is the SHA-256 of the sorted lines, each ended by a newline.
func checksum(lines []string) string {
	sorted := slices.Clone(lines)
	sort.Strings(sorted)
	h := sha256.New()
	for _, l := range sorted {
		_, _ = io.WriteString(h, l+"\n")
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// listedResource is what the listing of a store saw of a resource.
type listedResource struct {
	// head is its newest version, without the body.
	head *storage.Version
	// vids are the numbers of its versions.
	vids []int64
}

// resourceRef is a resource to copy and what the listing of the source saw of it.
type resourceRef struct {
	typ, id string
	listed  *listedResource
}

// run lists the source, copies every resource the target does not have at its current version, and
// lists the target to compare. The report is returned also when the copy failed part-way (without the
// target's inventory).
func (c *copier) run(ctx context.Context) (*copyReport, error) {
	start := time.Now()
	rep := &copyReport{types: c.types}
	src, err := c.list(ctx, c.src)
	if err != nil {
		return nil, fmt.Errorf("copy: source: %w", err)
	}
	rep.src, rep.srcSum = src, checksum(src.lines)
	total := src.resources()
	if total == 0 {
		return nil, errors.New("copy: the source holds no resources: is --from the right database?")
	}
	bar := progressbar.NewOptions64(int64(total),
		progressbar.OptionSetWriter(c.progress),
		progressbar.OptionSetVisibility(c.showProgress && c.progress != nil),
		progressbar.OptionSetDescription("copying"),
		progressbar.OptionSetItsString("resources"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)

	work, cancel := context.WithCancel(ctx)
	defer cancel()
	refs := make(chan resourceRef)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() {
			for r := range refs {
				imported, err := c.copyResource(work, r.typ, r.id, r.listed)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = fmt.Errorf("copy %s/%s: %w", r.typ, r.id, err)
						cancel()
					}
				case imported:
					rep.copied++
					if c.imported != nil {
						c.imported(rep.copied)
					}
				default:
					rep.skipped++
				}
				mu.Unlock()
				if err == nil {
					_ = bar.Add(1)
				}
			}
		})
	}
feed:
	for _, typ := range c.types {
		for _, id := range src.ids[typ] {
			select {
			case refs <- resourceRef{typ, id, src.listed[typ][id]}:
			case <-work.Done():
				break feed
			}
		}
	}
	close(refs)
	wg.Wait()
	_ = bar.Finish()
	rep.elapsed = time.Since(start)
	switch {
	case firstErr != nil && ctx.Err() == nil:
		return rep, firstErr
	case ctx.Err() != nil:
		return rep, fmt.Errorf("copy: interrupted after %d resources copied, %d skipped: run it again to complete it", rep.copied, rep.skipped)
	}
	dst, err := c.list(ctx, c.dst)
	if err != nil {
		return rep, fmt.Errorf("copy: target: %w", err)
	}
	rep.dst, rep.dstSum = dst, checksum(dst.lines)
	rep.elapsed = time.Since(start)
	return rep, nil
}

// currentVersion returns the current version of typ/id, a deletion included; nil when there is none.
func currentVersion(ctx context.Context, s storage.Store, typ, id string) (*storage.Version, error) {
	v, err := s.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case err == nil:
		return v, nil
	case errors.As(err, &gone):
		return gone.Deleted, nil
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	}
	return nil, err
}

// copyResource copies one resource unless the target has its current version as the source listed it
// (same version id and lastUpdated): imported reports which.
func (c *copier) copyResource(ctx context.Context, typ, id string, listed *listedResource) (imported bool, err error) {
	have, err := currentVersion(ctx, c.dst, typ, id)
	if err != nil {
		return false, fmt.Errorf("read the target: %w", err)
	}
	if have != nil && have.VersionID == listed.head.VersionID && have.LastUpdated.Equal(listed.head.LastUpdated) {
		return false, nil
	}
	versions, err := c.versions(ctx, typ, id, listed)
	if err != nil {
		return false, err
	}
	last := versions[len(versions)-1]
	var index map[string]any
	if !last.Deleted {
		if index, err = c.index(typ, last.Body); err != nil {
			return false, fmt.Errorf("version %d: %w", last.VersionID, err)
		}
	}
	if err := c.dst.ImportResource(ctx, typ, id, versions, index); err != nil {
		return false, err
	}
	return true, nil
}

// versions reads the versions of a resource from the source, oldest first. While the resource is as the
// listing saw it, it reads them one by one (read, then vread of the older ones: lookups by key in both
// stores); otherwise its instance history tells what it holds now — should that differ from the listing,
// the final checksums tell.
func (c *copier) versions(ctx context.Context, typ, id string, listed *listedResource) ([]*storage.Version, error) {
	cur, err := currentVersion(ctx, c.src, typ, id)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	if cur != nil && cur.VersionID == listed.head.VersionID && cur.LastUpdated.Equal(listed.head.LastUpdated) {
		vids := slices.Sorted(slices.Values(listed.vids))
		out := make([]*storage.Version, 0, len(vids))
		for _, vid := range vids[:len(vids)-1] {
			v, err := c.src.VRead(ctx, typ, id, vid)
			if err != nil {
				return nil, fmt.Errorf("read version %d from the source: %w", vid, err)
			}
			out = append(out, v)
		}
		return append(out, cur), nil
	}
	var versions []*storage.Version
	q := storage.HistoryQuery{Type: typ, ID: id, Count: historyPage}
	for {
		page, err := c.src.History(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read the source's history: %w", err)
		}
		versions = append(versions, page.Versions...)
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if len(versions) == 0 {
		return nil, errors.New("the source lists it in its change feed but has no history of it")
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].VersionID < versions[j].VersionID })
	return versions, nil
}

// index computes the search values of a stored body as the REST API does for a write: over the JSON
// tree with exact numbers.
func (c *copier) index(typ string, body []byte) (map[string]any, error) {
	return c.registry.IndexBody(typ, body)
}

// print writes the counts by type of both stores and the checksums.
func (r *copyReport) print(w io.Writer) {
	count := func(inv *inventory, typ string) string {
		if inv == nil {
			return "-"
		}
		return fmt.Sprintf("%d / %d", len(inv.ids[typ]), inv.versions[typ])
	}
	fmt.Fprintf(w, "%-22s %20s %20s\n", "resources / versions", "source", "target")
	var sr, sv, dr, dv int
	for _, typ := range r.types {
		if len(r.src.ids[typ]) == 0 && (r.dst == nil || len(r.dst.ids[typ]) == 0) {
			continue
		}
		fmt.Fprintf(w, "%-22s %20s %20s\n", typ, count(r.src, typ), count(r.dst, typ))
		sr, sv = sr+len(r.src.ids[typ]), sv+r.src.versions[typ]
		if r.dst != nil {
			dr, dv = dr+len(r.dst.ids[typ]), dv+r.dst.versions[typ]
		}
	}
	totalDst := "-"
	if r.dst != nil {
		totalDst = fmt.Sprintf("%d / %d", dr, dv)
	}
	fmt.Fprintf(w, "%-22s %20s %20s\n", "total", fmt.Sprintf("%d / %d", sr, sv), totalDst)
	fmt.Fprintf(w, "copied:   %d resources, %d skipped (the target had their current version), in %s\n",
		r.copied, r.skipped, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "checksum: source %s\n", r.srcSum)
	if r.dst == nil {
		return
	}
	verdict := "identical"
	if r.srcSum != r.dstSum {
		verdict = "DIFFERENT"
	}
	fmt.Fprintf(w, "          target %s (%s)\n", r.dstSum, verdict)
}
