package validate

import (
	"fmt"
	"strings"

	"github.com/careflow/careflow/fhir/model"
)

// requiredElements lists, one FHIRPath-like path per line, the elements of FHIR R4 resources and datatypes with
// a minimum cardinality of 1 that fhir.schema.json cannot make "required": primitive elements (which may be
// present as "_name" with extensions only) and choice elements ("[x]", present as any one alternative). The
// schema requires every other mandatory element. Derived from the snapshots of the official R4 (4.0.1)
// StructureDefinitions of kind resource and complex-type (as published in hl7.fhir.r4.examples 4.0.1): elements with min ≥ 1 whose
// type is primitive or a choice, Extension.url aside (checked with ext-1). R4 is frozen, so is this list.
const requiredElements = `
Account.status
ActivityDefinition.dynamicValue.path
ActivityDefinition.participant.type
ActivityDefinition.status
AdverseEvent.actuality
Annotation.text
Appointment.participant.status
Appointment.status
AppointmentResponse.participantStatus
AuditEvent.agent.requestor
AuditEvent.entity.detail.type
AuditEvent.entity.detail.value[x]
AuditEvent.recorded
Binary.contentType
Bundle.entry.request.method
Bundle.entry.request.url
Bundle.entry.response.status
Bundle.link.relation
Bundle.link.url
Bundle.type
CapabilityStatement.date
CapabilityStatement.document.mode
CapabilityStatement.fhirVersion
CapabilityStatement.format
CapabilityStatement.implementation.description
CapabilityStatement.kind
CapabilityStatement.messaging.endpoint.address
CapabilityStatement.messaging.supportedMessage.mode
CapabilityStatement.rest.interaction.code
CapabilityStatement.rest.mode
CapabilityStatement.rest.resource.interaction.code
CapabilityStatement.rest.resource.operation.name
CapabilityStatement.rest.resource.searchParam.name
CapabilityStatement.rest.resource.searchParam.type
CapabilityStatement.rest.resource.type
CapabilityStatement.software.name
CapabilityStatement.status
CarePlan.activity.detail.status
CarePlan.intent
CarePlan.status
CatalogEntry.orderable
CatalogEntry.relatedEntry.relationtype
ChargeItem.status
ChargeItemDefinition.propertyGroup.priceComponent.type
ChargeItemDefinition.status
ChargeItemDefinition.url
Claim.accident.date
Claim.careTeam.sequence
Claim.created
Claim.diagnosis.diagnosis[x]
Claim.diagnosis.sequence
Claim.insurance.focal
Claim.insurance.sequence
Claim.item.detail.sequence
Claim.item.detail.subDetail.sequence
Claim.item.sequence
Claim.procedure.procedure[x]
Claim.procedure.sequence
Claim.status
Claim.supportingInfo.sequence
Claim.use
ClaimResponse.created
ClaimResponse.insurance.focal
ClaimResponse.insurance.sequence
ClaimResponse.item.detail.detailSequence
ClaimResponse.item.detail.subDetail.subDetailSequence
ClaimResponse.item.itemSequence
ClaimResponse.outcome
ClaimResponse.processNote.text
ClaimResponse.status
ClaimResponse.use
ClinicalImpression.status
CodeSystem.concept.code
CodeSystem.concept.designation.value
CodeSystem.concept.property.code
CodeSystem.concept.property.value[x]
CodeSystem.content
CodeSystem.filter.code
CodeSystem.filter.operator
CodeSystem.filter.value
CodeSystem.property.code
CodeSystem.property.type
CodeSystem.status
Communication.payload.content[x]
Communication.status
CommunicationRequest.payload.content[x]
CommunicationRequest.status
CompartmentDefinition.code
CompartmentDefinition.name
CompartmentDefinition.resource.code
CompartmentDefinition.search
CompartmentDefinition.status
CompartmentDefinition.url
Composition.attester.mode
Composition.date
Composition.relatesTo.code
Composition.relatesTo.target[x]
Composition.status
Composition.title
ConceptMap.group.element.target.dependsOn.property
ConceptMap.group.element.target.dependsOn.value
ConceptMap.group.element.target.equivalence
ConceptMap.group.unmapped.mode
ConceptMap.status
Consent.provision.data.meaning
Consent.status
Consent.verification.verified
Contract.contentDefinition.publicationStatus
Contract.friendly.content[x]
Contract.legal.content[x]
Contract.rule.content[x]
Contract.term.offer.answer.value[x]
Contributor.name
Contributor.type
Coverage.class.value
Coverage.costToBeneficiary.value[x]
Coverage.status
CoverageEligibilityRequest.created
CoverageEligibilityRequest.purpose
CoverageEligibilityRequest.status
CoverageEligibilityRequest.supportingInfo.sequence
CoverageEligibilityResponse.created
CoverageEligibilityResponse.outcome
CoverageEligibilityResponse.purpose
CoverageEligibilityResponse.status
DataRequirement.sort.direction
DataRequirement.sort.path
DataRequirement.type
DetectedIssue.status
Device.deviceName.name
Device.deviceName.type
Device.version.value
DeviceDefinition.deviceName.name
DeviceDefinition.deviceName.type
DeviceDefinition.specialization.systemType
DeviceDefinition.udiDeviceIdentifier.deviceIdentifier
DeviceDefinition.udiDeviceIdentifier.issuer
DeviceDefinition.udiDeviceIdentifier.jurisdiction
DeviceMetric.category
DeviceRequest.code[x]
DeviceRequest.intent
DeviceUseStatement.status
DiagnosticReport.status
DocumentManifest.status
DocumentReference.relatesTo.code
DocumentReference.status
EffectEvidenceSynthesis.status
ElementDefinition.base.max
ElementDefinition.base.min
ElementDefinition.base.path
ElementDefinition.binding.strength
ElementDefinition.constraint.human
ElementDefinition.constraint.key
ElementDefinition.constraint.severity
ElementDefinition.example.label
ElementDefinition.example.value[x]
ElementDefinition.mapping.identity
ElementDefinition.mapping.map
ElementDefinition.path
ElementDefinition.slicing.discriminator.path
ElementDefinition.slicing.discriminator.type
ElementDefinition.slicing.rules
ElementDefinition.type.code
Encounter.status
Encounter.statusHistory.status
Endpoint.address
Endpoint.status
EpisodeOfCare.status
EpisodeOfCare.statusHistory.status
EventDefinition.status
Evidence.status
EvidenceVariable.characteristic.definition[x]
EvidenceVariable.status
ExampleScenario.actor.actorId
ExampleScenario.actor.type
ExampleScenario.instance.containedInstance.resourceId
ExampleScenario.instance.resourceId
ExampleScenario.instance.resourceType
ExampleScenario.instance.version.description
ExampleScenario.instance.version.versionId
ExampleScenario.process.step.alternative.title
ExampleScenario.process.step.operation.number
ExampleScenario.process.title
ExampleScenario.status
ExplanationOfBenefit.careTeam.sequence
ExplanationOfBenefit.created
ExplanationOfBenefit.diagnosis.diagnosis[x]
ExplanationOfBenefit.diagnosis.sequence
ExplanationOfBenefit.insurance.focal
ExplanationOfBenefit.item.detail.sequence
ExplanationOfBenefit.item.detail.subDetail.sequence
ExplanationOfBenefit.item.sequence
ExplanationOfBenefit.outcome
ExplanationOfBenefit.procedure.procedure[x]
ExplanationOfBenefit.procedure.sequence
ExplanationOfBenefit.status
ExplanationOfBenefit.supportingInfo.sequence
ExplanationOfBenefit.use
Expression.language
FamilyMemberHistory.status
Flag.status
Goal.lifecycleStatus
GraphDefinition.link.target.compartment.code
GraphDefinition.link.target.compartment.rule
GraphDefinition.link.target.compartment.use
GraphDefinition.link.target.type
GraphDefinition.name
GraphDefinition.start
GraphDefinition.status
Group.actual
Group.characteristic.exclude
Group.characteristic.value[x]
Group.type
GuidanceResponse.module[x]
GuidanceResponse.status
HealthcareService.notAvailable.description
ImagingStudy.series.instance.uid
ImagingStudy.series.uid
ImagingStudy.status
Immunization.occurrence[x]
Immunization.protocolApplied.doseNumber[x]
Immunization.status
ImmunizationEvaluation.status
ImmunizationRecommendation.date
ImmunizationRecommendation.recommendation.dateCriterion.value
ImplementationGuide.definition.grouping.name
ImplementationGuide.definition.page.generation
ImplementationGuide.definition.page.name[x]
ImplementationGuide.definition.page.title
ImplementationGuide.definition.parameter.code
ImplementationGuide.definition.parameter.value
ImplementationGuide.definition.template.code
ImplementationGuide.definition.template.source
ImplementationGuide.fhirVersion
ImplementationGuide.global.type
ImplementationGuide.manifest.page.name
ImplementationGuide.name
ImplementationGuide.packageId
ImplementationGuide.status
ImplementationGuide.url
Invoice.lineItem.chargeItem[x]
Invoice.lineItem.priceComponent.type
Invoice.status
Library.status
Linkage.item.type
List.mode
List.status
Location.position.latitude
Location.position.longitude
Measure.status
MeasureReport.status
MeasureReport.type
Media.status
Medication.ingredient.item[x]
MedicationAdministration.effective[x]
MedicationAdministration.medication[x]
MedicationAdministration.status
MedicationDispense.medication[x]
MedicationDispense.status
MedicationDispense.substitution.wasSubstituted
MedicationKnowledge.administrationGuidelines.patientCharacteristics.characteristic[x]
MedicationKnowledge.ingredient.item[x]
MedicationKnowledge.regulatory.substitution.allowed
MedicationRequest.intent
MedicationRequest.medication[x]
MedicationRequest.status
MedicationRequest.substitution.allowed[x]
MedicationStatement.medication[x]
MedicationStatement.status
MedicinalProduct.name.namePart.part
MedicinalProduct.name.productName
MedicinalProductContraindication.otherTherapy.medication[x]
MedicinalProductIndication.otherTherapy.medication[x]
MedicinalProductInteraction.interactant.item[x]
MessageDefinition.date
MessageDefinition.event[x]
MessageDefinition.focus.code
MessageDefinition.focus.min
MessageDefinition.status
MessageHeader.destination.endpoint
MessageHeader.event[x]
MessageHeader.response.code
MessageHeader.response.identifier
MessageHeader.source.endpoint
MolecularSequence.coordinateSystem
MolecularSequence.quality.type
MolecularSequence.repository.type
NamingSystem.date
NamingSystem.kind
NamingSystem.name
NamingSystem.status
NamingSystem.uniqueId.type
NamingSystem.uniqueId.value
Narrative.status
NutritionOrder.dateTime
NutritionOrder.intent
NutritionOrder.status
Observation.status
OperationDefinition.code
OperationDefinition.instance
OperationDefinition.kind
OperationDefinition.name
OperationDefinition.parameter.binding.strength
OperationDefinition.parameter.max
OperationDefinition.parameter.min
OperationDefinition.parameter.name
OperationDefinition.parameter.referencedFrom.source
OperationDefinition.parameter.use
OperationDefinition.status
OperationDefinition.system
OperationDefinition.type
OperationOutcome.issue.code
OperationOutcome.issue.severity
ParameterDefinition.type
ParameterDefinition.use
Parameters.parameter.name
Patient.link.type
PaymentNotice.created
PaymentNotice.status
PaymentReconciliation.created
PaymentReconciliation.paymentDate
PaymentReconciliation.status
PlanDefinition.action.condition.kind
PlanDefinition.action.participant.type
PlanDefinition.action.relatedAction.actionId
PlanDefinition.action.relatedAction.relationship
PlanDefinition.status
PractitionerRole.notAvailable.description
Procedure.status
Provenance.entity.role
Provenance.recorded
Questionnaire.item.answerOption.value[x]
Questionnaire.item.enableWhen.answer[x]
Questionnaire.item.enableWhen.operator
Questionnaire.item.enableWhen.question
Questionnaire.item.initial.value[x]
Questionnaire.item.linkId
Questionnaire.item.type
Questionnaire.status
QuestionnaireResponse.item.linkId
QuestionnaireResponse.status
RelatedArtifact.type
RequestGroup.action.condition.kind
RequestGroup.action.relatedAction.actionId
RequestGroup.action.relatedAction.relationship
RequestGroup.intent
RequestGroup.status
ResearchDefinition.status
ResearchElementDefinition.characteristic.definition[x]
ResearchElementDefinition.status
ResearchElementDefinition.type
ResearchStudy.arm.name
ResearchStudy.status
ResearchSubject.status
RiskAssessment.status
RiskEvidenceSynthesis.status
SampledData.dimensions
SampledData.period
SearchParameter.base
SearchParameter.code
SearchParameter.component.expression
SearchParameter.description
SearchParameter.name
SearchParameter.status
SearchParameter.type
SearchParameter.url
ServiceRequest.intent
ServiceRequest.status
Signature.when
Slot.end
Slot.start
Slot.status
SpecimenDefinition.typeTested.container.additive.additive[x]
SpecimenDefinition.typeTested.preference
StructureDefinition.abstract
StructureDefinition.context.expression
StructureDefinition.context.type
StructureDefinition.kind
StructureDefinition.mapping.identity
StructureDefinition.name
StructureDefinition.status
StructureDefinition.type
StructureDefinition.url
StructureMap.group.input.mode
StructureMap.group.input.name
StructureMap.group.name
StructureMap.group.rule.dependent.name
StructureMap.group.rule.dependent.variable
StructureMap.group.rule.name
StructureMap.group.rule.source.context
StructureMap.group.rule.target.parameter.value[x]
StructureMap.group.typeMode
StructureMap.name
StructureMap.status
StructureMap.structure.mode
StructureMap.url
Subscription.channel.type
Subscription.criteria
Subscription.reason
Subscription.status
Substance.ingredient.substance[x]
SubstanceSpecification.name.name
SupplyRequest.item[x]
Task.input.value[x]
Task.intent
Task.output.value[x]
Task.status
TerminologyCapabilities.codeSystem.version.filter.code
TerminologyCapabilities.codeSystem.version.filter.op
TerminologyCapabilities.date
TerminologyCapabilities.expansion.parameter.name
TerminologyCapabilities.implementation.description
TerminologyCapabilities.kind
TerminologyCapabilities.software.name
TerminologyCapabilities.status
TerminologyCapabilities.translation.needsMap
TerminologyCapabilities.validateCode.translations
TestReport.participant.type
TestReport.participant.uri
TestReport.result
TestReport.setup.action.assert.result
TestReport.setup.action.operation.result
TestReport.status
TestScript.destination.index
TestScript.fixture.autocreate
TestScript.fixture.autodelete
TestScript.metadata.capability.required
TestScript.metadata.capability.validated
TestScript.metadata.link.url
TestScript.name
TestScript.origin.index
TestScript.setup.action.assert.warningOnly
TestScript.setup.action.operation.encodeRequestUrl
TestScript.setup.action.operation.requestHeader.field
TestScript.setup.action.operation.requestHeader.value
TestScript.status
TestScript.url
TestScript.variable.name
TriggerDefinition.type
UsageContext.value[x]
ValueSet.compose.include.concept.code
ValueSet.compose.include.concept.designation.value
ValueSet.compose.include.filter.op
ValueSet.compose.include.filter.property
ValueSet.compose.include.filter.value
ValueSet.expansion.parameter.name
ValueSet.expansion.timestamp
ValueSet.status
VerificationResult.status
VisionPrescription.created
VisionPrescription.dateWritten
VisionPrescription.lensSpecification.eye
VisionPrescription.lensSpecification.prism.amount
VisionPrescription.lensSpecification.prism.base
VisionPrescription.status
`

