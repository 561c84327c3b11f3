package interaction

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/storage"
)

// batchWorkers is how many entries of a batch are processed at once.
const batchWorkers = 4

// Request is one interaction described as data, as a batch or transaction entry's request describes it:
// the method, the URL relative to the base (path without leading slash, and raw query), the resource or
// patch document, and the conditional headers.
type Request struct {
	Method      string
	Path, Query string
	Body        []byte
	// ContentType is the media type of a PATCH document.
	ContentType string

	IfMatch, IfNoneMatch, IfModifiedSince, IfNoneExist string
}

// Do serves one interaction described as data; it is how batch and transaction entries are served, by
// the same methods as the HTTP API. HEAD is served as GET without the body.
func (s *Service) Do(ctx context.Context, call Call, r Request) (*Result, error) {
	params, err := url.ParseQuery(r.Query)
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "request.url: malformed query %q: %v", r.Query, err)
	}
	var segs []string
	if r.Path != "" {
		segs = strings.Split(r.Path, "/")
	}
	notFound := func() error {
		return outcome.New(http.StatusNotFound, outcome.CodeNotFound, "no FHIR endpoint at %s %s", r.Method, r.Path)
	}
	if len(segs) > 0 && !strings.HasPrefix(segs[0], "$") && !strings.HasPrefix(segs[0], "_") && segs[0] != "metadata" &&
		!(segs[0] == "OperationDefinition" && len(segs) == 2) && !s.types[segs[0]] {
		return nil, outcome.At(http.StatusNotFound, outcome.CodeNotSupported, segs[0], "resource type %q is not supported by this server", segs[0])
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		res, err := s.get(ctx, call, segs, params, ReadCondition{IfNoneMatch: r.IfNoneMatch, IfModifiedSince: r.IfModifiedSince})
		if res != nil && r.Method == http.MethodHead {
			res.Body = nil
		}
		return res, err
	case http.MethodPost:
		if len(segs) == 1 && r.Query == "" {
			return s.Create(ctx, call, segs[0], r.Body, r.IfNoneExist)
		}
	case http.MethodPut:
		switch {
		case len(segs) == 2:
			return s.Update(ctx, call, segs[0], segs[1], r.Body, WriteCondition{IfMatch: r.IfMatch, IfNoneMatch: r.IfNoneMatch})
		case len(segs) == 1:
			return s.ConditionalUpdate(ctx, call, segs[0], r.Query, r.Body, r.IfMatch)
		}
	case http.MethodDelete:
		switch {
		case len(segs) == 2:
			return s.Delete(ctx, call, segs[0], segs[1], r.IfMatch)
		case len(segs) == 1:
			return s.ConditionalDelete(ctx, call, segs[0], r.Query, r.IfMatch)
		}
	case http.MethodPatch:
		switch {
		case len(segs) == 2:
			return s.Patch(ctx, call, segs[0], segs[1], r.ContentType, r.Body, r.IfMatch)
		case len(segs) == 1:
			return s.ConditionalPatch(ctx, call, segs[0], r.Query, r.ContentType, r.Body, r.IfMatch)
		}
	}
	return nil, notFound()
}

// get serves the read-only interactions of Do (the GET routes of server/rest).
func (s *Service) get(ctx context.Context, call Call, segs []string, params url.Values, rc ReadCondition) (*Result, error) {
	op := func(name string, instance bool) Operation {
		for _, op := range s.cfg.Operations {
			if d := op.Definition(); d.Code == name && (d.Resource != "") == instance {
				return op
			}
		}
		return nil
	}
	switch len(segs) {
	case 0:
		return s.SearchSystem(ctx, call, params)
	case 1:
		switch name, isOp := strings.CutPrefix(segs[0], "$"); {
		case segs[0] == "metadata":
			return &Result{Status: http.StatusOK, Body: s.Capabilities(call.Base)}, nil
		case segs[0] == "_history":
			return s.History(ctx, call, "", "", params)
		case segs[0] == "$meta":
			return s.MetaSummary(ctx, call, "")
		case isOp && op(name, false) != nil:
			return s.InvokeOperation(ctx, call, op(name, false), "", "", params, nil)
		case !isOp && !strings.HasPrefix(segs[0], "_"):
			return s.Search(ctx, call, segs[0], params)
		}
	case 2:
		switch {
		case segs[0] == "OperationDefinition":
			body, err := s.OperationDefinition(segs[1])
			if err != nil {
				return nil, err
			}
			return &Result{Status: http.StatusOK, Body: body}, nil
		case segs[1] == "_history":
			return s.History(ctx, call, segs[0], "", params)
		case segs[1] == "$meta":
			return s.MetaSummary(ctx, call, segs[0])
		}
		return s.Read(ctx, call, segs[0], segs[1], rc)
	case 3:
		typ, id := segs[0], segs[1]
		name, isOp := strings.CutPrefix(segs[2], "$")
		switch {
		case segs[2] == "_history":
			return s.History(ctx, call, typ, id, params)
		case segs[2] == "$everything":
			return s.Everything(ctx, call, typ, id, params)
		case segs[2] == "$validate":
			return s.Validate(ctx, call, typ, id, params.Get("mode"), nil)
		case segs[2] == "$meta":
			return s.MetaInstance(ctx, call, typ, id, "")
		case segs[2] == "$meta-add", segs[2] == "$meta-delete":
			return nil, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported,
				"%s changes the resource and is not idempotent: use POST", segs[2])
		case isOp && op(name, true) != nil:
			return s.InvokeOperation(ctx, call, op(name, true), typ, id, params, nil)
		case !isOp:
			return s.SearchCompartment(ctx, call, typ, id, segs[2], params)
		}
	case 4:
		if segs[2] == "_history" {
			return s.VRead(ctx, call, segs[0], segs[1], segs[3])
		}
	case 5:
		if segs[2] == "_history" && segs[4] == "$meta" {
			return s.MetaInstance(ctx, call, segs[0], segs[1], segs[3])
		}
	}
	return nil, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "no FHIR endpoint at GET %s", strings.Join(segs, "/"))
}

