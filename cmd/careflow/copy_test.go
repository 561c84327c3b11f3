package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/sqlite"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// Stores under test: each returns an empty store, closed or dropped when the test ends.
type storeMaker func(t *testing.T) importer

func sqliteStore(t *testing.T) importer { return sqlitetest.Open(t) }

func mongoStore(t *testing.T) importer {
	return mongotest.Open(t, definitions.ResourceTypes, r4test.Load(t).Registry)
}

// write stores a resource through the storage interface, with its search values computed as the REST API
// computes them.
func write(t *testing.T, s storage.Store, typ, id, body string, method string) *storage.Version {
	t.Helper()
	c := &copier{registry: r4test.Load(t).Registry}
	index, err := c.index(typ, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	w := storage.Write{Type: typ, ID: id, Body: []byte(body), Index: index, Method: method}
	if id == "" {
		v, err := s.Create(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v, _, err := s.Update(context.Background(), w, storage.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func remove(t *testing.T, s storage.Store, typ, id string) {
	t.Helper()
	if _, err := s.Delete(context.Background(), typ, id, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
}

func patient(family string, extra string) string {
	return `{"resourceType":"Patient","name":[{"family":"` + family + `","given":["Ann"]}]` + extra + `}`
}

// fixture fills a store with resources that exercise the copy: several versions, a deletion, a
// resurrection after a deletion, a decimal whose spelling must survive, a server-assigned id, references.
// It returns the server-assigned id.
func fixture(t *testing.T, s storage.Store) string {
	t.Helper()
	write(t, s, "Patient", "p1", patient("Smith", `,"extension":[{"url":"http://example.org/weight","valueDecimal":1.50}]`), "PUT")
	write(t, s, "Patient", "p1", patient("Smyth", `,"extension":[{"url":"http://example.org/weight","valueDecimal":1.50}]`), "PUT")
	write(t, s, "Patient", "p1", patient("Jones", `,"birthDate":"1970-01-02","extension":[{"url":"http://example.org/weight","valueDecimal":2.500}]`), "PATCH")
	write(t, s, "Patient", "p2", patient("Gone", ""), "PUT")
	remove(t, s, "Patient", "p2")
	write(t, s, "Patient", "p3", patient("Phoenix", ""), "PUT")
	remove(t, s, "Patient", "p3")
	write(t, s, "Patient", "p3", patient("Phoenix", `,"gender":"female"`), "PUT")
	assigned := write(t, s, "Patient", "", patient("Auto", ""), "POST").ID
	write(t, s, "Appointment", "a1", `{"resourceType":"Appointment","status":"booked","start":"2024-05-01T10:00:00Z","end":"2024-05-01T10:30:00Z",`+
		`"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`, "PUT")
	write(t, s, "Appointment", "a1", `{"resourceType":"Appointment","status":"fulfilled","start":"2024-05-01T10:00:00Z","end":"2024-05-01T10:30:00Z",`+
		`"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`, "PUT")
	return assigned
}

func newCopier(t *testing.T, src storage.Store, dst importer) *copier {
	return &copier{src: src, dst: dst, registry: r4test.Load(t).Registry, types: definitions.ResourceTypes, concurrency: 4}
}

// allVersions lists a resource's versions through instance history, oldest first.
func allVersions(t *testing.T, s storage.Store, typ, id string) []*storage.Version {
	t.Helper()
	var out []*storage.Version
	q := storage.HistoryQuery{Type: typ, ID: id, Count: 2}
	for {
		page, err := s.History(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Versions...)
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VersionID < out[j].VersionID })
	return out
}

// sameHistory checks that every resource of src has in dst the same instance history, the same vread of
// each version and the same read.
func sameHistory(t *testing.T, src, dst storage.Store) {
	t.Helper()
	ctx := context.Background()
	c := &copier{types: definitions.ResourceTypes}
	inv, err := c.list(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range c.types {
		for _, id := range inv.ids[typ] {
			want, got := allVersions(t, src, typ, id), allVersions(t, dst, typ, id)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s/%s: instance history differs:\nsource %s\ntarget %s", typ, id, dump(want), dump(got))
				continue
			}
			for _, v := range want {
				got, err := dst.VRead(ctx, typ, id, v.VersionID)
				if err != nil {
					t.Errorf("vread %s/%s/%d on the target: %v", typ, id, v.VersionID, err)
				} else if !reflect.DeepEqual(v, got) {
					t.Errorf("vread %s/%s/%d: source %s, target %s", typ, id, v.VersionID, dump([]*storage.Version{v}), dump([]*storage.Version{got}))
				}
			}
			a, errA := currentVersion(ctx, src, typ, id)
			b, errB := currentVersion(ctx, dst, typ, id)
			if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("read %s/%s: source %v %v, target %v %v", typ, id, a, errA, b, errB)
			}
		}
	}
}

func dump(vs []*storage.Version) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s/%s/%d %s %s deleted=%v %s", v.Type, v.ID, v.VersionID, v.LastUpdated.Format(time.RFC3339Nano), v.Method, v.Deleted, v.Body)
	}
	return b.String()
}

// searchIDs runs a search on s and returns the ids found, sorted.
func searchIDs(t *testing.T, s storage.Store, typ, query string) []string {
	t.Helper()
	params, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, oerr := r4test.Load(t).Registry.Parse(typ, params, search.ParseOptions{Strict: true, DefaultCount: 100, MaxCount: 100})
	if oerr != nil {
		t.Fatalf("parse %s?%s: %v", typ, query, oerr)
	}
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %s?%s: %v", typ, query, err)
	}
	ids := []string{}
	for _, v := range page.Versions {
		ids = append(ids, v.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestCopy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst storeMaker
	}{
		{"sqlite to mongo", sqliteStore, mongoStore},
		{"mongo to sqlite", mongoStore, sqliteStore},
		{"sqlite to sqlite", sqliteStore, sqliteStore},
		{"mongo to mongo", mongoStore, mongoStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := tc.src(t), tc.dst(t)
			assigned := fixture(t, src)
			rep, err := newCopier(t, src, dst).run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.copied != 5 || rep.skipped != 0 {
				t.Errorf("copied %d, skipped %d; want 5 and 0", rep.copied, rep.skipped)
			}
			if rep.srcSum != rep.dstSum || len(rep.src.lines) != 11 {
				t.Errorf("checksums %s (%d versions) and %s (%d versions)", rep.srcSum, len(rep.src.lines), rep.dstSum, len(rep.dst.lines))
			}
			if rep.dst.versions["Patient"] != 9 || len(rep.dst.ids["Patient"]) != 4 || rep.dst.versions["Appointment"] != 2 {
				t.Errorf("target counts %v %v", rep.dst.versions, rep.dst.ids)
			}
			sameHistory(t, src, dst)

			// Bytes as stored, decimals included.
			v, err := dst.VRead(context.Background(), "Patient", "p1", 1)
			if err != nil || !bytes.Contains(v.Body, []byte(`"valueDecimal":1.50`)) {
				t.Errorf("p1/1 on the target: %s %v", v.Body, err)
			}
			// Search values computed anew, for current versions only.
			for _, s := range []struct{ typ, q, want string }{
				{"Patient", "family=Jones", "p1"},
				{"Patient", "family=Smith", ""},
				{"Patient", "family=Gone", ""},
				{"Patient", "family=Phoenix&gender=female", "p3"},
				{"Patient", "birthdate=1970-01-02", "p1"},
				{"Patient", "family=Auto", assigned},
				{"Patient", "_id=p1,p2,p3", "p1,p3"},
				{"Appointment", "patient=Patient/p1&status=fulfilled", "a1"},
				{"Appointment", "date=2024-05-01", "a1"},
				{"Appointment", "status=booked", ""},
			} {
				want := []string{}
				if s.want != "" {
					want = strings.Split(s.want, ",")
				}
				if got := searchIDs(t, dst, s.typ, s.q); !reflect.DeepEqual(got, want) {
					t.Errorf("%s?%s on the target: %v, want %v", s.typ, s.q, got, want)
				}
			}
			refs, _, err := dst.Referrers(context.Background(), []string{"Patient/p1"}, 10)
			if err != nil || !reflect.DeepEqual(refs, []string{"Appointment/a1"}) {
				t.Errorf("referrers of Patient/p1 on the target: %v %v", refs, err)
			}
			// The target goes on from the copied versions.
			next := write(t, dst, "Patient", "p1", patient("Next", ""), "PUT")
			if next.VersionID != 4 {
				t.Errorf("update after the copy: version %d, want 4", next.VersionID)
			}
			if _, err := dst.Create(context.Background(), storage.Write{Type: "Patient", ID: "p2", Body: []byte(patient("X", ""))}); !errors.Is(err, storage.ErrExists) {
				t.Errorf("create of the copied (deleted) p2: %v, want ErrExists", err)
			}

			// Copying again copies nothing.
			rep, err = newCopier(t, src, dst).run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.copied != 1 || rep.skipped != 4 {
				t.Errorf("second copy: copied %d (p1, changed on the target), skipped %d", rep.copied, rep.skipped)
			}
			if rep.srcSum != rep.dstSum {
				t.Errorf("second copy: checksums differ")
			}
		})
	}
}

// more adds n patients of two versions each.
func more(t *testing.T, s storage.Store, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("m%02d", i)
		write(t, s, "Patient", id, patient("Many", ""), "PUT")
		write(t, s, "Patient", id, patient(fmt.Sprintf("Many%d", i), ""), "PUT")
	}
}

