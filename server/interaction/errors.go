package interaction

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
)

// This file holds the mapping of storage errors to FHIR answers (status and OperationOutcome issues), for
// every interaction.

// storageError maps storage errors to FHIR answers.
func storageError(err error, typ, id string) *outcome.Error {
	var gone *storage.GoneError
	var conflict *storage.VersionConflictError
	var confined *storage.ConfinementError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return outcome.New(http.StatusNotFound, outcome.CodeNotFound, "%s/%s is not known", typ, id)
	case errors.As(err, &gone):
		return outcome.New(http.StatusGone, outcome.CodeDeleted, "%s/%s was deleted (version %d)", typ, id, gone.Deleted.VersionID)
	case errors.As(err, &conflict) && conflict.Expected == neverMatches:
		// If-Match named no version this resource has or can have (a versionId not of careflow's form, a
		// list without the current one, "*" on a resource that is absent).
		if conflict.Current == 0 {
			return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match does not match: %s/%s does not exist (or is deleted); nothing was changed", typ, id)
		}
		return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match does not name the current version of %s/%s, which is %d (ETag W/\"%d\"); nothing was changed", typ, id, conflict.Current, conflict.Current)
	case errors.As(err, &conflict):
		if conflict.Current == 0 {
			return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: %s/%s does not exist (If-Match expected version %d)", typ, id, conflict.Expected)
		}
		return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match expected version %d of %s/%s, the current version is %d", conflict.Expected, typ, id, conflict.Current)
	case errors.As(err, &confined):
		if confined.Before {
			return outcome.New(http.StatusForbidden, outcome.CodeForbidden, "%s/%s is not in the compartment of Patient/%s, the patient of the access token", confined.Type, confined.ID, confined.Patient)
		}
		return outcome.New(http.StatusForbidden, outcome.CodeForbidden, "the resource written (%s) would not be in the compartment of Patient/%s, the patient of the access token", confined.Type, confined.Patient)
	case errors.Is(err, storage.ErrConfined):
		msg := err.Error()
		if _, reason, ok := strings.Cut(msg, "access: "); ok {
			msg = reason
		}
		return outcome.New(http.StatusForbidden, outcome.CodeForbidden, "%s", msg)
	case errors.Is(err, storage.ErrBadCursor):
		return outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "invalid paging cursor")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e := outcome.New(http.StatusServiceUnavailable, outcome.CodeTransient, "the request was cancelled or timed out")
		e.Cause = err
		return e
	}
	return outcome.Wrap(err)
}

func searchError(err error) error {
	switch {
	case errors.Is(err, storage.ErrTooCostly):
		return outcome.New(http.StatusBadRequest, outcome.CodeTooCostly, "the search is too costly: a chained or _has criterion matches too many resources; narrow it")
	case errors.Is(err, storage.ErrBadCursor):
		return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, CursorParam, "invalid paging cursor")
	}
	return storageError(err, "", "")
}

// txError maps a storage error of a transaction op to a FHIR answer.
func txError(err error, typ, id string) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return outcome.New(http.StatusConflict, outcome.CodeDuplicate, "%s/%s already exists", typ, id)
	case errors.Is(err, storage.ErrTxAborted):
		e := outcome.New(http.StatusServiceUnavailable, outcome.CodeTransient, "the transaction waited too long for concurrent writes of the same resources and was rolled back; retry it")
		e.Cause = err
		return e
	case errors.Is(err, storage.ErrTxInvalid):
		e := outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "invalid transaction: %v", err)
		e.Cause = err
		return e
	}
	return storageError(err, typ, id)
}

func tooMany(where string) error {
	return outcome.New(http.StatusPreconditionFailed, outcome.CodeMultipleMatch, "%s: the criteria match more than one resource; make them more selective", where)
}

// entryError locates err at entry e: issues located in the entry's resource ("Patient.name[0]") move under
// Bundle.entry[i].resource, issues without a location get the entry's, and diagnostics name the entry.
func entryError(index int, method, rawURL string, err error) *outcome.Error {
	src := OutcomeOf(err)
	where := "Bundle.entry[" + strconv.Itoa(index) + "]"
	out := &outcome.Error{Status: src.Status, Cause: src.Cause}
	typ := strings.SplitN(strings.SplitN(rawURL, "?", 2)[0], "/", 2)[0]
	for _, is := range src.Issues {
		is.Expression = append([]string(nil), is.Expression...)
		located := false
		for k, x := range is.Expression {
			switch {
			case strings.HasPrefix(x, "Bundle."):
				located = true
			case typ != "" && (x == typ || strings.HasPrefix(x, typ+".") || strings.HasPrefix(x, typ+"[")):
				is.Expression[k] = where + ".resource" + strings.TrimPrefix(x, typ)
				located = true
			}
		}
		if !located {
			is.Expression = append([]string{where}, is.Expression...)
		}
		prefix := where
		if method != "" {
			prefix += " (" + method + " " + rawURL + ")"
		}
		is.Diagnostics = prefix + ": " + is.Diagnostics
		out.Issues = append(out.Issues, is)
	}
	return out
}

// unprocessable turns the 400 of an invalid resource into a 422: the request was understood, but the
// resource it produced (a patch's result) cannot be stored.
func unprocessable(err error) error {
	var e *outcome.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest {
		e.Status = http.StatusUnprocessableEntity
	}
	return err
}
