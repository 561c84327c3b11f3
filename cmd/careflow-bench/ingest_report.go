package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
)

// ingestPhase is what one ingest phase measured: per Bundle (the embedded result: OK, Errors, latencies,
// CPU) and the resources its successful Bundles stored.
type ingestPhase struct {
	*result
	resources        int // resources of the successful Bundles
	created, existed int // careflow: entries answered 201, and 200 (matched by ifNoneExist)
}

// ResourcesPerSecond is the phase's throughput in stored resources per second.
func (p *ingestPhase) ResourcesPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.resources) / p.Elapsed.Seconds()
}

// CPUPerResource is the measured process's CPU time per stored resource; ok is false when it was not
// measured.
func (p *ingestPhase) CPUPerResource() (cpuTime, bool) { return perResource(p.CPU, p.resources) }

// DBCPUPerResource is the database's CPU time per stored resource.
func (p *ingestPhase) DBCPUPerResource() (cpuTime, bool) { return perResource(p.DBCPU, p.resources) }

func perResource(t *cpuTime, n int) (cpuTime, bool) {
	if t == nil || n == 0 {
		return cpuTime{}, false
	}
	d := time.Duration(n)
	return cpuTime{t.User / d, t.System / d}, true
}

// ingestRatio compares careflow with a raw phase: throughput in resources/s (careflow/raw; below 1 is
// slower) and the median latency per Bundle (careflow/raw; above 1 is slower). ok is false when either
// side has nothing to compare.
func ingestRatio(cf, raw *ingestPhase) (throughput, p50 float64, ok bool) {
	if cf == nil || raw == nil || cf.ResourcesPerSecond() == 0 || raw.ResourcesPerSecond() == 0 || raw.Quantile(0.5) == 0 {
		return 0, 0, false
	}
	return cf.ResourcesPerSecond() / raw.ResourcesPerSecond(), float64(cf.Quantile(0.5)) / float64(raw.Quantile(0.5)), true
}

// ingestReport is everything the ingest benchmark measured, printed as Markdown.
type ingestReport struct {
	cfg                             ingestConfig
	started                         time.Time
	data                            *ingestSet
	careflow, insertOne, insertMany *ingestPhase
	rawIndexes                      map[string]int // indexes per scratch collection, _id included
	shapes                          []docShape
}

// write prints the report.
func (r *ingestReport) write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	c, d := r.cfg, r.data
	p("### careflow-bench ingest, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("- command: `%s`\n", c.command)
	var types []string
	for _, t := range definitions.ResourceTypes {
		if n := d.byType[t]; n > 0 {
			types = append(types, fmt.Sprintf("%s %d", t, n))
		}
	}
	p("- data: %d patients from fhir/synth (seed %d, today %s), one Bundle each: %d resources (%s), %.1f resources per Bundle\n",
		len(d.bundles), c.seed, c.today.Format(time.DateOnly), d.resources, strings.Join(types, ", "),
		float64(d.resources)/float64(max(1, len(d.bundles))))
	p("- sizes: Bundle JSON (compact, as POSTed) %d–%d bytes, mean %d; resource JSON as stored %d–%d bytes, mean %d\n",
		d.bundleBytes.min, d.bundleBytes.max, d.bundleBytes.sum/max(1, d.bundleBytes.n),
		d.jsonBytes.min, d.jsonBytes.max, d.jsonBytes.sum/max(1, d.jsonBytes.n))
	p("- careflow: `POST %s` of each Bundle as Bundle.type **%s** (entries POST [type] with ifNoneExist), Prefer: return=minimal, concurrency %d\n",
		c.base, c.bundleType, c.concurrency)
	if r.insertOne != nil {
		idx := make([]string, 0, len(r.rawIndexes))
		for _, name := range sortedKeys(r.rawIndexes) {
			idx = append(idx, fmt.Sprintf("%s %d", name, r.rawIndexes[name]))
		}
		hist := "plus its history document (`--raw-history`: a transaction writes both)"
		if !c.rawHistory {
			hist = "without a history document (`--raw-history`: a create outside a transaction writes none)"
		}
		p("- raw: the same resources inserted with the MongoDB driver into `%s`, each as careflow's current-version document "+
			"(`_id`, `vid`, `lu`, `del`, `m`, `raw` and the search-index fields of `registry.Index`) %s, "+
			"concurrency %d, each phase on emptied collections; indexes per collection: %s\n", c.scratchDB, hist, c.concurrency, strings.Join(idx, ", "))
	}
	for _, s := range r.shapes {
		p("- %s: %d top-level fields, %d bytes BSON, collection has %d indexes\n", s.What, s.Fields, s.Bytes, s.Indexes)
	}
	p("\n| phase | Bundles ok | errors | Bundles/s | resources/s | p50 ms | p95 ms | p99 ms | max ms | CPU/resource¹ (user + sys µs) | DB CPU/resource² |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, ph := range []*ingestPhase{r.careflow, r.insertOne, r.insertMany} {
		if ph == nil {
			continue
		}
		p("| %s | %d | %d | %.1f | %.0f | %s | %s | %s | %s | %s | %s |\n", ph.Name, ph.OK, ph.Errors, ph.RPS(), ph.ResourcesPerSecond(),
			ms(ph.Quantile(0.50)), ms(ph.Quantile(0.95)), ms(ph.Quantile(0.99)), ms(ph.Quantile(1)),
			cpuCell(ph.CPUPerResource()), cpuCell(ph.DBCPUPerResource()))
	}
	p("\nLatency is per Bundle. ¹ CPU time per stored resource of the careflow server (--server-pid) for the careflow phase; of " +
		"the load generator itself for the raw phases (what a Go program spends in the driver). ² Of the database processes " +
		"(--db-pids and their descendants). CPU times have a resolution of 10 ms per phase.\n")
	if r.careflow != nil && r.careflow.existed > 0 {
		p("\n**%d of careflow's entries matched an already stored resource (ifNoneExist, 200)**: the database was not fresh, "+
			"so careflow stored fewer resources than the raw phases.\n", r.careflow.existed)
	}
	if r.insertOne != nil || r.insertMany != nil {
		p("\n| careflow / raw | resources/s | p50 per Bundle |\n|---|--:|--:|\n")
		for _, row := range []struct {
			what string
			raw  *ingestPhase
		}{{"vs InsertOne", r.insertOne}, {"vs InsertMany", r.insertMany}} {
			if t, l, ok := ingestRatio(r.careflow, row.raw); ok {
				p("| %s | %.2f× | %.2f× |\n", row.what, t, l)
			} else if row.raw != nil {
				p("| %s | – | – |\n", row.what)
			}
		}
	}
	for _, ph := range []*ingestPhase{r.careflow, r.insertOne, r.insertMany} {
		if ph != nil && len(ph.Samples) > 0 {
			p("\n%s errors, e.g.: `%s`\n", ph.Name, strings.Join(ph.Samples, "`; `"))
		}
	}
}
