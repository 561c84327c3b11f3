package synth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/synth"
)

// The checked-in set (testdata/bundles), with the clinical history.
var checkedIn = synth.Options{Seed: 1, Patients: 20, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), History: true}

// coordinationOnly is the checked-in set's seed, size and date without the history.
var coordinationOnly = synth.Options{Seed: 1, Patients: 20, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// seeds are the data sets every test checks: the checked-in one and others, some with more patients than
// scenarios (the scenarios cycle) and with other reference dates (across daylight saving time and a leap day).
var seeds = []synth.Options{
	coordinationOnly,
	{Seed: 2, Patients: 20, Today: day("2026-11-25")},
	{Seed: 3, Patients: 45, Today: day("2027-03-14")},
	{Seed: 42, Patients: 25, Today: day("2028-02-29")},
	{Seed: 987654321, Patients: 20, Today: day("2026-07-01")},
	{Seed: 18446744073709551615, Patients: 21, Today: day("2030-01-01")},
}

type entry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method, URL, IfNoneExist string
	} `json:"request"`
}

func entries(t *testing.T, data []byte) []entry {
	t.Helper()
	var b struct {
		ResourceType, Type string
		Entry              []entry
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction" {
		t.Fatalf("not a transaction Bundle: %s %s", b.ResourceType, b.Type)
	}
	return b.Entry
}

// references collects every Reference.reference string in a JSON tree.
func references(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "reference" {
				*out = append(*out, s)
				continue
			}
			references(x, out)
		}
	case []any:
		for _, x := range v {
			references(x, out)
		}
	}
}

// TestEveryResourceValidates: every bundle is a valid Bundle, every entry a valid resource of its type, every
// urn:uuid reference resolves inside the bundle, and every entry is a conditional create on its identifier.
func TestEveryResourceValidates(t *testing.T) {
	v := r4test.Validator(t)
	all := append([]synth.Options{}, seeds...)
	for _, o := range seeds[:3] { // with the clinical history: ~5 times the entries, so three of the sets
		o.History = true
		all = append(all, o)
	}
	for _, o := range all {
		bundles, err := synth.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(bundles) != o.Patients {
			t.Fatalf("%d bundles, want %d", len(bundles), o.Patients)
		}
		mrns := map[string]bool{}
		for _, b := range bundles {
			if mrns[b.MRN] {
				t.Errorf("seed %d: MRN %s used twice", o.Seed, b.MRN)
			}
			mrns[b.MRN] = true
			if _, err := v.Validate("Bundle", b.JSON); err != nil {
				t.Errorf("seed %d %s: Bundle invalid: %v", o.Seed, b.File, err.Issues)
			}
			es := entries(t, b.JSON)
			fullURLs := map[string]bool{}
			for _, e := range es {
				if !strings.HasPrefix(e.FullURL, "urn:uuid:") || fullURLs[e.FullURL] {
					t.Errorf("%s: bad or duplicate fullUrl %q", b.File, e.FullURL)
				}
				fullURLs[e.FullURL] = true
			}
			if len(es) != b.Entries || es[0].Request.URL != "Patient" {
				t.Errorf("%s: %d entries (manifest %d), first %s", b.File, len(es), b.Entries, es[0].Request.URL)
			}
			for i, e := range es {
				var res map[string]any
				if err := json.Unmarshal(e.Resource, &res); err != nil {
					t.Fatal(err)
				}
				typ, _ := res["resourceType"].(string)
				if !slices.Contains(definitions.ResourceTypes, typ) {
					t.Errorf("%s entry %d: type %q is not served", b.File, i, typ)
				}
				if _, err := v.Validate(typ, e.Resource); err != nil {
					t.Errorf("seed %d %s entry %d (%s) invalid: %v", o.Seed, b.File, i, typ, err.Issues)
				}
				if _, hasID := res["id"]; hasID {
					t.Errorf("%s entry %d: POSTed resources carry no id", b.File, i)
				}
				if e.Request.Method != "POST" || e.Request.URL != typ {
					t.Errorf("%s entry %d: request %s %s", b.File, i, e.Request.Method, e.Request.URL)
				}
				// ifNoneExist searches on the resource's first identifier.
				ident := res["identifier"].([]any)[0].(map[string]any)
				if want := "identifier=" + ident["system"].(string) + "|" + ident["value"].(string); e.Request.IfNoneExist != want {
					t.Errorf("%s entry %d: ifNoneExist %q, want %q", b.File, i, e.Request.IfNoneExist, want)
				}
				var refs []string
				references(res, &refs)
				for _, r := range refs {
					switch {
					case strings.HasPrefix(r, "urn:uuid:"):
						if !fullURLs[r] {
							t.Errorf("%s entry %d: %s does not resolve in the bundle", b.File, i, r)
						}
					case strings.HasPrefix(r, "#"), strings.HasPrefix(r, "https://directory.example.org/fhir/Practitioner/"):
					default:
						t.Errorf("%s entry %d: unexpected reference %q", b.File, i, r)
					}
				}
			}
		}
	}
}

