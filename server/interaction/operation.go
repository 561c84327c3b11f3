package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/careflow/careflow/auth"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
)

// InvokeOperation serves a workflow's operation: GET with params, or POST with a Parameters resource
// (body) whose primitive parameters are added to params. typ and id are the instance of an
// instance-level operation.
func (s *Service) InvokeOperation(ctx context.Context, call Call, op Operation, typ, id string, params url.Values, body []byte) (*Result, error) {
	d := op.Definition()
	if d.Resource != "" && typ != d.Resource {
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "$%s is defined on %s", d.Code, d.Resource)
	}
	p := url.Values{}
	for k, vs := range params {
		if k != "_format" && k != "_pretty" {
			p[k] = vs
		}
	}
	if body != nil {
		if err := postedParameters(body, p); err != nil {
			return nil, err
		}
	}
	owner := id
	if d.Resource == "" {
		owner = strings.TrimPrefix(p.Get("patient"), "Patient/")
	}
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "$" + d.Code, Type: typ, ID: owner})
	if err != nil {
		return nil, err
	}
	out, err := op.Invoke(ctx, operation.Request{ID: id, Params: p, Base: call.Base, Now: s.now()})
	if err != nil {
		return nil, err
	}
	return &Result{Status: http.StatusOK, Body: out}, nil
}

// OperationDefinition returns the OperationDefinition resource of the workflow operation whose id is id
// (the last segment of its canonical URL).
func (s *Service) OperationDefinition(id string) ([]byte, error) {
	for _, op := range s.cfg.Operations {
		if d := op.Definition(); d.ID() == id {
			return d.JSON(), nil
		}
	}
	return nil, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "OperationDefinition/%s is not known", id)
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
