package rest

import (
	"fmt"
	"net/http"
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

// parseETag reads a version from an ETag-style header value: W/"3", "3" or 3.
func parseETag(h string) (int64, bool) {
	h = strings.TrimSpace(h)
	h = strings.TrimPrefix(h, "W/")
	h = strings.Trim(h, `"`)
	n, err := strconv.ParseInt(h, 10, 64)
	return n, err == nil && n > 0
}

// ifMatch reads the If-Match precondition (412 semantics live in the store).
func ifMatch(c *gin.Context) (storage.Precondition, error) {
	h := c.GetHeader("If-Match")
	if h == "" {
		return storage.Precondition{}, nil
	}
	vid, ok := parseETag(h)
	if !ok {
		return storage.Precondition{}, outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "If-Match %q is not a version ETag such as W/\"3\"", h)
	}
	return storage.Precondition{VersionID: vid}, nil
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
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if vid, ok := parseETag(tag); ok && vid == v.VersionID {
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
	v, created, err := s.store.Update(c.Request.Context(), storage.Write{Type: typ, ID: id, Body: body, Index: index}, pre)
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
	pre, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.store.Delete(c.Request.Context(), typ, id, pre)
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
