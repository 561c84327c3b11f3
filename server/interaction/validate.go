package interaction

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
)

// validateOperationURL is the official definition of $validate.
const validateOperationURL = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

// Validate implements $validate (operation-resource-validate.html) on a type (id "") or an instance: body
// is the resource or a Parameters holding it (and mode), mode the URL's mode. The answer is always an
// OperationOutcome; 200 with error issues means the content would be rejected. Only a malformed request
// (an unknown mode, a Parameters without a resource) is itself an error.
func (s *Service) Validate(ctx context.Context, call Call, typ, id, mode string, body []byte) (*Result, error) {
	name := "$validate-type"
	if id != "" {
		name = "$validate-instance"
	}
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: name, Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		resource, paramMode, isParams, err := unwrapParameters(body)
		if err != nil {
			return nil, err
		}
		if isParams {
			body = resource
			if paramMode != "" {
				mode = paramMode
			}
		}
	}
	switch mode {
	case "", "create", "update", "delete":
	default:
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "mode", "mode must be create, update or delete, got %q", mode)
	}
	if (mode == "update" || mode == "delete") && id == "" {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, "mode", "mode %s needs the instance-level form [base]/%s/[id]/$validate", mode, typ)
	}
	var issues []outcome.Issue
	switch {
	case mode == "delete":
		if _, err := s.store.Read(ctx, typ, id); err != nil {
			if _, gone := err.(*storage.GoneError); !gone {
				e := storageError(err, typ, id)
				if e.Status >= 500 {
					return nil, e
				}
				issues = append(issues, outcome.Issue{Severity: outcome.Warning, Code: outcome.CodeNotFound, Diagnostics: e.Issues[0].Diagnostics})
			}
		}
	case len(body) == 0:
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeRequired, "$validate needs a resource (the body, or a Parameters with a resource parameter)")
	default:
		tree, verr := s.validator.Validate(typ, body)
		if verr != nil {
			issues = append(issues, verr.Issues...)
			break
		}
		bodyID, _ := tree["id"].(string)
		if mode == "update" && bodyID != id {
			issues = append(issues, outcome.Issue{Severity: outcome.SeverityErr, Code: outcome.CodeInvalid, Expression: []string{typ + ".id"},
				Diagnostics: "for an update the resource id must be " + id})
		}
		if id != "" && mode == "" && bodyID != "" && bodyID != id {
			issues = append(issues, outcome.Issue{Severity: outcome.SeverityErr, Code: outcome.CodeInvalid, Expression: []string{typ + ".id"},
				Diagnostics: "resource id " + bodyID + " differs from the URL id " + id})
		}
	}
	return &Result{Status: http.StatusOK, Body: outcome.Resource(issues), Outcome: true}, nil
}

// unwrapParameters extracts the resource and mode parameters when body is a Parameters resource.
func unwrapParameters(body []byte) (resource []byte, mode string, isParams bool, err error) {
	var head struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name      string          `json:"name"`
			Resource  json.RawMessage `json:"resource"`
			ValueCode string          `json:"valueCode"`
		} `json:"parameter"`
	}
	if json.Unmarshal(body, &head) != nil || head.ResourceType != "Parameters" {
		return nil, "", false, nil // not Parameters: the validator reports what is wrong with it
	}
	for _, p := range head.Parameter {
		switch strings.TrimSpace(p.Name) {
		case "resource":
			resource = p.Resource
		case "mode":
			mode = p.ValueCode
		}
	}
	return resource, mode, true, nil
}
