package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMostFrequent covers ties (smallest value wins), empty values and no values.
func TestMostFrequent(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
		n    int
	}{
		{[]string{"b", "a", "b", "a", "c", ""}, "a", 2},
		{[]string{"", "x", "", "x", ""}, "x", 2},
		{[]string{"", ""}, "", 0},
		{nil, "", 0},
	} {
		if got, n := mostFrequent(c.in); got != c.want || n != c.n {
			t.Errorf("mostFrequent(%q) = %q, %d; want %q, %d", c.in, got, n, c.want, c.n)
		}
	}
}

// TestWorkflowCases checks that the parameters come from the worklist and the data set, the URLs use the
// reference day, and the $summary patients are the same for the same seed.
func TestWorkflowCases(t *testing.T) {
	c := searchConfig{seed: 3, today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), warmup: 1, requests: 4}
	facts := []patientFacts{{index: 0, id: "p0", family: "Lee"}, {index: 1, id: "p1", family: "Kim"}, {index: 2, id: "p2", family: "Ng"}}
	body := []byte(`{"resourceType":"Bundle","entry":[
		{"resource":{"for":{"reference":"Patient/p2"},"owner":{"reference":"https://directory.example.org/fhir/Practitioner/1"}}},
		{"resource":{"for":{"reference":"Patient/p1"},"owner":{"reference":"Practitioner/dr 2"}}},
		{"resource":{"for":{"reference":"Patient/p2"},"owner":{"reference":"Practitioner/dr 2"}}},
		{"resource":{"for":{"reference":"Patient/p1"}}}]}`)
	p, err := chooseWorkflowParams(c, body, facts)
	if err != nil {
		t.Fatal(err)
	}
	if p.dayTasks != 4 || p.owner != "Practitioner/dr 2" || p.ownerTasks != 2 || p.patient != "p1" || p.patTasks != 2 {
		t.Fatalf("%+v", p)
	}
	cases := workflowCases(c, p, facts)
	var urls []string
	for _, wc := range cases {
		urls = append(urls, wc.url(0))
	}
	if !slices.Equal(urls[:3], []string{"$worklist?date=2026-11-25", "$worklist?date=2026-11-25&owner=Practitioner%2Fdr+2", "$worklist?date=2026-11-25&patient=p1"}) {
		t.Fatalf("urls %q", urls)
	}
	summaries := func(cases []*workflowCase) []string {
		var out []string
		for i := range c.warmup + c.requests {
			u := cases[3].url(i)
			if !strings.HasPrefix(u, "Patient/p") || !strings.Contains(u, "/$summary?date=") {
				t.Fatalf("summary url %q", u)
			}
			out = append(out, u)
		}
		return out
	}
	first := summaries(cases)
	if again := summaries(workflowCases(c, p, facts)); !slices.Equal(first, again) {
		t.Fatalf("summary patients differ between runs: %q, %q", first, again)
	}

	// An empty worklist: no owner case, and P is the search benchmark's X (from the middle of the data set on).
	p, err = chooseWorkflowParams(c, []byte(`{"resourceType":"Bundle"}`), facts)
	if err != nil || p.owner != "" || p.patient != "p1" || !strings.Contains(p.patientFrom, "X") || len(workflowCases(c, p, facts)) != 3 {
		t.Fatalf("%+v, %v", p, err)
	}
}

// TestWorkflowReport prints a report from made-up measurements: every column and note.
func TestWorkflowReport(t *testing.T) {
	lat := func(ms ...int) *result {
		r := &result{}
		for _, m := range ms {
			r.Lat = append(r.Lat, time.Duration(m)*time.Millisecond)
		}
		r.OK = len(r.Lat)
		slices.Sort(r.Lat)
		return r
	}
	if got := entriesCell([]int{3, 3}); got != "3" {
		t.Fatalf("entries %q", got)
	}
	if got := entriesCell([]int{2, 5, 5}); got != "2–5 (mean 4.0)" {
		t.Fatalf("entries %q", got)
	}
	cpu := &cpuTime{User: 30 * time.Millisecond}
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	rep := &workflowReport{
		cfg:     searchConfig{patients: 10, seed: 1, today: day, requests: 3, warmup: 1, base: "http://h/fhir", command: "x"},
		started: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		load:    &loadStats{byType: map[string]int{"Patient": 10}, resources: 10, skipped: true},
		params:  &workflowParams{day: day, dayTasks: 7, owner: "Practitioner/1", ownerTasks: 3, patient: "p1", patTasks: 2, patientFrom: "most"},
		cases: []*workflowResult{
			{number: 1, wc: &workflowCase{name: "$worklist of the day", display: "GET $worklist?date=2026-11-25"}, lat: lat(30, 10, 20), entries: []int{7, 7, 7}, serverCPU: cpu, dbCPU: cpu},
			{number: 4, wc: &workflowCase{name: "$summary of a random patient", display: "GET Patient/{id}/$summary"}, lat: lat(5, 6, 7), entries: []int{4, 6, 8}},
		},
	}
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{
		"### careflow-bench workflows", "reused database", "reference day D = 2026-11-25", "owner O = `Practitioner/1` (the owner of the most Tasks on D's worklist: 3)",
		"| 1. $worklist of the day | 3 | 7 | 20.00 | 30.00 | 30.00 | 10000 µs | 10000 µs |",
		"| 4. $summary of a random patient | 3 | 4–8 (mean 6.0) | 6.00 | 7.00 | 7.00 | – | – |",
		"1. `GET $worklist?date=2026-11-25`",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
