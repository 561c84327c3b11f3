package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// This file generates realistic, varied Patient resources the way an EHR integration sends them: several
// identifiers, official and usual names, telecom, addresses with geolocation, US Core extensions, a primitive
// extension, an emergency contact and a decimal extension. Patient i depends only on (seed, i), so every run
// and every phase with the same seed uses the same resources whatever the scheduling of the workers.

// patientGen produces Patient number i of a seed.
type patientGen struct{ seed uint64 }

// corpus hands out Patient i, pre-generated for the first n so that generating them takes no time in the
// measured phases (beyond n, as in a time-bound phase, they are generated on demand).
type corpus struct {
	gen patientGen
	pre []generated
}

func newCorpus(seed uint64, n int) *corpus {
	c := &corpus{gen: patientGen{seed: seed}, pre: make([]generated, n)}
	for i := range c.pre {
		c.pre[i] = c.gen.patient(i)
	}
	return c
}

// patient returns Patient i.
func (c *corpus) patient(i int) generated {
	if i < len(c.pre) {
		return c.pre[i]
	}
	return c.gen.patient(i)
}

// generated is one Patient: its JSON (as POSTed) and the search-index-like fields a raw document carries.
type generated struct {
	JSON []byte
	// Index mimics the top-level search-index fields careflow stores next to the resource (see index.go),
	// so that the raw documents have the same shape.
	Index []indexField
}

// The JSON shape. Field order follows the FHIR element order, as servers and EHRs emit it.
type (
	fPatient struct {
		ResourceType         string           `json:"resourceType"`
		Meta                 *fMeta           `json:"meta,omitempty"`
		Extension            []fExtension     `json:"extension,omitempty"`
		Identifier           []fIdentifier    `json:"identifier,omitempty"`
		Active               bool             `json:"active"`
		Name                 []fHumanName     `json:"name,omitempty"`
		Telecom              []fContactPoint  `json:"telecom,omitempty"`
		Gender               string           `json:"gender,omitempty"`
		BirthDate            string           `json:"birthDate,omitempty"`
		BirthDateExt         *fElement        `json:"_birthDate,omitempty"`
		DeceasedBoolean      *bool            `json:"deceasedBoolean,omitempty"`
		Address              []fAddress       `json:"address,omitempty"`
		MaritalStatus        *fConcept        `json:"maritalStatus,omitempty"`
		MultipleBirthBoolean *bool            `json:"multipleBirthBoolean,omitempty"`
		Contact              []fContact       `json:"contact,omitempty"`
		Communication        []fCommunication `json:"communication,omitempty"`
		GeneralPractitioner  []fReference     `json:"generalPractitioner,omitempty"`
		ManagingOrganization *fReference      `json:"managingOrganization,omitempty"`
	}
	fMeta struct {
		Profile []string  `json:"profile,omitempty"`
		Tag     []fCoding `json:"tag,omitempty"`
	}
	fElement struct {
		Extension []fExtension `json:"extension,omitempty"`
	}
	fExtension struct {
		URL           string       `json:"url"`
		Extension     []fExtension `json:"extension,omitempty"`
		ValueCode     string       `json:"valueCode,omitempty"`
		ValueString   string       `json:"valueString,omitempty"`
		ValueCoding   *fCoding     `json:"valueCoding,omitempty"`
		ValueDateTime string       `json:"valueDateTime,omitempty"`
		// ValueDecimal keeps the digits as written ("1.50"): FHIR decimals are exact.
		ValueDecimal json.Number `json:"valueDecimal,omitempty"`
	}
	fCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	fConcept struct {
		Coding []fCoding `json:"coding,omitempty"`
		Text   string    `json:"text,omitempty"`
	}
	fPeriod struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
	fIdentifier struct {
		Use      string      `json:"use,omitempty"`
		Type     *fConcept   `json:"type,omitempty"`
		System   string      `json:"system,omitempty"`
		Value    string      `json:"value,omitempty"`
		Period   *fPeriod    `json:"period,omitempty"`
		Assigner *fReference `json:"assigner,omitempty"`
	}
	fHumanName struct {
		Use    string   `json:"use,omitempty"`
		Text   string   `json:"text,omitempty"`
		Family string   `json:"family,omitempty"`
		Given  []string `json:"given,omitempty"`
		Prefix []string `json:"prefix,omitempty"`
		Suffix []string `json:"suffix,omitempty"`
		Period *fPeriod `json:"period,omitempty"`
	}
	fContactPoint struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
		Use    string `json:"use,omitempty"`
		Rank   int    `json:"rank,omitempty"`
	}
	fAddress struct {
		Extension  []fExtension `json:"extension,omitempty"`
		Use        string       `json:"use,omitempty"`
		Type       string       `json:"type,omitempty"`
		Line       []string     `json:"line,omitempty"`
		City       string       `json:"city,omitempty"`
		District   string       `json:"district,omitempty"`
		State      string       `json:"state,omitempty"`
		PostalCode string       `json:"postalCode,omitempty"`
		Country    string       `json:"country,omitempty"`
		Period     *fPeriod     `json:"period,omitempty"`
	}
	fContact struct {
		Relationship []fConcept      `json:"relationship,omitempty"`
		Name         *fHumanName     `json:"name,omitempty"`
		Telecom      []fContactPoint `json:"telecom,omitempty"`
		Gender       string          `json:"gender,omitempty"`
	}
	fCommunication struct {
		Language  fConcept `json:"language"`
		Preferred bool     `json:"preferred,omitempty"`
	}
	fReference struct {
		Reference string `json:"reference,omitempty"`
		Display   string `json:"display,omitempty"`
	}
)

