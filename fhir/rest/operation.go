package rest

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
)

// Operation is a FHIR operation ($name) that a workflow package (adapters/…) contributes to the server.
// The server routes it, negotiates formats, reports errors as OperationOutcomes and lists it in the
// CapabilityStatement; the Handler only computes the answer.
type Operation struct {
	Name       string // without "$", e.g. "summary"
	Definition string // canonical URL of its OperationDefinition
	// Type is the resource type of an instance-level operation ([base]/Patient/[id]/$summary); empty for
	// a system-level one ([base]/$worklist).
	Type    string
	Handler func(ctx context.Context, r OperationRequest) ([]byte, error)
}

// OperationRequest is what a handler gets: the instance (for instance-level operations), the query
// parameters, the public base URL and the server's clock.
type OperationRequest struct {
	ID     string
	Params url.Values
	Base   string
	Now    time.Time
}

// operationHandler adapts an Operation to gin.
func (s *Server) operationHandler(op Operation) gin.HandlerFunc {
	return func(c *gin.Context) {
		if op.Type != "" && c.Param("type") != op.Type {
			s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "$%s is defined on %s", op.Name, op.Type))
			return
		}
		params := c.Request.URL.Query()
		for _, k := range []string{"_format", "_pretty"} {
			params.Del(k)
		}
		body, err := op.Handler(c.Request.Context(), OperationRequest{ID: c.Param("id"), Params: params, Base: s.baseURL(c), Now: s.now()})
		if err != nil {
			s.fail(c, err)
			return
		}
		s.writeJSON(c, http.StatusOK, body)
	}
}
