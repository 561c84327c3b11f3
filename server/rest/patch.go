package rest

import (
	"context"
	"errors"
	"math/rand/v2"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/storage"
)

// maxPatchAttempts bounds retries of a patch whose base version changed under it (no If-Match given).
const maxPatchAttempts = 64

// patchInstance serves PATCH [base]/[type]/[id].
func (s *Server) patchInstance(c *gin.Context) { s.patch(c, c.Param("type"), c.Param("id")) }

// conditionalPatch serves PATCH [base]/[type]?criteria: one match is patched, none is 404, several 412.
func (s *Server) conditionalPatch(c *gin.Context) {
	typ := c.Param("type")
	q, _, err := s.condition(c, typ, c.Request.URL.RawQuery, "conditional patch")
	if err != nil {
		s.fail(c, err)
		return
	}
	found, err := s.matches(c.Request.Context(), q)
	switch {
	case err != nil:
		s.fail(c, err)
	case len(found) == 0:
		s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "conditional patch: no %s matches the criteria", typ))
	case len(found) > 1:
		s.fail(c, tooMany("conditional patch"))
	default:
		s.patch(c, typ, found[0].ID)
	}
}

// patch applies a JSON Patch or FHIRPath Patch to the current version and stores the result as a new version, validated
// like any update. The new version is written with a compare-and-set on the version the patch was
// applied to: with If-Match a concurrent change is a 412; without, the patch is re-applied to the newer
// version, so no concurrent update is lost.
func (s *Server) patch(c *gin.Context, typ, id string) {
	apply, err := s.patchFormat(c.GetHeader("Content-Type"))
	if err != nil {
		s.fail(c, err)
		return
	}
	m, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	doc, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	pre, err := s.precondition(ctx, m, typ, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, _, err := s.editCurrent(ctx, typ, id, pre, "the patch", func(body []byte) ([]byte, bool, error) {
		patched, err := apply(body, doc)
		return patched, true, err
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respondWrite(c, http.StatusOK, v, "patched")
}

// editCurrent applies edit to the current version of typ/id and stores the result as a new version
// (method PATCH), validated like any update (an invalid result is 422; so is a changed id). The new version
// is written with a compare-and-set on the version edited: with If-Match (pre) a concurrent change is a
// 412; without, the edit is re-applied to the newer version after a short jittered pause, so no
// concurrent update is lost. When edit reports no change, nothing is stored and the current version is
// returned (changed false). what names the edit in the error after too many lost races.
func (s *Server) editCurrent(ctx context.Context, typ, id string, pre storage.Precondition, what string,
	edit func(body []byte) ([]byte, bool, error)) (*storage.Version, bool, error) {
	for attempt := 0; attempt < maxPatchAttempts; attempt++ {
		cur, err := s.store.Read(ctx, typ, id)
		if err != nil {
			return nil, false, storageError(err, typ, id)
		}
		if pre.VersionID != 0 && pre.VersionID != cur.VersionID {
			return nil, false, storageError(&storage.VersionConflictError{Expected: pre.VersionID, Current: cur.VersionID}, typ, id)
		}
		body, changed, err := edit(cur.Body)
		if err != nil {
			return nil, false, err
		}
		if !changed {
			return cur, false, nil
		}
		tree, verr := s.validator.Validate(typ, body)
		if verr != nil {
			// The edit produced an invalid resource: the request is understood but cannot be applied.
			verr.Status = http.StatusUnprocessableEntity
			return nil, false, verr
		}
		if got, _ := tree["id"].(string); got != id {
			return nil, false, outcome.At(http.StatusUnprocessableEntity, outcome.CodeInvalid, typ+".id", "%s changes the resource id to %q", what, got)
		}
		index, err := s.registry.Index(typ, tree)
		if err != nil {
			return nil, false, err
		}
		v, _, err := s.store.Update(ctx, storage.Write{Type: typ, ID: id, Body: body, Index: index, Method: "PATCH"},
			storage.Precondition{VersionID: cur.VersionID})
		var conflict *storage.VersionConflictError
		if errors.As(err, &conflict) && pre.VersionID == 0 {
			// Changed under us: edit the newer version, after a short jittered pause so that concurrent
			// editors of one resource do not retry in lockstep.
			if err := retryPause(ctx, attempt); err != nil {
				return nil, false, storageError(err, typ, id)
			}
			continue
		}
		if err != nil {
			return nil, false, storageError(err, typ, id)
		}
		return v, true, nil
	}
	return nil, false, outcome.New(http.StatusConflict, outcome.CodeConflict, "%s/%s changed %d times while %s was applied; retry", typ, id, maxPatchAttempts, what)
}

// patchFormat returns the function that applies a patch body of media type ct (http.html#patch): JSON
// Patch for application/json-patch+json, FHIRPath Patch (a Parameters resource, fhirpatch.html) for the
// FHIR JSON media types.
func (s *Server) patchFormat(ct string) (func(resource, doc []byte) ([]byte, error), error) {
	m, _, _ := mime.ParseMediaType(ct)
	switch {
	case m == patch.MediaType:
		return patch.ApplyJSON, nil
	case jsonMimes[m]:
		model := s.registry.Model()
		return func(resource, doc []byte) ([]byte, error) { return patch.ApplyFHIRPath(model, resource, doc) }, nil
	}
	return nil, outcome.New(http.StatusUnsupportedMediaType, outcome.CodeNotSupported,
		"PATCH takes %s (JSON Patch) or %s (FHIRPath Patch: a Parameters resource); Content-Type is %q", patch.MediaType, mimeFHIRJSON, ct)
}

// retryPause waits before retrying after losing a race: growing with the attempt, jittered, bounded.
func retryPause(ctx context.Context, attempt int) error {
	limit := time.Duration(attempt+1) * 2 * time.Millisecond
	if limit > 50*time.Millisecond {
		limit = 50 * time.Millisecond
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(limit))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
