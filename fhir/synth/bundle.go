package synth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
)

// Bundle is one generated patient: a FHIR R4 transaction Bundle and what it exercises.
type Bundle struct {
	// Index is the patient's 0-based number in the data set.
	Index int
	// File is the bundle's file name, patient-001.json, ….
	File string
	// MRN is the Patient identifier value (system SystemMRN).
	MRN string
	// Name is the patient's display name.
	Name string
	// Scenario is the story the patient was built from.
	Scenario string
	// Situations are the coordination situations found in the bundle.
	Situations []Situation
	// Counts gives the number of entries per resource type.
	Counts map[string]int
	// Entries is the number of bundle entries.
	Entries int
	// JSON is the Bundle, indented by two spaces, ending in a newline.
	JSON []byte
	// expect lists the situation codes the scenario means to exercise (checked by the tests).
	expect []string
}

// FileName is the file name of patient idx in a set of n: patient-001.json (three digits at least).
func FileName(idx, n int) string {
	width := max(3, len(strconv.Itoa(n)))
	return fmt.Sprintf("patient-%0*d.json", width, idx+1)
}

// bundle renders the patient's records as a transaction Bundle.
func (g *gen) bundle(n int) *Bundle {
	b := &Bundle{Index: g.idx, File: FileName(g.idx, n), MRN: g.p.mrn, Name: g.p.displayName(), Scenario: g.sc.name,
		Counts: map[string]int{}, expect: g.sc.expect}
	var entries []any
	add := func(uuid, typ string, res obj, ident string) {
		b.Counts[typ]++
		entries = append(entries, obj{
			{"fullUrl", "urn:uuid:" + uuid},
			{"resource", res},
			{"request", obj{{"method", "POST"}, {"url", typ}, {"ifNoneExist", "identifier=" + ident}}},
		})
	}
	add(g.p.uuid, "Patient", g.renderPatient(), SystemMRN+"|"+g.p.mrn)
	for _, c := range g.covs {
		add(c.uuid, "Coverage", g.renderCoverage(c), SystemRecord+"|"+c.rid)
	}
	for _, a := range g.alls {
		add(a.uuid, "AllergyIntolerance", g.renderAllergy(a), SystemRecord+"|"+a.rid)
	}
	for _, m := range g.meds {
		add(m.uuid, "MedicationStatement", g.renderMed(m), SystemRecord+"|"+m.rid)
	}
	for _, p := range g.plans {
		add(p.uuid, "CarePlan", g.renderPlan(p), SystemRecord+"|"+p.rid)
	}
	for _, a := range g.appts {
		add(a.uuid, "Appointment", g.renderAppt(a), SystemRecord+"|"+a.rid)
	}
	for _, e := range g.hist {
		add(e.uuid, e.typ, e.res, e.ident)
	}
	b.Entries = len(entries)
	bundle := obj{
		{"resourceType", "Bundle"},
		{"meta", obj{{"tag", []any{obj{{"system", "https://careflow.example.org/fhir/CodeSystem/synth"}, {"code", g.p.mrn}, {"display", "careflow synth: " + g.sc.name}}}}}},
		{"type", "transaction"},
		{"entry", entries},
	}
	b.JSON = append(marshal(bundle), '\n')
	b.Situations = g.detect()
	return b
}

// SituationCodes returns the distinct situation codes of the bundle, in Situations order.
func (b *Bundle) SituationCodes() []string {
	seen := map[string]bool{}
	for _, s := range b.Situations {
		seen[s.Code] = true
	}
	var out []string
	for _, info := range Situations {
		if seen[info.Code] {
			out = append(out, info.Code)
		}
	}
	return out
}

// Manifest describes a generated set: the options, the situation legend and, per bundle, the patient, the
// resource counts and the situations it exercises.
func Manifest(o Options, bundles []*Bundle) []byte {
	var items []any
	for _, b := range bundles {
		counts := obj{}
		types := make([]string, 0, len(b.Counts))
		for t := range b.Counts {
			types = append(types, t)
		}
		sort.Slice(types, func(i, j int) bool {
			if a, b := typeOrder(types[i]), typeOrder(types[j]); a != b {
				return a < b
			}
			return types[i] < types[j]
		})
		for _, t := range types {
			counts.set(t, b.Counts[t])
		}
		var sits []any
		for _, s := range b.Situations {
			var refs []any
			for _, r := range s.Resources {
				refs = append(refs, obj{{"type", r.Type}, {"fullUrl", r.FullURL}, {"identifier", r.Identifier}})
			}
			sits = append(sits, obj{{"code", s.Code}, {"detail", s.Detail}, {"resources", refs}})
		}
		item := obj{
			{"file", b.File},
			{"patient", obj{{"identifier", SystemMRN + "|" + b.MRN}, {"name", b.Name}}},
			{"scenario", b.Scenario},
			{"entries", b.Entries},
			{"resources", counts},
		}
		codes := b.SituationCodes()
		if codes == nil {
			codes = []string{}
		}
		item = append(item, member{"situationCodes", anySlice(codes)})
		item = append(item, member{"situations", nonNil(sits)})
		items = append(items, item)
	}
	var legend []any
	for _, s := range Situations {
		n := 0
		for _, b := range bundles {
			for _, c := range b.SituationCodes() {
				if c == s.Code {
					n++
				}
			}
		}
		item := obj{{"code", s.Code}, {"patients", n}, {"description", s.Description}}
		if s.History {
			item.set("history", true)
		}
		legend = append(legend, item)
	}
	m := obj{
		{"generator", "careflow synth (fhir/synth)"},
		{"seed", strconv.FormatUint(o.Seed, 10)},
		{"patients", len(bundles)},
		{"today", date(o.Today)},
		{"history", o.History},
		{"regenerate", fmt.Sprintf("go run ./cmd/careflow generate --seed %d --patients %d --today %s%s --out <dir>", o.Seed, len(bundles), date(o.Today), map[bool]string{true: " --history"}[o.History])},
		{"situations", legend},
		{"bundles", nonNil(items)},
	}
	return append(marshal(m), '\n')
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func nonNil(v []any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func typeOrder(t string) int {
	for i, x := range []string{"Patient", "Coverage", "AllergyIntolerance", "MedicationStatement", "CarePlan", "Appointment"} {
		if x == t {
			return i
		}
	}
	return 99
}

// bundleFile matches the names of generated bundle files.
var bundleFile = regexp.MustCompile(`^patient-\d{3,}\.json$`)

// WriteDir writes the bundles and manifest.json into dir (created if missing) and removes the
// patient-NNN.json files of an earlier, larger set. Files are only rewritten when their content changed.
func WriteDir(dir string, o Options, bundles []*Bundle) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := map[string]bool{"manifest.json": true}
	write := func(name string, data []byte) error {
		keep[name] = true
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			return nil
		}
		return os.WriteFile(path, data, 0o644)
	}
	for _, b := range bundles {
		if err := write(b.File, b.JSON); err != nil {
			return err
		}
	}
	if err := write("manifest.json", Manifest(o, bundles)); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() && bundleFile.MatchString(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExpectedSituations returns the situation codes the bundle's scenario is built to exercise, in Situations
// order.
func ExpectedSituations(b *Bundle) []string {
	var out []string
	for _, info := range Situations {
		if slices.Contains(b.expect, info.Code) {
			out = append(out, info.Code)
		}
	}
	return out
}