func TestCopyResume(t *testing.T) {
	for _, tc := range []struct {
		name        string
		src, dst    storeMaker
		concurrency int
	}{
		{"sqlite to mongo", sqliteStore, mongoStore, 4},
		{"mongo to sqlite", mongoStore, sqliteStore, 4},
		{"sqlite to sqlite", sqliteStore, sqliteStore, 1},
		{"sqlite to sqlite concurrent", sqliteStore, sqliteStore, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := tc.src(t), tc.dst(t)
			fixture(t, src)
			more(t, src, 20)

			// The first run is interrupted after 7 resources.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newCopier(t, src, dst)
			c.concurrency = tc.concurrency
			c.imported = func(n int) {
				if n == 7 {
					cancel()
				}
			}
			rep, err := c.run(ctx)
			if err == nil || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("interrupted copy: %v", err)
			}
			first := rep.copied
			if first < 7 || first >= 25 {
				t.Fatalf("interrupted copy copied %d resources", first)
			}
			// The target holds an older state of a resource the first run did not reach, as if a server
			// had written it, or an earlier copy from an older source.
			old := allVersions(t, src, "Patient", "m19")[:1]
			c2 := &copier{registry: r4test.Load(t).Registry}
			index, err := c2.index("Patient", old[0].Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.ImportResource(context.Background(), "Patient", "m19", old, index); err != nil {
				t.Fatal(err)
			}

			rep, err = newCopier(t, src, dst).run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.copied+rep.skipped != 25 || rep.skipped < first-tc.concurrency {
				t.Errorf("second run: copied %d, skipped %d (first run copied %d)", rep.copied, rep.skipped, first)
			}
			if rep.srcSum != rep.dstSum {
				t.Fatalf("checksums differ after the second run: %s, %s", rep.srcSum, rep.dstSum)
			}
			// As a clean copy.
			clean := tc.dst(t)
			crep, err := newCopier(t, src, clean).run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if crep.dstSum != rep.dstSum {
				t.Errorf("resumed copy %s, clean copy %s", rep.dstSum, crep.dstSum)
			}
			sameHistory(t, src, dst)
			if got := searchIDs(t, dst, "Patient", "family=Many19"); !reflect.DeepEqual(got, []string{"m19"}) {
				t.Errorf("family=Many19 on the target: %v", got)
			}
			if got := searchIDs(t, dst, "Patient", "family:exact=Many"); len(got) != 0 {
				t.Errorf("family:exact=Many (superseded versions) on the target: %v", got)
			}
		})
	}
}

