package rest

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/server/audit"
)

// Auditor records an access durably (audit.Log) before its response is sent.
type Auditor interface {
	Record(r *audit.Record) error
}

// auditRequests records every FHIR request (refusals included) with the Auditor before the first byte of
// its response goes out: the response writer is wrapped, and the record is made when the handler starts
// writing, when the status and the answer are known. If the record cannot be made, the answer is withheld
// and the client gets a 503 instead: no access without its audit record.
func (s *Server) auditRequests(c *gin.Context) {
	if s.cfg.Audit == nil {
		c.Next()
		return
	}
	w := &auditWriter{ResponseWriter: c.Writer, s: s, c: c}
	c.Writer = w
	c.Next()
	if !w.recorded {
		w.record(nil) // a handler that wrote nothing at all
	}
	if w.failed {
		w.ResponseWriter.Header().Del("ETag")
		w.ResponseWriter.Header().Del("Location")
		w.ResponseWriter.Header().Set("Content-Type", mimeFHIRJSON+"; charset=utf-8")
		w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.ResponseWriter.Write(outcome.Resource([]outcome.Issue{{Severity: outcome.SeverityErr, Code: outcome.CodeTransient,
			Diagnostics: "the access could not be recorded in the audit log; the request was not answered"}}))
	}
}

// auditWriter records the access when the response starts.
type auditWriter struct {
	gin.ResponseWriter
	s        *Server
	c        *gin.Context
	recorded bool
	failed   bool
}

func (w *auditWriter) record(body []byte) {
	if w.recorded {
		return
	}
	w.recorded = true
	if err := w.s.cfg.Audit.Record(w.s.auditRecord(w.c, w.ResponseWriter.Status(), body)); err != nil {
		w.s.log.Error("audit record failed: answer withheld", "err", err, "path", w.c.Request.URL.Path)
		w.failed = true
	}
}

func (w *auditWriter) Write(p []byte) (int, error) {
	w.record(p)
	if w.failed {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *auditWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *auditWriter) WriteHeaderNow() {
	w.record(nil)
	if !w.failed {
		w.ResponseWriter.WriteHeaderNow()
	}
}

// auditRecord describes the request c answered with status (body: the start of the answer, if any).
func (s *Server) auditRecord(c *gin.Context, status int, body []byte) *audit.Record {
	r := &audit.Record{Time: time.Now(), Method: c.Request.Method, Status: status, Address: c.ClientIP(),
		RequestID: c.GetString(requestIDHeader), Server: s.baseURL(c), Query: c.Request.URL.RawQuery,
		Path: strings.TrimPrefix(strings.TrimPrefix(c.Request.URL.Path, "/fhir"), "/")}
	if p := principal(c); p != nil {
		r.Subject, r.Issuer, r.Client, r.User, r.TokenID = p.Subject, p.Issuer, p.ClientID, p.FHIRUser, p.TokenID
		if p.Patient != "" {
			r.Patients = append(r.Patients, p.Patient)
		}
	}
	r.Type, r.ResourceID = c.Param("type"), c.Param("id")
	r.Interaction, r.Action = interactionOf(c, body)
	if r.Type == "Patient" && r.ResourceID != "" {
		r.Patients = appendPatient(r.Patients, r.ResourceID)
	}
	for _, k := range []string{"patient", "subject", "beneficiary"} {
		if v := c.Query(k); v != "" {
			r.Patients = appendPatient(r.Patients, strings.TrimPrefix(v, "Patient/"))
		}
	}
	for _, p := range referencedPatients(body) {
		r.Patients = appendPatient(r.Patients, p)
	}
	return r
}

func appendPatient(list []string, id string) []string {
	if id == "" || strings.ContainsAny(id, ",/|") || len(list) >= 20 {
		return list
	}
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

// referencedPatients lists the patients a single resource answered refers to (or is), by a scan of its
// JSON; a Bundle or OperationOutcome names none here.
func referencedPatients(body []byte) []string {
	head := body[:min(len(body), 64)]
	if !bytes.HasPrefix(head, []byte(`{"resourceType":"`)) || bytes.HasPrefix(head, []byte(`{"resourceType":"Bundle"`)) ||
		bytes.HasPrefix(head, []byte(`{"resourceType":"OperationOutcome"`)) {
		return nil
	}
	var out []string
	const marker = `"reference":"Patient/`
	for rest := body; len(out) < 20; {
		i := bytes.Index(rest, []byte(marker))
		if i < 0 {
			break
		}
		rest = rest[i+len(marker):]
		end := bytes.IndexByte(rest, '"')
		if end <= 0 || end > 64 {
			continue
		}
		out = append(out, string(rest[:end]))
	}
	return out
}

// interactionOf names the FHIR restful interaction and the AuditEvent action of the request.
func interactionOf(c *gin.Context, body []byte) (string, string) {
	route, m := strings.TrimPrefix(c.FullPath(), "/fhir"), c.Request.Method
	switch {
	case route == "/metadata":
		return "capabilities", "R"
	case route == "" || route == "/":
		if m == http.MethodPost {
			if bytes.Contains(body[:min(len(body), 256)], []byte(`"type":"transaction-response"`)) {
				return "transaction", "E"
			}
			return "batch", "E"
		}
		return "search-system", "E"
	case strings.Contains(route, "$"):
		return "operation", "E"
	case route == "/_history":
		return "history-system", "R"
	case route == "/:type/_history":
		return "history-type", "R"
	case route == "/:type/:id/_history":
		return "history-instance", "R"
	case route == "/:type/:id/_history/:vid":
		return "vread", "R"
	case route == "/:type/_search", route == "/:type/:id/:compartment", route == "/:type" && m == http.MethodGet:
		return "search-type", "E"
	}
	switch m {
	case http.MethodPost:
		return "create", "C"
	case http.MethodPut:
		return "update", "U"
	case http.MethodPatch:
		return "patch", "U"
	case http.MethodDelete:
		return "delete", "D"
	case http.MethodGet, http.MethodHead:
		if route == "/:type/:id" {
			return "read", "R"
		}
	}
	return "", "E" // no FHIR endpoint
}
