package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

// fakeFHIR mimics the transaction endpoint (POST [base]) of a FHIR server: it checks the Bundle, resolves
// the entries' urn:uuid references, honours ifNoneExist (200 for a match, 201 for a create), and injects
// the faults a test asks for.
type fakeFHIR struct {
	mu          sync.Mutex
	stored      map[string]bool // ifNoneExist criteria of the resources "stored"
	attempts    map[string]int  // per bundle (its first entry's ifNoneExist)
	posts       int
	inflight    int
	maxInflight int
	delay       time.Duration
	// fault, when set, may answer an attempt (1-based) of a bundle with a status and headers, or drop the
	// connection (hijack) to simulate a network error.
	fault func(key string, attempt int) (status int, header http.Header, hijack bool)
}

func newFake() *fakeFHIR { return &fakeFHIR{stored: map[string]bool{}, attempts: map[string]int{}} }

func writeOutcome(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q,"diagnostics":%q,"expression":["Bundle.entry[0]"]}]}`, code, msg)
}

func collectRefs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "reference" {
				*out = append(*out, s)
			} else {
				collectRefs(x, out)
			}
		}
	case []any:
		for _, x := range v {
			collectRefs(x, out)
		}
	}
}

func (f *fakeFHIR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/fhir" {
		writeOutcome(w, 404, "not-found", "no endpoint")
		return
	}
	if r.Header.Get("Content-Type") != "application/fhir+json" {
		writeOutcome(w, 415, "not-supported", "send application/fhir+json")
		return
	}
	data, _ := io.ReadAll(r.Body)
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
			Request  struct{ Method, URL, IfNoneExist string }
		}
	}
	if err := json.Unmarshal(data, &b); err != nil || b.ResourceType != "Bundle" || (b.Type != "transaction" && b.Type != "batch") || len(b.Entry) == 0 {
		writeOutcome(w, 400, "invalid", "not a transaction Bundle")
		return
	}
	key := b.Entry[0].Request.IfNoneExist
	f.mu.Lock()
	f.posts++
	f.attempts[key]++
	attempt := f.attempts[key]
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }()
	time.Sleep(f.delay)
	if f.fault != nil {
		status, header, hijack := f.fault(key, attempt)
		if hijack {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if status != 0 {
			for k, v := range header {
				w.Header()[k] = v
			}
			writeOutcome(w, status, "transient", "try again later")
			return
		}
	}
	fullURLs := map[string]bool{}
	for _, e := range b.Entry {
		fullURLs[e.FullURL] = true
	}
	var out []string
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range b.Entry {
		var refs []string
		collectRefs(e.Resource, &refs)
		for _, ref := range refs {
			if strings.HasPrefix(ref, "urn:uuid:") && !fullURLs[ref] {
				writeOutcome(w, 400, "invalid", "unresolved "+ref)
				return
			}
		}
		if e.Request.Method != "POST" || e.Resource["resourceType"] != e.Request.URL {
			writeOutcome(w, 400, "invalid", "bad request entry")
			return
		}
	}
	for _, e := range b.Entry {
		status := "201 Created"
		if e.Request.IfNoneExist != "" && f.stored[e.Request.IfNoneExist] {
			status = "200 OK"
		}
		f.stored[e.Request.IfNoneExist] = true
		out = append(out, fmt.Sprintf(`{"response":{"status":%q}}`, status))
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprintf(w, `{"resourceType":"Bundle","type":"%s-response","entry":[%s]}`, b.Type, strings.Join(out, ","))
}

func (f *fakeFHIR) start(t *testing.T) string {
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return ts.URL + "/fhir"
}

func runLoadT(t *testing.T, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := runLoad(ctx, append([]string{"--progress", "never", "--backoff", "1ms"}, args...), stdin, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// TestLoadCheckedInSet loads testdata/bundles through 429s (with and without Retry-After), 503s and dropped
// connections: everything arrives, once, and the summary says so.
func TestLoadCheckedInSet(t *testing.T) {
	f := newFake()
	f.fault = func(key string, attempt int) (int, http.Header, bool) {
		switch {
		case strings.HasSuffix(key, "1") && attempt == 1: // patients 1, 11: a 429 with Retry-After: 0
			return 429, http.Header{"Retry-After": {"0"}}, false
		case strings.HasSuffix(key, "2") && attempt <= 2: // patients 2, 12: two 503s
			return 503, nil, false
		case strings.HasSuffix(key, "3") && attempt == 1: // patients 3, 13: connection dropped
			return 0, nil, true
		}
		return 0, nil, false
	}
	base := f.start(t)
	out, err := runLoadT(t, nil, "--base", base, "--concurrency", "3", "../../testdata/bundles")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	total := len(f.stored)
	// The directory resources the bundles share (practitioners, schedules, bookable slots, …) are created by
	// the first bundle that names them and matched by the others.
	var m struct{ Bundles []struct{ Entries int } }
	data, err := os.ReadFile("../../testdata/bundles/manifest.json")
	if err != nil || json.Unmarshal(data, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	entries := 0
	for _, b := range m.Bundles {
		entries += b.Entries
	}
	for _, want := range []string{"bundles:   20 ok, 0 failed", fmt.Sprintf("resources: %d loaded (%d created, %d already present)", entries, total, entries-total),
		"skipped:   1 JSON values that are not Bundles (../../testdata/bundles/manifest.json)", "retries:   8", "resources/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if total < 150 || f.posts != 28 {
		t.Errorf("%d resources stored, %d POSTs (want 20 + 8 retries)", total, f.posts)
	}
	// Loading again creates nothing: every entry is a conditional create.
	out, err = runLoadT(t, nil, "../../testdata/bundles/patient-004.json", "--base", base+"/", "../../testdata/bundles/patient-005.json")
	if err != nil || !strings.Contains(out, "bundles:   2 ok, 0 failed") || !strings.Contains(out, "(0 created,") {
		t.Errorf("reload: %v\n%s", err, out)
	}
}

func TestLoadHonoursRetryAfter(t *testing.T) {
	f := newFake()
	f.fault = func(_ string, attempt int) (int, http.Header, bool) {
		if attempt == 1 {
			return 429, http.Header{"Retry-After": {"1"}}, false
		}
		return 0, nil, false
	}
	start := time.Now()
	out, err := runLoadT(t, nil, "--base", f.start(t), "--generate", "1", "--today", "2026-11-25")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v despite Retry-After: 1", d)
	}
	// --max-backoff caps a long Retry-After.
	f2 := newFake()
	f2.fault = func(_ string, attempt int) (int, http.Header, bool) {
		if attempt == 1 {
			return 503, http.Header{"Retry-After": {"3600"}}, false
		}
		return 0, nil, false
	}
	start = time.Now()
	if out, err := runLoadT(t, nil, "--base", f2.start(t), "--generate", "1", "--today", "2026-11-25", "--max-backoff", "50ms"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("waited %v: --max-backoff ignored", d)
	}
}

func TestLoadFailures(t *testing.T) {
	f := newFake()
	f.fault = func(key string, attempt int) (int, http.Header, bool) {
		switch {
		case strings.HasSuffix(key, "000002"): // always overloaded
			return 503, nil, false
		case strings.HasSuffix(key, "000003"): // rejected: never retried
			return 422, nil, false
		}
		return 0, nil, false
	}
	out, err := runLoadT(t, nil, "--base", f.start(t), "--generate", "4", "--seed", "3", "--today", "2026-11-25", "--retries", "2")
	if err == nil || !strings.Contains(err.Error(), "2 of 4 bundles failed") {
		t.Fatalf("error %v\n%s", err, out)
	}
	for _, want := range []string{"bundles:   2 ok, 2 failed", "FAILED generated patient-002.json: 503 Service Unavailable: transient at Bundle.entry[0]: try again later (after 2 retries)",
		"FAILED generated patient-003.json: 422 Unprocessable Entity", "retries:   2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if f.attempts["identifier=https://careflow.example.org/fhir/sid/mrn|CF-3-000002"] != 3 || f.attempts["identifier=https://careflow.example.org/fhir/sid/mrn|CF-3-000003"] != 1 {
		t.Errorf("attempts %v", f.attempts)
	}

	// A server that is not there: network errors are retried, then reported.
	ts := httptest.NewServer(http.NotFoundHandler())
	dead := ts.URL + "/fhir"
	ts.Close()
	out, err = runLoadT(t, nil, "--base", dead, "--generate", "1", "--today", "2026-11-25", "--retries", "1")
	if err == nil || !strings.Contains(out, "connection refused") || !strings.Contains(out, "after 1 retries") {
		t.Errorf("dead server: %v\n%s", err, out)
	}
}

func TestLoadBatchResponseEntryFailure(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"201 Created"}},{"response":{"status":"400 Bad Request","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","diagnostics":"bad date","expression":["Patient.birthDate"]}]}}}]}`)
	}))
	defer ts.Close()
	bundle := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"}},{"request":{"method":"POST","url":"Patient"}}]}`
	out, err := runLoadT(t, strings.NewReader(bundle+"\n"), "--base", ts.URL, "-")
	if err == nil || !strings.Contains(out, "FAILED stdin#1: entry 2: 400 Bad Request: value at Patient.birthDate: bad date") {
		t.Errorf("%v\n%s", err, out)
	}
}

