package rest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

// batchWorkers is how many entries of a batch are processed at once.
const batchWorkers = 4

// batch processes a batch Bundle: every entry on its own, as the single interaction it describes (the
// same handlers serve it), in any order; a failure is reported in that entry's response. Conditional
// references are resolved; references to other entries' fullUrls are not (a batch has no
// interdependencies).
func (s *Server) batch(c *gin.Context, raws []json.RawMessage) *bundle.Bundle {
	out := bundle.New("batch-response", storage.NewID(), s.now())
	out.Entry = make([]bundle.Entry, len(raws))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(batchWorkers, len(raws)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out.Entry[i] = s.batchEntry(c, i, raws[i])
			}
		}()
	}
	for i := range raws {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func (s *Server) batchEntry(c *gin.Context, index int, raw json.RawMessage) bundle.Entry {
	e, err := s.parseEntry(c, index, raw)
	if err != nil {
		return errorEntry(err)
	}
	body := e.body
	headers := map[string]string{"If-Match": e.ifMatch, "If-None-Exist": e.ifNoneExist, "If-None-Match": e.ifNoneMatch, "If-Modified-Since": e.ifModifiedSince}
	switch e.method {
	case http.MethodPost, http.MethodPut:
		if body, err = newRefResolver(s, c, false).rewrite(e, body); err != nil {
			return errorEntry(entryError(index, e.method, e.rawURL(), err))
		}
	case http.MethodPatch:
		if patch.IsFHIRPathPatch(body) {
			break // the Parameters resource is the body, sent as application/fhir+json
		}
		var bin struct {
			ResourceType string `json:"resourceType"`
			ContentType  string `json:"contentType"`
			Data         string `json:"data"`
		}
		_ = json.Unmarshal(body, &bin)
		doc, derr := base64.StdEncoding.DecodeString(bin.Data)
		if bin.ResourceType != "Binary" || derr != nil {
			return errorEntry(s.fail400(e, outcome.CodeNotSupported, ".resource",
				"a PATCH entry takes a Parameters resource (FHIRPath Patch) or a Binary resource with contentType %s holding a base64 JSON Patch", patch.MediaType))
		}
		body = doc
		headers["Content-Type"] = bin.ContentType
	}
	return s.subEntry(c, index, e.method, e.rawURL(), s.dispatch(c, index, e.method, e.rawURL(), body, headers))
}

// errorEntry is the response entry of a failed batch entry.
func errorEntry(err error) bundle.Entry {
	e := outcome.Wrap(err)
	return bundle.Entry{Response: &bundle.Response{Status: bundle.Status(e.Status, http.StatusText(e.Status)), Outcome: outcome.Resource(e.Issues)}}
}

// subResponse is the answer to an entry run as a request of its own.
type subResponse struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *subResponse) Header() http.Header { return r.header }

func (r *subResponse) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *subResponse) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// engines holds the HTTP handler each Server runs entries through (built once per Server).
var engines sync.Map // *Server → *gin.Engine

// dispatch runs an entry as a request of its own through the server's handlers: method and raw URL
// (relative to the base) with body and headers, in the context of the Bundle's request (its Host,
// Prefer and cancellation). HEAD runs as GET without its body.
func (s *Server) dispatch(c *gin.Context, index int, method, raw string, body []byte, headers map[string]string) *subResponse {
	h, ok := engines.Load(s)
	if !ok {
		h, _ = engines.LoadOrStore(s, s.routes())
	}
	m := method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	req, err := http.NewRequestWithContext(c.Request.Context(), m, "/fhir/"+raw, bytes.NewReader(body))
	res := &subResponse{header: http.Header{}}
	if err != nil {
		res.status = http.StatusBadRequest
		res.body.Write(outcome.Resource([]outcome.Issue{{Severity: outcome.SeverityErr, Code: outcome.CodeInvalid,
			Diagnostics: "Bundle.entry[" + strconv.Itoa(index) + "]: request.url is not a valid URL: " + err.Error()}}))
		return res
	}
	req.Host = c.Request.Host
	req.Header.Set("Accept", mimeFHIRJSON)
	if len(body) > 0 {
		req.Header.Set("Content-Type", mimeFHIRJSON)
	}
	for _, p := range c.Request.Header.Values("Prefer") {
		req.Header.Add("Prefer", p)
	}
	if id := c.GetString(requestIDHeader); id != "" {
		req.Header.Set(requestIDHeader, id+"."+strconv.Itoa(index))
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	h.(*gin.Engine).ServeHTTP(res, req)
	if method == http.MethodHead {
		res.body.Reset()
	}
	return res
}

// subEntry turns the answer to entry index into its response entry: the resource it returned (or an
// OperationOutcome as response.outcome) and the status, Location, ETag and last modification time.
func (s *Server) subEntry(c *gin.Context, index int, method, raw string, r *subResponse) bundle.Entry {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := &bundle.Response{Status: bundle.Status(status, http.StatusText(status)), Etag: r.header.Get("ETag")}
	resp.Location = r.header.Get("Location")
	if resp.Location == "" {
		resp.Location = r.header.Get("Content-Location")
	}
	if lm, err := http.ParseTime(r.header.Get("Last-Modified")); err == nil {
		resp.LastModified = resource.FormatInstant(lm)
	}
	out := bundle.Entry{Response: resp}
	body := r.body.Bytes()
	if len(bytes.TrimSpace(body)) == 0 {
		return out
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Meta         struct {
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
		Issue []outcome.Issue `json:"issue"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return out
	}
	switch {
	case head.ResourceType == "OperationOutcome" && status >= 400:
		located := entryError(index, method, raw, &outcome.Error{Status: status, Issues: head.Issue})
		resp.Outcome = outcome.Resource(located.Issues)
	case head.ResourceType == "OperationOutcome":
		resp.Outcome = append(json.RawMessage(nil), body...)
	default:
		out.Resource = append(json.RawMessage(nil), body...)
		if head.Meta.LastUpdated != "" {
			resp.LastModified = head.Meta.LastUpdated
		}
		if head.ID != "" && head.ResourceType != "Bundle" {
			out.FullURL = s.baseURL(c) + "/" + head.ResourceType + "/" + head.ID
		}
	}
	return out
}
