package fhirread

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/storage"
)

// HumanName is a FHIR HumanName.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// Patient is the part of a Patient the adapters read.
type Patient struct {
	Head
	ID                   string      `json:"id"`
	Active               *bool       `json:"active,omitempty"`
	Name                 []HumanName `json:"name,omitempty"`
	Gender               string      `json:"gender,omitempty"`
	BirthDate            string      `json:"birthDate,omitempty"`
	DeceasedBoolean      *bool       `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime     string      `json:"deceasedDateTime,omitempty"`
	GeneralPractitioner  []Reference `json:"generalPractitioner,omitempty"`
	ManagingOrganization *Reference  `json:"managingOrganization,omitempty"`
}

// DisplayName returns a readable name: the official (else first) name's text, else "Given Family".
func (p *Patient) DisplayName() string {
	if len(p.Name) == 0 {
		return ""
	}
	n := p.Name[0]
	for _, cand := range p.Name {
		if cand.Use == "official" {
			n = cand
			break
		}
	}
	if n.Text != "" {
		return n.Text
	}
	parts := append([]string{}, n.Given...)
	if n.Family != "" {
		parts = append(parts, n.Family)
	}
	return strings.Join(parts, " ")
}

// Deceased reports whether the patient is recorded as deceased.
func (p *Patient) Deceased() bool {
	return (p.DeceasedBoolean != nil && *p.DeceasedBoolean) || p.DeceasedDateTime != ""
}

// AppointmentParticipant is Appointment.participant.
type AppointmentParticipant struct {
	Type   []CodeableConcept `json:"type,omitempty"`
	Actor  *Reference        `json:"actor,omitempty"`
	Status string            `json:"status,omitempty"`
}

// Appointment is the part of an Appointment the adapters read.
type Appointment struct {
	Head
	ID                    string                   `json:"id"`
	Extension             []Extension              `json:"extension,omitempty"`
	Status                string                   `json:"status"`
	ServiceCategory       []CodeableConcept        `json:"serviceCategory,omitempty"`
	ServiceType           []CodeableConcept        `json:"serviceType,omitempty"`
	Specialty             []CodeableConcept        `json:"specialty,omitempty"`
	AppointmentType       *CodeableConcept         `json:"appointmentType,omitempty"`
	ReasonCode            []CodeableConcept        `json:"reasonCode,omitempty"`
	Description           string                   `json:"description,omitempty"`
	SupportingInformation []Reference              `json:"supportingInformation,omitempty"`
	Start                 string                   `json:"start,omitempty"`
	End                   string                   `json:"end,omitempty"`
	MinutesDuration       *int                     `json:"minutesDuration,omitempty"`
	BasedOn               []Reference              `json:"basedOn,omitempty"`
	Participant           []AppointmentParticipant `json:"participant,omitempty"`
}

// CarePlanActivityDetail is CarePlan.activity.detail.
type CarePlanActivityDetail struct {
	Kind              string           `json:"kind,omitempty"`
	Code              *CodeableConcept `json:"code,omitempty"`
	Status            string           `json:"status,omitempty"`
	Description       string           `json:"description,omitempty"`
	ScheduledTiming   *Timing          `json:"scheduledTiming,omitempty"`
	ScheduledPeriod   *Period          `json:"scheduledPeriod,omitempty"`
	ScheduledString   string           `json:"scheduledString,omitempty"`
	Performer         []Reference      `json:"performer,omitempty"`
	Location          *Reference       `json:"location,omitempty"`
	DoNotPerform      *bool            `json:"doNotPerform,omitempty"`
	ProductCodeable   *CodeableConcept `json:"productCodeableConcept,omitempty"`
	ProductReference  *Reference       `json:"productReference,omitempty"`
	StatusReason      *CodeableConcept `json:"statusReason,omitempty"`
	InstantiatesCanon []string         `json:"instantiatesCanonical,omitempty"`
}

// CarePlanActivity is CarePlan.activity.
type CarePlanActivity struct {
	ID               string                  `json:"id,omitempty"`
	OutcomeReference []Reference             `json:"outcomeReference,omitempty"`
	Reference        *Reference              `json:"reference,omitempty"`
	Detail           *CarePlanActivityDetail `json:"detail,omitempty"`
}

// CarePlan is the part of a CarePlan the adapters read.
type CarePlan struct {
	Head
	ID          string             `json:"id"`
	Meta        *Meta              `json:"meta,omitempty"`
	Contained   []json.RawMessage  `json:"contained,omitempty"`
	Status      string             `json:"status"`
	Intent      string             `json:"intent"`
	Category    []CodeableConcept  `json:"category,omitempty"`
	Title       string             `json:"title,omitempty"`
	Description string             `json:"description,omitempty"`
	Subject     Reference          `json:"subject"`
	Period      *Period            `json:"period,omitempty"`
	Author      *Reference         `json:"author,omitempty"`
	Contributor []Reference        `json:"contributor,omitempty"`
	CareTeam    []Reference        `json:"careTeam,omitempty"`
	Addresses   []Reference        `json:"addresses,omitempty"`
	Activity    []CarePlanActivity `json:"activity,omitempty"`
}

// DecodeCarePlan reads a stored CarePlan (v.Body).
func DecodeCarePlan(v *storage.Version) (*CarePlan, error) {
	var cp CarePlan
	if err := Decode(v.Body, "CarePlan", &cp); err != nil {
		return nil, fmt.Errorf("CarePlan/%s: %w", v.ID, err)
	}
	return &cp, nil
}

// Name returns the plan's title, else its description, else its first category, else "Care plan".
func (c *CarePlan) Name() string {
	switch {
	case c.Title != "":
		return c.Title
	case c.Description != "":
		return c.Description
	}
	for i := range c.Category {
		if l := c.Category[i].Label(); l != "" {
			return l
		}
	}
	return "Care plan"
}

// CareTeam is the part of a (contained) CareTeam the adapters read.
type CareTeam struct {
	Head
	ID          string `json:"id"`
	Participant []struct {
		Member     *Reference `json:"member,omitempty"`
		OnBehalfOf *Reference `json:"onBehalfOf,omitempty"`
	} `json:"participant,omitempty"`
}

// Condition is the part of a (contained) Condition the adapters read.
type Condition struct {
	Head
	ID   string           `json:"id"`
	Code *CodeableConcept `json:"code,omitempty"`
}

// ContainedOf returns the contained resource with the given id ("#id" or "id") if it has the type.
func ContainedOf(contained []json.RawMessage, ref, resourceType string) (json.RawMessage, bool) {
	id := strings.TrimPrefix(ref, "#")
	for _, raw := range contained {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if json.Unmarshal(raw, &head) == nil && head.ID == id && head.ResourceType == resourceType {
			return raw, true
		}
	}
	return nil, false
}

// AllergyReaction is AllergyIntolerance.reaction.
type AllergyReaction struct {
	Substance     *CodeableConcept  `json:"substance,omitempty"`
	Manifestation []CodeableConcept `json:"manifestation,omitempty"`
	Severity      string            `json:"severity,omitempty"`
	Description   string            `json:"description,omitempty"`
}

// AllergyIntolerance is the part of an AllergyIntolerance the adapters read.
type AllergyIntolerance struct {
	Head
	ID                 string            `json:"id"`
	ClinicalStatus     *CodeableConcept  `json:"clinicalStatus,omitempty"`
	VerificationStatus *CodeableConcept  `json:"verificationStatus,omitempty"`
	Type               string            `json:"type,omitempty"`
	Category           []string          `json:"category,omitempty"`
	Criticality        string            `json:"criticality,omitempty"`
	Code               *CodeableConcept  `json:"code,omitempty"`
	Patient            Reference         `json:"patient"`
	Reaction           []AllergyReaction `json:"reaction,omitempty"`
	RecordedDate       string            `json:"recordedDate,omitempty"`
}

// MedicationIngredient is Medication.ingredient.
type MedicationIngredient struct {
	ItemCodeableConcept *CodeableConcept `json:"itemCodeableConcept,omitempty"`
	ItemReference       *Reference       `json:"itemReference,omitempty"`
	IsActive            *bool            `json:"isActive,omitempty"`
}

// Medication is the part of a (contained) Medication the adapters read.
type Medication struct {
	Head
	ID         string                 `json:"id"`
	Code       *CodeableConcept       `json:"code,omitempty"`
	Ingredient []MedicationIngredient `json:"ingredient,omitempty"`
}

// MedicationStatement is the part of a MedicationStatement the adapters read.
type MedicationStatement struct {
	Head
	ID                        string            `json:"id"`
	Contained                 []json.RawMessage `json:"contained,omitempty"`
	Status                    string            `json:"status"`
	MedicationCodeableConcept *CodeableConcept  `json:"medicationCodeableConcept,omitempty"`
	MedicationReference       *Reference        `json:"medicationReference,omitempty"`
	Subject                   Reference         `json:"subject"`
	EffectiveDateTime         string            `json:"effectiveDateTime,omitempty"`
	EffectivePeriod           *Period           `json:"effectivePeriod,omitempty"`
	DateAsserted              string            `json:"dateAsserted,omitempty"`
	InformationSource         *Reference        `json:"informationSource,omitempty"`
	ReasonCode                []CodeableConcept `json:"reasonCode,omitempty"`
	Dosage                    []Dosage          `json:"dosage,omitempty"`
}

// CoverageClass is Coverage.class.
type CoverageClass struct {
	Type  CodeableConcept `json:"type"`
	Value string          `json:"value"`
	Name  string          `json:"name,omitempty"`
}

// Coverage is the part of a Coverage the adapters read.
type Coverage struct {
	Head
	ID          string           `json:"id"`
	Extension   []Extension      `json:"extension,omitempty"`
	Status      string           `json:"status"`
	Type        *CodeableConcept `json:"type,omitempty"`
	Subscriber  *Reference       `json:"subscriber,omitempty"`
	Beneficiary Reference        `json:"beneficiary"`
	Period      *Period          `json:"period,omitempty"`
	Payor       []Reference      `json:"payor,omitempty"`
	Class       []CoverageClass  `json:"class,omitempty"`
	Order       *int             `json:"order,omitempty"`
	Network     string           `json:"network,omitempty"`
}

// Schedule returns the scheduled window of an activity: scheduledPeriod, or the outer limits of
// scheduledTiming (see TimingSpan). ok is false when the activity has no detail or its schedule places
// nothing on the calendar (scheduledString, a bare frequency).
func (a *CarePlanActivity) Schedule(loc *time.Location) (Span, bool) {
	if a.Detail == nil {
		return Span{}, false
	}
	if a.Detail.ScheduledPeriod != nil {
		return PeriodSpan(a.Detail.ScheduledPeriod, loc)
	}
	return TimingSpan(a.Detail.ScheduledTiming, loc)
}

// Label describes an activity: detail.description, else detail.code, else the referenced request's
// display, else "activity N" (1-based).
func (a *CarePlanActivity) Label(index int) string {
	if a.Detail != nil {
		if a.Detail.Description != "" {
			return a.Detail.Description
		}
		if l := a.Detail.Code.Label(); l != "" {
			return l
		}
	}
	if a.Reference != nil && a.Reference.Display != "" {
		return a.Reference.Display
	}
	return "activity " + strconv.Itoa(index+1)
}

// PatientRef turns a patient id or reference into the normalised reference "Patient/id" ("" stays "").
func PatientRef(p string) string {
	if p == "" {
		return ""
	}
	if !strings.Contains(p, "/") {
		return "Patient/" + p
	}
	return RefKey(p)
}
