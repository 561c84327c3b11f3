package interaction

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
)

// Read serves read (http.html#read), conditional on rc (304 when the client's copy is current). A deleted
// resource is a 410 whose Result still carries the deletion version (for its ETag and Last-Modified).
func (s *Service) Read(ctx context.Context, call Call, typ, id string, rc ReadCondition) (*Result, error) {
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "read", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	v, err := s.store.Read(ctx, typ, id)
	if err != nil {
		var gone *storage.GoneError
		if errors.As(err, &gone) {
			return &Result{Version: gone.Deleted}, storageError(err, typ, id)
		}
		return nil, storageError(err, typ, id)
	}
	if rc.notModified(v) {
		return &Result{Status: http.StatusNotModified, Version: v}, nil
	}
	return &Result{Status: http.StatusOK, Version: v, Body: v.Body}, nil
}

// VRead serves vread (http.html#vread); vid is the version as the URL gives it. A version that is a
// deletion is a 410 whose Result carries it.
func (s *Service) VRead(ctx context.Context, call Call, typ, id, vid string) (*Result, error) {
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "vread", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	v, err := s.version(ctx, typ, id, vid)
	if v != nil && v.Deleted {
		return &Result{Version: v}, err
	}
	if err != nil {
		return nil, err
	}
	return &Result{Status: http.StatusOK, Version: v, Body: v.Body}, nil
}

// version reads version vid of typ/id; a version that is a deletion is returned with a 410.
func (s *Service) version(ctx context.Context, typ, id, raw string) (*storage.Version, error) {
	vid, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || vid < 1 {
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "%s/%s has no version %q", typ, id, raw)
	}
	v, err := s.store.VRead(ctx, typ, id, vid)
	if err != nil {
		return nil, storageError(err, typ, id)
	}
	if v.Deleted {
		return v, outcome.New(http.StatusGone, outcome.CodeDeleted, "version %d of %s/%s is a deletion", vid, typ, id)
	}
	return v, nil
}
