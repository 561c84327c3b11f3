package rest

import (
	"net/http"
	"path"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/server/interaction"
)

// Each handler maps its HTTP request onto one interaction of the interaction layer and answers its Result
// (respond) or its error (fail).

func (s *Server) create(c *gin.Context) {
	body, err := s.readBody(c)
	if err == nil && c.GetBool(ctxRawBinary) {
		body, err = rawBinaryResource(c, "", body)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.Create(c.Request.Context(), s.call(c), c.Param("type"), body, c.GetHeader("If-None-Exist")))
}

// answer is how a read answers: the resource, or Binary's raw content (binary.go).
func (s *Server) answer(c *gin.Context) func(*interaction.Result, error) {
	if c.GetBool(ctxRawBinary) {
		return s.respondRawBinary(c)
	}
	return s.respond(c)
}

func (s *Server) read(c *gin.Context) {
	s.answer(c)(s.svc.Read(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), readCondition(c)))
}

func (s *Server) vread(c *gin.Context) {
	s.answer(c)(s.svc.VRead(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.Param("vid")))
}

func (s *Server) update(c *gin.Context) {
	body, err := s.readBody(c)
	if err == nil && c.GetBool(ctxRawBinary) {
		body, err = rawBinaryResource(c, c.Param("id"), body)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.Update(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), body,
		interaction.WriteCondition{IfMatch: c.GetHeader("If-Match"), IfNoneMatch: c.GetHeader("If-None-Match")}))
}

// conditionalUpdate serves PUT [base]/[type]?criteria.
func (s *Server) conditionalUpdate(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.ConditionalUpdate(c.Request.Context(), s.call(c), c.Param("type"), c.Request.URL.RawQuery, body, c.GetHeader("If-Match")))
}

func (s *Server) delete(c *gin.Context) {
	s.respond(c)(s.svc.Delete(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.GetHeader("If-Match")))
}

// conditionalDelete serves DELETE [base]/[type]?criteria.
func (s *Server) conditionalDelete(c *gin.Context) {
	s.respond(c)(s.svc.ConditionalDelete(c.Request.Context(), s.call(c), c.Param("type"), c.Request.URL.RawQuery, c.GetHeader("If-Match")))
}

// patchInstance serves PATCH [base]/[type]/[id].
func (s *Server) patchInstance(c *gin.Context) {
	doc, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.Patch(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.GetHeader("Content-Type"), doc, c.GetHeader("If-Match")))
}

// conditionalPatch serves PATCH [base]/[type]?criteria.
func (s *Server) conditionalPatch(c *gin.Context) {
	doc, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.ConditionalPatch(c.Request.Context(), s.call(c), c.Param("type"), c.Request.URL.RawQuery, c.GetHeader("Content-Type"), doc, c.GetHeader("If-Match")))
}

// searchType serves GET [base]/[type]?… and POST [base]/[type]/_search.
func (s *Server) searchType(c *gin.Context) {
	params, err := s.searchParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.Search(c.Request.Context(), s.call(c), c.Param("type"), params))
}

// compartmentSearch serves GET [base]/[compartment]/[id]/[type]?… (Patient, Practitioner, RelatedPerson, Encounter,
// Device).
func (s *Server) compartmentSearch(c *gin.Context) {
	s.respond(c)(s.svc.SearchCompartment(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.Param("compartment"), c.Request.URL.Query()))
}

// searchSystem serves GET [base]?_type=….
func (s *Server) searchSystem(c *gin.Context) {
	s.respond(c)(s.svc.SearchSystem(c.Request.Context(), s.call(c), c.Request.URL.Query()))
}

func (s *Server) historySystem(c *gin.Context) { s.history(c, "", "") }
func (s *Server) historyType(c *gin.Context)   { s.history(c, c.Param("type"), "") }
func (s *Server) historyInstance(c *gin.Context) {
	s.history(c, c.Param("type"), c.Param("id"))
}

