package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// DefaultMaxBundleEntries is the default of Config.MaxBundleEntries.
const DefaultMaxBundleEntries = 10000

// txEntry is one Bundle.entry of a batch or transaction.
type txEntry struct {
	index   int
	fullURL string
	method  string
	path    string // request.url relative to the base, without query
	query   string // raw query of request.url
	typ, id string // resource type and id request.url names (write interactions)
	body    []byte // entry.resource

	ifMatch, ifNoneMatch, ifModifiedSince, ifNoneExist string

	// Transactions: what the entry resolves to.
	cond     *search.Query  // criteria of a conditional interaction
	lock     string         // the lock named after them
	kind     storage.TxKind // the storage op (0: none)
	write    storage.Write  // Type and ID are the target
	pre      storage.Precondition
	existing *storage.Version // conditional create that matched: nothing is written
	matched  bool             // a conditional entry's criteria matched a resource
	found    []string         // what they matched (versionKeys), checked again under the locks
	result   storage.TxResult
}

// where names the entry in messages.
func (e *txEntry) where() string { return "Bundle.entry[" + strconv.Itoa(e.index) + "]" }

// target is the resource the entry writes, "Type/id".
func (e *txEntry) target() string { return e.write.Type + "/" + e.write.ID }

// fail400 is a 400 about entry e, located at the entry's element expression ("" for the entry itself).
func (e *txEntry) fail400(code, expression, format string, args ...any) error {
	return entryError(e.index, e.method, e.rawURL(), outcome.At(http.StatusBadRequest, code, e.where()+expression, format, args...))
}

// request is the interaction the entry describes.
func (e *txEntry) request() Request {
	return Request{Method: e.method, Path: e.path, Query: e.query, Body: e.body,
		IfMatch: e.ifMatch, IfNoneMatch: e.ifNoneMatch, IfModifiedSince: e.ifModifiedSince, IfNoneExist: e.ifNoneExist}
}

func (e *txEntry) rawURL() string {
	if e.query == "" {
		return e.path
	}
	return e.path + "?" + e.query
}

// rawEntry is Bundle.entry as decoded (the resource kept as bytes).
type rawEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *struct {
		Method          string `json:"method"`
		URL             string `json:"url"`
		IfNoneMatch     string `json:"ifNoneMatch"`
		IfModifiedSince string `json:"ifModifiedSince"`
		IfMatch         string `json:"ifMatch"`
		IfNoneExist     string `json:"ifNoneExist"`
	} `json:"request"`
}