// sqliteFile makes a database file holding the fixture; the store is closed (the copy opens it).
func sqliteFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "source", "careflow.db")
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	fixture(t, s)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path
}

// mongoDatabase names a new database on the test server, dropped when the test ends.
func mongoDatabase(t *testing.T) string {
	t.Helper()
	mongotest.Require(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "copy_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		s := mongotest.Reopen(t, name, mongo.Options{Types: definitions.ResourceTypes})
		_ = s.Database().Drop(context.Background())
	})
	return strings.TrimSuffix(mongotest.URI(), "/") + "/" + name
}

func copyCommand(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runCopy(context.Background(), append(args, "--progress", "never"), &out, &errOut)
	t.Logf("careflow copy %s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

// checksumOf returns the source and target checksums a copy printed.
func checksumOf(t *testing.T, out string) (src, dst string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "source":
				src = f[i+1]
			case "target":
				dst = f[i+1]
			}
		}
	}
	if !strings.HasPrefix(src, "sha256:") || !strings.HasPrefix(dst, "sha256:") {
		t.Fatalf("no checksums in %q", out)
	}
	return src, dst
}

// TestCopyCommand: careflow copy from a database file to another, to MongoDB and back: each prints the
// counts by type and identical checksums, and the round trip ends where it started.
func TestCopyCommand(t *testing.T) {
	src := sqliteFile(t)
	dst := filepath.Join(t.TempDir(), "target", "careflow.db")
	out, err := copyCommand(t, "--from", "sqlite:"+src, "--to", "sqlite:"+dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Patient", "4 / 9", "Appointment", "1 / 2", "total", "5 / 11", "copied:   5 resources, 0 skipped", "(identical)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	sum, _ := checksumOf(t, out)
	out, err = copyCommand(t, "--from", "sqlite:"+src, "--to", "sqlite:"+dst)
	if err != nil || !strings.Contains(out, "copied:   0 resources, 5 skipped") {
		t.Errorf("copy again: %v", err)
	}

	t.Run("to MongoDB and back", func(t *testing.T) {
		db := mongoDatabase(t)
		out, err := copyCommand(t, "--from", "sqlite:"+dst, "--to", db, "--concurrency", "2")
		if err != nil {
			t.Fatal(err)
		}
		if a, b := checksumOf(t, out); a != sum || b != sum {
			t.Errorf("to MongoDB: checksums %s %s, want %s", a, b, sum)
		}
		back := filepath.Join(t.TempDir(), "back.db")
		out, err = copyCommand(t, "--from", db, "--to", "sqlite:"+back)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := checksumOf(t, out); a != sum || b != sum {
			t.Errorf("back: checksums %s %s, want %s", a, b, sum)
		}
		if err := sourceExists(context.Background(), strings.TrimSuffix(mongotest.URI(), "/")+"/no_such_database_here"); err == nil || !strings.Contains(err.Error(), "no database") {
			t.Errorf("a MongoDB source that does not exist: %v", err)
		}
	})

	t.Run("target differs", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.db")
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: other})
		if err != nil {
			t.Fatal(err)
		}
		write(t, s, "Patient", "stranger", patient("Stranger", ""), "PUT")
		_ = s.Close(context.Background())
		out, err := copyCommand(t, "--from", "sqlite:"+src, "--to", "sqlite:"+other)
		if err == nil || !strings.Contains(err.Error(), "differ") || !strings.Contains(out, "DIFFERENT") || !strings.Contains(out, "5 / 10") {
			t.Errorf("copy onto a store holding another resource: %v", err)
		}
	})
}

