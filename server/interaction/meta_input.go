package interaction

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
)

// metaInput reads the input of $meta-add and $meta-delete: a Parameters resource with exactly one
// parameter, meta, of type Meta, whose profiles, security labels and tags are the labels to add or delete
// (its other elements are ignored). Anything else is a 400.
//
// The R4 definition of Parameters omits Meta from parameter.value[x] (a known defect of 4.0.1: the meta
// operations' own parameter is not among its types, fixed in R4B), so the Parameters is not validated
// whole: its top level is, the parameters are read strictly here, and the Meta is validated as the meta of
// a resource, its issues relocated to the parameter.
func (s *Service) metaInput(op string, body []byte) (resource.Labels, error) {
	top, err := resource.Without(body, "parameter")
	if err != nil {
		// Not a JSON object: the validator says precisely why.
		_, verr := s.validator.Validate("Parameters", body)
		if verr == nil {
			return resource.Labels{}, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "%s takes a Parameters resource: %v", op, err)
		}
		verr.Status = http.StatusBadRequest
		return resource.Labels{}, verr
	}
	if _, verr := s.validator.Validate("Parameters", top); verr != nil {
		verr.Status = http.StatusBadRequest
		return resource.Labels{}, verr
	}
	var params struct {
		Parameter []json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &params); err != nil {
		return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeStructure, "Parameters.parameter", "Parameters.parameter must be an array of parameters: %v", err)
	}
	var meta json.RawMessage
	var at string
	for i, raw := range params.Parameter {
		path := fmt.Sprintf("Parameters.parameter[%d]", i)
		var p struct {
			Name      string          `json:"name"`
			ValueMeta json.RawMessage `json:"valueMeta"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		decodeErr := dec.Decode(&p)
		switch {
		case decodeErr == nil && p.Name != "meta":
			return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, path+".name",
				"%s has no parameter %q; its one parameter is meta (a Meta)", op, p.Name)
		case decodeErr != nil:
			return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, path,
				"%s takes one parameter, {\"name\":\"meta\",\"valueMeta\":{…}}: %v", op, decodeErr)
		case meta != nil:
			return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, path,
				"%s takes one meta parameter, not several", op)
		case p.ValueMeta == nil:
			return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, path,
				"the meta parameter of %s must be a valueMeta", op)
		}
		meta, at = p.ValueMeta, path+".valueMeta"
	}
	if meta == nil {
		return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeRequired, "Parameters.parameter",
			"%s needs a Parameters resource with a meta parameter (valueMeta) holding the profiles, tags and security labels", op)
	}
	if err := s.validateMeta(meta, at); err != nil {
		return resource.Labels{}, err
	}
	labels, err := resource.ParseLabels(meta)
	if err != nil {
		return resource.Labels{}, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, at, "%s: %v", op, err)
	}
	return labels, nil
}

// validateMeta validates a Meta as the meta of a resource and reports its issues at path.
func (s *Service) validateMeta(meta json.RawMessage, path string) error {
	var wrapped bytes.Buffer
	wrapped.WriteString(`{"resourceType":"Parameters","meta":`)
	wrapped.Write(meta)
	wrapped.WriteString(`}`)
	_, verr := s.validator.Validate("Parameters", wrapped.Bytes())
	if verr == nil {
		return nil
	}
	verr.Status = http.StatusBadRequest
	for i := range verr.Issues {
		is := &verr.Issues[i]
		is.Diagnostics = strings.ReplaceAll(is.Diagnostics, "Parameters.meta", path)
		for j, e := range is.Expression {
			if e == "Parameters.meta" || strings.HasPrefix(e, "Parameters.meta.") {
				is.Expression[j] = path + strings.TrimPrefix(e, "Parameters.meta")
			}
		}
	}
	return verr
}
