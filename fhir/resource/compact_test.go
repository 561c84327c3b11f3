package resource

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestCompactAgreesWithEncodingJSON: compact accepts, rejects and produces exactly what encoding/json's
// Compact does, on every official example, every invalid test body and hand-picked edge cases (syntax
// errors, escapes, control characters, invalid UTF-8, duplicate names, numbers, byte order mark).
func TestCompactAgreesWithEncodingJSON(t *testing.T) {
	var cases [][]byte
	for _, glob := range []string{"../../testdata/examples/r4/*.json", "../../testdata/invalid/*.json"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, data)
		}
	}
	if len(cases) < 700 {
		t.Fatalf("only %d files: testdata moved?", len(cases))
	}
	for _, s := range []string{`{"a":}`, `{"a":1,}`, `{"a" 1}`, `{"a":1} x`, `{"a":1}{}`, `{"a":"\x"}`,
		"{\"a\":\"\x01\"}", `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`, `{"a":[1,]}`, `{"a":"\u12"}`, `{`,
		`{"a":1`, `[1] `, ` {"a" : "<&>\u2028"} `, "{\"a\":\"\xff\"}", `{"a":1e}`, `{"a":nul}`, `{"a":NaN}`,
		`{,}`, `{"a":1 "b":2}`, `"x"`, ``, `{"a":1,"a":2}`, "{\"a\":\"\u2028\"}", `{"a":"\ud800"}`,
		`{"a":1E+2, "b": -0.0e-0}`, "\ufeff{}", ` `, `{"a":[]  ,"b":{ }}`, `{"a\"b":1}`} {
		cases = append(cases, []byte(s))
	}
	for _, c := range cases {
		var want bytes.Buffer
		werr := json.Compact(&want, c)
		got, err := compact(c, 0)
		if (werr == nil) != (err == nil) || werr == nil && !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%.80q: encoding/json %v %.60q, compact %v %.60q", c, werr, want.Bytes(), err, got)
		}
	}
}
