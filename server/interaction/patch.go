package interaction

import (
	"context"
	"errors"
	"math/rand/v2"
	"mime"
	"net/http"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/storage"
)

// maxPatchAttempts bounds retries of a patch whose base version changed under it (no If-Match given).
const maxPatchAttempts = 64

// Patch serves PATCH [base]/[type]/[id] (http.html#patch): a JSON Patch (contentType
// application/json-patch+json) or FHIRPath Patch (a Parameters resource, any FHIR JSON media type) applied
// to the current version and stored as a new version, validated like any update. The new version is
// written with a compare-and-set on the version the patch was applied to: with If-Match a concurrent
// change is a 412; without, the patch is re-applied to the newer version, so no concurrent update is lost.
func (s *Service) Patch(ctx context.Context, call Call, typ, id, contentType string, doc []byte, ifMatchValue string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: "patch", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	return s.patch(ctx, call, typ, id, contentType, doc, ifMatchValue)
}

// patch applies a patch to typ/id in an authorized context.
func (s *Service) patch(ctx context.Context, call Call, typ, id, contentType string, doc []byte, ifMatchValue string) (*Result, error) {
	apply, err := s.patchFormat(contentType)
	if err != nil {
		return nil, err
	}
	m, err := ifMatch("If-Match", ifMatchValue)
	if err != nil {
		return nil, err
	}
	pre, err := s.precondition(ctx, m, typ, id)
	if err != nil {
		return nil, err
	}
	v, _, err := s.editCurrent(ctx, typ, id, pre, "the patch", func(body []byte) ([]byte, bool, error) {
		patched, err := apply(body, doc)
		return patched, true, err
	})
	if err != nil {
		return nil, err
	}
	return written(call, http.StatusOK, v, "patched"), nil
}

// ConditionalPatch serves PATCH [base]/[type]?criteria: one match is patched, none is 404, several 412.
func (s *Service) ConditionalPatch(ctx context.Context, call Call, typ, criteria, contentType string, doc []byte, ifMatchValue string) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: "conditional-patch", Type: typ})
	if err != nil {
		return nil, err
	}
	q, _, err := s.condition(typ, criteria, "conditional patch")
	if err != nil {
		return nil, err
	}
	found, err := s.matches(ctx, q)
	switch {
	case err != nil:
		return nil, err
	case len(found) == 0:
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "conditional patch: no %s matches the criteria", typ)
	case len(found) > 1:
		return nil, tooMany("conditional patch")
	}
	return s.patch(ctx, call, typ, found[0].ID, contentType, doc, ifMatchValue)
}

// editCurrent applies edit to the current version of typ/id and stores the result as a new version
// (method PATCH), validated like any update (an invalid result is 422; so is a changed id). The new version
// is written with a compare-and-set on the version edited: with If-Match (pre) a concurrent change is a
// 412; without, the edit is re-applied to the newer version after a short jittered pause, so no
// concurrent update is lost. When edit reports no change, nothing is stored and the current version is
// returned (changed false). what names the edit in the error after too many lost races.
func (s *Service) editCurrent(ctx context.Context, typ, id string, pre storage.Precondition, what string,
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
		w, got, err := s.pipeline.Prepare(typ, body)
		if err != nil {
			// The edit produced an invalid resource: the request is understood but cannot be applied.
			return nil, false, unprocessable(err)
		}
		if got != id {
			return nil, false, outcome.At(http.StatusUnprocessableEntity, outcome.CodeInvalid, typ+".id", "%s changes the resource id to %q", what, got)
		}
		w.ID, w.Method = id, "PATCH"
		v, _, err := s.store.Update(ctx, w, storage.Precondition{VersionID: cur.VersionID})
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
func (s *Service) patchFormat(ct string) (func(resource, doc []byte) ([]byte, error), error) {
	m, _, _ := mime.ParseMediaType(ct)
	switch {
	case m == patch.MediaType:
		return patch.ApplyJSON, nil
	case IsJSONMediaType(m):
		model := s.registry.Model()
		return func(resource, doc []byte) ([]byte, error) { return patch.ApplyFHIRPath(model, resource, doc) }, nil
	}
	return nil, outcome.New(http.StatusUnsupportedMediaType, outcome.CodeNotSupported,
		"PATCH takes %s (JSON Patch) or %s (FHIRPath Patch: a Parameters resource); Content-Type is %q", patch.MediaType, MimeFHIRJSON, ct)
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

// MimeFHIRJSON is the FHIR JSON media type.
const MimeFHIRJSON = "application/fhir+json"

// IsJSONMediaType reports whether m (without parameters) is a media type of FHIR JSON: application/fhir+json,
// application/json, or the DSTU2-era application/json+fhir some clients still send.
func IsJSONMediaType(m string) bool {
	switch m {
	case MimeFHIRJSON, "application/json", "application/json+fhir":
		return true
	}
	return false
}
