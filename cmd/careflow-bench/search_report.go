package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
)

// searchReport is everything the search benchmark measured, printed as Markdown.
type searchReport struct {
	cfg     searchConfig
	started time.Time
	load    *loadStats
	params  *searchParams
	cases   []*caseResult
	failed  error // the error that ended the run early, if any
}

// write prints the report.
func (r *searchReport) write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	c := r.cfg
	writeDataSet(out, "careflow-bench search", c, r.load, r.started)
	if r.params == nil {
		return
	}
	x := r.params.patient
	p("- X = Patient/%s (patient %d: family %q, %d appointments of which %d booked from %s, %d allergies of which %d active); name = %q\n",
		x.id, x.index, x.family, x.appointments, x.bookedFrom, c.today.Format(time.DateOnly), x.allergies, x.activeAllergies, r.params.name)
	p("- timing: per query %d warm-up + %d timed rounds of one careflow request (HTTP GET, body read in full) and one raw run "+
		"(the equivalent find(s) with the MongoDB driver, documents decoded as careflow decodes them), one request at a time\n",
		c.warmup, c.requests)
	p("\n| query | results | n | careflow p50 / p90 / p99 ms | raw find p50 / p90 / p99 ms | careflow / raw p50 | raw find + count p50 / p99 ms | careflow / (raw + count) p50 | server CPU/req | DB CPU/req careflow / raw |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, cr := range r.cases {
		p("| %d. %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", cr.number, cr.sc.name, cr.results(), cr.cf.OK,
			quantiles(cr.cf), quantiles(cr.raw), ratio(cr.cf, cr.raw), cr.countCell(), cr.countRatio(),
			perReq(cr.serverCPU, cr.cf.OK), dbCell(cr))
	}
	p("\nn: timed requests per side (--requests %d", c.requests)
	if c.maxQueryTime > 0 {
		p(", fewer where --max-query-time %s ran out", c.maxQueryTime)
	}
	p("); quantiles are nearest-rank, so with 50 requests or fewer p99 is the slowest. \"results\": matches on the page " +
		"(+ included resources) of Bundle.total. careflow computes the total (a second query) on a first page, so \"raw find + count\" " +
		"adds the same count to the raw side. CPU: the server process during careflow requests (--server-pid); the database " +
		"processes and their children (--db-pids) during each side, which on a shared database includes other clients' work; " +
		"/proc resolution is 10 ms per sample.\n")
	if r.failed != nil {
		p("\n**The run stopped early**: %v\n", r.failed)
	}
	for _, cr := range r.cases {
		if cr.mismatch != "" {
			p("\n**Query %d: careflow and the raw finds disagree**: %s\n", cr.number, cr.mismatch)
		}
	}
	p("\nThe queries, as timed (URLs relative to the FHIR base; raw finds in extended JSON, with careflow's projection):\n\n")
	for _, cr := range r.cases {
		u := strings.TrimPrefix(cr.url, strings.TrimRight(c.base, "/")+"/")
		p("%d. `GET %s`", cr.number, u)
		if cr.walkPages > 0 {
			p(" (reached by following next links from `%s`: %d pages fetched in %s, %s per page)", cr.sc.query, cr.walkPages,
				cr.walk.Round(time.Millisecond), (cr.walk / time.Duration(cr.walkPages)).Round(time.Millisecond))
		}
		p("\n")
		for _, t := range cr.sc.rawText {
			p("   - `%s`\n", t)
		}
	}
}

// summary is the search report's main numbers, for careflow-bench compare.
func (r *searchReport) summary() summary {
	var m metrics
	loadMetrics(&m, r.load)
	for _, cr := range r.cases {
		name := fmt.Sprintf("q%d %s", cr.number, cr.sc.name)
		m.latency(name, cr.cf)
	}
	return summary{Title: "careflow-bench search", Metrics: m}
}

// loadMetrics adds the load's numbers.
func loadMetrics(m *metrics, l *loadStats) {
	if l == nil || l.skipped || l.written == 0 {
		return
	}
	m.add("load through Store.Create", "resources/s", l.rate(), true)
	if l.disk != nil {
		m.add("on disk per resource version", "bytes", l.disk.perVersion(), false)
	}
}