// batch processes a batch Bundle: every entry on its own, as the single interaction it describes (Do), in
// any order; a failure is reported in that entry's response. Conditional references are resolved;
// references to other entries' fullUrls are not (a batch has no interdependencies).
func (s *Service) batch(ctx context.Context, call Call, raws []json.RawMessage) *bundle.Bundle {
	out := bundle.New("batch-response", storage.NewID(), s.now())
	out.Entry = make([]bundle.Entry, len(raws))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(batchWorkers, len(raws)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out.Entry[i] = s.batchEntry(ctx, call, i, raws[i])
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

func (s *Service) batchEntry(ctx context.Context, call Call, index int, raw json.RawMessage) bundle.Entry {
	e, err := s.parseEntry(call, index, raw)
	if err != nil {
		return errorEntry(err, nil)
	}
	r := e.request()
	switch e.method {
	case http.MethodPost, http.MethodPut:
		if r.Body, err = s.newRefResolver(ctx, call, false).rewrite(e, r.Body); err != nil {
			return errorEntry(entryError(index, e.method, e.rawURL(), err), nil)
		}
	case http.MethodPatch:
		if r.Body, r.ContentType, err = entryPatch(e); err != nil {
			return errorEntry(entryError(index, e.method, e.rawURL(), err), nil)
		}
	}
	res, err := s.Do(ctx, call, r)
	return s.entryOf(call, e, res, err)
}

// entryPatch returns the patch document of a PATCH entry and its media type: a FHIRPath Patch (the
// Parameters resource is the document) or a JSON Patch (a Binary resource with contentType
// application/json-patch+json holding it in base64), as http.html#transaction describes.
func entryPatch(e *txEntry) ([]byte, string, error) {
	if patch.IsFHIRPathPatch(e.body) {
		return e.body, MimeFHIRJSON, nil
	}
	var bin struct {
		ResourceType string `json:"resourceType"`
		ContentType  string `json:"contentType"`
		Data         string `json:"data"`
	}
	_ = json.Unmarshal(e.body, &bin)
	if ct, _, _ := mime.ParseMediaType(bin.ContentType); bin.ResourceType != "Binary" || ct != patch.MediaType {
		return nil, "", outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, e.where()+".resource",
			"a PATCH entry takes a Parameters resource (FHIRPath Patch) or a Binary resource with contentType %s holding a JSON Patch", patch.MediaType)
	}
	doc, err := base64.StdEncoding.DecodeString(bin.Data)
	if err != nil {
		return nil, "", outcome.At(http.StatusBadRequest, outcome.CodeValue, e.where()+".resource.data", "Binary.data is not base64: %v", err)
	}
	return doc, bin.ContentType, nil
}

// errorEntry is the response entry of a failed entry; v, when set, is the version the failure is about
// (a deleted resource read: its ETag and last modification).
func errorEntry(err error, v *storage.Version) bundle.Entry {
	e := OutcomeOf(err)
	resp := &bundle.Response{Status: bundle.Status(e.Status, http.StatusText(e.Status)), Outcome: outcome.Resource(e.Issues)}
	if v != nil {
		resp.Etag, resp.LastModified = v.ETag(), resource.FormatInstant(v.LastUpdated)
	}
	return bundle.Entry{Response: resp}
}

// entryOf is the response entry of entry e served with result res or error err: the resource (or, as
// the client prefers, nothing or an OperationOutcome in response.outcome), the status, Location, ETag and
// last modification time.
func (s *Service) entryOf(call Call, e *txEntry, res *Result, err error) bundle.Entry {
	if err != nil {
		var v *storage.Version
		if res != nil {
			v = res.Version
		}
		return errorEntry(entryError(e.index, e.method, e.rawURL(), err), v)
	}
	resp := &bundle.Response{Status: bundle.Status(res.Status, http.StatusText(res.Status)), Location: res.Location}
	out := bundle.Entry{Response: resp}
	if v := res.Version; v != nil {
		resp.Etag, resp.LastModified = v.ETag(), resource.FormatInstant(v.LastUpdated)
		if res.Write {
			out.FullURL = call.Base + "/" + v.Type + "/" + v.ID
		}
	}
	body, isOutcome := res.Representation(call.Return)
	switch {
	case e.method == http.MethodHead || len(body) == 0:
	case isOutcome:
		resp.Outcome = body
	default:
		out.Resource = body
		if out.FullURL == "" {
			var head struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			}
			if json.Unmarshal(body, &head) == nil && head.ID != "" && head.ResourceType != "Bundle" {
				out.FullURL = call.Base + "/" + head.ResourceType + "/" + head.ID
			}
		}
	}
	return out
}
