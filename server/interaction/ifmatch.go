package interaction

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
)

// ifMatchCond is a parsed If-Match header (or Bundle.entry.request.ifMatch), RFC 9110 §13.1.1:
// "*" or a list of entity-tags.
//
// A FHIR versionId is an id (any string of [A-Za-z0-9\-.]{1,64}, http.html#versioning), and If-Match names
// the version the client expects to be current: any tag that is not exactly the current version's
// W/"n" fails the condition, which is a 412 (http.html#concurrency), whatever the tag's format. careflow's
// versions are the positive integers in canonical decimal form, so a tag such as W/"abc", W/"1.5", "0" or
// "03" names a version that no resource here ever has: it can never match, and is a 412 like a stale
// version. Weak and strong tags compare alike (FHIR uses weak ETags in If-Match).
//
// A value that is not "*" or a list of entity-tags at all — empty, unquoted (abc), or with broken quoting
// (W/"1, "1, w/"1") — names no version; it is answered 400, not 412: RFC 9110 defines the field's syntax,
// and §15.5.1 makes 400 the answer to malformed request syntax, while 412 (§15.5.13) reports a well-formed
// condition that evaluated to false; FHIR specifies the 412 for a version that does not match only. One
// leniency: a bare run of digits (3) is read as the tag "3", since clients send meta.versionId as is.
type ifMatchCond struct {
	given bool
	any   bool // "*": the resource exists (is not deleted)
	// versions are the versions the tags name that a resource here can have; tags that name no such
	// version are dropped (they can never match).
	versions []int64
}

// neverMatches is the storage precondition of an If-Match that no version satisfies: the store compares it
// with the current version like any other and answers a *storage.VersionConflictError (412).
const neverMatches = -1

// parseETags parses "*" or a comma-separated list of entity-tags ([W/]"opaque"), returning the opaque
// tags; ok is false when h is neither (empty list elements are allowed, as RFC 9110 §5.6.1 asks).
func parseETags(h string) (tags []string, star, ok bool) {
	s := strings.TrimSpace(h)
	if s == "*" {
		return nil, true, true
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return []string{s}, false, true // leniency: a bare versionId made of digits
	}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		s = strings.TrimPrefix(s, "W/")
		if !strings.HasPrefix(s, `"`) {
			return nil, false, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return nil, false, false
		}
		tag := s[1 : 1+end]
		for i := 0; i < len(tag); i++ {
			if c := tag[i]; c < 0x21 || c == 0x7f { // etagc = %x21 / %x23-7E / obs-text
				return nil, false, false
			}
		}
		tags = append(tags, tag)
		s = strings.TrimLeft(s[2+end:], " \t")
		if s != "" && s[0] != ',' {
			return nil, false, false
		}
	}
	return tags, false, len(tags) > 0
}

// tagVersion returns the version an opaque tag names: a positive integer in canonical decimal form, the
// form of careflow's versionIds and ETags; ok is false for any other tag (no version here has it).
func tagVersion(tag string) (int64, bool) {
	n, err := strconv.ParseInt(tag, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == tag
}

// parseIfMatch parses an If-Match value (none when h is empty); ok is false when it is malformed.
func parseIfMatch(h string) (m ifMatchCond, ok bool) {
	if h == "" {
		return ifMatchCond{}, true
	}
	tags, star, ok := parseETags(h)
	if !ok {
		return ifMatchCond{}, false
	}
	m = ifMatchCond{given: true, any: star}
	for _, tag := range tags {
		if vid, ok := tagVersion(tag); ok && !slices.Contains(m.versions, vid) {
			m.versions = append(m.versions, vid)
		}
	}
	return m, true
}

// malformedIfMatch is the diagnostic of a malformed If-Match value h; field names it.
func malformedIfMatch(field, h string) string {
	return fmt.Sprintf("%s %q is not an entity-tag such as W/\"3\" (nor \"*\", nor a comma-separated list of entity-tags)", field, h)
}

// ifMatch parses an If-Match value (field names it in the error: If-Match, or a Bundle entry's ifMatch).
func ifMatch(field, h string) (ifMatchCond, error) {
	m, ok := parseIfMatch(h)
	if !ok {
		return m, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "%s", malformedIfMatch(field, h))
	}
	return m, nil
}

