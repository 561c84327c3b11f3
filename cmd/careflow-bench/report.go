package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// report is everything the run measured, printed as Markdown.
type report struct {
	cfg     config
	started time.Time
	sizes   sizeStats
	shapes  []docShape // careflow's and the raw document, when known
	create  *result    // phase a
	read    *result    // phase b
	insert  *result    // phase c
	find    *result    // phase d
}

// sizeStats summarises the sizes of the generated Patient JSON.
type sizeStats struct{ n, min, max, sum int }

func (s *sizeStats) add(n int) {
	if s.n == 0 || n < s.min {
		s.min = n
	}
	s.max = max(s.max, n)
	s.sum += n
	s.n++
}

// docShape describes one stored document and its collection.
type docShape struct {
	What    string
	Fields  int // top-level fields
	Bytes   int // BSON size
	Indexes int // indexes of the collection, _id included
}

// The aims of the performance issue.
const (
	aimOverhead  = 0.25 // careflow at most 25% slower than the raw database (throughput and p50)
	aimCPUCreate = 250 * time.Microsecond
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

// cpuCell formats a CPU time per request as "total (user + system)".
func cpuCell(t cpuTime, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%s (%d + %d)", us(t.Total()), t.User.Microseconds(), t.System.Microseconds())
}

func yesNo(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// write prints the report.
func (r *report) write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	c := r.cfg
	p("### careflow-bench, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("- target: `%s`, concurrency %d, seed %d; creates: %s per phase, reads: %s per phase\n",
		c.base, c.concurrency, c.seed, c.createBudget(), c.readBudget())
	if r.sizes.n > 0 {
		p("- Patient JSON: %d resources, %d–%d bytes, mean %d\n", r.sizes.n, r.sizes.min, r.sizes.max, r.sizes.sum/r.sizes.n)
	}
	for _, s := range r.shapes {
		p("- %s: %d top-level fields, %d bytes BSON, collection has %d indexes\n", s.What, s.Fields, s.Bytes, s.Indexes)
	}
	p("\n| phase | ok | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | CPU/req¹ (user + sys µs) | DB CPU/req² |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range []*result{r.create, r.read, r.insert, r.find} {
		if res == nil {
			continue
		}
		p("| %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %s |\n", res.Name, res.OK, res.Errors, res.RPS(),
			ms(res.Quantile(0.50)), ms(res.Quantile(0.90)), ms(res.Quantile(0.99)), ms(res.Quantile(1)),
			cpuCell(res.CPUPerRequest()), cpuCell(res.DBCPUPerRequest()))
	}
	p("\n¹ CPU time per request of the careflow server process for the careflow phases (with --server-pid); of\n" +
		"the load generator itself for the raw phases, i.e. what a Go program spends in the driver for the same\n" +
		"database operation. ² CPU time per request of the database processes (--db-pids and their descendants).\n" +
		"CPU times have a resolution of 10 ms per phase.\n")
	if r.insert != nil && r.find != nil {
		p("\n| careflow / raw | throughput | p50 latency | overhead (throughput, p50) | aim ≤ %.0f%% |\n", aimOverhead*100)
		p("|---|--:|--:|--:|---|\n")
		r.ratioRow(out, "create", r.create, r.insert)
		r.ratioRow(out, "read", r.read, r.find)
	}
	if cpu, ok := r.create.CPUPerRequest(); ok {
		p("\nServer CPU per Patient create: %s (aim ≤ %s): %s.\n", us(cpu.Total()), us(aimCPUCreate), yesNo(cpu.Total() <= aimCPUCreate))
	}
	for _, res := range []*result{r.create, r.read, r.insert, r.find} {
		if res != nil && len(res.Samples) > 0 {
			p("\n%s errors, e.g.: `%s`\n", res.Name, strings.Join(res.Samples, "`; `"))
		}
	}
}

// ratioRow prints careflow/raw for one interaction. Overhead is how much more time careflow needs per
// request: raw/careflow − 1 for throughput, careflow/raw − 1 for the median latency.
func (r *report) ratioRow(out io.Writer, what string, cf, raw *result) {
	if cf.RPS() == 0 || raw.RPS() == 0 || raw.Quantile(0.5) == 0 {
		fmt.Fprintf(out, "| %s | – | – | – | – |\n", what)
		return
	}
	tput := cf.RPS() / raw.RPS()
	lat := float64(cf.Quantile(0.5)) / float64(raw.Quantile(0.5))
	oT, oL := 1/tput-1, lat-1
	fmt.Fprintf(out, "| %s | %.2f× | %.2f× | %+.0f%%, %+.0f%% | %s |\n", what, tput, lat, oT*100, oL*100,
		yesNo(oT <= aimOverhead && oL <= aimOverhead))
}
