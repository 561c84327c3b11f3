// Package refint is the referential-integrity store decorator: writes keep references intact.
//
// The decorator wraps the store every interaction writes through, so that every write path — create,
// update, conditional create and update, PATCH, batch entries and transactions — is checked in one place,
// after the resource has been validated and indexed and right before it is stored:
//
//   - a resource to store may reference (any Reference.reference, found through its search.RefsField
//     index values) only current, non-deleted resources of the served types: otherwise 422 with one issue
//     per dangling reference, located by its FHIRPath;
//   - a resource may be deleted only when no current resource references it: otherwise 409 naming a few
//     of the referrers and their count.
//
// Inside a transaction, resources the transaction creates or updates count as present, resources it
// deletes as absent, and referrers it deletes or updates (their new versions are checked as writes) do not
// block a delete. References in absolute form are this server's when they start with the request's FHIR
// base (storage.Base of the context, which the interaction layer sets).
package refint

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// refStore is the decorator.
type refStore struct {
	storage.Store
	types map[string]bool
}

// codeBusinessRule is the issue type of a delete refused to keep references intact
// (http://hl7.org/fhir/R4/valueset-issue-type.html: "failed to pass some business rules").
const codeBusinessRule = "business-rule"

// maxReferrersShown bounds the referrers a refused delete names.
const maxReferrersShown = 10

// New returns store with referential integrity for the resource types served (references to other types
// cannot be checked and are left alone).
func New(store storage.Store, types []string) storage.Store {
	r := &refStore{Store: store, types: map[string]bool{}}
	for _, t := range types {
		r.types[t] = true
	}
	return r
}

func (r *refStore) baseOf(ctx context.Context) string {
	return strings.TrimRight(storage.Base(ctx), "/")
}

// txScope is what a transaction does to the resources it touches, by "Type/id".
type txScope struct {
	written map[string]bool // created or updated
	deleted map[string]bool
}

func (t *txScope) touches(key string) bool { return t != nil && (t.written[key] || t.deleted[key]) }

// ReadConsistent passes the wrapped store's consistent reads through (storage.ConsistentReader).
func (r *refStore) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	return storage.ReadConsistent(ctx, r.Store, types, read)
}

// Create implements storage.Store.
func (r *refStore) Create(ctx context.Context, w storage.Write) (*storage.Version, error) {
	if err := r.checkWrite(ctx, w, nil); err != nil {
		return nil, err
	}
	return r.Store.Create(ctx, w)
}

// Update implements storage.Store.
func (r *refStore) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	if err := r.checkWrite(ctx, w, nil); err != nil {
		return nil, false, err
	}
	return r.Store.Update(ctx, w, pre)
}

// Delete implements storage.Store.
func (r *refStore) Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error) {
	if err := r.checkDelete(ctx, typ, id, nil); err != nil {
		return nil, err
	}
	return r.Store.Delete(ctx, typ, id, pre)
}

// Transact implements storage.Store. A violation fails the transaction with a *storage.TxError naming the
// first op at fault.
func (r *refStore) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	scope := &txScope{written: map[string]bool{}, deleted: map[string]bool{}}
	for _, op := range ops {
		key := op.Write.Type + "/" + op.Write.ID
		if op.Kind == storage.TxDelete {
			scope.deleted[key] = true
		} else {
			scope.written[key] = true
		}
	}
	for i, op := range ops {
		var err error
		if op.Kind == storage.TxDelete {
			err = r.checkDelete(ctx, op.Write.Type, op.Write.ID, scope)
		} else {
			err = r.checkWrite(ctx, op.Write, scope)
		}
		if err != nil {
			return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
		}
	}
	return r.Store.Transact(ctx, ops)
}

// local returns the "Type/id" a reference index key names on this server (base is its FHIR base), or ""
// for a reference to another server or to a type this server does not serve: those cannot be checked.
func (r *refStore) local(key, base string) string {
	b, typ, id, ok := search.ParseReference(key)
	if !ok || !r.types[typ] || b != "" && b != base {
		return ""
	}
	return typ + "/" + id
}

// dangling is why a reference does not resolve.
type dangling struct {
	code, why string
}

