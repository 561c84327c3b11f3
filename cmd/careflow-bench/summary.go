package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// The subcommands write their main numbers to a small JSON file (--summary) so that a script that runs the
// same benchmark on several stores can print them side by side: careflow-bench compare.

// metric is one number of a run.
type metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	// Higher says whether a higher value is better (throughput) rather than worse (latency, CPU, bytes).
	Higher bool `json:"higher,omitempty"`
}

// summary is what --summary writes.
type summary struct {
	Title   string   `json:"title"`
	Metrics []metric `json:"metrics"`
}

// metrics collects a run's numbers.
type metrics []metric

func (m *metrics) add(name, unit string, v float64, higher bool) {
	*m = append(*m, metric{Name: name, Unit: unit, Value: v, Higher: higher})
}

// msOf is a duration in milliseconds.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latency adds the p50 and p99 of r (when it has requests).
func (m *metrics) latency(prefix string, r *result) {
	if r == nil || r.OK == 0 {
		return
	}
	m.add(prefix+" p50", "ms", msOf(r.Quantile(0.5)), false)
	m.add(prefix+" p99", "ms", msOf(r.Quantile(0.99)), false)
}

// cpu adds a CPU time per unit (when measured).
func (m *metrics) cpu(name string, t *cpuTime, n int) {
	if t == nil || n <= 0 {
		return
	}
	m.add(name, "µs", float64(t.Total().Microseconds())/float64(n), false)
}

// writeSummary writes s to path (nothing when path is empty); a failure is logged, not fatal: the
// Markdown report is the result.
func writeSummary(path string, s summary) {
	if path == "" {
		return
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		progress("could not write the summary %s: %v", path, err)
	}
}

// compareMain runs "careflow-bench compare LABEL=FILE …": a Markdown table of the summaries' metrics, one
// column per file, and the ratio of the first to each other.
func compareMain(args []string) int {
	fs := flag.NewFlagSet("careflow-bench compare", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: careflow-bench compare LABEL=FILE LABEL=FILE …\n\n"+
			"Prints the --summary files of runs of the same benchmark side by side as a Markdown table, with the ratio\n"+
			"of the first run to each other one (the scripts run it to compare stores).\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return 2
	}
	var labels []string
	var sums []summary
	for _, a := range fs.Args() {
		label, path, ok := strings.Cut(a, "=")
		if !ok || label == "" || path == "" {
			fmt.Fprintf(os.Stderr, "careflow-bench compare: %q: want LABEL=FILE\n", a)
			return 2
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "careflow-bench compare:", err)
			return 1
		}
		var s summary
		if err := json.Unmarshal(data, &s); err != nil {
			fmt.Fprintf(os.Stderr, "careflow-bench compare: %s: %v\n", path, err)
			return 1
		}
		labels, sums = append(labels, label), append(sums, s)
	}
	writeComparison(os.Stdout, labels, sums)
	return 0
}

// writeComparison prints the table: the metrics of the first summary in its order, then those only the
// others have.
func writeComparison(out io.Writer, labels []string, sums []summary) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	type key struct{ name, unit string }
	var order []key
	seen := map[key]bool{}
	values := make([]map[key]float64, len(sums))
	higher := map[key]bool{}
	for i, s := range sums {
		values[i] = map[key]float64{}
		for _, m := range s.Metrics {
			k := key{m.Name, m.Unit}
			values[i][k] = m.Value
			higher[k] = m.Higher
			if !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	p("| metric |")
	for _, l := range labels {
		p(" %s |", l)
	}
	for _, l := range labels[1:] {
		p(" %s / %s |", labels[0], l)
	}
	p("\n|---|")
	p("%s\n", strings.Repeat("--:|", 2*len(labels)-1))
	for _, k := range order {
		p("| %s (%s) |", k.name, k.unit)
		for i := range sums {
			if v, ok := values[i][k]; ok {
				p(" %s |", number(v))
			} else {
				p(" – |")
			}
		}
		a, aok := values[0][k]
		for i := 1; i < len(sums); i++ {
			b, bok := values[i][k]
			if !aok || !bok || b == 0 {
				p(" – |")
				continue
			}
			r := a / b
			better := r > 1 == higher[k]
			mark := ""
			if r != 1 && better {
				mark = " (better)"
			}
			if r < 0.1 {
				p(" %.3f×%s |", r, mark)
			} else {
				p(" %.2f×%s |", r, mark)
			}
		}
		p("\n")
	}
	p("\nRatios are %s over each other run; \"(better)\" marks where %s does better (higher throughput, lower latency, CPU or bytes).\n",
		labels[0], labels[0])
}

// number formats a value with a precision that suits its size.
func number(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