var (
	familyNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez",
		"Martínez", "Hernández", "López", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
		"Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark", "Ramírez", "Lewis", "Robinson",
		"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "O'Brien",
		"Müller", "Øvergaard", "Kowalski", "Nakamura", "Okafor", "Haddad", "Fitzgerald-Lloyd"}
	femaleNames = []string{"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
		"Sarah", "Karen", "Zoë", "Amélie", "Chloe", "Grace", "Aiyana", "Fatima", "Mei", "Ingrid", "Lucía", "Nora"}
	maleNames = []string{"James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
		"Charles", "José", "Andrés", "Liam", "Noah", "Omar", "Hiroshi", "Kwame", "Björn", "Mateo", "Ethan"}
	streets = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Shore Dr",
		"Park Ave", "Pine Ct", "River Rd", "Sunset Blvd", "Hillcrest Way", "Church St", "Mill Rd"}
	cities = []struct{ city, state, zip string }{
		{"Boston", "MA", "021"}, {"Springfield", "IL", "627"}, {"Austin", "TX", "787"},
		{"Portland", "OR", "972"}, {"Madison", "WI", "537"}, {"Denver", "CO", "802"},
		{"Raleigh", "NC", "276"}, {"Phoenix", "AZ", "850"}, {"Columbus", "OH", "432"},
		{"Albany", "NY", "122"}, {"Tampa", "FL", "336"}, {"Fresno", "CA", "937"},
	}
	races = []fCoding{
		{"urn:oid:2.16.840.1.113883.6.238", "2106-3", "White"},
		{"urn:oid:2.16.840.1.113883.6.238", "2054-5", "Black or African American"},
		{"urn:oid:2.16.840.1.113883.6.238", "2028-9", "Asian"},
		{"urn:oid:2.16.840.1.113883.6.238", "1002-5", "American Indian or Alaska Native"},
		{"urn:oid:2.16.840.1.113883.6.238", "2076-8", "Native Hawaiian or Other Pacific Islander"},
	}
	ethnicities = []fCoding{
		{"urn:oid:2.16.840.1.113883.6.238", "2135-2", "Hispanic or Latino"},
		{"urn:oid:2.16.840.1.113883.6.238", "2186-5", "Not Hispanic or Latino"},
	}
	maritalStatuses = []fCoding{
		{"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "M", "Married"},
		{"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "S", "Never Married"},
		{"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "D", "Divorced"},
		{"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "W", "Widowed"},
	}
	languages = []fCoding{
		{"urn:ietf:bcp:47", "en-US", "English (United States)"}, {"urn:ietf:bcp:47", "es", "Spanish"},
		{"urn:ietf:bcp:47", "zh", "Chinese"}, {"urn:ietf:bcp:47", "vi", "Vietnamese"}, {"urn:ietf:bcp:47", "fr", "French"},
	}
	relationships = []fCoding{
		{"http://terminology.hl7.org/CodeSystem/v2-0131", "C", "Emergency Contact"},
		{"http://terminology.hl7.org/CodeSystem/v2-0131", "N", "Next-of-Kin"},
		{"http://terminology.hl7.org/CodeSystem/v2-0131", "E", "Employer"},
	}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func date(r *rand.Rand, fromYear, years int) string {
	return fmt.Sprintf("%04d-%02d-%02d", fromYear+r.IntN(years), 1+r.IntN(12), 1+r.IntN(28))
}

func phone(r *rand.Rand) string {
	return fmt.Sprintf("(%03d) %03d-%04d", 200+r.IntN(800), 200+r.IntN(800), r.IntN(10000))
}

// patient returns Patient number i.
func (g patientGen) patient(i int) generated {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	female := r.IntN(2) == 0
	gender, sex, givenPool := "male", "M", maleNames
	if female {
		gender, sex, givenPool = "female", "F", femaleNames
	}
	family := pick(r, familyNames)
	given := []string{pick(r, givenPool)}
	if second := pick(r, givenPool); r.IntN(3) > 0 && second != given[0] {
		given = append(given, second)
	}
	birth := date(r, 1930, 90)
	mrn := fmt.Sprintf("MRN%08d", r.IntN(100000000))
	ssn := fmt.Sprintf("%03d-%02d-%04d", 100+r.IntN(800), 10+r.IntN(90), r.IntN(10000))
	race, ethnicity := pick(r, races), pick(r, ethnicities)
	lang := pick(r, languages)
	lang.Display = ""
	gp := fmt.Sprintf("Practitioner/pr-%d", r.IntN(500))
	org := fmt.Sprintf("Organization/org-%d", r.IntN(20))

	p := fPatient{
		ResourceType: "Patient",
		Meta:         &fMeta{Profile: []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}},
		Extension: []fExtension{
			{URL: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", Extension: []fExtension{
				{URL: "ombCategory", ValueCoding: &race}, {URL: "text", ValueString: race.Display}}},
			{URL: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", ValueCode: sex},
			// A decimal with significant trailing zeros, which careflow must keep as sent.
			{URL: "http://example.org/fhir/StructureDefinition/readmission-risk-score",
				ValueDecimal: json.Number(fmt.Sprintf("%d.%02d0", r.IntN(10), r.IntN(100)))},
		},
		Identifier: []fIdentifier{
			{Use: "usual", Type: &fConcept{Coding: []fCoding{{"http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical Record Number"}}},
				System: "urn:oid:1.2.36.146.595.217.0.1", Value: mrn},
		},
		Active: r.IntN(20) > 0,
		Name:   []fHumanName{{Use: "official", Text: strings.Join(given, " ") + " " + family, Family: family, Given: given}},
		Telecom: []fContactPoint{
			{System: "phone", Value: phone(r), Use: "home"},
			{System: "phone", Value: phone(r), Use: "mobile", Rank: 1},
			{System: "email", Value: strings.ToLower(asciiOnly(given[0])+"."+asciiOnly(family)) + fmt.Sprintf("%d@example.org", r.IntN(1000)), Use: "home"},
		},
		Gender:               gender,
		BirthDate:            birth,
		MaritalStatus:        &fConcept{Coding: []fCoding{pick(r, maritalStatuses)}},
		MultipleBirthBoolean: ptr(r.IntN(30) == 0),
		Communication:        []fCommunication{{Language: fConcept{Coding: []fCoding{lang}}, Preferred: true}},
		GeneralPractitioner:  []fReference{{Reference: gp, Display: "Dr. " + pick(r, familyNames)}},
		ManagingOrganization: &fReference{Reference: org, Display: "Acme Healthcare"},
	}
	if r.IntN(3) == 0 {
		p.Identifier = append(p.Identifier, fIdentifier{Use: "official", System: "http://hl7.org/fhir/sid/us-ssn", Value: ssn})
	}
	if r.IntN(3) == 0 {
		p.Extension = slices.Insert(p.Extension, 1, fExtension{URL: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
			Extension: []fExtension{{URL: "ombCategory", ValueCoding: &ethnicity}, {URL: "text", ValueString: ethnicity.Display}}})
	}
	if r.IntN(3) == 0 {
		// A primitive extension (on birthDate), which careflow must keep.
		p.BirthDateExt = &fElement{Extension: []fExtension{{URL: "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
			ValueDateTime: fmt.Sprintf("%sT%02d:%02d:00-05:00", birth, r.IntN(24), r.IntN(60))}}}
	}
	if r.IntN(10) == 0 {
		p.DeceasedBoolean = ptr(true)
	}
	if r.IntN(3) == 0 {
		p.Name = append(p.Name, fHumanName{Use: "usual", Given: []string{given[0][:min(len(given[0]), 3)]}})
	}
	if female && r.IntN(3) == 0 {
		p.Name = append(p.Name, fHumanName{Use: "maiden", Family: pick(r, familyNames), Given: given,
			Period: &fPeriod{End: date(r, 1970, 40)}})
	}
	if r.IntN(3) == 0 {
		p.Telecom = append(p.Telecom, fContactPoint{System: "phone", Value: phone(r), Use: "work"})
	}
	nAddr := 1
	if r.IntN(4) == 0 {
		nAddr = 2
	}
	for a := 0; a < nAddr; a++ {
		c := pick(r, cities)
		addr := fAddress{
			Use: "home", Type: "both",
			Line: []string{fmt.Sprintf("%d %s", 1+r.IntN(9999), pick(r, streets))},
			City: c.city, State: c.state,
			PostalCode: fmt.Sprintf("%s%02d", c.zip, r.IntN(100)), Country: "US",
			Period: &fPeriod{Start: date(r, 1990, 30)},
		}
		if r.IntN(3) == 0 {
			addr.Line = append(addr.Line, fmt.Sprintf("Apt %d", 1+r.IntN(400)))
		}
		if a == 0 && r.IntN(2) == 0 {
			addr.Extension = []fExtension{{URL: "http://hl7.org/fhir/StructureDefinition/geolocation", Extension: []fExtension{
				{URL: "latitude", ValueDecimal: json.Number(fmt.Sprintf("%d.%06d", 25+r.IntN(20), r.IntN(1000000)))},
				{URL: "longitude", ValueDecimal: json.Number(fmt.Sprintf("-%d.%06d", 70+r.IntN(50), r.IntN(1000000)))},
			}}}
		}
		if a > 0 {
			addr.Use, addr.Period.End = "old", date(r, 2021, 4)
		}
		p.Address = append(p.Address, addr)
	}
	if r.IntN(3) == 0 {
		rel := pick(r, relationships)
		cg := pick(r, append(append([]string{}, maleNames...), femaleNames...))
		p.Contact = []fContact{{
			Relationship: []fConcept{{Coding: []fCoding{rel}}},
			Name:         &fHumanName{Family: pick(r, familyNames), Given: []string{cg}},
			Telecom:      []fContactPoint{{System: "phone", Value: phone(r), Use: "mobile"}},
		}}
	}

	body, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("careflow-bench: marshal patient: %v", err)) // static types: cannot happen
	}
	return generated{JSON: body, Index: indexOf(&p)}
}

func ptr[T any](v T) *T { return &v }

// asciiOnly drops non-ASCII letters and punctuation (for e-mail addresses).
func asciiOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b.WriteRune(c)
		}
	}
	return b.String()
}