// TestSituations: each patient exercises exactly the situations its scenario means to, and a set with at
// least as many patients as scenarios exercises every situation.
func TestSituations(t *testing.T) {
	all := append([]synth.Options{}, seeds...)
	for seed := uint64(100); seed < 150; seed++ { // more seeds and dates, to catch rare coincidences
		all = append(all, synth.Options{Seed: seed, Patients: 20, Today: day("2026-01-01").AddDate(0, 0, int(seed*37%730))})
	}
	for _, o := range all {
		bundles, err := synth.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, b := range bundles {
			got := b.SituationCodes()
			want := synth.ExpectedSituations(b)
			if !slices.Equal(got, want) {
				t.Errorf("seed %d %s (%s): situations %v, want %v", o.Seed, b.File, b.Scenario, got, want)
			}
			for _, s := range b.Situations {
				if s.Detail == "" || len(s.Resources) == 0 {
					t.Errorf("%s: situation %s without detail or resources", b.File, s.Code)
				}
				for _, r := range s.Resources {
					if !bytes.Contains(b.JSON, []byte(`"`+r.FullURL+`"`)) {
						t.Errorf("%s: situation %s names %s, not in the bundle", b.File, s.Code, r.FullURL)
					}
				}
			}
			for _, c := range got {
				seen[c]++
			}
		}
		for _, info := range synth.Situations {
			if seen[info.Code] == 0 && !info.History {
				t.Errorf("seed %d: no patient exercises %s", o.Seed, info.Code)
			}
		}
	}
}

// TestDeterministic: the same options give the same bytes; patient i does not depend on how many patients
// are generated; another seed or reference date gives other data.
func TestDeterministic(t *testing.T) {
	a, err := synth.Generate(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := synth.Generate(checkedIn)
	for i := range a {
		if !bytes.Equal(a[i].JSON, b[i].JSON) {
			t.Fatalf("%s differs between two runs", a[i].File)
		}
	}
	if !bytes.Equal(synth.Manifest(checkedIn, a), synth.Manifest(checkedIn, b)) {
		t.Fatal("manifest differs between two runs")
	}
	more := checkedIn
	more.Patients = 1000
	for _, i := range []int{0, 7, 19} {
		p, err := synth.Patient(more, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.JSON, a[i].JSON) {
			t.Errorf("patient %d depends on the number of patients", i)
		}
		if want := fmt.Sprintf("patient-%04d.json", i+1); p.File != want {
			t.Errorf("file %s", p.File)
		}
	}
	other := checkedIn
	other.Seed = 2
	c, _ := synth.Generate(other)
	if bytes.Equal(c[0].JSON, a[0].JSON) {
		t.Error("seed 2 gives the same first patient as seed 1")
	}
	later := checkedIn
	later.Today = checkedIn.Today.AddDate(0, 0, 1)
	d, _ := synth.Generate(later)
	if bytes.Equal(d[0].JSON, a[0].JSON) {
		t.Error("the reference date does not change the data")
	}
	if _, err := synth.Generate(synth.Options{Seed: 1, Patients: 1}); err == nil {
		t.Error("a zero Today must be refused: the generator never reads the clock")
	}
}

// TestCheckedInBundles: testdata/bundles is exactly what the generator produces for seed 1, 20 patients,
// today 2026-11-25. Regenerate with:
//
//	go run ./cmd/careflow generate --seed 1 --patients 20 --today 2026-11-25 --history --out testdata/bundles
func TestCheckedInBundles(t *testing.T) {
	const dir = "../../testdata/bundles"
	bundles, err := synth.Generate(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"manifest.json": synth.Manifest(checkedIn, bundles)}
	for _, b := range bundles {
		want[b.File] = b.JSON
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v: regenerate with go run ./cmd/careflow generate --seed 1 --patients 20 --today 2026-11-25 --history --out testdata/bundles", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("testdata/bundles holds %v, want %v", names, wantNames)
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("testdata/bundles/%s is out of date: regenerate with go run ./cmd/careflow generate --seed 1 --patients 20 --today 2026-11-25 --history --out testdata/bundles", name)
		}
	}
}