// writeDataSet prints the report's title and what was loaded (shared by the search and workflows reports).
func writeDataSet(out io.Writer, title string, c searchConfig, l *loadStats, started time.Time) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	p("### %s, %s\n\n", title, started.UTC().Format("2006-01-02 15:04 MST"))
	p("- command: `%s`\n", c.command)
	var types []string
	for _, t := range definitions.ResourceTypes {
		if n := l.byType[t]; n > 0 {
			types = append(types, fmt.Sprintf("%s %d", t, n))
		}
	}
	p("- data: %d patients from fhir/synth (seed %d, today %s): %d resources (%s)\n", c.patients, c.seed,
		c.today.Format(time.DateOnly), l.resources, strings.Join(types, ", "))
	switch {
	case l.skipped:
		p("- load: reused database `%s`, which already held every resource (generating the data set to check it took %s)\n",
			c.db, l.genElapsed.Round(time.Millisecond))
	default:
		storePkg := l.store
		if storePkg == "" {
			storePkg = "storage/mongo"
		}
		p("- load: %d resources (%.1f MB of JSON) in %s = **%.0f resources/s**, %d writers, each resource validated, indexed "+
			"(registry.Index) and stored with %s `Store.Create`, as POST [type] stores it", l.written,
			float64(l.bodyBytes)/1e6, l.elapsed.Round(time.Millisecond), l.rate(), c.loadConcurrency, storePkg)
		if l.existing > 0 {
			p(" (%d were already there)", l.existing)
		}
		if l.cpu != nil && l.written > 0 {
			p("; CPU per resource: load generator %s", us(l.cpu.Total()/time.Duration(l.written)))
			if l.dbCPU != nil {
				p(", database %s", us(l.dbCPU.Total()/time.Duration(l.written)))
			}
		}
		if l.store == "storage/sqlite" {
			p(" (the SQLite store runs inside the load generator, so its CPU counts there); closing the store took %s",
				l.closeElapsed.Round(time.Millisecond))
		}
		p("\n")
	}
	if d := l.disk; d != nil {
		p("- on disk after the load: when the store had closed, data file %s + WAL %s; after `PRAGMA wal_checkpoint(TRUNCATE)` "+
			"data file %s + WAL %s (page size %d, %d free pages) for %d resource versions (%d resources) = **%.0f bytes per version** "+
			"(the JSON alone: %.0f bytes per resource)\n", mb(d.DBBefore), mb(d.WALBefore), mb(d.DB), mb(d.WAL), d.PageSize, d.FreePages,
			d.Versions, d.Resources, d.perVersion(), float64(l.bodyBytes)/float64(max(1, l.written)))
		if len(d.Tables) > 0 {
			var parts []string
			for _, t := range d.Tables {
				if t.Bytes*200 < d.DB { // under 0.5 %
					continue
				}
				parts = append(parts, fmt.Sprintf("%s %s (%.0f%%, %.0f B/version)", t.Name, mb(t.Bytes), 100*float64(t.Bytes)/float64(max(1, d.DB)),
					float64(t.Bytes)/float64(max(1, d.Versions))))
			}
			p("- space by table and index (dbstat, ≥ 0.5%%): %s\n", strings.Join(parts, ", "))
		}
	}
}

// mb formats bytes as MB.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func (cr *caseResult) results() string {
	s := fmt.Sprint(cr.matches)
	if cr.included > 0 || cr.sc.query != "" && strings.Contains(cr.sc.query, "_revinclude") {
		s += fmt.Sprintf(" + %d", cr.included)
	}
	if cr.total >= 0 {
		s += fmt.Sprintf(" of %d", cr.total)
	}
	return s
}

// quantiles formats p50 / p90 / p99 of r, "–" when it has no requests (no raw side).
func quantiles(r *result) string {
	if r == nil || r.OK == 0 {
		return "–"
	}
	return ms(r.Quantile(0.5)) + " / " + ms(r.Quantile(0.9)) + " / " + ms(r.Quantile(0.99))
}

func (cr *caseResult) countCell() string {
	if cr.rawCount.OK == 0 {
		return "–"
	}
	if cr.sc.count == nil {
		return "(no count)"
	}
	return ms(cr.rawCount.Quantile(0.5)) + " / " + ms(cr.rawCount.Quantile(0.99))
}

func (cr *caseResult) countRatio() string {
	if cr.sc.count == nil || cr.rawCount.OK == 0 {
		return "–"
	}
	return ratio(cr.cf, cr.rawCount)
}

func ratio(a, b *result) string {
	if b.OK == 0 || b.Quantile(0.5) <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a.Quantile(0.5))/float64(b.Quantile(0.5)))
}

func perReq(t *cpuTime, n int) string {
	if t == nil || n == 0 {
		return "–"
	}
	return us(t.Total() / time.Duration(n))
}

func dbCell(cr *caseResult) string {
	if cr.cfDBCPU == nil {
		return "–"
	}
	return perReq(cr.cfDBCPU, cr.cf.OK) + " / " + perReq(cr.rawDBCPU, cr.raw.OK)
}