// Bundle serves POST [base] with a Bundle of type batch or transaction (http.html#transaction) and
// answers the batch-response or transaction-response Bundle.
func (s *Service) Bundle(ctx context.Context, call Call, data []byte) (*Result, error) {
	ctx = call.context(ctx)
	if _, _, err := s.authorize(ctx, call, auth.Request{Interaction: "batch"}); err != nil {
		return nil, err // no token at all (each entry is authorized as its own interaction)
	}
	var b struct {
		ResourceType *string           `json:"resourceType"`
		Type         *string           `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "malformed JSON at byte offset %d: %v", syn.Offset, err)
		}
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "Bundle", "the body is not a Bundle: %v", err)
	}
	switch {
	case b.ResourceType == nil:
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "Bundle.resourceType", "resourceType is missing; POST to the base takes a Bundle")
	case *b.ResourceType != "Bundle":
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "Bundle.resourceType", "resourceType is %q; POST to the base takes a Bundle of type batch or transaction", *b.ResourceType)
	case b.Type == nil:
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "Bundle.type", "Bundle.type is missing; expected batch or transaction")
	case *b.Type != "batch" && *b.Type != "transaction":
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeValue, "Bundle.type", "Bundle.type is %q; POST to the base processes batch and transaction Bundles only", *b.Type)
	}
	if max := s.cfg.MaxBundleEntries; len(b.Entry) > max {
		return nil, outcome.At(http.StatusRequestEntityTooLarge, outcome.CodeTooLong, "Bundle.entry",
			"the %s has %d entries; this server processes at most %d per Bundle: split it", *b.Type, len(b.Entry), max)
	}
	var out *bundle.Bundle
	if *b.Type == "batch" {
		out = s.batch(ctx, call, b.Entry)
	} else {
		var err error
		if out, err = s.transaction(ctx, call, b.Entry); err != nil {
			return nil, err
		}
	}
	return &Result{Status: http.StatusOK, Body: out.Encode()}, nil
}

// parseEntry decodes and checks one entry's envelope: request.method and request.url, fullUrl, and the
// presence of a resource where the interaction needs one.
func (s *Service) parseEntry(call Call, index int, raw json.RawMessage) (*txEntry, error) {
	e := &txEntry{index: index}
	var re rawEntry
	if err := json.Unmarshal(raw, &re); err != nil {
		return nil, entryError(index, "", "", outcome.New(http.StatusBadRequest, outcome.CodeStructure, "not a valid Bundle.entry: %v", err))
	}
	if re.Request == nil {
		return nil, e.fail400(outcome.CodeRequired, ".request", "entry.request is required in a batch or transaction")
	}
	r := re.Request
	e.method = r.Method
	e.ifMatch, e.ifNoneMatch, e.ifModifiedSince, e.ifNoneExist = r.IfMatch, r.IfNoneMatch, r.IfModifiedSince, r.IfNoneExist
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
	case "":
		return nil, e.fail400(outcome.CodeRequired, ".request.method", "request.method is required")
	default:
		return nil, e.fail400(outcome.CodeValue, ".request.method", "request.method %q is not one of GET, HEAD, POST, PUT, DELETE, PATCH", r.Method)
	}
	u := r.URL
	if u == "" {
		return nil, e.fail400(outcome.CodeRequired, ".request.url", "request.url is required")
	}
	if base := call.Base; strings.HasPrefix(u, base+"/") || u == base {
		u = strings.TrimPrefix(strings.TrimPrefix(u, base), "/")
	} else if hasScheme(u) {
		return nil, e.fail400(outcome.CodeNotSupported, ".request.url", "request.url %q is not on this server (%s); use a URL relative to the base", u, base)
	}
	u = strings.TrimPrefix(u, "/")
	e.path, e.query, _ = strings.Cut(u, "?")
	e.body = re.Resource
	if len(bytes.TrimSpace(e.body)) == 0 || string(bytes.TrimSpace(e.body)) == "null" {
		e.body = nil
	}
	if re.FullURL != "" {
		e.fullURL = re.FullURL
		if !validFullURL(re.FullURL) {
			return nil, e.fail400(outcome.CodeValue, ".fullUrl", "fullUrl %q is not an absolute URL, urn:uuid:<uuid> or urn:oid:<oid>", re.FullURL)
		}
	}
	segs := strings.Split(e.path, "/")
	switch e.method {
	case http.MethodGet, http.MethodHead:
		return e, nil
	case http.MethodPost:
		if len(segs) != 1 || e.query != "" || e.path == "" || strings.HasPrefix(e.path, "$") || strings.HasPrefix(e.path, "_") {
			return nil, e.fail400(outcome.CodeNotSupported, ".request.url", "POST entries create resources: request.url must be a resource type such as \"Patient\", not %q", r.URL)
		}
	case http.MethodPut, http.MethodDelete, http.MethodPatch:
		switch {
		case len(segs) == 2 && e.query == "" && validID(segs[1]):
			e.id = segs[1]
		case len(segs) == 1 && e.query != "":
			// conditional
		default:
			return nil, e.fail400(outcome.CodeValue, ".request.url", "%s entries take request.url [type]/[id] or [type]?[criteria], not %q", e.method, r.URL)
		}
	}
	e.typ = segs[0]
	if err := s.writable(e.typ); err != nil && e.method != http.MethodGet && e.method != http.MethodHead {
		return nil, entryError(index, e.method, e.rawURL(), err)
	}
	if !s.types[e.typ] {
		return nil, entryError(index, e.method, e.rawURL(), outcome.At(http.StatusNotFound, outcome.CodeNotSupported, e.where()+".request.url", "resource type %q is not supported by this server", e.typ))
	}
	if e.method != http.MethodDelete && e.body == nil {
		return nil, e.fail400(outcome.CodeRequired, ".resource", "%s entries need a resource", e.method)
	}
	return e, nil
}

// validID reports a valid resource id: 1 to 64 letters, digits, '-' and '.'.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// hasScheme reports whether s starts with a URI scheme ("http:", "urn:").
func hasScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for k := 0; k < i; k++ {
		c := s[k]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || k > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// validFullURL accepts the fullUrl forms of bundle.html#fullUrl: an absolute URL, urn:uuid:, urn:oid:.
func validFullURL(u string) bool {
	switch {
	case strings.HasPrefix(u, "urn:uuid:"):
		id := u[len("urn:uuid:"):]
		if len(id) != 36 {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return false
				}
			} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
		return true
	case strings.HasPrefix(u, "urn:oid:"):
		oid := u[len("urn:oid:"):]
		return oid != "" && strings.Trim(oid, "0123456789.") == ""
	}
	p, err := url.Parse(u)
	return err == nil && p.IsAbs() && (p.Host != "" || p.Opaque != "") && !strings.ContainsAny(u, " \t\r\n")
}

// transaction processes a transaction Bundle (http.html#trules): all of it or nothing. Conditional
// interactions are resolved first and confirmed under database locks named after their criteria (the same
// locks as single conditional interactions take), taken in sorted order and held until the transaction is
// stored, except those of conditional creates that matched (see below); then
// fullUrls (urn:uuid: and others) and conditional references are resolved in every Reference.reference
// of every resource; each resource is validated and indexed as a single create or update would; the
// writes (DELETE, then POST, then PUT and PATCH) are stored with one storage transaction; the reads (GET,
// HEAD) run last and see the writes.
func (s *Service) transaction(ctx context.Context, call Call, raws []json.RawMessage) (*bundle.Bundle, error) {
	entries := make([]*txEntry, len(raws))
	fullURLs := map[string]int{}
	for i, raw := range raws {
		e, err := s.parseEntry(call, i, raw)
		if err != nil {
			return nil, err
		}
		if e.fullURL != "" {
			if j, dup := fullURLs[e.fullURL]; dup {
				return nil, e.fail400(outcome.CodeDuplicate, ".fullUrl", "fullUrl %q is also the fullUrl of Bundle.entry[%d]", e.fullURL, j)
			}
			fullURLs[e.fullURL] = i
		}
		entries[i] = e
	}

	// Every write entry is authorized before anything is matched or written; with patient/ scopes the
	// whole transaction is confined to the patient's compartment.
	for _, e := range entries {
		var err error
		if ctx, err = s.authorizeEntry(ctx, call, e); err != nil {
			return nil, entryError(e.index, e.method, e.rawURL(), err)
		}
	}

	// Conditional interactions: criteria, then locks, then matches.
	locks := map[string]int{}
	for _, e := range entries {
		raw, where := "", ""
		switch {
		case e.method == http.MethodPost && e.ifNoneExist != "":
			raw, where = e.ifNoneExist, "ifNoneExist"
		case e.id == "" && (e.method == http.MethodPut || e.method == http.MethodDelete || e.method == http.MethodPatch):
			raw, where = e.query, "conditional "+strings.ToLower(e.method)
		default:
			continue
		}
		q, lock, err := s.condition(e.typ, raw, where)
		if err != nil {
			return nil, entryError(e.index, e.method, e.rawURL(), err)
		}
		if j, dup := locks[lock]; dup && e.method == http.MethodPost && entries[j].method == http.MethodPost {
			return nil, e.fail400(outcome.CodeDuplicate, ".request.ifNoneExist", "Bundle.entry[%d] has the same ifNoneExist criteria; a transaction creates a resource at most once per criteria", j)
		}
		locks[lock] = e.index
		e.cond, e.lock = q, lock
	}
	names := make([]string, 0, len(locks))
	for name := range locks {
		names = append(names, name)
	}
	sort.Strings(names)

	// The writes are planned (targets matched, references resolved, every resource validated and indexed)
	// before the locks are taken, so that transactions sharing a criterion — every Bundle of an EHR feed
	// that conditionally creates the same Practitioner or Organization — run side by side and queue only
	// for the check and the store. Under the locks every criterion is matched again: when each matches
	// what it matched before (the usual case) the plan is stored as it is; otherwise, or when planning
	// failed, the plan is made again under the locks, and that one is authoritative. Either way the
	// transaction is as if it had been planned entirely under the locks.
	planned, refs, perr := s.planTransaction(ctx, call, entries)
	releases := make(map[string]func(), len(names))
	defer func() {
		for _, release := range releases {
			release()
		}
	}()
	for _, name := range names {
		release, err := s.store.Lock(ctx, name)
		if err != nil {
			return nil, storageError(err, "", "")
		}
		releases[name] = release
	}
	if len(names) > 0 {
		same := perr == nil
		for _, e := range entries {
			if !same {
				break
			}
			if e.cond != nil {
				found, err := s.matches(ctx, e.cond)
				if err != nil {
					return nil, err
				}
				same = slices.Equal(versionKeys(found), e.found)
			}
		}
		if !same {
			for _, e := range entries {
				e.replan()
			}
			planned, refs, perr = s.planTransaction(ctx, call, entries)
		}
	}
	if perr != nil {
		return nil, perr
	}
	ctx = planned
	// A conditional create whose criteria match creates nothing: its lock has done its work once the match
	// is confirmed under it, and is released now rather than after the store, so that the next transaction
	// with the same criteria (the Practitioner every Bundle of a feed names) need not wait for this one's
	// writes. A lock that guards a create, an update or a delete is kept until the end.
	keep := map[string]bool{}
	for _, e := range entries {
		if e.cond != nil && !(e.method == http.MethodPost && e.existing != nil) {
			keep[e.lock] = true
		}
	}
	for name, release := range releases {
		if !keep[name] {
			release()
			delete(releases, name)
		}
	}

	// Store every write at once, in the processing order of the specification.
	var ops []storage.TxOp
	var owners []*txEntry
	for _, method := range []string{http.MethodDelete, http.MethodPost, http.MethodPut, http.MethodPatch} {
		for _, e := range entries {
			if e.method == method && e.kind != 0 {
				ops = append(ops, storage.TxOp{Kind: e.kind, Write: e.write, Precondition: e.pre})
				owners = append(owners, e)
			}
		}
	}
	results, err := s.store.Transact(ctx, ops)
	if err != nil {
		var txErr *storage.TxError
		if errors.As(err, &txErr) && txErr.Index >= 0 && txErr.Index < len(owners) {
			e := owners[txErr.Index]
			if e.method == http.MethodPut && e.ifNoneMatch != "" && errors.Is(txErr.Err, storage.ErrExists) {
				return nil, entryError(e.index, e.method, e.rawURL(), noneMatchFailed(e.write))
			}
			return nil, entryError(e.index, e.method, e.rawURL(), txError(txErr.Err, e.write.Type, e.write.ID))
		}
		return nil, txError(err, "", "")
	}
	for k, e := range owners {
		e.result = results[k]
	}

	out := bundle.New("transaction-response", storage.NewID(), s.now())
	out.Entry = make([]bundle.Entry, len(entries))
	for _, e := range entries {
		switch e.method {
		case http.MethodGet, http.MethodHead:
			continue // below, after every write
		}
		out.Entry[e.index] = s.entryOf(call, e, s.writeResult(call, e), nil)
	}
	for _, e := range entries {
		if e.method == http.MethodGet || e.method == http.MethodHead {
			res, err := s.Do(ctx, call, e.readRequest(refs.local))
			out.Entry[e.index] = s.entryOf(call, e, res, err)
		}
	}
	return out, nil
}

// planTransaction decides what each entry of a transaction writes (transaction): its target after
// matching its criteria, the references to other entries and conditional references resolved, the
// resource validated and indexed. It returns the context the authorization of conditional updates that
// create leaves, and the resolver of the references (for the reads that follow the writes).
func (s *Service) planTransaction(ctx context.Context, call Call, entries []*txEntry) (context.Context, *refResolver, error) {
	for _, e := range entries {
		if err := s.resolveTarget(ctx, e); err != nil {
			return nil, nil, entryError(e.index, e.method, e.rawURL(), err)
		}
		if e.method == http.MethodPut && e.cond != nil && e.kind != 0 && !e.matched {
			// A conditional update without a match creates.
			var err error
			if ctx, _, err = s.authorize(ctx, call, auth.Request{Interaction: "conditional-update-create", Type: e.typ}); err != nil {
				return nil, nil, entryError(e.index, e.method, e.rawURL(), err)
			}
		}
	}
	// A resource may be written by one entry only (http.html#trules).
	targets := map[string]int{}
	for _, e := range entries {
		if e.kind == 0 {
			continue
		}
		if j, dup := targets[e.target()]; dup {
			return nil, nil, e.fail400(outcome.CodeDuplicate, ".request", "%s is also written by Bundle.entry[%d]; a transaction writes each resource at most once", e.target(), j)
		}
		targets[e.target()] = e.index
	}

	// References to entries: fullUrl → the resource's id on this server.
	refs := s.newRefResolver(ctx, call, true)
	for _, e := range entries {
		if e.fullURL == "" {
			continue
		}
		switch {
		case e.existing != nil:
			refs.local[e.fullURL] = e.existing.Type + "/" + e.existing.ID
		case e.kind == storage.TxCreate || e.kind == storage.TxUpdate:
			refs.local[e.fullURL] = e.target()
		}
	}
	refs.entries = entries // the conditional references' candidates (bundleCandidates), indexed when needed
	for _, e := range entries {
		if err := s.prepareWrite(ctx, e, refs); err != nil {
			return nil, nil, entryError(e.index, e.method, e.rawURL(), err)
		}
	}
	return ctx, refs, nil
}

// versionKeys names versions as Type/id/versionId, to compare what a criterion matched.
func versionKeys(vs []*storage.Version) []string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Type + "/" + v.ID + "/" + strconv.FormatInt(v.VersionID, 10)
	}
	return keys
}

// replan forgets what planTransaction decided for the entry, before it plans again.
func (e *txEntry) replan() {
	e.kind, e.write, e.pre, e.existing, e.matched, e.found = 0, storage.Write{}, storage.Precondition{}, nil, false, nil
}

// resolveTarget decides what a write entry of a transaction does: its storage op and target resource,
// after matching its criteria when it is conditional.
func (s *Service) resolveTarget(ctx context.Context, e *txEntry) error {
	var found []*storage.Version
	if e.cond != nil {
		var err error
		if found, err = s.matches(ctx, e.cond); err != nil {
			return err
		}
		e.matched, e.found = len(found) > 0, versionKeys(found)
		if len(found) > 1 {
			what := "ifNoneExist"
			if e.method != http.MethodPost {
				what = "conditional " + strings.ToLower(e.method)
			}
			return tooMany(what)
		}
	}
	m, ok := parseIfMatch(e.ifMatch)
	if !ok {
		return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, e.where()+".request.ifMatch", "%s", malformedIfMatch("ifMatch", e.ifMatch))
	}
	e.write = storage.Write{Type: e.typ, ID: e.id, Method: e.method}
	switch e.method {
	case http.MethodPost:
		if len(found) == 1 {
			e.existing = found[0]
			return nil
		}
		e.kind, e.write.ID = storage.TxCreate, storage.NewID()
	case http.MethodPut:
		e.kind = storage.TxUpdate
		if e.cond != nil {
			if len(found) == 1 {
				e.write.ID = found[0].ID
			} // else: the body's id, or a new one (prepareWrite)
		}
	case http.MethodDelete:
		if e.cond != nil {
			if len(found) == 0 {
				return nil // nothing to delete
			}
			e.write.ID = found[0].ID
		}
		e.kind = storage.TxDelete
	case http.MethodPatch:
		if e.cond != nil {
			if len(found) == 0 {
				return outcome.New(http.StatusNotFound, outcome.CodeNotFound, "conditional patch: no %s matches the criteria", e.typ)
			}
			e.write.ID = found[0].ID
		}
		e.kind = storage.TxUpdate
	}
	if e.kind != 0 && e.write.ID == "" && e.method == http.MethodPut {
		// Conditional update without a match: the body's id decides (prepareWrite); reserve a target now
		// so that overlaps are detected on something.
		id, err := bodyID(e.body)
		if err != nil {
			return err
		}
		if id != "" {
			e.write.ID = id
		} else {
			e.kind, e.write.ID = storage.TxCreate, storage.NewID()
		}
	}
	if e.kind != 0 {
		// The precondition of the op: a version named by ifMatch, or one decided now against the current
		// version, which the store then compares-and-sets (ifMatchCond).
		var err error
		if e.pre, err = s.precondition(ctx, m, e.write.Type, e.write.ID); err != nil {
			return err
		}
		if e.method == http.MethodPut && e.ifNoneMatch != "" {
			// If-None-Match on an update (WriteCondition): a create of the id, or a compare-and-set.
			none, ok := parseIfMatch(e.ifNoneMatch)
			if !ok {
				return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, e.where()+".request.ifNoneMatch", "%s",
					strings.Replace(malformedIfMatch("ifNoneMatch", e.ifNoneMatch), "If-Match", "If-None-Match", 1))
			}
			create, pre, err := s.noneMatchPlan(ctx, e.write, e.pre, none)
			if err != nil {
				return storageError(err, e.write.Type, e.write.ID)
			}
			if e.pre = pre; create {
				e.kind = storage.TxCreate
			}
		}
	}
	return nil
}

// bodyID reads the id of a resource without validating it.
func bodyID(body []byte) (string, error) {
	var r struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", nil // malformed: the validator will say why
	}
	id, _ := r.ID.(string)
	return id, nil
}

// prepareWrite builds the resource a POST, PUT or PATCH entry stores: references resolved, validated,
// id rules of create and update applied, search index extracted.
func (s *Service) prepareWrite(ctx context.Context, e *txEntry, refs *refResolver) error {
	if e.kind == 0 || e.kind == storage.TxDelete {
		return nil
	}
	body := e.body
	if e.method == http.MethodPatch {
		var err error
		if body, err = s.patched(ctx, e); err != nil {
			return err
		}
	}
	body, err := refs.rewrite(e, body)
	if err != nil {
		return err
	}
	w, got, err := s.pipeline.Prepare(e.typ, body)
	if err != nil {
		if e.method == http.MethodPatch {
			return unprocessable(err)
		}
		return err
	}
	switch e.method {
	case http.MethodPut:
		// http.html#update: the body carries the id of the URL; a conditional update's body may omit it.
		switch {
		case e.id != "" && got == "":
			return outcome.At(http.StatusBadRequest, outcome.CodeRequired, e.typ+".id", "the resource must carry id %q to be updated at %s/%s", e.id, e.typ, e.id)
		case e.id != "" && got != e.id:
			return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, e.typ+".id", "resource id %q does not match the URL id %q", got, e.id)
		case e.id == "" && got != "" && got != e.write.ID:
			return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, e.typ+".id", "resource id %q differs from the id %q of the resource the criteria match", got, e.write.ID)
		}
	case http.MethodPatch:
		if got != e.write.ID {
			return outcome.At(http.StatusUnprocessableEntity, outcome.CodeInvalid, e.typ+".id", "the patch changes the resource id to %q", got)
		}
	}
	e.write.Body, e.write.Index = w.Body, w.Index
	return nil
}

// patched applies a PATCH entry's patch to the current version, which the write then expects
// (compare-and-set): a JSON Patch (a Binary resource with contentType application/json-patch+json) or a
// FHIRPath Patch (a Parameters resource), as http.html#transaction describes.
func (s *Service) patched(ctx context.Context, e *txEntry) ([]byte, error) {
	doc, ct, err := entryPatch(e)
	if err != nil {
		return nil, err
	}
	apply, err := s.patchFormat(ct)
	if err != nil {
		return nil, err
	}
	cur, err := s.store.Read(ctx, e.typ, e.write.ID)
	if err != nil {
		return nil, storageError(err, e.typ, e.write.ID)
	}
	if e.pre.VersionID != 0 && e.pre.VersionID != cur.VersionID {
		return nil, storageError(&storage.VersionConflictError{Expected: e.pre.VersionID, Current: cur.VersionID}, e.typ, e.write.ID)
	}
	e.pre = storage.Precondition{VersionID: cur.VersionID}
	return apply(cur.Body, doc)
}

// writeResult is the result of a write entry of a committed transaction.
func (s *Service) writeResult(call Call, e *txEntry) *Result {
	switch {
	case e.existing != nil:
		return written(call, http.StatusOK, e.existing, "a matching resource exists:")
	case e.kind == storage.TxDelete:
		res := deleted(e.write.Type, "", e.result.Version)
		if e.result.Version == nil {
			res.Message = "nothing to delete"
		}
		return res
	case e.kind == 0:
		return deleted(e.typ, "", nil)
	case e.result.Created:
		return written(call, http.StatusCreated, e.result.Version, "created")
	case e.method == http.MethodPatch:
		return written(call, http.StatusOK, e.result.Version, "patched")
	}
	return written(call, http.StatusOK, e.result.Version, "updated")
}

// readRequest is a GET or HEAD entry's request, run after the writes; query values naming an entry's
// fullUrl are replaced by the resource's reference.
func (e *txEntry) readRequest(local map[string]string) Request {
	r := e.request()
	if e.query != "" {
		if params, err := url.ParseQuery(e.query); err == nil {
			changed := false
			for _, vs := range params {
				for k, v := range vs {
					if ref, ok := local[v]; ok {
						vs[k], changed = ref, true
					}
				}
			}
			if changed {
				r.Query = params.Encode()
			}
		}
	}
	r.IfMatch, r.IfNoneExist = "", ""
	return r
}