// precondition turns m into the storage precondition of a write of typ/id: none without If-Match, the
// one version it names, or neverMatches when it names none that a resource here can have. "*" and lists
// of several versions are decided against the current version (read here): the precondition is then that
// version when it satisfies m — still compared-and-set by the store, so a concurrent change is a 412 — and
// neverMatches otherwise (also when typ/id does not exist or is deleted: there is nothing to match).
func (s *Service) precondition(ctx context.Context, m ifMatchCond, typ, id string) (storage.Precondition, error) {
	switch {
	case !m.given:
		return storage.Precondition{}, nil
	case !m.any && len(m.versions) == 0:
		return storage.Precondition{VersionID: neverMatches}, nil
	case !m.any && len(m.versions) == 1:
		return storage.Precondition{VersionID: m.versions[0]}, nil
	}
	cur, err := s.store.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.As(err, &gone):
		return storage.Precondition{VersionID: neverMatches}, nil
	case err != nil:
		return storage.Precondition{}, storageError(err, typ, id)
	case m.any || slices.Contains(m.versions, cur.VersionID):
		return storage.Precondition{VersionID: cur.VersionID}, nil
	}
	return storage.Precondition{VersionID: neverMatches}, nil
}

// WriteCondition is the HTTP preconditions of an update: If-Match (http.html#concurrency) and
// If-None-Match (RFC 9110 §13.1.2). "If-None-Match: *" makes the update a create that fails with 412 when
// the resource is present or was deleted (its id is taken) — the race-free way to be the first to store a resource with a known id (two
// coordinators claiming one derived worklist Task: exactly one creates it); a list of entity-tags fails
// with 412 when the current version is one of them.
type WriteCondition struct {
	IfMatch, IfNoneMatch string
}

// ifNoneMatch parses an If-None-Match value of a write (field names it in the error).
func ifNoneMatch(field, h string) (ifMatchCond, error) {
	m, ok := parseIfMatch(h)
	if !ok {
		return m, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "%s", strings.Replace(malformedIfMatch(field, h), "If-Match", field, 1))
	}
	return m, nil
}

// updateIfNoneMatch stores w under the If-None-Match condition none (and the If-Match precondition p).
func (s *Service) updateIfNoneMatch(ctx context.Context, w storage.Write, p storage.Precondition, none ifMatchCond) (*storage.Version, bool, error) {
	create, p, err := s.noneMatchPlan(ctx, w, p, none)
	if err != nil {
		return nil, false, err
	}
	if create {
		v, err := s.store.Create(ctx, w)
		if errors.Is(err, storage.ErrExists) {
			return nil, false, noneMatchFailed(w)
		}
		return v, err == nil, err
	}
	return s.store.Update(ctx, w, p)
}

// noneMatchPlan decides how a write of w under If-None-Match none (and If-Match precondition p) is stored:
// with "*", as a create of w.ID, which fails when a concurrent write takes the id first; with entity-tags,
// it fails now when the current version is one of them, and otherwise updates that version
// (compared-and-set, so a concurrent change is a 412 too) or creates the resource when it is absent. A
// deleted resource fails "*": its id stays taken (the store can compare-and-set against a current version
// only, and a claim must never succeed twice), and the message says to PUT without the header to recreate
// it.
func (s *Service) noneMatchPlan(ctx context.Context, w storage.Write, p storage.Precondition, none ifMatchCond) (create bool, pre storage.Precondition, err error) {
	cur, err := s.store.Read(ctx, w.Type, w.ID)
	var gone *storage.GoneError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if p.VersionID != 0 {
			return false, p, &storage.VersionConflictError{Expected: p.VersionID}
		}
		return true, p, nil
	case errors.As(err, &gone):
		if none.any {
			return false, p, outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict,
				"%s/%s was deleted (version %d): its id is taken, so If-None-Match: * fails; PUT without If-None-Match to recreate it",
				w.Type, w.ID, gone.Deleted.VersionID)
		}
		return false, p, nil // no current version, so none of the tags matches: an ordinary update
	case err != nil:
		return false, p, err
	case none.any || slices.Contains(none.versions, cur.VersionID):
		return false, p, noneMatchFailed(w)
	}
	if p.VersionID == 0 {
		p.VersionID = cur.VersionID
	}
	return false, p, nil
}

func noneMatchFailed(w storage.Write) error {
	return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "%s/%s is present: the If-None-Match condition failed and nothing was written", w.Type, w.ID)
}

// ReadCondition is a conditional read's If-None-Match and If-Modified-Since (http.html#cread).
type ReadCondition struct {
	IfNoneMatch, IfModifiedSince string
}

// notModified evaluates If-None-Match (which wins when present) and If-Modified-Since against v.
func (rc ReadCondition) notModified(v *storage.Version) bool {
	if inm := rc.IfNoneMatch; inm != "" {
		// A malformed value matches nothing: the resource is served.
		tags, star, _ := parseETags(inm)
		if star {
			return true
		}
		for _, tag := range tags {
			if vid, ok := tagVersion(tag); ok && vid == v.VersionID {
				return true
			}
		}
		return false
	}
	if ims := rc.IfModifiedSince; ims != "" {
		t, err := http.ParseTime(ims)
		if err == nil && !v.LastUpdated.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}
