package validate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/fhir/validate"
)

// corpus are JSON documents to validate: every file of testdata/ (examples, invalid bodies, the entries
// of the checked-in bundles) and the entries of fhir/synth's bundles for 100 patients, each with the
// resource type it is posted as.
type doc struct {
	name, typ string
	data      []byte
}

func corpus(t *testing.T) []doc {
	t.Helper()
	var docs []doc
	typeOf := func(data []byte) string {
		var r struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(data, &r) != nil || r.ResourceType == "" {
			return "Patient"
		}
		return r.ResourceType
	}
	entries := func(name string, data []byte) {
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, e := range b.Entry {
			docs = append(docs, doc{fmt.Sprintf("%s#%d", name, i), typeOf(e.Resource), e.Resource})
		}
	}
	examplesOf := map[string]int{}
	for _, dir := range []string{"../../testdata/examples/r4", "../../testdata/invalid", "../../testdata/bundles"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v (%d files)", dir, err, len(files))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			typ := typeOf(data)
			switch {
			case strings.HasSuffix(dir, "bundles") && filepath.Base(f) != "manifest.json":
				entries(f, data)
			case strings.HasSuffix(dir, "r4") && !slices.Contains(definitions.Coordination, typ) && examplesOf[typ] > 0:
				// Beyond the coordination types, one official example per type: the patterns are those of
				// the data types every resource shares (all 759 examples would triple the test's time).
			case !strings.HasSuffix(dir, "bundles"):
				examplesOf[typ]++
				docs = append(docs, doc{f, typ, data})
			}
		}
	}
	bundles, err := synth.Generate(synth.Options{Seed: 1, Patients: 100, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bundles {
		entries(fmt.Sprintf("synth-%d", i), b.JSON)
	}
	return docs
}

// strings collects every string (values and property names) of a JSON document.
func jsonStrings(data []byte, out map[string]bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		if s, ok := tok.(string); ok {
			out[s] = true
		}
	}
}

// TestFastPatternsMatchRegexp: each fast matcher accepts exactly the strings its pattern matches with Go's
// regexp, on every string of the corpus and on generated strings around each pattern's edges: every
// string of up to two characters from an alphabet of digits, separators, spaces and non-ASCII, every
// one-character substitution, deletion and insertion of valid dates, times and instants, and seeded
// random strings.
func TestFastPatternsMatchRegexp(t *testing.T) {
	fast := validate.FastPatterns()
	for expr := range fast {
		if !bytes.Contains(definitions.Schema, mustJSON(t, expr)) {
			t.Errorf("pattern %s is not in the FHIR schema", expr)
		}
	}
	inputs := map[string]bool{}
	for _, d := range corpus(t) {
		jsonStrings(d.data, inputs)
	}
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "9", "-", "+", ":", ".", "T", "Z", "a", "A", " ", "\t", "\n", "\r", "\f", "\v", "\x00", "é", "\xff", "_", "/", "|"}
	inputs[""] = true
	for _, a := range alphabet {
		inputs[a] = true
		for _, b := range alphabet {
			inputs[a+b] = true
		}
	}
	seeds := []string{"2024", "2024-02", "2024-02-29", "0001-01-01", "9999-12-31", "1000", "0000", "2024-13-01", "2024-00-10",
		"2024-02-29T10:00:00Z", "2024-02-29T23:59:60.123+14:00", "2024-02-29T00:00:00-13:59", "2024-02-29T24:00:00Z",
		"2024-02-29T10:00:00.Z", "2024-02-29T10:00:00+14:01", "2024-02-29T10:00Z", "10:00:00", "23:59:60.5", "24:00:00",
		"a b", "a  b", " a", "a ", "abc", "ab-c.d", strings.Repeat("a", 64), strings.Repeat("a", 65), "x\fy", "urn:oid:1.2"}
	for _, s := range seeds {
		inputs[s] = true
		for i := 0; i <= len(s); i++ {
			for _, a := range alphabet {
				inputs[s[:i]+a+s[i:]] = true // insertion
				if i < len(s) {
					inputs[s[:i]+a+s[i+1:]] = true // substitution
				}
			}
			if i < len(s) {
				inputs[s[:i]+s[i+1:]] = true // deletion
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		s := seeds[rng.IntN(len(seeds))]
		b := []byte(s)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b) + 1)
			b = slices.Insert(b, i, []byte(alphabet[rng.IntN(len(alphabet))])...)
		}
		inputs[string(b)] = true
	}
	t.Logf("%d strings", len(inputs))
	for expr, match := range fast {
		re := regexp.MustCompile(expr)
		bad := 0
		for s := range inputs {
			if got, want := match(s), re.MatchString(s); got != want {
				if bad++; bad <= 10 {
					t.Errorf("pattern %s on %q: fast %v, regexp %v", expr, s, got, want)
				}
			}
		}
	}
}

func mustJSON(t *testing.T, s any) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestValidateSameVerdictsWithRegexp: the validator gives every document of the corpus — and a variant of
// each with every string value replaced by a value that breaks patterns — exactly the verdict (decoded tree
// or not, every issue) it gives with Go's regexp for every pattern.
func TestValidateSameVerdictsWithRegexp(t *testing.T) {
	model := r4test.Load(t).Model
	fast := r4test.Validator(t)
	slow, err := validate.NewWithRegexp(model)
	if err != nil {
		t.Fatal(err)
	}
	verdict := func(v *validate.Validator, d doc) string {
		tree, oerr := v.Validate(d.typ, d.data)
		if oerr != nil && len(oerr.Issues) == validate.MaxIssues {
			// Capped: the two meet the issues of a document with hundreds of them (the official
			// CapabilityStatement-base, broken) in a different order, so the first MaxIssues differ.
			return fmt.Sprintf("%d capped", oerr.Status)
		}
		if oerr != nil {
			return fmt.Sprintf("%d %+v", oerr.Status, oerr.Issues)
		}
		return fmt.Sprintf("ok %d", len(tree))
	}
	docs := corpus(t)
	breakers := []string{"", " ", "a  b", "x\fy", "2024-13-01", "2024-02-29T24:00:00Z", "0000", "12:00", "bad id!", "urn:uuid:X"}
	n := 0
	for i, d := range docs {
		variants := []doc{d}
		var tree any
		if json.Unmarshal(d.data, &tree) == nil {
			b := breakers[i%len(breakers)]
			variants = append(variants, doc{d.name + " (broken)", d.typ, mustJSON(t, replaceStrings(tree, b, i))})
		}
		for _, v := range variants {
			n++
			if got, want := verdict(fast, v), verdict(slow, v); got != want {
				t.Errorf("%s: fast patterns:\n%s\nregexp:\n%s", v.name, got, want)
			}
		}
	}
	t.Logf("%d documents", n)
}

// replaceStrings replaces every third string value of tree (but resourceType) by b, starting at the
// seed's offset.
func replaceStrings(tree any, b string, seed int) any {
	count := seed
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e, k)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e, key)
			}
		case string:
			if count++; key != "resourceType" && count%3 == 0 {
				return b
			}
		}
		return v
	}
	return walk(tree, "")
}
