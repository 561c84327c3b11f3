package interaction_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

const base = "https://fhir.example.org/fhir"

// service returns a Service on a fresh embedded store, with one workflow operation ($echo) that answers
// its parameters.
func service(t *testing.T) *interaction.Service {
	t.Helper()
	echo := operation.Func{Name: "echo", URL: "http://example.org/OperationDefinition/echo", Type: "Patient",
		Run: func(_ context.Context, r operation.Request) ([]byte, error) {
			return json.Marshal(map[string]any{"resourceType": "Parameters", "id": "echo-" + r.ID, "parameter": []map[string]string{{"name": "x", "valueString": r.Params.Get("x")}}})
		}}
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Operations: []interaction.Operation{echo}},
		sqlitetest.Open(t), r4test.Validator(t), r4test.Load(t).Registry)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func status(err error) int {
	var e *outcome.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// TestServiceWithoutHTTP drives interactions through the Service alone: results carry what an HTTP layer
// or a Bundle entry needs (status, version, location, representation by preference), errors carry their
// status.
func TestServiceWithoutHTTP(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	call := interaction.Call{Base: base}
	res, err := svc.Create(ctx, call, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Lane"}]}`), "")
	if err != nil || res.Status != http.StatusCreated || res.Version == nil || !res.Write {
		t.Fatalf("create: %+v, %v", res, err)
	}
	id := res.Version.ID
	if want := base + "/Patient/" + id + "/_history/1"; res.Location != want {
		t.Errorf("location %q, want %q", res.Location, want)
	}
	if body, isOutcome := res.Representation("minimal"); body != nil || isOutcome {
		t.Errorf("minimal: %s", body)
	}
	if body, isOutcome := res.Representation("OperationOutcome"); !isOutcome || !strings.Contains(string(body), "created Patient/"+id+", version 1") {
		t.Errorf("OperationOutcome: %s", body)
	}
	if body, _ := res.Representation(""); !strings.Contains(string(body), `"family":"Lane"`) {
		t.Errorf("representation: %s", body)
	}

	if _, err := svc.Read(ctx, call, "Patient", "nope", interaction.ReadCondition{}); status(err) != http.StatusNotFound {
		t.Errorf("read of an unknown id: %v", err)
	}
	if _, err := svc.Update(ctx, call, "Patient", id, []byte(`{"resourceType":"Patient","id":"`+id+`"}`), interaction.WriteCondition{IfMatch: `W/"x"`}); status(err) != http.StatusPreconditionFailed {
		t.Errorf("update with an If-Match naming no version: %v", err)
	}
	if _, err := svc.Update(ctx, call, "Patient", id, []byte(`{"resourceType":"Patient","id":"`+id+`"}`), interaction.WriteCondition{IfMatch: `W/"1`}); status(err) != http.StatusBadRequest {
		t.Errorf("update with a malformed If-Match: %v", err)
	}
	if _, err := svc.Create(ctx, call, "Patient", []byte(`{"resourceType":"Patient","gender":"cat"}`), ""); status(err) != http.StatusBadRequest {
		t.Errorf("create of an invalid resource: %v", err)
	}
	del, err := svc.Delete(ctx, call, "Patient", id, "")
	if err != nil || del.Status != http.StatusNoContent || !del.Delete || del.Version == nil {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	gone, err := svc.Read(ctx, call, "Patient", id, interaction.ReadCondition{})
	if status(err) != http.StatusGone || gone == nil || gone.Version == nil || gone.Version.VersionID != 2 {
		t.Errorf("read of a deleted resource: %+v, %v (want 410 with the deletion version)", gone, err)
	}
}

// TestDoRoutesEntries: Do serves an interaction described as data (a Bundle entry's request) by the same
// methods as the HTTP layer, with conditional reads, HEAD, operations and unknown routes.
func TestDoRoutesEntries(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	call := interaction.Call{Base: base}
	res, err := svc.Do(ctx, call, interaction.Request{Method: "PUT", Path: "Patient/p1", Body: []byte(`{"resourceType":"Patient","id":"p1","name":[{"family":"Rowe"}]}`)})
	if err != nil || res.Status != http.StatusCreated {
		t.Fatalf("PUT: %+v, %v", res, err)
	}
	for _, c := range []struct {
		r      interaction.Request
		status int
		want   string
	}{
		{interaction.Request{Method: "GET", Path: "Patient/p1"}, 200, `"family":"Rowe"`},
		{interaction.Request{Method: "GET", Path: "Patient/p1", IfNoneMatch: `W/"1"`}, 304, ""},
		{interaction.Request{Method: "HEAD", Path: "Patient/p1"}, 200, ""},
		{interaction.Request{Method: "GET", Path: "Patient/p1/_history/1"}, 200, `"versionId":"1"`},
		{interaction.Request{Method: "GET", Path: "Patient", Query: "family=rowe"}, 200, `"total":1`},
		{interaction.Request{Method: "GET", Path: "Patient/p1/_history"}, 200, `"type":"history"`},
		{interaction.Request{Method: "GET", Path: "Patient/p1/$everything"}, 200, `"fullUrl":"` + base + `/Patient/p1"`},
		{interaction.Request{Method: "GET", Path: "Patient/p1/$meta"}, 200, `"valueMeta"`},
		{interaction.Request{Method: "GET", Path: "Patient/p1/$echo", Query: "x=7"}, 200, `"valueString":"7"`},
		{interaction.Request{Method: "GET", Path: "metadata"}, 200, `"CapabilityStatement"`},
		{interaction.Request{Method: "GET", Path: "Patient/p1/AllergyIntolerance"}, 200, `"searchset"`},
		{interaction.Request{Method: "GET", Path: "Unknown/1"}, 404, ""},
		{interaction.Request{Method: "GET", Path: "Patient/p1/_history/1/x/y"}, 404, ""},
		{interaction.Request{Method: "GET", Path: "Patient/p1/$meta-add"}, 405, ""},
		{interaction.Request{Method: "POST", Path: "Patient/p1"}, 404, ""},
		{interaction.Request{Method: "DELETE", Path: "Patient", Query: "family=nobody"}, 204, ""},
	} {
		res, err := svc.Do(ctx, call, c.r)
		got := status(err)
		var body []byte
		if err == nil {
			got = res.Status
			body, _ = res.Representation("")
		}
		if got != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s?%s: %d %.200s; want %d containing %s", c.r.Method, c.r.Path, c.r.Query, got, body, c.status, c.want)
		}
		if c.r.Method == "HEAD" && len(body) > 0 {
			t.Errorf("HEAD answered a body")
		}
	}
}

// TestBatchEntriesWithoutSyntheticRequests: a batch's GET entry keeps its conditional-read semantics (304
// with the ETag) and a POST entry its Location, built from the Service's results.
func TestBatchEntriesWithoutSyntheticRequests(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	call := interaction.Call{Base: base}
	if _, err := svc.Update(ctx, call, "Patient", "b1", []byte(`{"resourceType":"Patient","id":"b1"}`), interaction.WriteCondition{}); err != nil {
		t.Fatal(err)
	}
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/b1","ifNoneMatch":"W/\"1\""}},
		{"request":{"method":"GET","url":"` + base + `/Patient?_id=b1"}},
		{"resource":{"resourceType":"Patient","name":[{"family":"New"}]},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"GET","url":"Patient/missing"}}]}`
	res, err := svc.Bundle(ctx, call, []byte(batch))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Response struct {
				Status, Location, Etag string
				Outcome                json.RawMessage
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil || len(out.Entry) != 4 {
		t.Fatalf("batch-response: %v %s", err, res.Body)
	}
	if e := out.Entry[0]; !strings.HasPrefix(e.Response.Status, "304") || e.Response.Etag != `W/"1"` || e.Resource != nil {
		t.Errorf("conditional GET entry: %+v", e)
	}
	if e := out.Entry[1]; !strings.HasPrefix(e.Response.Status, "200") || !strings.Contains(string(e.Resource), `"total":1`) {
		t.Errorf("search entry: %+v %s", e.Response, e.Resource)
	}
	if e := out.Entry[2]; !strings.HasPrefix(e.Response.Status, "201") || !strings.HasPrefix(e.Response.Location, base+"/Patient/") ||
		!strings.HasPrefix(e.FullURL, base+"/Patient/") {
		t.Errorf("POST entry: %+v", e)
	}
	if e := out.Entry[3]; !strings.HasPrefix(e.Response.Status, "404") || !strings.Contains(string(e.Response.Outcome), "Bundle.entry[3]") {
		t.Errorf("failed entry: %+v %s", e.Response, e.Response.Outcome)
	}
}

// TestInvokeOperationWithParameters: a POSTed Parameters resource's primitive parameters reach the
// operation; an instance operation on another type is a 404.
func TestInvokeOperationWithParameters(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	op := svc.Operations()[0]
	res, err := svc.InvokeOperation(ctx, interaction.Call{Base: base}, op, "Patient", "p9", url.Values{"_format": {"json"}},
		[]byte(`{"resourceType":"Parameters","parameter":[{"name":"x","valueInteger":42}]}`))
	if err != nil || !strings.Contains(string(res.Body), `"valueString":"42"`) || !strings.Contains(string(res.Body), `"echo-p9"`) {
		t.Fatalf("invoke: %+v %v", res, err)
	}
	if _, err := svc.InvokeOperation(ctx, interaction.Call{Base: base}, op, "Practitioner", "x", nil, nil); status(err) != http.StatusNotFound {
		t.Errorf("operation on another type: %v", err)
	}
}

// TestInvokeOperationChangingData: an operation that changes data (AffectsState) is POST only (405 for
// GET); it gets its resource-valued parameters and a Transact that runs a transaction Bundle through the
// write pipeline, reading back the representation whatever the client's Prefer: return. An operation that
// declares no resource parameter still refuses one (400); a valueReference reaches it as its reference.
// Its OperationDefinition is type-level.
func TestInvokeOperationChangingData(t *testing.T) {
	ctx := context.Background()
	write := operation.Func{Name: "write", URL: "http://example.org/OperationDefinition/Patient-write", Type: "Patient", TypeLevel: true, AffectsState: true,
		Parameters: []capability.OperationParameter{{Name: "patient", Use: "in", Min: 1, Max: "1", Type: "Patient"}},
		Run: func(ctx context.Context, r operation.Request) ([]byte, error) {
			p := r.Resources["patient"]
			if len(p) != 1 || r.Transact == nil {
				return nil, outcome.New(http.StatusBadRequest, outcome.CodeRequired, "no patient (%d) or no Transact", len(p))
			}
			return r.Transact(ctx, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":`+string(p[0])+
				`,"request":{"method":"PUT","url":"Patient/`+r.Params.Get("id")+`"}}]}`))
		}}
	echo := operation.Func{Name: "echo", URL: "http://example.org/OperationDefinition/echo", Type: "Patient",
		Run: func(_ context.Context, r operation.Request) ([]byte, error) {
			return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []map[string]string{{"name": "x", "valueString": r.Params.Get("x")}}})
		}}
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Operations: []interaction.Operation{write, echo}},
		sqlitetest.Open(t), r4test.Validator(t), r4test.Load(t).Registry)
	if err != nil {
		t.Fatal(err)
	}
	call := interaction.Call{Base: base, Return: "minimal"}
	if _, err := svc.InvokeOperation(ctx, call, write, "Patient", "", url.Values{"id": {"w1"}}, nil); status(err) != http.StatusMethodNotAllowed {
		t.Errorf("GET of an operation changing data: %v, want a 405", err)
	}
	res, err := svc.InvokeOperation(ctx, call, write, "Patient", "", url.Values{"id": {"w1"}},
		[]byte(`{"resourceType":"Parameters","parameter":[{"name":"patient","resource":{"resourceType":"Patient","id":"w1","active":true}}]}`))
	if err != nil || !strings.Contains(string(res.Body), `"transaction-response"`) || !strings.Contains(string(res.Body), `"active":true`) {
		t.Fatalf("write: %v %s", err, res.Body)
	}
	if r, err := svc.Read(ctx, call, "Patient", "w1", interaction.ReadCondition{}); err != nil || r.Version.VersionID != 1 {
		t.Errorf("the operation's transaction did not store Patient/w1: %v", err)
	}
	if _, err := svc.InvokeOperation(ctx, call, write, "Patient", "", nil,
		[]byte(`{"resourceType":"Parameters","parameter":[{"name":"patient","resource":{"resourceType":"Patient","active":"no"}}]}`)); status(err) != http.StatusBadRequest {
		t.Errorf("an invalid resource in the operation's transaction: %v, want a 400", err)
	}
	if _, err := svc.InvokeOperation(ctx, call, echo, "Patient", "p1", nil,
		[]byte(`{"resourceType":"Parameters","parameter":[{"name":"x","resource":{"resourceType":"Patient"}}]}`)); status(err) != http.StatusBadRequest {
		t.Errorf("a resource parameter the operation does not declare: %v, want a 400", err)
	}
	res, err = svc.InvokeOperation(ctx, call, echo, "Patient", "p1", nil,
		[]byte(`{"resourceType":"Parameters","parameter":[{"name":"x","valueReference":{"reference":"Patient/p2"}}]}`))
	if err != nil || !strings.Contains(string(res.Body), `"valueString":"Patient/p2"`) {
		t.Errorf("valueReference: %v %s", err, res.Body)
	}
	def, err := svc.OperationDefinition("Patient-write")
	if err != nil || !strings.Contains(string(def), `"affectsState":true`) || !strings.Contains(string(def), `"type":true,"instance":false`) {
		t.Errorf("definition: %v %s", err, def)
	}
}