// requirement is one element of requiredElements, resolved against the element model.
type requirement struct {
	name string           // JSON property name, or choice base name + "[x]"
	ext  string           // "_" + name: a primitive present with extensions only
	alts []*model.Element // choice alternatives
}

// loadRequirements resolves requiredElements against the element model, by the model type that holds them
// (backbone elements have their own types, such as CarePlan_Detail).
func loadRequirements(m *model.Model) (map[*model.Type][]requirement, error) {
	out := map[*model.Type][]requirement{}
	for _, path := range strings.Fields(requiredElements) {
		segs := strings.Split(path, ".")
		t, ok := m.Type(segs[0])
		for _, seg := range segs[1 : len(segs)-1] {
			if !ok {
				break
			}
			e := t.Elements[seg]
			if e == nil {
				ok = false
				break
			}
			t, ok = m.Type(e.Type)
		}
		if !ok {
			return nil, fmt.Errorf("required element %s: no such element in the model", path)
		}
		last := segs[len(segs)-1]
		r := requirement{name: last, ext: "_" + last}
		if base, isChoice := strings.CutSuffix(last, "[x]"); isChoice {
			r.alts = t.Choices[base]
			if len(r.alts) == 0 {
				return nil, fmt.Errorf("required element %s: %s is not a choice element in the model", path, last)
			}
		} else if t.Elements[last] == nil {
			return nil, fmt.Errorf("required element %s: no such element in the model", path)
		}
		out[t] = append(out[t], r)
	}
	return out, nil
}

// present reports whether obj has the required element.
func (r *requirement) present(obj map[string]any) bool {
	if r.alts == nil {
		_, ok := obj[r.name]
		if !ok {
			_, ok = obj[r.ext]
		}
		return ok
	}
	for _, e := range r.alts {
		if _, ok := obj[e.Name]; ok {
			return true
		}
		if _, ok := obj["_"+e.Name]; ok {
			return true
		}
	}
	return false
}

// describe names what is missing for diagnostics.
func (r *requirement) describe() string {
	if r.alts == nil {
		return "required element " + quote(r.name) + " is missing"
	}
	names := make([]string, len(r.alts))
	for i, e := range r.alts {
		names[i] = e.Name
	}
	return "required element " + quote(r.name) + " is missing (give one of " + shortList(names, 8) + ")"
}
