package rest

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/server/interaction"
)

// Binary's raw content (http.html#binary): a read of a Binary whose Accept prefers a media type that is
// not FHIR's answers the content itself, with Binary.contentType as Content-Type; a create or update of a
// Binary whose Content-Type is not JSON stores the body as the Binary's data. _format, and an Accept that
// prefers JSON or any type (*/*), keep the FHIR resource.

// ctxRawBinary marks a request for, or with, Binary's raw content (negotiate sets it).
const ctxRawBinary = "careflow.rawBinary"

// securityContextHeader names the reference a raw Binary write puts in Binary.securityContext.
const securityContextHeader = "X-Security-Context"

// rawBinary reports whether the request reads or writes Binary's raw content: a read (GET of an instance
// or a version) whose Accept prefers a media type that is not JSON nor a wildcard, without _format; or a
// create or update whose Content-Type is not JSON.
func rawBinary(c *gin.Context) bool {
	if c.Param("type") != "Binary" {
		return false
	}
	route := strings.TrimPrefix(c.FullPath(), "/fhir")
	switch c.Request.Method {
	case http.MethodGet:
		if route != "/:type/:id" && route != "/:type/:id/_history/:vid" || c.Query("_format") != "" {
			return false
		}
		return prefersRaw(c.GetHeader("Accept"))
	case http.MethodPost, http.MethodPut:
		if route != "/:type" && route != "/:type/:id" || route == "/:type" && c.Request.Method == http.MethodPut {
			return false
		}
		m, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
		return err == nil && !interaction.IsJSONMediaType(m)
	}
	return false
}

// prefersRaw reports whether an Accept header prefers a media type that is not FHIR: its highest-q
// media type is neither JSON nor a wildcard that covers it (*/*, application/*); at equal q, FHIR wins.
func prefersRaw(accept string) bool {
	raw, fhir := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		m, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			v, err := strconv.ParseFloat(qs, 64)
			if err != nil || v <= 0 {
				continue
			}
			q = v
		}
		if m == "*/*" || m == "application/*" || interaction.IsJSONMediaType(m) {
			fhir = max(fhir, q)
		} else if q > raw {
			raw = q
		}
	}
	return raw > fhir
}

// respondRawBinary answers a read of Binary's raw content: the data, decoded, with contentType as its
// media type and the version's ETag and Last-Modified. Anything else (an error, a 304) is answered as
// usual. The content is served sandboxed and unsniffed: it is whatever a client uploaded.
func (s *Server) respondRawBinary(c *gin.Context) func(*interaction.Result, error) {
	respond := s.respond(c)
	return func(res *interaction.Result, err error) {
		if err != nil || res.Status != http.StatusOK || res.Version == nil {
			respond(res, err)
			return
		}
		var b struct {
			ContentType string `json:"contentType"`
			Data        []byte `json:"data"` // base64 in JSON
		}
		if err := json.Unmarshal(res.Version.Body, &b); err != nil {
			s.fail(c, outcome.New(http.StatusInternalServerError, outcome.CodeException, "stored Binary/%s does not decode: %v", res.Version.ID, err))
			return
		}
		setVersionHeaders(c, res.Version)
		c.Header("X-Content-Type-Options", "nosniff")
		c.Header("Content-Security-Policy", "sandbox")
		c.Data(http.StatusOK, b.ContentType, b.Data)
	}
}

// rawBinaryResource wraps a raw body as the Binary resource to create or update (id: "" for a create):
// contentType from the request, data base64, securityContext from X-Security-Context.
func rawBinaryResource(c *gin.Context, id string, body []byte) ([]byte, error) {
	r := struct {
		ResourceType    string            `json:"resourceType"`
		ID              string            `json:"id,omitempty"`
		ContentType     string            `json:"contentType"`
		SecurityContext map[string]string `json:"securityContext,omitempty"`
		Data            string            `json:"data"`
	}{ResourceType: "Binary", ID: id, ContentType: c.GetHeader("Content-Type"), Data: base64.StdEncoding.EncodeToString(body)}
	if ref := strings.TrimSpace(c.GetHeader(securityContextHeader)); ref != "" {
		r.SecurityContext = map[string]string{"reference": ref}
	}
	out, err := json.Marshal(r)
	if err != nil {
		return nil, outcome.New(http.StatusInternalServerError, outcome.CodeException, "encode the Binary: %v", err)
	}
	return out, nil
}
