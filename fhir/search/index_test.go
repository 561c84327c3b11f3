package search_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

func TestDateRange(t *testing.T) {
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t.UTC() }
	cases := []struct{ in, lo, hi string }{
		{"1980", "1980-01-01T00:00:00Z", "1981-01-01T00:00:00Z"},
		{"1980-02", "1980-02-01T00:00:00Z", "1980-03-01T00:00:00Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"1980-05-02T10:00:00+02:00", "1980-05-02T08:00:00Z", "1980-05-02T08:00:01Z"},
		{"1980-05-02T10:00:00.5Z", "1980-05-02T10:00:00.5Z", "1980-05-02T10:00:00.6Z"},
		{"1980-05-02T10:00Z", "1980-05-02T10:00:00Z", "1980-05-02T10:01:00Z"},
	}
	for _, c := range cases {
		lo, hi, ok := search.DateRange(c.in)
		if !ok || !lo.Equal(utc(c.lo)) || !hi.Equal(utc(c.hi)) {
			t.Errorf("DateRange(%s) = %v %v %v", c.in, lo, hi, ok)
		}
	}
	for _, bad := range []string{"", "yesterday", "1980-13", "2023-02-29"} {
		if _, _, ok := search.DateRange(bad); ok {
			t.Errorf("DateRange(%q) accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Zoë  Öberg": "zoe oberg", " Smith ": "smith", "ÅNGSTRÖM": "angstrom", "Muñoz": "munoz"} {
		if got := search.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexOfficialExamples(t *testing.T) {
	r := r4test.Load(t).Registry
	files, _ := filepath.Glob("../../testdata/examples/r4/*.json")
	if len(files) < 50 {
		t.Fatalf("%d examples", len(files))
	}
	indexes := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var res map[string]any
		if err := dec.Decode(&res); err != nil {
			t.Fatal(err)
		}
		idx, err := r.Index(res["resourceType"].(string), res)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		indexes[filepath.Base(f)] = idx
	}
	p := indexes["Patient-example.json"]
	checks := []struct {
		file, field, want string
	}{
		{"Patient-example.json", "s_family", "[chalmers windsor]"},
		{"Patient-example.json", "s_gender", "[n:male]"},
		{"Patient-example.json", "s_birthdate_lo", "1974-12-25 00:00:00 +0000 UTC"},
		{"Patient-example.json", "s_birthdate_sort", "1974-12-25T00:00:00.000Z"},
		{"Patient-example.json", "s_identifier", "[c:12345 s:urn:oid:1.2.36.146.595.217.0.1|12345 t:http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345]"},
		{"Patient-example.json", "s_organization", "[Organization/1]"},
		{"AllergyIntolerance-example.json", "s_patient", "[Patient/example]"},
		{"AllergyIntolerance-example.json", "s_clinical_status", "[c:active s:http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|active]"},
		{"Appointment-example.json", "s_date_lo", "2013-12-10 09:00:00 +0000 UTC"},
		{"Appointment-example.json", "s_actor", "[Location/1 Patient/example Practitioner/example]"},
	}
	_ = p
	for _, c := range checks {
		if got := fmt.Sprint(indexes[c.file][c.field]); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.file, c.field, got, c.want)
		}
	}
}

func TestIndexTimingBounds(t *testing.T) {
	r := r4test.Load(t).Registry
	cp := map[string]any{"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": map[string]any{"reference": "Patient/p"},
		"activity": []any{map[string]any{"detail": map[string]any{"status": "scheduled",
			"scheduledTiming": map[string]any{"repeat": map[string]any{"boundsPeriod": map[string]any{"start": "2026-12-01", "end": "2026-12-31"}}}}}}}
	idx, err := r.Index("CarePlan", cp)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(idx["s_activity_date_lo"], " ", idx["s_activity_date_hi"]); got != "2026-12-01 00:00:00 +0000 UTC 2027-01-01 00:00:00 +0000 UTC" {
		t.Errorf("activity-date from boundsPeriod: %s", got)
	}
}

func TestCodingOfKey(t *testing.T) {
	r := r4test.Load(t).Registry
	codings := []map[string]any{{"system": "http://x", "code": "a"}, {"code": "b"}, {"system": "urn:oid:1.2", "code": "c|d"}, {"system": "http://only"}}
	tags := make([]any, len(codings))
	for i, c := range codings {
		tags[i] = c
	}
	index, err := r.Index("Patient", map[string]any{"resourceType": "Patient", "meta": map[string]any{"tag": tags}})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := index[tagField(t, r)].(search.TokenKeys)
	got := map[string]bool{}
	for _, key := range keys {
		if sys, code, ok := search.CodingOfKey(key); ok {
			got[sys+" "+code] = true
		}
	}
	want := map[string]bool{"http://x a": true, " b": true, "urn:oid:1.2 c|d": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("codings of %q = %v, want %v", keys, got, want)
	}
}

func tagField(t *testing.T, r *search.Registry) string {
	t.Helper()
	p, ok := r.Lookup("Patient", "_tag")
	if !ok {
		t.Fatal("no _tag parameter")
	}
	return p.Field
}

// TestTokenKeysWithoutSystem: a code without a system is indexed once ("n:code"), and every token search
// matches what it matched when such a code also had the key "c:code" — so values indexed either way (stores
// written before keep both keys) answer alike.
func TestTokenKeysWithoutSystem(t *testing.T) {
	r := r4test.Load(t).Registry
	index := func(codings ...map[string]any) []string {
		var cs []any
		for _, c := range codings {
			cs = append(cs, c)
		}
		idx, err := r.Index("AllergyIntolerance", map[string]any{"resourceType": "AllergyIntolerance", "patient": map[string]any{"reference": "Patient/p"},
			"code": map[string]any{"coding": cs}})
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := idx["s_code"].(search.TokenKeys)
		return keys
	}
	withSys, noSys := index(map[string]any{"system": "urn:s", "code": "a"}), index(map[string]any{"code": "b"})
	if got := fmt.Sprint(noSys); got != "[n:b]" {
		t.Errorf("keys of a code without a system: %s, want [n:b]", got)
	}
	if got := fmt.Sprint(withSys); got != "[c:a s:urn:s|a]" {
		t.Errorf("keys of a code with a system: %s, want [c:a s:urn:s|a]", got)
	}
	oldNoSys := []string{"c:b", "n:b"} // as indexed before
	matches := func(keys []string, raw string) bool {
		sys, code, has := strings.Cut(raw, "|")
		v := search.Value{Raw: raw, Code: raw}
		if has {
			v = search.Value{Raw: raw, System: sys, Code: code, HasSystem: true}
		}
		m := search.TokenMatches([]search.Value{v})
		for _, k := range keys {
			if slices.Contains(m.Keys, k) || slices.ContainsFunc(m.Prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		keys   []string
		search string
		want   bool
	}{
		{withSys, "a", true}, {withSys, "urn:s|a", true}, {withSys, "urn:s|", true}, {withSys, "|a", false}, {withSys, "b", false},
		{noSys, "b", true}, {noSys, "|b", true}, {noSys, "urn:s|b", false}, {noSys, "a", false},
		{oldNoSys, "b", true}, {oldNoSys, "|b", true}, {oldNoSys, "urn:s|b", false},
	} {
		if got := matches(c.keys, c.search); got != c.want {
			t.Errorf("%v matched by %q: %v, want %v", c.keys, c.search, got, c.want)
		}
	}
}

// TestSharedFields: parameters of a type that select the same elements share one index field, stored
// once (Patient phonetic as name), and on every official example of their type they do select the same
// elements as the parameter whose field they use.
func TestSharedFields(t *testing.T) {
	r := r4test.Load(t).Registry
	var shared []string
	owners := map[string]map[string]*search.Param{} // type → field → the parameter named after it
	for _, typ := range definitions.ResourceTypes {
		owners[typ] = map[string]*search.Param{}
		for _, p := range r.Params(typ) {
			if p.Field == "s_"+strings.NewReplacer("-", "_", ".", "_").Replace(p.Code) {
				owners[typ][p.Field] = p
			}
		}
		for _, p := range r.Params(typ) {
			if o := owners[typ][p.Field]; o != p {
				if o == nil || o.Type != p.Type {
					t.Fatalf("%s.%s: field %s has no parameter of type %s named after it", typ, p.Code, p.Field, p.Type)
				}
				shared = append(shared, typ+"."+p.Code+"="+o.Code)
			}
		}
	}
	slices.Sort(shared)
	want := []string{"CapabilityStatement.version=fhirversion", "CodeSystem.url=system", "Coverage.patient=beneficiary",
		"EnrollmentRequest.subject=patient", "Linkage.source=item", "Patient.phonetic=name", "Person.phonetic=name",
		"Practitioner.phonetic=name", "RelatedPerson.phonetic=name", "ResearchSubject.patient=individual"}
	if !slices.Equal(shared, want) {
		t.Errorf("shared fields:\n%v\nwant\n%v", shared, want)
	}
	files, _ := filepath.Glob("../../testdata/examples/r4/*.json")
	checked := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var res map[string]any
		if err := dec.Decode(&res); err != nil {
			t.Fatal(err)
		}
		typ, _ := res["resourceType"].(string)
		for _, p := range r.Params(typ) {
			o := owners[typ][p.Field]
			if o == p || o == nil {
				continue
			}
			a, err := p.Expression.Evaluate(r.Model(), res)
			if err != nil {
				t.Fatal(err)
			}
			b, err := o.Expression.Evaluate(r.Model(), res)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s: %s selects %v, %s (same field) %v", filepath.Base(f), p.Code, a, o.Code, b)
			}
			checked[typ+"."+p.Code] += len(a)
		}
		if typ == "Patient" {
			idx, err := r.Index(typ, res)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := idx["s_phonetic"]; ok {
				t.Errorf("%s: phonetic indexed on its own field", filepath.Base(f))
			}
			if _, ok := idx["s_name"]; !ok && res["name"] != nil {
				t.Errorf("%s: name not indexed", filepath.Base(f))
			}
		}
	}
	for _, k := range []string{"Patient.phonetic", "Practitioner.phonetic", "Coverage.patient"} {
		if checked[k] == 0 {
			t.Errorf("no official example has a value of %s", k)
		}
	}
}