func TestLoadStdinAndConcurrency(t *testing.T) {
	var ndjson, discard bytes.Buffer
	if err := runGenerate([]string{"--seed", "4", "--patients", "9", "--today", "2026-11-25"}, &ndjson, &discard); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.delay = 30 * time.Millisecond
	out, err := runLoadT(t, &ndjson, "--base", f.start(t), "--concurrency", "3", "-")
	if err != nil || !strings.Contains(out, "bundles:   9 ok, 0 failed") {
		t.Fatalf("%v\n%s", err, out)
	}
	if f.maxInflight > 3 || f.maxInflight < 2 {
		t.Errorf("max %d bundles in flight with --concurrency 3", f.maxInflight)
	}
	// Garbage on stdin is a failed bundle; a non-transaction Bundle is refused without being sent.
	out, err = runLoadT(t, strings.NewReader(`{"resourceType":"Bundle","type":"collection","entry":[{}]}`+"\n{oops"), "--base", f.start(t), "-")
	if err == nil || !strings.Contains(out, `a "collection" Bundle cannot be POSTed`) || !strings.Contains(out, "invalid JSON") {
		t.Errorf("%v\n%s", err, out)
	}
}

func TestLoadSendsHeaders(t *testing.T) {
	var got http.Header
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer ts.Close()
	out, err := runLoadT(t, nil, "--base", ts.URL+"/r4", "--header", "Authorization: Bearer s3cret", "--header", "X-Tenant: a", "--generate", "1", "--today", "2026-11-25")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Get("Authorization") != "Bearer s3cret" || got.Get("X-Tenant") != "a" || got.Get("Content-Type") != "application/fhir+json" || got.Get("Prefer") != "return=minimal" {
		t.Errorf("headers %v", got)
	}
}

func TestLoadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--base", "ftp://x", "--generate", "1"},
		{"--concurrency", "0", "--generate", "1"},
		{"--progress", "sometimes", "--generate", "1"},
		{"--today", "2026-13-01", "--generate", "1"},
		{"/does/not/exist"},
		{"--header", "no colon", "--generate", "1"},
	} {
		if _, err := runLoadT(t, nil, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Wed, 25 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Wed, 25 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", in, got, want)
		}
	}
}

// TestGeneratedInOrder: the generator source yields the patients of the data set in order, byte for byte
// what synth.Patient renders (compacted), whatever the number of goroutines generating ahead, and stops
// when the consumer stops.
func TestGeneratedInOrder(t *testing.T) {
	opts := synth.Options{Seed: 3, Patients: 7, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), History: true}
	for _, workers := range []int{1, 3, 16} {
		var got []job
		if err := generated(opts, workers)(func(j job) bool { got = append(got, j); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) != opts.Patients {
			t.Fatalf("%d workers: %d bundles, want %d", workers, len(got), opts.Patients)
		}
		for i, j := range got {
			b, err := synth.Patient(opts, i)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, b.JSON); err != nil {
				t.Fatal(err)
			}
			if j.name != "generated "+b.File || !bytes.Equal(j.data, want.Bytes()) || j.entries != b.Entries {
				t.Errorf("%d workers: bundle %d is %s (%d entries), want %s (%d)", workers, i, j.name, j.entries, b.File, b.Entries)
			}
		}
		n := 0
		if err := generated(opts, workers)(func(job) bool { n++; return n < 2 }); err != nil || n != 2 {
			t.Errorf("%d workers: stopping after 2: %d yielded, %v", workers, n, err)
		}
	}
}
