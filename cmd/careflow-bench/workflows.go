package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The workflows benchmark (careflow-bench workflows) loads the same data set as the search benchmark
// (search_load.go, with --reuse of an already-loaded database) and then times careflow's coordinator
// operations over HTTP, one request at a time:
//
//  1. GET [base]/$worklist?date=D                  the whole worklist of the reference day D
//  2. GET [base]/$worklist?date=D&owner=O          one owner's worklist
//  3. GET [base]/$worklist?date=D&patient=P        one patient's worklist
//  4. GET [base]/Patient/{id}/$summary?date=D      one random patient per request
//
// D is --today, the reference date fhir/synth generated every date relative to (synth.Options.Today), so
// that the worklist never depends on the wall clock. O and P come from the data: the owner and the
// patient with the most Tasks on D's worklist (answered by the first, untimed request of case 1).

// workflowCase is one timed workflow request.
type workflowCase struct {
	name string
	// url returns the URL of round i (warm-up rounds included); relative to the FHIR base.
	url func(i int) string
	// display is the request as listed in the report.
	display string
}

// workflowResult is what one case measured.
type workflowResult struct {
	number  int
	wc      *workflowCase
	lat     *result // timed requests
	entries []int   // Bundle entries of each timed response
	// CPU time over the timed requests: the server's and the database's.
	serverCPU, dbCPU *cpuTime
}

// workflowParams are the values the cases use, all derived from the data set.
type workflowParams struct {
	day        time.Time
	dayTasks   int    // Tasks of D's whole worklist (first response)
	owner      string // O: a Task.owner reference
	ownerTasks int
	patient    string // P: a Patient id
	patTasks   int
	// patientFrom says how P was chosen.
	patientFrom string
}

// worklistPage is what the benchmark reads of a $worklist answer.
type worklistPage struct {
	Entry []struct {
		Resource struct {
			For *struct {
				Reference string `json:"reference"`
			} `json:"for"`
			Owner *struct {
				Reference string `json:"reference"`
			} `json:"owner"`
		} `json:"resource"`
	} `json:"entry"`
}

// mostFrequent returns the value that occurs most often in values ("" ignored), ties broken by the
// smallest value, and how often it occurs; "" and 0 when there is none.
func mostFrequent(values []string) (string, int) {
	counts := map[string]int{}
	for _, v := range values {
		if v != "" {
			counts[v]++
		}
	}
	best, n := "", 0
	for v, k := range counts {
		if k > n || k == n && v < best {
			best, n = v, k
		}
	}
	return best, n
}

// chooseWorkflowParams derives O and P from the first answer of $worklist?date=D; when no Task names a
// patient (an empty worklist), P falls back to the search benchmark's X.
func chooseWorkflowParams(c searchConfig, body []byte, facts []patientFacts) (*workflowParams, error) {
	var page worklistPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("$worklist answer: %w", err)
	}
	var owners, patients []string
	for _, e := range page.Entry {
		if o := e.Resource.Owner; o != nil {
			owners = append(owners, o.Reference)
		}
		if f := e.Resource.For; f != nil {
			patients = append(patients, strings.TrimPrefix(f.Reference, "Patient/"))
		}
	}
	p := &workflowParams{day: c.today, dayTasks: len(page.Entry)}
	p.owner, p.ownerTasks = mostFrequent(owners)
	p.patient, p.patTasks = mostFrequent(patients)
	p.patientFrom = "the patient with the most Tasks on the day's worklist"
	if p.patient == "" {
		sp, err := pickParams(c, facts)
		if err != nil {
			return nil, err
		}
		p.patient, p.patientFrom = sp.patient.id, "no Task names a patient: the search benchmark's X"
	}
	return p, nil
}

