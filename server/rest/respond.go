package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/patch"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
)

const (
	mimeFHIRJSON = interaction.MimeFHIRJSON
	mimeJSON     = "application/json"
	ctxMime      = "careflow.mime"
)

// formatAliases are the _format values that mean JSON (http.html#mime-type).
var formatAliases = map[string]string{"json": mimeFHIRJSON, mimeFHIRJSON: mimeFHIRJSON, mimeJSON: mimeJSON, "application/json+fhir": mimeFHIRJSON, "text/json": mimeJSON}

// negotiate picks the response media type from _format (which overrides Accept) or Accept; anything but
// JSON is 406. It also checks the media type of request bodies (415).
func (s *Server) negotiate(c *gin.Context) {
	chosen := mimeFHIRJSON
	if rawBinary(c) { // Binary's raw content (binary.go); errors and written resources are JSON
		if m, ok := pickAccept(c.GetHeader("Accept")); ok {
			chosen = m
		}
		c.Set(ctxMime, chosen)
		c.Set(ctxRawBinary, true)
		c.Next()
		return
	}
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
	if interaction.IsJSONMediaType(m) || m == patch.MediaType && c.Request.Method == http.MethodPatch {
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
	e := interaction.OutcomeOf(err)
	if ae, ok := auth.AsError(err); ok && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden || ae.Code != "") {
		c.Header("WWW-Authenticate", ae.WWWAuthenticate("careflow"))
	}
	if e.Status >= 500 {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "status", e.Status, "err", err,
			"request_id", c.GetString(requestIDHeader))
	}
	if e.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", strconv.Itoa(max(1, int((s.cfg.RetryAfter+time.Second-1)/time.Second))))
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

// preferStrict reads Prefer: handling=strict (default lenient).
func preferStrict(c *gin.Context) bool {
	for _, h := range c.Request.Header.Values("Prefer") {
		for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(k, "handling") && strings.EqualFold(strings.Trim(v, `"`), "strict") {
				return true
			}
		}
	}
	return false
}

// baseURL is the FHIR base the server answers for (used in Location and fullUrl).
func (s *Server) baseURL(c *gin.Context) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	return "http://" + c.Request.Host + "/fhir"
}

// call is what the interaction layer needs of the request besides the interaction's own arguments.
func (s *Server) call(c *gin.Context) interaction.Call {
	return interaction.Call{Base: s.baseURL(c), Return: preferReturn(c), Strict: preferStrict(c), Principal: principal(c)}
}

// readCondition reads a conditional read's headers.
func readCondition(c *gin.Context) interaction.ReadCondition {
	return interaction.ReadCondition{IfNoneMatch: c.GetHeader("If-None-Match"), IfModifiedSince: c.GetHeader("If-Modified-Since")}
}

// searchParams returns the query's parameters: the URL query, merged with a form body for POST _search.
func (s *Server) searchParams(c *gin.Context) (url.Values, error) {
	params := c.Request.URL.Query()
	if c.Request.Method == http.MethodPost {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
		if err := c.Request.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, outcome.New(http.StatusRequestEntityTooLarge, outcome.CodeTooLong, "request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
			}
			return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "could not read the form body: %v", err)
		}
		for k, vs := range c.Request.PostForm {
			params[k] = append(params[k], vs...)
		}
	}
	return params, nil
}

// setVersionHeaders sets ETag and Last-Modified of a version.
func setVersionHeaders(c *gin.Context, v *storage.Version) {
	c.Header("ETag", v.ETag())
	c.Header("Last-Modified", v.LastUpdated.UTC().Format(http.TimeFormat))
}

// respond returns the function that answers an interaction's Result, or its error as an OperationOutcome
// (with the headers of the version the error is about, such as a deleted resource's ETag).
func (s *Server) respond(c *gin.Context) func(*interaction.Result, error) {
	return func(res *interaction.Result, err error) {
		if err != nil {
			if res != nil && res.Version != nil {
				setVersionHeaders(c, res.Version)
			}
			s.fail(c, err)
			return
		}
		ret := preferReturn(c)
		switch {
		case res.Delete:
			if res.Version != nil {
				c.Header("ETag", res.Version.ETag())
			}
			if ret == "OperationOutcome" {
				body, _ := res.Representation(ret)
				s.writeJSON(c, http.StatusOK, body)
				return
			}
		case res.Write:
			setVersionHeaders(c, res.Version)
			if res.Status == http.StatusCreated {
				c.Header("Location", res.Location)
			} else {
				c.Header("Content-Location", res.Location)
			}
		case res.Version != nil:
			setVersionHeaders(c, res.Version)
		}
		body, _ := res.Representation(ret)
		if body == nil {
			c.Status(res.Status)
			c.Writer.WriteHeaderNow()
			return
		}
		s.writeJSON(c, res.Status, body)
	}
}
