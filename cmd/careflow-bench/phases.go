package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	cfmongo "github.com/careflow/careflow/storage/mongo"
)

// idSink collects the ids a create phase produced, one slice per worker (no locking).
type idSink [][]createdID

// createdID is the id of the resource created by request i (from Patient i).
type createdID struct {
	i  int
	id string
}

func (s idSink) add(w, i int, id string) { s[w] = append(s[w], createdID{i, id}) }

// all returns the ids in request order, so that all()[0] is Patient 0's when it was created.
func (s idSink) all() []string {
	var created []createdID
	for _, ids := range s {
		created = append(created, ids...)
	}
	slices.SortFunc(created, func(a, b createdID) int { return a.i - b.i })
	out := make([]string, len(created))
	for k, c := range created {
		out[k] = c.id
	}
	return out
}

// fhirClient talks to careflow's FHIR API.
type fhirClient struct {
	base string // e.g. http://127.0.0.1:8080/fhir
	http *http.Client
	// wire, for an http:// base, carries the create and read phases' requests (worker w on connection w).
	wire *wireClient
}

func newFHIRClient(base string, concurrency int) *fhirClient {
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	c := &fhirClient{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr, Timeout: time.Minute}}
	c.wire, _ = newWireClient(c.base, concurrency) // nil (http.Client) for an https:// base
	return c
}

// authorize makes every request carry Authorization: Bearer token (nothing when token is empty).
func (c *fhirClient) authorize(token string) {
	if token == "" {
		return
	}
	c.http.Transport = bearer{token: token, next: c.http.Transport}
	if c.wire != nil {
		c.wire.headers = []string{"Authorization", "Bearer " + token}
	}
}

// bearer adds an Authorization header to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}

// do sends one request and returns the response with its body read; a status other than want is an error.
func (c *fhirClient) do(req *http.Request, want int) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d (want %d): %.300s", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	return resp, nil
}

// createHeaders are a create's request headers (name, value, …).
var createHeaders = []string{"Content-Type", "application/fhir+json", "Accept", "application/fhir+json", "Prefer", "return=minimal"}

// create POSTs a Patient (as worker w) and returns the id the server assigned (from Location:
// …/Patient/{id}/_history/1).
func (c *fhirClient) create(ctx context.Context, w int, body []byte) (string, error) {
	var resp *http.Response
	var err error
	if c.wire != nil {
		resp, err = c.wire.do(ctx, w, http.MethodPost, "/Patient", createHeaders, body, http.StatusCreated)
	} else {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/Patient", bytes.NewReader(body))
		if rerr != nil {
			return "", fmt.Errorf("create: %w", rerr)
		}
		for i := 0; i+1 < len(createHeaders); i += 2 {
			req.Header.Set(createHeaders[i], createHeaders[i+1])
		}
		resp, err = c.do(req, http.StatusCreated)
	}
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	id, ok := idFromLocation(loc, "Patient")
	if !ok {
		return "", fmt.Errorf("create: no Patient id in Location %q", loc)
	}
	return id, nil
}

// idFromLocation returns the id of a Location such as [base/]Patient/{id}/_history/1 (absolute or
// relative), for resource type typ.
func idFromLocation(loc, typ string) (string, bool) {
	rest, ok := strings.CutPrefix(loc, typ+"/")
	if !ok {
		i := strings.Index(loc, "/"+typ+"/")
		if i < 0 {
			return "", false
		}
		rest = loc[i+len(typ)+2:]
	}
	id, _, _ := strings.Cut(rest, "/")
	return id, id != ""
}

// readHeaders are a read's request headers.
var readHeaders = []string{"Accept", "application/fhir+json"}

// read GETs a Patient (as worker w).
func (c *fhirClient) read(ctx context.Context, w int, id string) error {
	if c.wire != nil {
		_, err := c.wire.do(ctx, w, http.MethodGet, "/Patient/"+id, readHeaders, nil, http.StatusOK)
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/Patient/"+id, nil)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	_, err = c.do(req, http.StatusOK)
	return err
}

// httpCreate is phase a: POST patient i, remember its id.
func httpCreate(c *fhirClient, patients *corpus, ids idSink) op {
	return func(ctx context.Context, w, i int) error {
		id, err := c.create(ctx, w, patients.patient(i).JSON)
		if err != nil {
			return err
		}
		ids.add(w, i, id)
		return nil
	}
}

// randomIDs returns an op argument source: each worker draws ids uniformly from ids with its own seeded
// generator.
func randomIDs(seed uint64, concurrency int, ids []string) func(w int) string {
	rngs := make([]*rand.Rand, concurrency)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(seed, uint64(1_000_000+w)))
	}
	return func(w int) string { return ids[rngs[w].IntN(len(ids))] }
}

// httpRead is phase b: GET a random created id.
func httpRead(c *fhirClient, pick func(w int) string) op {
	return func(ctx context.Context, w, _ int) error { return c.read(ctx, w, pick(w)) }
}

// rawDoc builds careflow's current-version document for Patient i (storage/mongo.VersionDoc): the
// bookkeeping fields, the resource JSON with id and meta stamped, then the index-like fields of index.go.
func rawDoc(patients *corpus, i int, now time.Time) (bson.D, string) {
	p := patients.patient(i)
	id := fmt.Sprintf("%08x-0000-4000-8000-%012d", patients.gen.seed, i) // as long as careflow's UUIDs
	body := strings.Replace(string(p.JSON), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+id+`",`, 1)
	body = strings.Replace(body, `"meta":{`, `"meta":{"versionId":"1","lastUpdated":"`+now.Format("2006-01-02T15:04:05.000Z07:00")+`",`, 1)
	return cfmongo.VersionDoc(id, 1, now, "POST", body, p.Index), id
}

// rawInsert is phase c: insert patient i's raw document with the driver.
func rawInsert(coll *mongo.Collection, patients *corpus, ids idSink) op {
	return func(ctx context.Context, w, i int) error {
		d, id := rawDoc(patients, i, time.Now().UTC().Truncate(time.Millisecond))
		if _, err := coll.InsertOne(ctx, d); err != nil {
			return fmt.Errorf("insert %s: %w", id, err)
		}
		ids.add(w, i, id)
		return nil
	}
}

// rawVersion is what careflow decodes of a current-version document.
type rawVersion struct {
	ID          string        `bson:"_id"`
	VersionID   int64         `bson:"vid"`
	LastUpdated bson.DateTime `bson:"lu"`
	Deleted     bool          `bson:"del"`
	Method      string        `bson:"m"`
	Body        string        `bson:"raw"`
}

// readProjection is careflow's: everything but the index fields.
var readProjection = cfmongo.VersionProjection()

// rawRead is phase d: FindOne by _id with careflow's projection, decoded like careflow decodes it.
func rawRead(coll *mongo.Collection, pick func(w int) string) op {
	return func(ctx context.Context, w, _ int) error {
		id := pick(w)
		var v rawVersion
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(readProjection)).Decode(&v)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("find %s: not found", id)
		}
		if err != nil {
			return fmt.Errorf("find %s: %w", id, err)
		}
		if v.Body == "" {
			return fmt.Errorf("find %s: empty raw", id)
		}
		return nil
	}
}
