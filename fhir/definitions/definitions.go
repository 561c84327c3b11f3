// Package definitions holds the official HL7 FHIR R4 definitions careflow needs, embedded in the binary:
// the JSON schema (fhir.schema.json), the search parameters of careflow's resource types and the patient
// CompartmentDefinition. The files are produced by ./gen from the published npm packages; never edit them.
package definitions

import _ "embed"

//go:generate go run ./gen -out . -examples ../../testdata/examples/r4

// ResourceTypes are the resource types careflow stores and serves, in the order the CapabilityStatement lists
// them: the six coordination resources, and Task, which holds the coordinator's worklist items (their
// assignment and completion must survive like any other record). Everything else about them comes from the
// official definitions.
var ResourceTypes = []string{"Patient", "CarePlan", "Appointment", "AllergyIntolerance", "MedicationStatement", "Coverage", "Task", "AuditEvent"}

// Schema is the official FHIR R4 JSON schema (http://hl7.org/fhir/json-schema/4.0), verbatim.
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
