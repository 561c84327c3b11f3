package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/capability"
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
	if d.AffectsState && body == nil {
		return nil, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported, "$%s changes data: invoke it with POST and a Parameters resource", d.Code)
	}
	p := url.Values{}
	for k, vs := range params {
		if k != "_format" && k != "_pretty" {
			p[k] = vs
		}
	}
	var resources map[string][][]byte
	if body != nil {
		var err error
		if resources, err = postedParameters(body, p); err != nil {
			return nil, err
		}
		for name := range resources {
			if !takesResource(d, name) {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, "Parameters.parameter", "parameter %q: only primitive values are supported", name)
			}
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
	req := operation.Request{ID: id, Params: p, Base: call.Base, Now: s.now(), Resources: resources}
	if d.AffectsState {
		req.Transact = func(ctx context.Context, bundle []byte) ([]byte, error) {
			c := call
			c.Return = "" // the operation reads the resources written
			res, err := s.Bundle(ctx, c, bundle)
			if err != nil {
				return nil, err
			}
			return res.Body, nil
		}
	}
	out, err := op.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Result{Status: http.StatusOK, Body: out}, nil
}

// takesResource reports whether the operation declares an in parameter name whose value is a resource (a
// type starting with a capital letter that is not a complex datatype it reads as a string).
func takesResource(d capability.OperationDefinition, name string) bool {
	for _, p := range d.Parameters {
		if p.Use == "in" && p.Name == name && p.Type != "" && p.Type[0] >= 'A' && p.Type[0] <= 'Z' && p.Type != "Reference" {
			return true
		}
	}
	return false
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

// postedParameters adds the parameters of a POSTed Parameters resource to params: a primitive value[x] as
// it is, a valueReference as its reference. A parameter whose value is a resource (parameter.resource) is
// returned by name. Anything else (another complex value, parts) is a 400.
func postedParameters(body []byte, params url.Values) (map[string][][]byte, error) {
	var p struct {
		ResourceType string                       `json:"resourceType"`
		Parameter    []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "an operation invoked with POST takes a Parameters resource")
	}
	var resources map[string][][]byte
	for i, param := range p.Parameter {
		at := fmt.Sprintf("Parameters.parameter[%d]", i)
		var name string
		if err := json.Unmarshal(param["name"], &name); err != nil || name == "" {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, at+".name", "every parameter needs a name")
		}
		if raw, ok := param["resource"]; ok {
			if resources == nil {
				resources = map[string][][]byte{}
			}
			resources[name] = append(resources[name], raw)
			continue
		}
		value, found := "", false
		for k, raw := range param {
			if !strings.HasPrefix(k, "value") {
				continue
			}
			if k == "valueReference" {
				var ref struct {
					Reference string `json:"reference"`
				}
				if err := json.Unmarshal(raw, &ref); err != nil || ref.Reference == "" {
					return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, at+"."+k, "parameter %q: only a literal reference (reference) is supported", name)
				}
				value, found = ref.Reference, true
				continue
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeStructure, at+"."+k, "invalid value: %v", err)
			}
			switch v := v.(type) {
			case string:
				value = v
			case json.Number:
				value = v.String()
			case bool:
				value = strconv.FormatBool(v)
			default:
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, at+"."+k, "parameter %q: only primitive values are supported", name)
			}
			found = true
		}
		if !found {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeRequired, at, "parameter %q has no primitive value[x]", name)
		}
		params.Add(name, value)
	}
	return resources, nil
}
