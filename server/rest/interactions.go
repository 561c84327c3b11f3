package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
)

// baseURL is the FHIR base the server answers for (used in Location and fullUrl).
func (s *Server) baseURL(c *gin.Context) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	return "http://" + c.Request.Host + "/fhir"
}

func (s *Server) versionURL(c *gin.Context, v *storage.Version) string {
	return fmt.Sprintf("%s/%s/%s/_history/%d", s.baseURL(c), v.Type, v.ID, v.VersionID)
}

// setVersionHeaders sets ETag and Last-Modified of a version.
func setVersionHeaders(c *gin.Context, v *storage.Version) {
	c.Header("ETag", v.ETag())
	c.Header("Last-Modified", v.LastUpdated.UTC().Format(http.TimeFormat))
}

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

// ifMatch reads the If-Match header (412 semantics live in the store, see precondition).
func ifMatch(c *gin.Context) (ifMatchCond, error) {
	h := c.GetHeader("If-Match")
	m, ok := parseIfMatch(h)
	if !ok {
		return m, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "%s", malformedIfMatch("If-Match", h))
	}
	return m, nil
}

// precondition turns m into the storage precondition of a write of typ/id: none without If-Match, the
// one version it names, or neverMatches when it names none that a resource here can have. "*" and lists
// of several versions are decided against the current version (read here): the precondition is then that
// version when it satisfies m — still compared-and-set by the store, so a concurrent change is a 412 — and
// neverMatches otherwise (also when typ/id does not exist or is deleted: there is nothing to match).
func (s *Server) precondition(ctx context.Context, m ifMatchCond, typ, id string) (storage.Precondition, error) {
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

// parse reads and validates the request body as a resource of type typ.
func (s *Server) parse(c *gin.Context, typ string) ([]byte, map[string]any, error) {
	body, err := s.readBody(c)
	if err != nil {
		return nil, nil, err
	}
	tree, verr := s.validator.Validate(typ, body)
	if verr != nil {
		return nil, nil, verr
	}
	return body, tree, nil
}

// respondWrite answers a create or update per the Prefer header.
func (s *Server) respondWrite(c *gin.Context, status int, v *storage.Version, what string) {
	setVersionHeaders(c, v)
	if status == http.StatusCreated {
		c.Header("Location", s.versionURL(c, v))
	} else {
		c.Header("Content-Location", s.versionURL(c, v))
	}
	switch preferReturn(c) {
	case "minimal":
		c.Status(status)
		c.Writer.WriteHeaderNow()
	case "OperationOutcome":
		s.writeJSON(c, status, outcome.Resource([]outcome.Issue{outcome.Info("%s %s/%s, version %d", what, v.Type, v.ID, v.VersionID)}))
	default:
		s.writeJSON(c, status, v.Body)
	}
}

func (s *Server) create(c *gin.Context) {
	typ := c.Param("type")
	body, tree, err := s.parse(c, typ)
	if err != nil {
		s.fail(c, err)
		return
	}
	index, err := s.registry.Index(typ, tree)
	if err != nil {
		s.fail(c, err)
		return
	}
	// http.html#create: an id in the body is ignored; the server assigns one.
	w := storage.Write{Type: typ, Body: body, Index: index}
	if criteria := c.GetHeader("If-None-Exist"); criteria != "" {
		s.conditionalCreate(c, typ, w, criteria)
		return
	}
	v, err := s.store.Create(c.Request.Context(), w)
	if err != nil {
		s.fail(c, storageError(err, typ, ""))
		return
	}
	s.respondWrite(c, http.StatusCreated, v, "created")
}

func (s *Server) read(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	v, err := s.store.Read(c.Request.Context(), typ, id)
	if err != nil {
		if gone, ok := err.(*storage.GoneError); ok {
			setVersionHeaders(c, gone.Deleted)
		}
		s.fail(c, storageError(err, typ, id))
		return
	}
	if notModified(c, v) {
		setVersionHeaders(c, v)
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	setVersionHeaders(c, v)
	s.writeJSON(c, http.StatusOK, v.Body)
}

// notModified evaluates If-None-Match (which wins when present) and If-Modified-Since.
func notModified(c *gin.Context, v *storage.Version) bool {
	if inm := c.GetHeader("If-None-Match"); inm != "" {
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
	if ims := c.GetHeader("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		if err == nil && !v.LastUpdated.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

func (s *Server) vread(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	vid, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || vid < 1 {
		s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "%s/%s has no version %q", typ, id, c.Param("vid")))
		return
	}
	v, err := s.store.VRead(c.Request.Context(), typ, id, vid)
	if err != nil {
		s.fail(c, storageError(err, typ, id))
		return
	}
	setVersionHeaders(c, v)
	if v.Deleted {
		s.fail(c, outcome.New(http.StatusGone, outcome.CodeDeleted, "version %d of %s/%s is a deletion", vid, typ, id))
		return
	}
	s.writeJSON(c, http.StatusOK, v.Body)
}

func (s *Server) update(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	pre, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	body, tree, err := s.parse(c, typ)
	if err != nil {
		s.fail(c, err)
		return
	}
	// http.html#update: the body SHALL carry an id equal to the URL's.
	bodyID, _ := tree["id"].(string)
	if bodyID == "" {
		s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeRequired, typ+".id", "the resource must carry id %q to be updated at %s/%s", id, typ, id))
		return
	}
	if bodyID != id {
		s.fail(c, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, typ+".id", "resource id %q does not match the URL id %q", bodyID, id))
		return
	}
	index, err := s.registry.Index(typ, tree)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	p, err := s.precondition(ctx, pre, typ, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, created, err := s.store.Update(ctx, storage.Write{Type: typ, ID: id, Body: body, Index: index}, p)
	if err != nil {
		s.fail(c, storageError(err, typ, id))
		return
	}
	if created {
		s.respondWrite(c, http.StatusCreated, v, "created")
		return
	}
	s.respondWrite(c, http.StatusOK, v, "updated")
}

func (s *Server) delete(c *gin.Context) { s.deleteOne(c, c.Param("type"), c.Param("id")) }

// deleteOne deletes typ/id, honouring If-Match.
func (s *Server) deleteOne(c *gin.Context, typ, id string) {
	m, err := ifMatch(c)
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
	v, err := s.store.Delete(ctx, typ, id, pre)
	if err != nil {
		s.fail(c, storageError(err, typ, id))
		return
	}
	s.deleted(c, typ, id, v)
}

// deleted answers a delete: 204, or 200 with an OperationOutcome when the client prefers one. v is the
// deletion version, nil when there was nothing to delete.
func (s *Server) deleted(c *gin.Context, typ, id string, v *storage.Version) {
	msg := "no matching resource; nothing was deleted"
	if id != "" {
		msg = fmt.Sprintf("%s/%s is not present (already deleted or never existed)", typ, id)
	}
	if v != nil {
		c.Header("ETag", v.ETag())
		msg = fmt.Sprintf("deleted %s/%s (version %d)", typ, v.ID, v.VersionID)
	}
	if preferReturn(c) == "OperationOutcome" {
		s.writeJSON(c, http.StatusOK, outcome.Resource([]outcome.Issue{outcome.Info("%s", msg)}))
		return
	}
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
}
