package interaction_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// The fuzz targets of the interaction layer: no Bundle and no PATCH document, whatever its bytes, makes
// the Service panic or answer a 5xx (as a whole or in any Bundle entry), on a throw-away embedded store.
// CI runs each for a bounded time (.ci/run); crashes found are kept in testdata/fuzz/<target>.

func fuzzService(tb testing.TB) *interaction.Service {
	tb.Helper()
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, DefaultCount: 20, MaxCount: 100, MaxBundleEntries: 50},
		sqlitetest.Open(tb), r4test.Validator(tb), r4test.Load(tb).Registry)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// watchdog crashes the fuzz worker when one input runs longer than a minute (a hang or a pathological
// input is a denial of service): the fuzzer then keeps the input as a crasher. Call the returned stop when
// the input is done.
func watchdog(what string, input []byte) (stop func() bool) {
	start := time.Now()
	return time.AfterFunc(time.Minute, func() {
		panic(fmt.Sprintf("%s still running after %s on input %q", what, time.Since(start), input))
	}).Stop
}

// no5xx fails t when err is a 5xx (or not an OperationOutcome error at all, which the HTTP layer answers
// 500).
func no5xx(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *outcome.Error
	if !errors.As(err, &e) || e.Status >= http.StatusInternalServerError {
		t.Fatalf("%s: %v (a 5xx)", what, err)
	}
}

// FuzzBundle: batch and transaction Bundles.
func FuzzBundle(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","name":[{"family":"A"}]},"request":{"method":"POST","url":"Patient"}},{"resource":{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},"status":"accepted"}]},"request":{"method":"POST","url":"Appointment"}}]}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?name=a&_count=1"}},{"request":{"method":"DELETE","url":"Patient/x"}},{"request":{"method":"GET","url":"Patient/x/_history/1"}},{"request":{"method":"GET","url":"metadata"}}]}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}]},"request":{"method":"PUT","url":"Patient?identifier=s|1"}},{"request":{"method":"DELETE","url":"Patient?identifier=s|%00"}}]}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9hY3RpdmUiLCJ2YWx1ZSI6dHJ1ZX1d"},"request":{"method":"PATCH","url":"Patient/p1"}}]}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient/$validate"}},{"request":{"method":"GET","url":"Patient/p1/$everything"}}]}`,
		`{"resourceType":"Bundle","type":"searchset"}`, `{"resourceType":"Bundle"}`, `[]`, `{`,
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bundles", "patient-001.json")); err == nil {
		f.Add(data)
	}
	svc := fuzzService(f)
	ctx := context.Background()
	call := interaction.Call{Base: "https://fhir.example.org/fhir"}
	if _, err := svc.Update(ctx, call, "Patient", "p1", []byte(`{"resourceType":"Patient","id":"p1","active":false}`), interaction.WriteCondition{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("Bundle", data)()
		res, err := svc.Bundle(ctx, call, data)
		no5xx(t, "Bundle", err)
		if err != nil {
			return
		}
		var b struct {
			Entry []struct {
				Response struct {
					Status string `json:"status"`
				} `json:"response"`
			} `json:"entry"`
		}
		body, _ := res.Representation("")
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("the response is not a Bundle: %v: %s", err, body)
		}
		for i, e := range b.Entry {
			if strings.HasPrefix(e.Response.Status, "5") {
				t.Fatalf("entry %d answered %s: %s", i, e.Response.Status, body)
			}
		}
	})
}

// FuzzPatch: JSON Patch documents and FHIRPath Patch Parameters on a stored Patient.
func FuzzPatch(f *testing.F) {
	for _, seed := range []string{
		`[{"op":"replace","path":"/active","value":false}]`,
		`[{"op":"add","path":"/name/-","value":{"family":"B"}},{"op":"move","from":"/name/0","path":"/name/1"},{"op":"test","path":"/gender","value":"male"}]`,
		`[{"op":"remove","path":"/id"},{"op":"copy","from":"/name","path":"/contact"}]`,
		`{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.active"},{"name":"value","valueBoolean":false}]}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"name"},{"name":"value","valueHumanName":{"family":"C"}}]}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"move"},{"name":"path","valueString":"Patient.name"},{"name":"source","valueInteger":0},{"name":"destination","valueInteger":1}]}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.name.where(family='A').given"}]}]}`,
	} {
		f.Add([]byte(seed), seed[0] == '[')
	}
	svc := fuzzService(f)
	ctx := context.Background()
	call := interaction.Call{Base: "https://fhir.example.org/fhir"}
	const patient = `{"resourceType":"Patient","id":"p1","active":true,"gender":"male","name":[{"family":"A","given":["X","Y"]},{"family":"Z"}],"birthDate":"1970","_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]}}`
	f.Fuzz(func(t *testing.T, doc []byte, jsonPatch bool) {
		defer watchdog("Patch", doc)()
		if _, err := svc.Update(ctx, call, "Patient", "p1", []byte(patient), interaction.WriteCondition{}); err != nil {
			t.Fatal(err)
		}
		ct := "application/fhir+json"
		if jsonPatch {
			ct = "application/json-patch+json"
		}
		_, err := svc.Patch(ctx, call, "Patient", "p1", ct, doc, "")
		no5xx(t, "Patch "+ct, err)
	})
}
