package rest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/resource"
)

// catalogueCase is one entry of testdata/invalid/catalogue.json (format in testdata/README.md).
type catalogueCase struct {
	File               string `json:"file"`
	Method             string `json:"method"`
	Path               string `json:"path"`
	ContentType        string `json:"contentType"`
	ExpectedStatus     int    `json:"expectedStatus"`
	ExpectedIssueCode  string `json:"expectedIssueCode"`
	ExpectedExpression string `json:"expectedExpression"`
	Why                string `json:"why"`
}

// TestInvalidCatalogue sends every input of testdata/invalid/catalogue.json and checks the answer's status,
// issue code and expression; afterwards nothing at all is stored.
func TestInvalidCatalogue(t *testing.T) {
	const dir = "../../testdata/invalid"
	data, err := os.ReadFile(filepath.Join(dir, "catalogue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []catalogueCase
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("catalogue.json: %v", err)
	}
	if len(cases) < 20 {
		t.Fatalf("catalogue.json lists %d cases", len(cases))
	}
	// Every file of the directory is catalogued, and every catalogued file exists.
	files, _ := os.ReadDir(dir)
	listed := map[string]bool{"catalogue.json": true}
	for _, tc := range cases {
		if listed[tc.File] {
			t.Errorf("%s is catalogued twice", tc.File)
		}
		listed[tc.File] = true
		if tc.Method == "" || !strings.HasPrefix(tc.Path, "/") || tc.ContentType == "" || tc.ExpectedStatus < 400 || tc.ExpectedIssueCode == "" || tc.Why == "" {
			t.Errorf("%s: incomplete catalogue entry %+v", tc.File, tc)
		}
	}
	for _, f := range files {
		if !listed[f.Name()] {
			t.Errorf("testdata/invalid/%s is not in catalogue.json", f.Name())
		}
	}

	c := server(t)
	for _, tc := range cases {
		t.Run(tc.File, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, tc.File))
			if err != nil {
				t.Fatal(err)
			}
			r := c.do(tc.Method, tc.Path, string(body), "Content-Type", tc.ContentType)
			expectOutcome(t, r, tc.ExpectedStatus, tc.ExpectedIssueCode, tc.ExpectedExpression)
		})
	}
	// Nothing was stored: no type has a version, and the ids the PUTs named do not exist.
	if h := c.do("GET", "/_history", "").json(t); len(asSlice(h["entry"])) != 0 {
		t.Errorf("rejected writes left history entries: %v", h["entry"])
	}
	for _, typ := range definitions.ResourceTypes {
		if h := c.do("GET", "/"+typ+"/_history", "").json(t); len(asSlice(h["entry"])) != 0 {
			t.Errorf("rejected writes stored %s versions", typ)
		}
	}
	for _, tc := range cases {
		if tc.Method == "PUT" {
			if r := c.do("GET", tc.Path, ""); r.status != 404 {
				t.Errorf("GET %s after a rejected PUT: %d", tc.Path, r.status)
			}
		}
	}
}

// TestGeneratedBundlesStoreLosslessly stores every resource of testdata/bundles one by one (PUT with its
// fullUrl's UUID as id; the urn:uuid references stay as they are, the transaction endpoint resolves them)
// and reads it back byte for byte: accents, contained resources, primitive extensions, decimals such as
// 25.00 and element order survive.
func TestGeneratedBundlesStoreLosslessly(t *testing.T) {
	files, err := filepath.Glob("../../testdata/bundles/patient-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundles in testdata/bundles: %v", err)
	}
	c := server(t)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			var compact bytes.Buffer
			if err := json.Compact(&compact, e.Resource); err != nil {
				t.Fatal(err)
			}
			var head struct{ ResourceType string }
			_ = json.Unmarshal(e.Resource, &head)
			id := strings.TrimPrefix(e.FullURL, "urn:uuid:")
			prefix := `{"resourceType":"` + head.ResourceType + `",`
			body := strings.Replace(compact.String(), prefix, prefix+`"id":"`+id+`",`, 1)
			w := c.do("PUT", "/"+head.ResourceType+"/"+id, body)
			if w.status != 201 {
				t.Fatalf("%s %s: PUT %d %s", filepath.Base(f), head.ResourceType, w.status, w.body)
			}
			r := c.do("GET", "/"+head.ResourceType+"/"+id, "")
			lu, _ := time.Parse(time.RFC3339Nano, r.json(t)["meta"].(map[string]any)["lastUpdated"].(string))
			want, err := resource.Stamp([]byte(body), id, "1", lu)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.body, want) {
				t.Errorf("%s %s/%s read back differs\n got %s\nwant %s", filepath.Base(f), head.ResourceType, id, r.body, want)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d resources stored", n)
	}
}
