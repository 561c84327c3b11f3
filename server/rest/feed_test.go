package rest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// feedServer starts careflow on a fresh database with a settle window of 2 s on clock.
func feedServer(t *testing.T, clock *testClock, hooks mongo.Hooks) *client {
	t.Helper()
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	store := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, FeedSettle: 2 * time.Second, Clock: clock.Now,
		RecoveryInterval: -1, Hooks: hooks})
	h := handler(t, testConfig{}, store, v, reg)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
}

// TestHistorySinceFeed follows GET [base]/_history as a syncing client does — every page through the next
// links, then _since = the Bundle's meta.lastUpdated — while a transaction Bundle is committed but not yet
// published: its entries, stamped with a lastUpdated before the horizon the client already holds, come
// with a later poll; the horizon is the same on every page of a traversal. Versions are listed as soon as
// they are visible, and again by the polls that start within the settle window after that: the client
// deduplicates by fullUrl and ETag (id and versionId), and a repeat is the same version.
func TestHistorySinceFeed(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var pauseOnce sync.Once
	paused, release := make(chan struct{}), make(chan struct{})
	c := feedServer(t, clock, mongo.Hooks{AfterCommit: func(ctx context.Context, txID string) error {
		pauseOnce.Do(func() { close(paused); <-release })
		return nil
	}})

	got := map[string]int{}
	delivered := map[string]string{} // fullUrl and ETag → lastModified and resource as first delivered
	since := ""
	// poll traverses the system history from since and moves since to the traversal's horizon.
	poll := func() (entries []string, lastUpdated []string) {
		t.Helper()
		next := c.base + "/_history?_count=2"
		if since != "" {
			next += "&_since=" + url.QueryEscape(since)
		}
		horizon := ""
		for pages := 0; next != ""; pages++ {
			if pages > 100 {
				t.Fatal("history does not end")
			}
			r := c.do("GET", next, "")
			if r.status != 200 {
				t.Fatalf("GET %s: %d %s", next, r.status, r.body)
			}
			b := r.json(t)
			h := b["meta"].(map[string]any)["lastUpdated"].(string)
			if horizon == "" {
				horizon = h
			} else if h != horizon {
				t.Errorf("page %d meta.lastUpdated %s, first page %s", pages, h, horizon)
			}
			next = ""
			for _, l := range asSlice(b["link"]) {
				if l.(map[string]any)["relation"] == "next" {
					next = l.(map[string]any)["url"].(string)
				}
			}
			for _, e := range asSlice(b["entry"]) {
				e := e.(map[string]any)
				k := e["fullUrl"].(string) + " " + e["response"].(map[string]any)["etag"].(string)
				same := e["response"].(map[string]any)["lastModified"].(string) + " " + fmt.Sprint(e["resource"])
				if first, ok := delivered[k]; ok && first != same {
					t.Errorf("%s delivered again as a different version: %s, then %s", k, first, same)
				}
				delivered[k] = same
				got[k]++
				entries = append(entries, k)
				lastUpdated = append(lastUpdated, e["response"].(map[string]any)["lastModified"].(string))
			}
		}
		since = horizon
		return entries, lastUpdated
	}

	for i := 0; i < 3; i++ {
		if r := c.do("POST", "/Patient", patientBody); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		clock.Advance(time.Millisecond)
	}
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"resource":{"resourceType":"Patient","name":[{"family":"TxOne"}]},"request":{"method":"POST","url":"Patient"}},` +
		`{"resource":{"resourceType":"Patient","name":[{"family":"TxTwo"}]},"request":{"method":"POST","url":"Patient"}}]}`
	done := make(chan *response, 1)
	go func() { done <- c.do("POST", "", tx) }()
	<-paused // committed, not published

	if entries, _ := poll(); len(entries) != 3 { // over two pages
		t.Errorf("first poll: %v, want the 3 creates at once", entries)
	}
	clock.Advance(3 * time.Second)
	if entries, _ := poll(); len(entries) != 3 {
		t.Errorf("second poll: %v, want the 3 creates again (they are younger than the first poll's horizon)", entries)
	}
	horizon := since
	close(release)
	r := <-done
	if r.status != 200 {
		t.Fatalf("transaction: %d %s", r.status, r.body)
	}
	for _, e := range asSlice(r.json(t)["entry"]) {
		lu := e.(map[string]any)["response"].(map[string]any)["lastModified"].(string)
		if lu >= horizon { // same format: the strings order like the instants
			t.Fatalf("transaction entry lastUpdated %s is not before the horizon %s the client already holds", lu, horizon)
		}
	}
	clock.Advance(3 * time.Second)
	entries, lastModified := poll()
	if len(entries) != 2 {
		t.Errorf("poll after the transaction: %v, want its 2 entries", entries)
	}
	for _, lm := range lastModified {
		if lm >= horizon {
			t.Errorf("entry lastModified %s changed: want the version's own lastUpdated, before %s", lm, horizon)
		}
	}
	clock.Advance(time.Minute)
	if entries, _ := poll(); len(entries) != 0 {
		t.Errorf("later poll repeated %v", entries)
	}
	if len(got) != 5 {
		t.Errorf("delivered %d versions, want 5", len(got))
	}
	for k, n := range got {
		if n < 1 || n > 2 {
			t.Errorf("%s delivered %d times", k, n)
		}
		if !strings.Contains(k, `W/"1"`) {
			t.Errorf("unexpected version %s", k)
		}
	}
}

// historyEntries returns "Type/id etag" of each entry of a history Bundle, and its meta.lastUpdated.
func historyEntries(t *testing.T, r *response) (string, string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("history: %d %s", r.status, r.body)
	}
	b := r.json(t)
	var out []string
	for _, e := range asSlice(b["entry"]) {
		e := e.(map[string]any)
		out = append(out, e["request"].(map[string]any)["url"].(string)+" "+e["response"].(map[string]any)["etag"].(string))
	}
	lu, _ := b["meta"].(map[string]any)["lastUpdated"].(string)
	return strings.Join(out, ", "), lu
}

// TestHistoryReadYourWrites: with a settle window of 2 s, GET [type]/_history and GET
// [base]/_history?_since=<a moment before the write> list a write right after it; meta.lastUpdated, the
// next _since, stays now − settle (or the _since given, when later).
func TestHistoryReadYourWrites(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := feedServer(t, clock, mongo.Hooks{})
	instant := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

	moment := instant(clock.Now().Add(-time.Millisecond))
	id, _ := create(t, c, patientBody)
	entries, horizon := historyEntries(t, c.do("GET", "/Patient/_history", ""))
	if entries != `Patient W/"1"` || horizon != instant(clock.Now().Add(-2*time.Second)) {
		t.Errorf("GET /Patient/_history right after a create: [%s] meta.lastUpdated %s, want the create and now − 2 s", entries, horizon)
	}
	entries, horizon = historyEntries(t, c.do("GET", "/_history?_since="+url.QueryEscape(moment), ""))
	if entries != `Patient W/"1"` || horizon != moment {
		t.Errorf("GET /_history?_since=%s right after a create: [%s] meta.lastUpdated %s, want the create and the _since", moment, entries, horizon)
	}

	clock.Advance(time.Second)
	moment = instant(clock.Now().Add(-time.Millisecond))
	upd := strings.Replace(patientBody, `"Patient",`, `"Patient","id":"`+id+`",`, 1)
	if r := c.do("PUT", "/Patient/"+id, upd); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if entries, _ := historyEntries(t, c.do("GET", "/Patient/_history", "")); entries != `Patient/`+id+` W/"2", Patient W/"1"` {
		t.Errorf("GET /Patient/_history right after an update: [%s]", entries)
	}
	if entries, _ := historyEntries(t, c.do("GET", "/_history?_since="+url.QueryEscape(moment), "")); entries != `Patient/`+id+` W/"2"` {
		t.Errorf("GET /_history?_since=%s right after an update: [%s]", moment, entries)
	}
	long := instant(clock.Now().Add(-time.Hour))
	if _, horizon := historyEntries(t, c.do("GET", "/_history?_since="+url.QueryEscape(long), "")); horizon != instant(clock.Now().Add(-2*time.Second)) {
		t.Errorf("GET /_history?_since=%s: meta.lastUpdated %s, want now − 2 s", long, horizon)
	}
}
