package rest

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/capability"
)

// typeInteractions are the interactions the handlers in this package implement for every type.
var typeInteractions = []string{"read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type", "patch"}

func (s *Server) metadata(c *gin.Context) {
	var resources []capability.Resource
	for _, t := range s.cfg.Types {
		r := capability.Resource{
			Type:              t,
			Interactions:      typeInteractions,
			ConditionalCreate: true,
			ConditionalUpdate: true,
			ConditionalDelete: "single",
		}
		r.Operations = append(r.Operations, capability.Operation{Name: "validate", Definition: validateOperationURL})
		if t == "Patient" {
			r.Operations = append(r.Operations, capability.Operation{Name: "everything", Definition: everythingOperationURL})
		}
		for _, p := range s.registry.Params(t) {
			r.SearchParams = append(r.SearchParams, capability.SearchParam{Name: p.Code, Definition: p.URL, Type: p.Type})
		}
		resources = append(resources, r)
	}
	doc := capability.Build(capability.Options{
		Software:          "careflow",
		Version:           s.cfg.Version,
		BaseURL:           s.baseURL(c),
		Published:         s.started,
		Resources:         resources,
		SystemInteraction: []string{"history-system", "search-system"},
	})
	s.writeJSON(c, http.StatusOK, doc)
}
