package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/capability"
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
	// Title and Description document the operation in its OperationDefinition, which the server serves
	// at [base]/OperationDefinition/[id] (id: the last segment of Definition) and lists in the
	// CapabilityStatement.
	Title, Description string
	// Parameters are the in and out parameters of the OperationDefinition. The operation does not change
	// data: it is invoked with GET and the parameters in the URL, or with POST and a Parameters resource
	// whose parameters have primitive values (R4 operations.html#request).
	Parameters []capability.OperationParameter
}

// definition returns the OperationDefinition of op.
func (op Operation) definition() capability.OperationDefinition {
	name := op.Type + strings.ToUpper(op.Name[:1]) + op.Name[1:]
	return capability.OperationDefinition{URL: op.Definition, Name: strings.ToUpper(name[:1]) + name[1:], Title: op.Title,
		Description: op.Description, Code: op.Name, Resource: op.Type, Parameters: op.Parameters}
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
		if c.Request.Method == http.MethodPost {
			body, err := s.readBody(c)
			if err != nil {
				s.fail(c, err)
				return
			}
			if err := postedParameters(body, params); err != nil {
				s.fail(c, err)
				return
			}
		}
		body, err := op.Handler(c.Request.Context(), OperationRequest{ID: c.Param("id"), Params: params, Base: s.baseURL(c), Now: s.now()})
		if err != nil {
			s.fail(c, err)
			return
		}
		s.writeJSON(c, http.StatusOK, body)
	}
}

// postedParameters adds the parameters of a POSTed Parameters resource to params. Only primitive values
// (value[x] of a primitive type) have a URL form; anything else is a 400.
func postedParameters(body []byte, params url.Values) error {
	var p struct {
		ResourceType string                       `json:"resourceType"`
		Parameter    []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return outcome.New(http.StatusBadRequest, outcome.CodeStructure, "an operation invoked with POST takes a Parameters resource")
	}
	for i, param := range p.Parameter {
		at := fmt.Sprintf("Parameters.parameter[%d]", i)
		var name string
		if err := json.Unmarshal(param["name"], &name); err != nil || name == "" {
			return outcome.At(http.StatusBadRequest, outcome.CodeRequired, at+".name", "every parameter needs a name")
		}
		value, found := "", false
		for k, raw := range param {
			if !strings.HasPrefix(k, "value") {
				continue
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return outcome.At(http.StatusBadRequest, outcome.CodeStructure, at+"."+k, "invalid value: %v", err)
			}
			switch v := v.(type) {
			case string:
				value = v
			case json.Number:
				value = v.String()
			case bool:
				value = strconv.FormatBool(v)
			default:
				return outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, at+"."+k, "parameter %q: only primitive values are supported", name)
			}
			found = true
		}
		if !found {
			return outcome.At(http.StatusBadRequest, outcome.CodeRequired, at, "parameter %q has no primitive value[x]", name)
		}
		params.Add(name, value)
	}
	return nil
}

// operationDefinition serves GET [base]/OperationDefinition/[id] for the operations the server defines.
func (s *Server) operationDefinition(c *gin.Context) {
	id := c.Param("id")
	for _, op := range s.cfg.Operations {
		if d := op.definition(); d.ID() == id {
			s.writeJSON(c, http.StatusOK, d.JSON())
			return
		}
	}
	s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "OperationDefinition/%s is not known", id))
}
