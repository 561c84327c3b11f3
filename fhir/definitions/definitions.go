// Package definitions holds the official HL7 FHIR R4 definitions careflow needs, embedded in the binary:
// the list of R4 resource types, the JSON schema (fhir.schema.json), the search parameters of careflow's
// resource types and the official CompartmentDefinitions. The files are produced by ./gen from the published npm packages; never edit them.
package definitions

import (
	_ "embed"
	"slices"
)

//go:generate go run ./gen -out . -examples ../../testdata/examples/r4

// NotStored are the official resource types careflow does not store, with the reason (docs/ARCHITECTURE.md,
// "Resource types"): Parameters and OperationOutcome exist only as the input and output of operations
// (http://hl7.org/fhir/R4/parameters.html: "no RESTful endpoint"; OperationOutcome is what the server answers
// with), and OperationDefinition is served read-only by the server for the operations it defines itself.
var NotStored = map[string]bool{"Parameters": true, "OperationOutcome": true, "OperationDefinition": true}

// ResourceTypes are the resource types careflow stores and serves: every official R4 resource type
// (OfficialResourceTypes, generated) except NotStored. Everything about them comes from the official
// definitions. The order is the one the CapabilityStatement lists them in, and the one of results that
// span types ($everything, system search, _type): the types careflow began with first (Coordination),
// the others alphabetically.
var ResourceTypes = stored()

// Coordination are the types careflow first served, in their order: the six coordination resources, Task
// (the coordinator's worklist items) and AuditEvent (the access log). The tests
// that cannot afford every type keep their full coverage on these.
var Coordination = []string{"Patient", "CarePlan", "Appointment", "AllergyIntolerance", "MedicationStatement", "Coverage", "Task", "AuditEvent"}

func stored() []string {
	out := slices.Clone(Coordination)
	for _, t := range OfficialResourceTypes {
		if !NotStored[t] && !slices.Contains(Coordination, t) {
			out = append(out, t)
		}
	}
	return out
}

// Schema is the official FHIR R4 JSON schema (http://hl7.org/fhir/json-schema/4.0), verbatim but for the
// FHIRVersion erratum ./gen corrects (4.0.1 missing from its enums).
//
//go:embed fhir.schema.json
var Schema []byte

// SearchParameters is a Bundle of HL7's SearchParameter resources whose base is one of ResourceTypes,
// Resource or DomainResource.
//
//go:embed search-parameters.json
var SearchParameters []byte

// PatientCompartment is the official CompartmentDefinition for the Patient compartment.
//
//go:embed compartmentdefinition-patient.json
var PatientCompartment []byte

// The official CompartmentDefinitions of the Practitioner, RelatedPerson, Encounter and Device compartments.
var (
	//go:embed compartmentdefinition-practitioner.json
	PractitionerCompartment []byte
	//go:embed compartmentdefinition-relatedperson.json
	RelatedPersonCompartment []byte
	//go:embed compartmentdefinition-encounter.json
	EncounterCompartment []byte
	//go:embed compartmentdefinition-device.json
	DeviceCompartment []byte
)

// Compartments are every official R4 CompartmentDefinition (compartmentdefinition.html lists these five).
func Compartments() [][]byte {
	return [][]byte{PatientCompartment, PractitionerCompartment, RelatedPersonCompartment, EncounterCompartment, DeviceCompartment}
}

// RequiredElements lists, one path per line, the mandatory elements of R4 resources and complex types that
// the JSON schema cannot require (primitive and choice elements), from the official StructureDefinitions.
//
//go:embed required-elements.txt
var RequiredElements string

// SummaryElements lists, one path per line, the top-level elements of ResourceTypes that the official
// StructureDefinitions mark isSummary (what _summary=true returns).
//
//go:embed summary-elements.txt
var SummaryElements string
