package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/careflow/careflow/fhir/synth"
)

// load POSTs FHIR transaction (or batch) Bundles to the base URL of any FHIR server:
//
//	careflow load --base http://127.0.0.1:8080/fhir testdata/bundles
//	careflow load --base https://fhir.example.org/r4 --generate 1000 --seed 7 --concurrency 8
//	careflow generate --patients 50 | careflow load -
func load(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runLoad(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

type loadOptions struct {
	base        string
	concurrency int
	retries     int
	backoff     time.Duration
	maxBackoff  time.Duration
	timeout     time.Duration
	headers     http.Header
	progress    string
	generate    int
	seed        uint64
	history     bool
	today       time.Time
	paths       []string
}

type headerFlag struct{ h http.Header }

func (f headerFlag) String() string { return "" }
func (f headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	f.h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func parseLoadFlags(args []string, stderr io.Writer) (*loadOptions, error) {
	o := &loadOptions{headers: http.Header{}}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: careflow load [flags] [FILE|DIR|-]...

POSTs each FHIR transaction (or batch) Bundle to the base URL of a FHIR server ("POST [base]"), several at a
time, retrying on 429, 502, 503, 504 and network errors (honouring Retry-After), with a progress bar and a
final summary. Exits non-zero when any bundle failed.

Bundles come from files (one JSON Bundle, or several as NDJSON), directories (every *.json and *.ndjson file
below them, in name order; JSON that is not a Bundle, such as manifest.json, is skipped), standard input
("-", e.g. "careflow generate | careflow load -"), or the built-in generator (--generate N).

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.base, "base", "http://127.0.0.1:8080/fhir", "FHIR base URL the bundles are POSTed to")
	fs.IntVar(&o.concurrency, "concurrency", 4, "bundles in flight at once")
	fs.IntVar(&o.retries, "retries", 5, "retries of a bundle after a 429/502/503/504 answer or a network error")
	fs.DurationVar(&o.backoff, "backoff", 500*time.Millisecond, "first retry delay, doubled on each retry (with jitter)")
	fs.DurationVar(&o.maxBackoff, "max-backoff", time.Minute, "longest wait before a retry, Retry-After included")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "timeout of one request")
	fs.Var(headerFlag{o.headers}, "header", `extra request header "Name: value" (repeatable), e.g. "Authorization: Bearer …"`)
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
	fs.IntVar(&o.generate, "generate", 0, "load N generated patients (fhir/synth) instead of, or besides, files")
	fs.Uint64Var(&o.seed, "seed", 1, "with --generate: data set seed")
	fs.BoolVar(&o.history, "history", false, "with --generate: add each patient's clinical history (see careflow generate --history)")
	todayFlag := fs.String("today", "", "with --generate: reference date YYYY-MM-DD (default: the current date)")
	// Flags may follow the paths (careflow load testdata/bundles --base …).
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		o.paths = append(o.paths, args[0])
		args = args[1:]
	}
	var err error
	if o.today, err = parseToday(*todayFlag); err != nil {
		return nil, err
	}
	switch {
	case len(o.paths) == 0 && o.generate == 0:
		fs.Usage()
		return nil, errors.New("load: nothing to load: give files, directories, - or --generate N")
	case o.concurrency < 1:
		return nil, errors.New("load: --concurrency must be at least 1")
	case o.retries < 0 || o.generate < 0:
		return nil, errors.New("load: --retries and --generate must not be negative")
	case o.progress != "auto" && o.progress != "always" && o.progress != "never":
		return nil, fmt.Errorf("load: --progress %q: want auto, always or never", o.progress)
	}
	if !strings.HasPrefix(o.base, "http://") && !strings.HasPrefix(o.base, "https://") {
		return nil, fmt.Errorf("load: --base %q is not an http(s) URL", o.base)
	}
	o.base = strings.TrimRight(o.base, "/")
	return o, nil
}

// job is one bundle to send.
type job struct {
	name    string
	data    []byte
	entries int
	err     error // the input could not be read or is not a loadable Bundle
}