// TestCopyRefuses: a copy onto itself, from a database that does not exist, and malformed settings are
// refused before anything is written.
func TestCopyRefuses(t *testing.T) {
	dir := t.TempDir()
	src := sqliteFile(t)
	if err := os.Symlink(filepath.Dir(src), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "sqlite:" + src, "--to", "sqlite:" + src}, "same database"},
		{[]string{"--from", "sqlite:" + src, "--to", "sqlite:" + rel}, "same database"},
		{[]string{"--from", "sqlite:" + src, "--to", "sqlite://" + filepath.Join(dir, "link", "careflow.db")}, "same database"},
		{[]string{"--from", "mongodb://localhost/careflow", "--to", "mongodb://127.0.0.1:27017/careflow"}, "same database"},
		{[]string{"--from", "mongodb://127.0.0.1:27017/", "--to", "mongodb://127.0.0.1:27017/careflow?retryWrites=false"}, "same database"},
		{[]string{"--from", "sqlite:" + filepath.Join(dir, "typo.db"), "--to", "sqlite:" + filepath.Join(dir, "t.db")}, "no such database file"},
		{[]string{"--from", "sqlite:" + src, "--to", "postgres://x/y"}, "want sqlite:PATH"},
		{[]string{"--from", "sqlite:" + src}, "give both --from and --to"},
		{[]string{"--from", "sqlite:" + src, "--to", "sqlite:" + filepath.Join(dir, "t.db"), "extra"}, "unexpected argument"},
	} {
		_, err := copyCommand(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("copy %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !os.IsNotExist(err) {
		t.Errorf("the missing source was created: %v", err)
	}
	if same, err := sameDatabase("mongodb://127.0.0.1:27017/a", "mongodb://127.0.0.1:27017/b"); same || err != nil {
		t.Errorf("two databases of one server taken for the same: %v", err)
	}
}

// TestCopyVersionsOfAChangedResource: a resource that changed since the source was listed is read
// whole from its instance history, as the source holds it now.
func TestCopyVersionsOfAChangedResource(t *testing.T) {
	src := sqliteStore(t)
	fixture(t, src)
	c := newCopier(t, src, nil)
	inv, err := c.list(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	listed := inv.listed["Patient"]["p1"]
	if !reflect.DeepEqual(listed.vids, []int64{3, 2, 1}) || listed.head.VersionID != 3 || listed.head.Body != nil {
		t.Fatalf("listed p1: %v %+v", listed.vids, listed.head)
	}
	got, err := c.versions(context.Background(), "Patient", "p1", listed)
	if err != nil || !reflect.DeepEqual(got, allVersions(t, src, "Patient", "p1")) {
		t.Errorf("versions of p1 as listed: %v %v", dump(got), err)
	}
	write(t, src, "Patient", "p1", patient("Later", ""), "PUT")
	got, err = c.versions(context.Background(), "Patient", "p1", listed)
	if err != nil || len(got) != 4 || !reflect.DeepEqual(got, allVersions(t, src, "Patient", "p1")) {
		t.Errorf("versions of p1 changed since listed: %v %v", dump(got), err)
	}
}
