package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
)

const (
	mimeFHIRJSON = "application/fhir+json"
	mimeJSON     = "application/json"
	ctxMime      = "careflow.mime"
)

// jsonMimes are the media types careflow reads and writes (the last is the DSTU2-era name some clients
// still send).
var jsonMimes = map[string]bool{mimeFHIRJSON: true, mimeJSON: true, "application/json+fhir": true}

// formatAliases are the _format values that mean JSON (http.html#mime-type).
var formatAliases = map[string]string{"json": mimeFHIRJSON, mimeFHIRJSON: mimeFHIRJSON, mimeJSON: mimeJSON, "application/json+fhir": mimeFHIRJSON, "text/json": mimeJSON}

// negotiate picks the response media type from _format (which overrides Accept) or Accept; anything but
// JSON is 406. It also checks the media type of request bodies (415).
func (s *Server) negotiate(c *gin.Context) {
	chosen := mimeFHIRJSON
	if f := c.Query("_format"); f != "" {
		m, ok := formatAliases[strings.ToLower(strings.TrimSpace(strings.SplitN(f, ";", 2)[0]))]
		if !ok {
			s.fail(c, outcome.At(http.StatusNotAcceptable, outcome.CodeNotSupported, "_format", "_format %q is not supported; this server speaks application/fhir+json", f))
			c.Abort()
			return
		}
		chosen = m
	} else if accept := c.GetHeader("Accept"); accept != "" {
		m, ok := pickAccept(accept)
		if !ok {
			s.fail(c, outcome.New(http.StatusNotAcceptable, outcome.CodeNotSupported, "none of the media types in Accept (%s) is supported; this server speaks application/fhir+json", accept))
			c.Abort()
			return
		}
		chosen = m
	}
	c.Set(ctxMime, chosen)

	switch c.Request.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		if ct := c.GetHeader("Content-Type"); ct != "" && !s.bodyTypeAllowed(c, ct) {
			s.fail(c, outcome.New(http.StatusUnsupportedMediaType, outcome.CodeNotSupported, "Content-Type %q is not supported; send application/fhir+json", ct))
			c.Abort()
			return
		}
	}
	c.Next()
}

// bodyTypeAllowed reports whether a request body media type is JSON (or a form, for POST _search).
func (s *Server) bodyTypeAllowed(c *gin.Context, ct string) bool {
	m, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if jsonMimes[m] || m == patch.MediaType && c.Request.Method == http.MethodPatch {
		return true
	}
	return m == "application/x-www-form-urlencoded" && strings.HasSuffix(c.Request.URL.Path, "/_search")
}

// pickAccept returns the JSON media type an Accept header allows, if any (q=0 excludes).
func pickAccept(accept string) (string, bool) {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(accept, ",") {
		m, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			if qs == "0" || qs == "0.0" || qs == "0.00" || qs == "0.000" {
				continue
			}
			q = 0.5 // any non-zero q: fine-grained ordering does not matter, all JSON answers are the same
			if strings.HasPrefix(qs, "1") {
				q = 1
			}
		}
		var candidate string
		switch m {
		case mimeFHIRJSON, "application/json+fhir", "*/*", "application/*":
			candidate = mimeFHIRJSON
		case mimeJSON:
			candidate = mimeJSON
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = candidate, q
		}
	}
	return best, best != ""
}

// mimeOf returns the negotiated response media type.
func mimeOf(c *gin.Context) string {
	if m, ok := c.Get(ctxMime); ok {
		return m.(string)
	}
	return mimeFHIRJSON
}

// writeJSON sends a FHIR JSON body (pretty-printed with _pretty=true).
func (s *Server) writeJSON(c *gin.Context, status int, body []byte) {
	if c.Query("_pretty") == "true" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, body, "", "  "); err == nil {
			body = buf.Bytes()
		}
	}
	c.Data(status, mimeOf(c)+"; charset=utf-8", body)
}

// fail answers with the OperationOutcome of err. Internal errors are logged with their cause and shown to
// the client only as a generic issue.
func (s *Server) fail(c *gin.Context, err error) {
	e := outcome.Wrap(err)
	if e.Status >= 500 {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "status", e.Status, "err", err,
			"request_id", c.GetString(requestIDHeader))
	}
	s.writeJSON(c, e.Status, outcome.Resource(e.Issues))
}

// readBody reads the request body within the configured limit.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	data, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, outcome.New(http.StatusRequestEntityTooLarge, outcome.CodeTooLong, "request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
	}
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "could not read the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeRequired, "the request body is empty; a FHIR resource is required")
	}
	return data, nil
}

// preferReturn reads Prefer: return=minimal|representation|OperationOutcome (default representation).
func preferReturn(c *gin.Context) string {
	for _, h := range c.Request.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ";") {
			for _, p := range strings.Split(part, ",") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(k, "return") {
					switch v = strings.Trim(v, `"`); v {
					case "minimal", "representation", "OperationOutcome":
						return v
					}
				}
			}
		}
	}
	return "representation"
}
