package interaction

import (
	"context"
	"fmt"
	"net/http"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Pipeline is the one write pipeline (parse → validate → index → storage.Write) of every write path: the
// interactions here, batch and transaction entries, the test helpers and the benchmark tool.
type Pipeline struct {
	Validator Validator
	Registry  *search.Registry
}

// Prepare validates body as a resource of type typ and extracts its search index. It returns the write to
// store (Type, Body and Index set; the caller decides ID and Method) and the resource's id ("" when it has
// none). An invalid resource is a 400 *outcome.Error.
func (p Pipeline) Prepare(typ string, body []byte) (storage.Write, string, error) {
	tree, verr := p.Validator.Validate(typ, body)
	if verr != nil {
		return storage.Write{}, "", verr
	}
	index, err := p.Registry.Index(typ, tree)
	if err != nil {
		return storage.Write{}, "", fmt.Errorf("index %s: %w", typ, err)
	}
	id, _ := tree["id"].(string)
	return storage.Write{Type: typ, Body: body, Index: index}, id, nil
}

// versionURL is the URL of version v under base.
func versionURL(base string, v *storage.Version) string {
	return fmt.Sprintf("%s/%s/%s/_history/%d", base, v.Type, v.ID, v.VersionID)
}

// written is the result of a write that stored (or, for a conditional create, found) version v; what
// says what happened ("created", "updated", …).
func written(call Call, status int, v *storage.Version, what string) *Result {
	return &Result{Status: status, Version: v, Location: versionURL(call.Base, v), Write: true,
		Message: fmt.Sprintf("%s %s/%s, version %d", what, v.Type, v.ID, v.VersionID)}
}

// Create serves create (http.html#create), conditional when ifNoneExist (the If-None-Exist criteria) is
// set. An id in the body is ignored; the server assigns one.
func (s *Service) Create(ctx context.Context, call Call, typ string, body []byte, ifNoneExist string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	name := "create"
	if ifNoneExist != "" {
		name = "conditional-create"
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: name, Type: typ})
	if err != nil {
		return nil, err
	}
	w, _, err := s.pipeline.Prepare(typ, body)
	if err != nil {
		return nil, err
	}
	if ifNoneExist != "" {
		return s.conditionalCreate(ctx, call, typ, w, ifNoneExist)
	}
	return s.create(ctx, call, w)
}

// create stores w as a new resource.
func (s *Service) create(ctx context.Context, call Call, w storage.Write) (*Result, error) {
	v, err := s.store.Create(ctx, w)
	if err != nil {
		return nil, storageError(err, w.Type, "")
	}
	return written(call, http.StatusCreated, v, "created"), nil
}

// Update serves update (http.html#update), honouring the If-Match and If-None-Match values of cond ("" for
// none; see WriteCondition): the body carries the id of the URL; an absent resource is created with it.
func (s *Service) Update(ctx context.Context, call Call, typ, id string, body []byte, cond WriteCondition) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, err := s.authorizeUpdate(call.context(ctx), call, "update", "update-create", typ, id)
	if err != nil {
		return nil, err
	}
	pre, err := ifMatch("If-Match", cond.IfMatch)
	if err != nil {
		return nil, err
	}
	none, err := ifNoneMatch("If-None-Match", cond.IfNoneMatch)
	if err != nil {
		return nil, err
	}
	w, bodyID, err := s.pipeline.Prepare(typ, body)
	if err != nil {
		return nil, err
	}
	// http.html#update: the body SHALL carry an id equal to the URL's.
	if bodyID == "" {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, typ+".id", "the resource must carry id %q to be updated at %s/%s", id, typ, id)
	}
	if bodyID != id {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, typ+".id", "resource id %q does not match the URL id %q", bodyID, id)
	}
	p, err := s.precondition(ctx, pre, typ, id)
	if err != nil {
		return nil, err
	}
	w.ID = id
	var v *storage.Version
	created := false
	if none.given {
		v, created, err = s.updateIfNoneMatch(ctx, w, p, none)
	} else {
		v, created, err = s.store.Update(ctx, w, p)
	}
	if err != nil {
		return nil, storageError(err, typ, id)
	}
	if created {
		return written(call, http.StatusCreated, v, "created"), nil
	}
	return written(call, http.StatusOK, v, "updated"), nil
}

// Delete serves delete (http.html#delete), honouring ifMatch.
func (s *Service) Delete(ctx context.Context, call Call, typ, id, ifMatchValue string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: "delete", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, typ, id, ifMatchValue)
}

// delete deletes typ/id, honouring ifMatch, in an authorized context.
func (s *Service) delete(ctx context.Context, typ, id, ifMatchValue string) (*Result, error) {
	m, err := ifMatch("If-Match", ifMatchValue)
	if err != nil {
		return nil, err
	}
	pre, err := s.precondition(ctx, m, typ, id)
	if err != nil {
		return nil, err
	}
	v, err := s.store.Delete(ctx, typ, id, pre)
	if err != nil {
		return nil, storageError(err, typ, id)
	}
	return deleted(typ, id, v), nil
}

// authorizeUpdate authorizes an update of typ/id: name (update), or create (update-create) as well when the
// resource does not exist (as the call sees it), since the update then creates it.
func (s *Service) authorizeUpdate(ctx context.Context, call Call, name, createName, typ, id string) (context.Context, error) {
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: name, Type: typ, ID: id})
	if err != nil || s.cfg.Policy == nil || id == "" {
		return ctx, err
	}
	if ok, err := s.exists(ctx, typ, id); err != nil || ok {
		return ctx, err
	}
	ctx, _, err = s.authorize(ctx, call, auth.Request{Interaction: createName, Type: typ, ID: id})
	return ctx, err
}

// deleted is the result of a delete: v is the deletion version, nil when there was nothing to delete.
func deleted(typ, id string, v *storage.Version) *Result {
	msg := "no matching resource; nothing was deleted"
	if id != "" {
		msg = fmt.Sprintf("%s/%s is not present (already deleted or never existed)", typ, id)
	}
	if v != nil {
		msg = fmt.Sprintf("deleted %s/%s (version %d)", typ, v.ID, v.VersionID)
	}
	return &Result{Status: http.StatusNoContent, Version: v, Delete: true, Message: msg}
}