func (s *Server) history(c *gin.Context, typ, id string) {
	s.respond(c)(s.svc.History(c.Request.Context(), s.call(c), typ, id, c.Request.URL.Query()))
}

// everything serves GET [base]/Patient/[id]/$everything.
func (s *Server) everything(c *gin.Context) {
	s.respond(c)(s.svc.Everything(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.Request.URL.Query()))
}

// batchOrTransaction serves POST [base] with a batch or transaction Bundle.
func (s *Server) batchOrTransaction(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.Bundle(c.Request.Context(), s.call(c), body))
}

// operationDefinition serves GET [base]/OperationDefinition/[id] for the operations the server defines.
func (s *Server) operationDefinition(c *gin.Context) {
	body, err := s.svc.OperationDefinition(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, body)
}

// operation serves a workflow's operation, with GET or with POST and a Parameters body.
func (s *Server) operation(op interaction.Operation) gin.HandlerFunc {
	return func(c *gin.Context) {
		var body []byte
		if c.Request.Method == http.MethodPost {
			var err error
			if body, err = s.readBody(c); err != nil {
				s.fail(c, err)
				return
			}
		}
		s.respond(c)(s.svc.InvokeOperation(c.Request.Context(), s.call(c), op, c.Param("type"), c.Param("id"), c.Request.URL.Query(), body))
	}
}

// validateType serves POST [base]/[type]/$validate.
func (s *Server) validateType(c *gin.Context) { s.validate(c, "") }

// validateInstance serves POST or GET [base]/[type]/[id]/$validate.
func (s *Server) validateInstance(c *gin.Context) { s.validate(c, c.Param("id")) }

func (s *Server) validate(c *gin.Context, id string) {
	mode := c.Query("mode")
	var body []byte
	if c.Request.Method == http.MethodPost {
		raw, err := s.readBody(c)
		if err != nil && mode != "delete" {
			s.fail(c, err)
			return
		}
		body = raw
	}
	s.respond(c)(s.svc.Validate(c.Request.Context(), s.call(c), c.Param("type"), id, mode, body))
}

// metaSystem serves GET|POST [base]/$meta.
func (s *Server) metaSystem(c *gin.Context) {
	s.respond(c)(s.svc.MetaSummary(c.Request.Context(), s.call(c), ""))
}

// metaType serves GET|POST [base]/[type]/$meta.
func (s *Server) metaType(c *gin.Context) {
	s.respond(c)(s.svc.MetaSummary(c.Request.Context(), s.call(c), c.Param("type")))
}

// metaInstance serves GET|POST [base]/[type]/[id]/$meta and [base]/[type]/[id]/_history/[vid]/$meta.
func (s *Server) metaInstance(c *gin.Context) {
	s.respond(c)(s.svc.MetaInstance(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), c.Param("vid")))
}

// metaAdd serves POST [base]/[type]/[id]/$meta-add.
func (s *Server) metaAdd(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.MetaAdd(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), body, c.GetHeader("If-Match")))
}

// metaDelete serves POST [base]/[type]/[id]/$meta-delete.
func (s *Server) metaDelete(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respond(c)(s.svc.MetaDelete(c.Request.Context(), s.call(c), c.Param("type"), c.Param("id"), body, c.GetHeader("If-Match")))
}

// metaByGet answers GET on $meta-add and $meta-delete, which change the resource: POST only.
func (s *Server) metaByGet(c *gin.Context) {
	c.Header("Allow", http.MethodPost)
	s.fail(c, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported,
		"%s changes the resource and is not idempotent: use POST", path.Base(c.Request.URL.Path)))
}

// metaVersionEdit answers $meta-add and $meta-delete on a historical version: careflow's versions are
// immutable, and R4 defines these operations on the resource only ([base]/[type]/[id]/$meta-add).
func (s *Server) metaVersionEdit(c *gin.Context) {
	s.fail(c, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported,
		"versions are immutable on this server: $meta-add and $meta-delete apply to the current version at [base]/%s/%s/$meta-add or $meta-delete, and record a new version",
		c.Param("type"), c.Param("id")))
}