// workflowCases builds the four cases. Case 4 draws one patient per round from the data set with a
// generator seeded by --seed, so the sequence of patients is the same in every run.
func workflowCases(c searchConfig, p *workflowParams, facts []patientFacts) []*workflowCase {
	day := p.day.Format(time.DateOnly)
	fixed := func(u string) func(int) string { return func(int) string { return u } }
	var out []*workflowCase
	add := func(name, u string) {
		out = append(out, &workflowCase{name: name, url: fixed(u), display: "GET " + u})
	}
	add("$worklist of the day", "$worklist?date="+day)
	if p.owner != "" {
		add("$worklist of one owner", "$worklist?date="+day+"&owner="+url.QueryEscape(p.owner))
	}
	add("$worklist of one patient", "$worklist?date="+day+"&patient="+url.QueryEscape(p.patient))
	rng := rand.New(rand.NewPCG(c.seed, 2_000_000))
	picks := make([]string, c.warmup+c.requests)
	for i := range picks {
		picks[i] = facts[rng.IntN(len(facts))].id
	}
	out = append(out, &workflowCase{
		name:    "$summary of a random patient",
		url:     func(i int) string { return "Patient/" + url.PathEscape(picks[i%len(picks)]) + "/$summary?date=" + day },
		display: fmt.Sprintf("GET Patient/{id}/$summary?date=%s, {id} one of %d patients drawn at random (seed %d) per request", day, len(facts), c.seed),
	})
	return out
}

// runWorkflows chooses the parameters, times the cases and writes the report.
func (e *searchEnv) runWorkflows(ctx context.Context, load *loadStats, started time.Time, out io.Writer) error {
	c := e.cfg
	rep := &workflowReport{cfg: c, started: started, load: load}
	if c.loadOnly {
		rep.write(out)
		writeSummary(c.summary, rep.summary())
		return nil
	}
	fhir := newFHIRClient(c.base, 1)
	fhir.http.Timeout = c.requestTimeout
	if err := checkServer(ctx, fhir); err != nil {
		return err
	}
	dayURL := fhir.base + "/$worklist?date=" + c.today.Format(time.DateOnly)
	progress("choosing the owner and the patient from %s", dayURL)
	body, _, err := getPage(ctx, fhir, dayURL)
	if err != nil {
		return err
	}
	if rep.params, err = chooseWorkflowParams(c, body, load.facts); err != nil {
		return err
	}
	for i, wc := range workflowCases(c, rep.params, load.facts) {
		r, err := measureWorkflow(ctx, c, fhir, wc)
		if err != nil {
			rep.failed = fmt.Errorf("case %d (%s): %w", i+1, wc.name, err)
			rep.write(out)
			return rep.failed
		}
		r.number = i + 1
		rep.cases = append(rep.cases, r)
	}
	rep.write(out)
	writeSummary(c.summary, rep.summary())
	return nil
}

// summary is the workflows report's main numbers, for careflow-bench compare.
func (r *workflowReport) summary() summary {
	var m metrics
	loadMetrics(&m, r.load)
	for _, cr := range r.cases {
		name := fmt.Sprintf("%d. %s", cr.number, cr.wc.name)
		m.latency(name, cr.lat)
	}
	return summary{Title: "careflow-bench workflows", Metrics: m}
}

// measureWorkflow times one case: --warmup then --requests requests, one at a time (fewer when
// --max-query-time runs out, but at least minTimedRounds).
func measureWorkflow(ctx context.Context, c searchConfig, fhir *fhirClient, wc *workflowCase) (*workflowResult, error) {
	r := &workflowResult{wc: wc, lat: &result{Name: wc.name}}
	progress("%s: %s", wc.name, wc.display)
	var srv, db cpuTime
	srvOK, dbOK := c.serverPID > 0, len(c.dbPIDs) > 0
	var timedStart time.Time
	for i := range c.warmup + c.requests {
		timed := i >= c.warmup
		if i == c.warmup {
			timedStart = time.Now()
		}
		if timed && c.maxQueryTime > 0 && len(r.lat.Lat) >= minTimedRounds && time.Since(timedStart) >= c.maxQueryTime {
			progress("  stopping after %d requests: --max-query-time %s reached", len(r.lat.Lat), c.maxQueryTime)
			break
		}
		s0, sErr := cpuIf(srvOK && timed, func() (cpuTime, error) { return processCPU(c.serverPID) })
		d0, dErr := dbCPUIf(dbOK && timed, c.dbPIDs)
		body, d, err := getPage(ctx, fhir, fhir.base+"/"+wc.url(i))
		if err != nil {
			return nil, err
		}
		if !timed {
			continue
		}
		srvOK = srvOK && sErr == nil && addCPU(&srv, s0, func() (cpuTime, error) { return processCPU(c.serverPID) })
		dbOK = dbOK && dErr == nil && addDBCPU(&db, d0, c.dbPIDs)
		p, err := parsePage(body)
		if err != nil {
			return nil, err
		}
		r.lat.Lat = append(r.lat.Lat, d)
		r.entries = append(r.entries, len(p.Entry))
	}
	r.lat.OK = len(r.lat.Lat)
	slices.Sort(r.lat.Lat)
	if srvOK {
		r.serverCPU = &srv
	}
	if dbOK {
		r.dbCPU = &db
	}
	progress("  p50 %s ms, p99 %s ms, max %s ms; entries %s", ms(r.lat.Quantile(0.5)), ms(r.lat.Quantile(0.99)),
		ms(r.lat.Quantile(1)), entriesCell(r.entries))
	return r, nil
}