// checkWrite checks that every reference of w to this server names a current resource: one Exists query
// per referenced type.
func (r *refStore) checkWrite(ctx context.Context, w storage.Write, scope *txScope) error {
	keys, _ := w.Index[search.RefsField].([]string)
	if len(keys) == 0 {
		return nil
	}
	base := r.baseOf(ctx)
	self := w.Type + "/" + w.ID
	bad := map[string]dangling{} // by "Type/id"
	ids := map[string][]string{} // type → ids to look up
	for _, k := range keys {
		ref := r.local(k, base)
		switch {
		case ref == "" || w.ID != "" && ref == self:
		case scope != nil && scope.deleted[ref]:
			bad[ref] = dangling{outcome.CodeDeleted, "is deleted by this transaction"}
		case scope != nil && scope.written[ref]:
		default:
			typ, id, _ := strings.Cut(ref, "/")
			ids[typ] = append(ids[typ], id)
		}
	}
	for typ, list := range ids {
		found, err := r.Store.Exists(ctx, typ, list)
		if err != nil {
			return fmt.Errorf("referential integrity of %s: %w", self, err)
		}
		for _, id := range list {
			switch live, ok := found[id]; {
			case !ok:
				bad[typ+"/"+id] = dangling{outcome.CodeNotFound, "does not exist on this server"}
			case !live:
				bad[typ+"/"+id] = dangling{outcome.CodeDeleted, "is deleted"}
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return r.danglingError(w, base, bad)
}

// danglingError reports the dangling references of w: 422, one issue per occurrence, located by the
// FHIRPath of its Reference.reference.
func (r *refStore) danglingError(w storage.Write, base string, bad map[string]dangling) error {
	e := &outcome.Error{Status: http.StatusUnprocessableEntity}
	add := func(path, value, ref string) {
		d := bad[ref]
		e.Issues = append(e.Issues, outcome.Issue{Severity: outcome.SeverityErr, Code: d.code, Expression: []string{path},
			Diagnostics: fmt.Sprintf("reference %q: %s %s (this server enforces referential integrity)", value, ref, d.why)})
	}
	_, _ = resource.RewriteReferences(w.Body, w.Type, func(path, value string) (string, bool, error) {
		if ref := r.local(value, base); ref != "" {
			if _, ok := bad[ref]; ok {
				add(path, value, ref)
			}
		}
		return "", false, nil
	}, func(string) (string, bool) { return "", false })
	if len(e.Issues) == 0 { // the body does not hold them (an index made elsewhere than by the registry)
		refs := make([]string, 0, len(bad))
		for ref := range bad {
			refs = append(refs, ref)
		}
		sort.Strings(refs)
		for _, ref := range refs {
			add(w.Type, ref, ref)
		}
	}
	return e
}

// checkDelete refuses to delete typ/id while current resources outside the transaction's scope reference
// it. The existence of typ/id is looked up only when referrers are found: deleting what is already gone
// (a no-op) is not refused for references that were left dangling before the check was enabled.
func (r *refStore) checkDelete(ctx context.Context, typ, id string, scope *txScope) error {
	target := typ + "/" + id
	keys := []string{target}
	if base := r.baseOf(ctx); base != "" {
		keys = append(keys, base+"/"+target)
	}
	limit := maxReferrersShown
	if scope != nil {
		limit += len(scope.written) + len(scope.deleted)
	}
	refs, total, err := r.Store.Referrers(ctx, keys, limit)
	if err != nil {
		return fmt.Errorf("referential integrity of %s: %w", target, err)
	}
	var others []string
	for _, ref := range refs {
		if ref == target || scope.touches(ref) {
			total--
			continue
		}
		others = append(others, ref)
	}
	if total <= 0 {
		return nil
	}
	found, err := r.Store.Exists(ctx, typ, []string{id})
	if err != nil {
		return fmt.Errorf("referential integrity of %s: %w", target, err)
	}
	if !found[id] {
		return nil // nothing to delete
	}
	if len(others) > maxReferrersShown {
		others = others[:maxReferrersShown]
	}
	list := strings.Join(others, ", ")
	if total > len(others) {
		list += fmt.Sprintf(" and %d more", total-len(others))
	}
	what := "resources reference"
	if total == 1 {
		what = "resource references"
	}
	hint := "delete them or remove their references first, or in the same transaction"
	return outcome.New(http.StatusConflict, codeBusinessRule, "%s cannot be deleted: %d %s it (%s); %s (this server enforces referential integrity)",
		target, total, what, list, hint)
}