// source yields the bundles to load; it is called twice (to count, then to send) except for stdin.
type source func(yield func(job) bool) error

func runLoad(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseLoadFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	src, countable, err := o.sources(stdin)
	if err != nil {
		return err
	}
	// Count the resources first, for the progress bar's total and ETA (not on stdin, not for generated patients).
	total := int64(-1)
	if countable {
		total = 0
		err := src(func(j job) bool {
			total += int64(j.entries)
			return ctx.Err() == nil
		})
		if err != nil {
			return err
		}
	}
	visible := total != 0 && (o.progress == "always" || (o.progress == "auto" && isTerminal(stderr)))
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetDescription("loading"),
		progressbar.OptionSetItsString("resources"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = o.concurrency
	l := &loader{o: o, client: &http.Client{Timeout: o.timeout, Transport: transport}}
	defer l.client.CloseIdleConnections()
	start := time.Now()
	jobs := make(chan job)
	var st loadStats
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for j := range jobs {
				r := l.send(ctx, j)
				st.add(j, r)
				_ = bar.Add(j.entries)
			}
		})
	}
	prodErr := src(func(j job) bool {
		if j.err == errNotBundle {
			st.mu.Lock()
			st.skipped++
			st.skippedNames = append(st.skippedNames, j.name)
			st.mu.Unlock()
			return true
		}
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(jobs)
	wg.Wait()
	_ = bar.Finish()
	elapsed := time.Since(start)
	st.report(stdout, elapsed)
	switch {
	case prodErr != nil:
		return prodErr
	case ctx.Err() != nil:
		return fmt.Errorf("load: interrupted after %d of the bundles", st.ok+st.failed)
	case st.failed > 0:
		return fmt.Errorf("load: %d of %d bundles failed", st.failed, st.ok+st.failed)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

var errNotBundle = errors.New("not a Bundle")

// generated is the source of the generator's patients, in order, generated by up to workers goroutines
// ahead of the one being yielded (the generator is deterministic per patient index).
func generated(opts synth.Options, workers int) source {
	type result struct {
		j   job
		err error
	}
	return func(yield func(job) bool) error {
		stop := make(chan struct{})
		defer close(stop)
		pending := make(chan chan result, workers)
		go func() {
			defer close(pending)
			for i := range opts.Patients {
				ch := make(chan result, 1)
				select {
				case pending <- ch:
				case <-stop:
					return
				}
				go func() {
					b, err := synth.Patient(opts, i)
					if err != nil {
						ch <- result{err: err}
						return
					}
					var compact bytes.Buffer
					if err := json.Compact(&compact, b.JSON); err != nil {
						ch <- result{err: err}
						return
					}
					ch <- result{j: job{name: "generated " + b.File, data: compact.Bytes(), entries: b.Entries}}
				}()
			}
		}()
		for ch := range pending {
			r := <-ch
			if r.err != nil {
				return r.err
			}
			if !yield(r.j) {
				return nil
			}
		}
		return nil
	}
}

// sources combines the paths and the generator into one source; countable is false when it reads stdin or
// generates patients.
func (o *loadOptions) sources(stdin io.Reader) (source, bool, error) {
	var parts []source
	countable := true
	stdinUsed := false
	for _, p := range o.paths {
		if p == "-" {
			if stdinUsed {
				return nil, false, errors.New("load: - (standard input) given twice")
			}
			stdinUsed, countable = true, false
			parts = append(parts, func(yield func(job) bool) error {
				_ = decodeBundles("stdin", stdin, yield)
				return nil
			})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, false, fmt.Errorf("load: %w", err)
		}
		if !info.IsDir() {
			parts = append(parts, fileSource(p))
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("load: %w", err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, false, fmt.Errorf("load: no *.json or *.ndjson file in %s", p)
		}
		for _, f := range files {
			parts = append(parts, fileSource(f))
		}
	}
	if o.generate > 0 {
		// Generated patients are not counted first: that would generate them twice (a patient with its
		// clinical history takes tens of milliseconds), so the progress bar shows the count and the rate
		// without a total, as for standard input.
		countable = false
		opts := synth.Options{Seed: o.seed, Patients: o.generate, Today: o.today, History: o.history}
		parts = append(parts, generated(opts, runtime.GOMAXPROCS(0)))
	}
	return func(yield func(job) bool) error {
		stopped := false
		for _, part := range parts {
			err := part(func(j job) bool {
				if !yield(j) {
					stopped = true
					return false
				}
				return true
			})
			if err != nil || stopped {
				return err
			}
		}
		return nil
	}, countable, nil
}

func fileSource(path string) source {
	return func(yield func(job) bool) error {
		f, err := os.Open(path)
		if err != nil {
			yield(job{name: path, err: err})
			return nil
		}
		defer f.Close()
		decodeBundles(path, f, yield)
		return nil
	}
}

// decodeBundles reads consecutive JSON values (one pretty Bundle, or NDJSON) and yields each as a job.
func decodeBundles(name string, r io.Reader, yield func(job) bool) bool {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	var values []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(values) == 0 && name != "stdin" {
				return yield(job{name: name, err: fmt.Errorf("invalid JSON: %w", err)})
			}
			return yield(job{name: fmt.Sprintf("%s#%d", name, len(values)+1), err: fmt.Errorf("invalid JSON: %w", err)})
		}
		if name == "stdin" {
			// Standard input streams: send each value as it arrives.
			if !yield(bundleJob(fmt.Sprintf("stdin#%d", len(values)+1), raw)) {
				return false
			}
			values = append(values, nil)
			continue
		}
		values = append(values, raw)
	}
	for i, raw := range values {
		n := name
		if len(values) > 1 {
			n = fmt.Sprintf("%s#%d", name, i+1)
		}
		if !yield(bundleJob(n, raw)) {
			return false
		}
	}
	return true
}

func bundleJob(name string, raw []byte) job {
	var head struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ResourceType != "Bundle" {
		return job{name: name, err: errNotBundle}
	}
	j := job{name: name, data: raw, entries: len(head.Entry)}
	if head.Type != "transaction" && head.Type != "batch" {
		j.err = fmt.Errorf("a %q Bundle cannot be POSTed to the base URL; want transaction or batch", head.Type)
	}
	return j
}

type loader struct {
	o      *loadOptions
	client *http.Client
}

// result is the outcome of sending one bundle.
type result struct {
	ok               bool
	status           int
	created, existed int
	retries          int
	problem          string
}

// transient reports whether an answer is worth retrying: the server is overloaded or briefly unavailable.
func transient(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// send POSTs one bundle, retrying transient failures. Every generated entry is a conditional create
// (ifNoneExist on its identifier), so repeating a transaction whose answer was lost creates nothing twice.
func (l *loader) send(ctx context.Context, j job) result {
	if j.err != nil {
		return result{problem: j.err.Error()}
	}
	var r result
	for attempt := 0; ; attempt++ {
		r.retries = attempt
		status, body, retryAfter, err := l.post(ctx, j.data)
		r.status = status
		if ctx.Err() != nil {
			r.problem = "interrupted"
			return r
		}
		if err == nil && status/100 == 2 {
			r.ok, r.created, r.existed, r.problem = checkResponse(body)
			return r
		}
		if err != nil {
			r.problem = err.Error()
		} else {
			r.problem = fmt.Sprintf("%d %s", status, http.StatusText(status)) + outcomeSummary(body)
		}
		if (err == nil && !transient(status)) || attempt >= l.o.retries {
			if attempt > 0 {
				r.problem += fmt.Sprintf(" (after %d retries)", attempt)
			}
			return r
		}
		wait := l.o.backoff << attempt
		wait = wait/2 + rand.N(wait/2+1) // jitter: half to the full delay
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, l.o.maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.problem = "interrupted"
			return r
		case <-t.C:
		}
	}
}

func (l *loader) post(ctx context.Context, data []byte) (status int, body []byte, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.o.base, bytes.NewReader(data))
	if err != nil {
		return 0, nil, 0, err
	}
	for k, vs := range l.o.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/fhir+json")
	}
	if req.Header.Get("Prefer") == "" {
		req.Header.Set("Prefer", "return=minimal")
	}
	res, err := l.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	body, err = io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("reading the answer: %w", err)
	}
	return res.StatusCode, body, parseRetryAfter(res.Header.Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); 0 when absent or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// checkResponse reads a transaction-response or batch-response Bundle: every entry must have succeeded. 201
