package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// refResolver resolves the references of the resources of a batch or transaction (http.html#trules):
// references to an entry's fullUrl (urn:uuid:, urn:oid: or a URL; in a transaction only) become the
// reference of the resource that entry creates or updates, and conditional references
// (Patient?identifier=http://sys|123) become the reference of the one resource their criteria match.
type refResolver struct {
	s    *Service
	ctx  context.Context
	call Call
	tx   bool
	// local maps fullUrls to "Type/id".
	local map[string]string
	// resolved caches conditional references by their canonical criteria.
	resolved map[string]string
	// candidates are the resources a transaction creates or updates, which conditional references may
	// match as well as stored resources. They are indexed from entries the first time a conditional
	// reference needs them (most transactions have none, and indexing every entry a second time costs
	// about a tenth of a transaction's CPU).
	candidates []candidate
	entries    []*txEntry
	indexed    bool
}

// bundleCandidates returns the candidates, indexing them on first use.
func (r *refResolver) bundleCandidates() []candidate {
	if !r.indexed {
		r.candidates, r.indexed = r.s.bundleCandidates(r.entries), true
	}
	return r.candidates
}

// candidate is a resource a transaction entry writes, indexed as it was sent.
type candidate struct {
	typ, id string
	index   map[string]any
}

// bundleCandidates indexes the resources the POST and PUT entries of a transaction write, so that a
// conditional reference can match a resource created in the same Bundle (a new patient and the
// resources that reference it by Patient?identifier=…). Entries whose body is not a valid resource
// are skipped here; their own processing reports them.
func (s *Service) bundleCandidates(entries []*txEntry) []candidate {
	var out []candidate
	for _, e := range entries {
		if e.existing != nil || (e.kind != storage.TxCreate && e.kind != storage.TxUpdate) || e.method == http.MethodPatch {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.body))
		dec.UseNumber()
		var tree map[string]any
		if dec.Decode(&tree) != nil {
			continue
		}
		index, err := s.registry.Index(e.write.Type, tree)
		if err != nil {
			continue
		}
		out = append(out, candidate{typ: e.write.Type, id: e.write.ID, index: index})
	}
	return out
}

func (s *Service) newRefResolver(ctx context.Context, call Call, tx bool) *refResolver {
	return &refResolver{s: s, ctx: ctx, call: call, tx: tx, local: map[string]string{}, resolved: map[string]string{}}
}

// rewrite returns body with its references resolved: every Reference.reference (a "reference" member with
// a string value, at any depth, contained resources included) and the href/src links of narratives.
// Everything else keeps its bytes. Malformed JSON is returned as is, for the validator to report.
func (r *refResolver) rewrite(e *txEntry, body []byte) ([]byte, error) {
	// Relative references resolve against the base of the entry's fullUrl (bundle.html#references).
	entryBase := ""
	if strings.HasPrefix(e.fullURL, "http://") || strings.HasPrefix(e.fullURL, "https://") {
		if parts := strings.Split(e.fullURL, "/"); len(parts) > 4 {
			entryBase = strings.Join(parts[:len(parts)-2], "/")
		}
	}
	resolve := func(path, ref string) (string, bool, error) {
		if to, ok := r.local[ref]; ok {
			return to, true, nil
		}
		if entryBase != "" && !hasScheme(ref) && strings.Count(ref, "/") == 1 {
			if to, ok := r.local[entryBase+"/"+ref]; ok {
				return to, true, nil
			}
		}
		if r.tx && (strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:")) {
			return "", false, outcome.At(http.StatusBadRequest, outcome.CodeNotFound, path, "reference %q names no entry of the transaction (no entry has that fullUrl)", ref)
		}
		if i := strings.IndexByte(ref, '?'); i > 0 && !hasScheme(ref) && !strings.Contains(ref[:i], "/") {
			return r.conditional(path, ref[:i], ref[i+1:])
		}
		return "", false, nil
	}
	link := func(v string) (string, bool) {
		to, ok := r.local[v]
		return to, ok
	}
	return resource.RewriteReferences(body, e.where()+".resource", resolve, link)
}

// conditional resolves a conditional reference to typ by its criteria.
func (r *refResolver) conditional(path, typ, criteria string) (string, bool, error) {
	ref := typ + "?" + criteria
	if !r.s.types[typ] {
		return "", false, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, path, "conditional reference %q: resource type %q is not supported by this server", ref, typ)
	}
	q, key, err := r.s.condition(typ, criteria, "conditional reference "+ref)
	if err != nil {
		e := OutcomeOf(err)
		for k := range e.Issues {
			e.Issues[k].Expression = append([]string{path}, e.Issues[k].Expression...)
		}
		return "", false, e
	}
	if to, ok := r.resolved[key]; ok {
		return to, true, nil
	}
	ctx, _, err := r.s.authorize(r.ctx, r.call, auth.Request{Interaction: "conditional-reference", Type: typ})
	if err != nil {
		return "", false, err
	}
	found, err := r.s.matches(ctx, q)
	if err != nil {
		return "", false, err
	}
	// The stored resources that match, and the resources of this transaction that will match once it
	// is applied (an entry updating a stored resource counts once).
	targets := map[string]bool{}
	for _, v := range found {
		targets[typ+"/"+v.ID] = true
	}
	for _, cand := range r.bundleCandidates() {
		if cand.typ != typ {
			continue
		}
		matched, supported := search.Match(q.Criteria, cand.id, cand.index)
		if !supported {
			break // criteria beyond the in-memory matcher: stored resources only
		}
		if matched {
			targets[typ+"/"+cand.id] = true
		}
	}
	switch {
	case len(targets) == 0:
		return "", false, outcome.At(http.StatusPreconditionFailed, outcome.CodeNotFound, path, "conditional reference %q matches no resource", ref)
	case len(targets) > 1:
		return "", false, outcome.At(http.StatusPreconditionFailed, outcome.CodeMultipleMatch, path, "conditional reference %q matches more than one resource; make the criteria more selective", ref)
	}
	var to string
	for t := range targets {
		to = t
	}
	r.resolved[key] = to
	return to, true, nil
}
