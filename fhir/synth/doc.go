// Package synth generates realistic, deterministic FHIR R4 test data for care coordination: one
// transaction Bundle per synthetic patient with the patient's Coverage, AllergyIntolerance,
// MedicationStatement, CarePlan and Appointment resources, built so that each patient exercises chosen
// coordination situations (a drug-allergy conflict, overlapping appointments, an overdue follow-up, a
// coverage gap, …) and labelled with the situations actually present (Bundle.Situations, Manifest).
//
// With Options.History, each bundle also carries the patient's clinical history (history.go): the care
// team and its directory (Organization, Location, Practitioner, PractitionerRole, RelatedPerson, CareTeam),
// conditions, encounters (every fulfilled appointment, and for some patients a recent hospital stay with
// its discharge), vital signs and laboratory results with UCUM quantities, procedures, immunizations,
// prescriptions next to the medication statements, referrals and the referral loop, outreach, family
// history, the practitioners' Schedules with a Slot for every appointment (Appointment.slot) and bookable
// slots (schedule.go), and prior authorization (Claim and ClaimResponse, priorauth.go). It is drawn from a
// random stream of its own, so the coordination records, their bytes and their situations are the same
// with and without it, except that each Appointment gains its Appointment.slot. The history's own
// situations (post-discharge follow-up, discharge reconciliation, referral loop, outreach, prior
// authorization, therapeutic duplication across statements and prescriptions: duplication.go) are detected
// from its records (hsituations.go) and listed in Situations after the coordination situations, marked
// History.
//
// # Determinism
//
// Output depends only on Options.Seed, Options.Today and the patient's index: each patient has its own
// math/rand/v2 PCG stream seeded with (Seed, index), the generator never reads the clock (every date is
// relative to Options.Today) nor the machine's time zone database (US daylight saving time is computed),
// and JSON is written member by member in FHIR element order. Patient i is the same whether 5 or 5000
// patients are generated. testdata/bundles is the set for seed 1, 20 patients, today 2026-11-25, with the
// history; a test regenerates it and compares bytes.
//
// # Bundles
//
// Every entry has a fullUrl urn:uuid:<uuid> (a random version-4-layout UUID from the patient's stream)
// and request POST [type] with ifNoneExist "identifier=<system>|<value>" on the resource's own identifier:
//   - Patient: https://careflow.example.org/fhir/sid/mrn | CF-<seed>-<nnnnnn> (SystemMRN);
//   - every other resource: https://careflow.example.org/fhir/sid/synth-record | <MRN>-<kind><n>
//     (SystemRecord), kind COV, AI, MS, CP or AP.
//
// POST with ifNoneExist was chosen over PUT with client ids because it lets the server assign ids (as
// servers that refuse client-assigned ids require), keeps every cross-reference a urn:uuid the transaction
// resolves, and still makes loading idempotent: loading a bundle twice, or retrying a transaction whose
// answer was lost, creates nothing twice (the entries match and answer 200). Identifiers include the seed,
// so sets of different seeds can share a server.
//
// Every resource carries meta.security HTEST (v3-ActReason "test health data") so test data can be found
// and purged; the Bundle's meta.tag names the patient's scenario.
//
// # Modelling choices
//
//   - Appointment.basedOn may only refer to a ServiceRequest in R4, so an appointment that belongs to a
//     care plan refers to it in Appointment.supportingInformation (Reference(Any)); the CarePlan's
//     activity lists past visits in activity.outcomeReference, and MedicationStatement.basedOn refers to
//     the CarePlan (allowed in R4).
//   - Practitioners are not served: performers and participants are a display name only, an absolute URL
//     into an external directory (https://directory.example.org/fhir/Practitioner/<NPI>), or a logical
//     reference by NPI identifier (http://hl7.org/fhir/sid/us-npi). Payors are a display name, a logical
//     reference by NAIC company code, or a contained Organization (#payor). CarePlan.addresses is a display
//     or a contained Condition (#condition).
//   - R4 Coverage has no prior-authorization element: a Coverage that requires one carries the complex
//     extension ExtPriorAuthorization with sub-extensions "required" (valueBoolean), "service"
//     (valueCodeableConcept: what needs authorization) and "phone" (valueString: where to ask).
//   - Codes are real: RxNorm clinical drugs (amoxicillin 308191, sulfamethoxazole/trimethoprim 198335,
//     ibuprofen 197806, naproxen 849574, warfarin 855332, …) and ingredients (penicillin 70618 and 7980,
//     ibuprofen 5640, …), SNOMED CT substances (penicillin 764146007, sulfonamide 387406002, NSAID
//     372665008), disorders, reactions, procedures and specialties, LOINC tests, and HL7 terminology.
//     Names, addresses, phone numbers (555-01xx), SSNs (area 999, never issued), member ids and NPIs are
//     invented.
//
// Every resource validates against the official R4 schema with careflow's validator (fhir/validate), and
// every urn:uuid reference resolves inside its bundle; the tests check both for several seeds.
package synth