// entries were created, 200 ones matched an existing resource (ifNoneExist). A 2xx answer without a Bundle
// body (some servers honour Prefer: return=minimal that way) counts as success.
func checkResponse(body []byte) (ok bool, created, existed int, problem string) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &b) != nil || b.ResourceType != "Bundle" {
		return true, 0, 0, ""
	}
	var failed []string
	for i, e := range b.Entry {
		code, _, _ := strings.Cut(strings.TrimSpace(e.Response.Status), " ")
		switch {
		case code == "201":
			created++
		case strings.HasPrefix(code, "2"):
			existed++
		default:
			failed = append(failed, fmt.Sprintf("entry %d: %s%s", i+1, e.Response.Status, outcomeSummary(e.Response.Outcome)))
		}
	}
	if len(failed) > 0 {
		return false, created, existed, strings.Join(failed, "; ")
	}
	return true, created, existed, ""
}

// outcomeSummary renders the first issues of an OperationOutcome body as ": code at expression: diagnostics".
func outcomeSummary(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	var parts []string
	for i, is := range oo.Issue {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("(%d more issues)", len(oo.Issue)-3))
			break
		}
		s := is.Code
		if len(is.Expression) > 0 {
			s += " at " + strings.Join(is.Expression, ", ")
		}
		if is.Diagnostics != "" {
			s += ": " + is.Diagnostics
		}
		parts = append(parts, s)
	}
	return ": " + strings.Join(parts, "; ")
}