// entriesCell summarises the entries of the timed responses: one number when they are all the same,
// else the range and the mean.
func entriesCell(entries []int) string {
	if len(entries) == 0 {
		return "–"
	}
	lo, hi, sum := slices.Min(entries), slices.Max(entries), 0
	for _, n := range entries {
		sum += n
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d (mean %.1f)", lo, hi, float64(sum)/float64(len(entries)))
}

// workflowReport is everything the workflows benchmark measured, printed as Markdown.
type workflowReport struct {
	cfg     searchConfig
	started time.Time
	load    *loadStats
	params  *workflowParams
	cases   []*workflowResult
	failed  error
}

// write prints the report.
func (r *workflowReport) write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	c := r.cfg
	writeDataSet(out, "careflow-bench workflows", c, r.load, r.started)
	if r.params == nil {
		return
	}
	w := r.params
	p("- reference day D = %s (--today: the date fhir/synth generated the data relative to); %d Tasks on D's worklist\n",
		w.day.Format(time.DateOnly), w.dayTasks)
	if w.owner != "" {
		p("- owner O = `%s` (the owner of the most Tasks on D's worklist: %d)\n", w.owner, w.ownerTasks)
	} else {
		p("- no Task of D's worklist has an owner: the owner case is left out\n")
	}
	p("- patient P = Patient/%s (%s; %d Tasks)\n", w.patient, w.patientFrom, w.patTasks)
	p("- timing: per case %d warm-up + %d timed requests (HTTP GET, body read in full), one at a time\n", c.warmup, c.requests)
	p("\n| case | n | entries | p50 ms | p99 ms | max ms | server CPU/call | DB CPU/call |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, cr := range r.cases {
		p("| %d. %s | %d | %s | %s | %s | %s | %s | %s |\n", cr.number, cr.wc.name, cr.lat.OK, entriesCell(cr.entries),
			ms(cr.lat.Quantile(0.5)), ms(cr.lat.Quantile(0.99)), ms(cr.lat.Quantile(1)),
			perReq(cr.serverCPU, cr.lat.OK), perReq(cr.dbCPU, cr.lat.OK))
	}
	p("\nn: timed requests (--requests %d", c.requests)
	if c.maxQueryTime > 0 {
		p(", fewer where --max-query-time %s ran out", c.maxQueryTime)
	}
	p("); quantiles are nearest-rank, so with 50 requests or fewer p99 is the slowest. " +
		"\"entries\": Bundle entries answered (Tasks for $worklist; the document's entries for $summary). CPU: the server " +
		"process (--server-pid) and the database processes with their children (--db-pids, which on a shared database " +
		"includes other clients' work) during the timed requests; /proc resolution is 10 ms per sample. " +
		"$summary is asked as of D (its date parameter), like $worklist, so the answers do not depend on the clock.\n")
	if r.failed != nil {
		p("\n**The run stopped early**: %v\n", r.failed)
	}
	p("\nThe requests, as timed (relative to the FHIR base):\n\n")
	for _, cr := range r.cases {
		p("%d. `%s`\n", cr.number, cr.wc.display)
	}
}