type loadStats struct {
	mu                sync.Mutex
	ok, failed        int
	resources         int64
	created, existed  int
	retries           int
	skipped           int
	skippedNames      []string
	failures          []string
	resourcesInFailed int64
}

const maxListedFailures = 20

func (s *loadStats) add(j job, r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retries += r.retries
	if r.ok {
		s.ok++
		s.resources += int64(j.entries)
		s.created += r.created
		s.existed += r.existed
		return
	}
	s.failed++
	s.resourcesInFailed += int64(j.entries)
	if len(s.failures) < maxListedFailures {
		s.failures = append(s.failures, j.name+": "+r.problem)
	}
}

func (s *loadStats) report(w io.Writer, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Strings(s.failures)
	for _, f := range s.failures {
		fmt.Fprintln(w, "FAILED", f)
	}
	if s.failed > len(s.failures) {
		fmt.Fprintf(w, "… and %d more failed bundles\n", s.failed-len(s.failures))
	}
	fmt.Fprintf(w, "bundles:   %d ok, %d failed\n", s.ok, s.failed)
	res := fmt.Sprintf("resources: %d loaded", s.resources)
	if s.created+s.existed > 0 {
		res += fmt.Sprintf(" (%d created, %d already present)", s.created, s.existed)
	}
	if s.resourcesInFailed > 0 {
		res += fmt.Sprintf(", %d in failed bundles", s.resourcesInFailed)
	}
	fmt.Fprintln(w, res)
	if s.skipped > 0 {
		fmt.Fprintf(w, "skipped:   %d JSON values that are not Bundles (%s)\n", s.skipped, strings.Join(firstN(s.skippedNames, 3), ", "))
	}
	if s.retries > 0 {
		fmt.Fprintf(w, "retries:   %d\n", s.retries)
	}
	rate := 0.0
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(s.resources) / secs
	}
	fmt.Fprintf(w, "elapsed:   %s (%.1f resources/s)\n", elapsed.Round(time.Millisecond), rate)
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string{}, s[:n]...), "…")
}
