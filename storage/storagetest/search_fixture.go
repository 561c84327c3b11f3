package storagetest

// fixtureResources are the resources the search cases run against, created in this order (so that
// _sort=_lastUpdated differs from _sort=_id). The default result order is by id.
//
// Patients (created p3 p1 p5 p2 p6 p4):
//
//	p1  Chalmers, Peter James (and "Jim")  male    1974-12-25  MR 12345 (typed)  PleasantVille AU  vip  active
//	p2  Ölund, Zoë                         female  1980-05     mrn A-001         Malmö SE               inactive
//	p3  van der Berg, Dr. Anna Maria       female  1980-05-17  X-9 (no system)   Amsterdam NL  vip research  deceased 2020
//	p4  Chalk, Oliver                      male    1990        other profile
//	p5  (nothing but active=true)
//	p6  Chalmers, Zed                      male    2001-02-03  mrn A-002  link → p1
var fixtureResources = []string{
	`{"resourceType":"Patient","id":"p3",
	  "meta":{"tag":[{"system":"http://example.org/tags","code":"vip"},{"system":"http://example.org/tags","code":"research"}]},
	  "identifier":[{"value":"X-9"}],
	  "name":[{"family":"van der Berg","given":["Anna","Maria"],"prefix":["Dr."]}],
	  "gender":"female","birthDate":"1980-05-17","deceasedDateTime":"2020-01-01T10:00:00Z",
	  "address":[{"line":["12 Baker Street"],"city":"Amsterdam","postalCode":"1011 AB","country":"NL"}]}`,
	`{"resourceType":"Patient","id":"p1",
	  "meta":{"profile":["http://example.org/fhir/StructureDefinition/careflow-patient"],"tag":[{"system":"http://example.org/tags","code":"vip"}]},
	  "identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}],"text":"Medical record number"},
	    "system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],
	  "active":true,
	  "name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
	  "telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work"},{"system":"email","value":"peter.chalmers@example.org"}],
	  "gender":"male","birthDate":"1974-12-25",
	  "address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","country":"AU"}]}`,
	`{"resourceType":"Patient","id":"p5","active":true}`,
	`{"resourceType":"Patient","id":"p2",
	  "identifier":[{"system":"http://hospital.example.org/mrn","value":"A-001"}],
	  "active":false,
	  "name":[{"family":"Ölund","given":["Zoë"]}],
	  "telecom":[{"system":"email","value":"zoe@example.se"}],
	  "gender":"female","birthDate":"1980-05",
	  "address":[{"city":"Malmö","country":"SE"}]}`,
	`{"resourceType":"Patient","id":"p6",
	  "identifier":[{"system":"http://hospital.example.org/mrn","value":"A-002"}],
	  "name":[{"family":"Chalmers","given":["Zed"]}],
	  "telecom":[{"system":"phone","value":"+31 20 555 0101"}],
	  "gender":"male","birthDate":"2001-02-03",
	  "link":[{"other":{"reference":"Patient/p1"},"type":"seealso"}]}`,
	`{"resourceType":"Patient","id":"p4",
	  "meta":{"profile":["http://other.example.org/fhir/StructureDefinition/pat"]},
	  "name":[{"family":"Chalk","given":["Oliver"]}],
	  "gender":"male","birthDate":"1990"}`,

	// AllergyIntolerances. a1 has two reaction onsets (2012-06-12 and 2004); a4 refers to a patient on
	// another server by absolute URL; a5 (about p6) was asserted by p3.
	`{"resourceType":"AllergyIntolerance","id":"a1",
	  "identifier":[{"system":"http://acme.com/ids/patients/risks","value":"49476534"}],
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active","display":"Active"}]},
	  "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed"}]},
	  "type":"allergy","category":["food"],"criticality":"high",
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"227493005","display":"Cashew nuts"}],"text":"Cashew nut allergy"},
	  "patient":{"reference":"Patient/p1"},
	  "recordedDate":"2014-10-09T14:58:00+11:00",
	  "asserter":{"reference":"Patient/p1"},
	  "lastOccurrence":"2012-06",
	  "reaction":[
	    {"manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"39579001","display":"Anaphylactic reaction"}]}],
	     "onset":"2012-06-12","severity":"severe"},
	    {"substance":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1160593","display":"cashew nut allergenic extract"}]},
	     "manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"64305001","display":"Urticaria"}]}],
	     "onset":"2004","severity":"moderate"}]}`,
	`{"resourceType":"AllergyIntolerance","id":"a2",
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"inactive"}]},
	  "category":["medication"],"criticality":"low",
	  "code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin G"}],"text":"Penicillin"},
	  "patient":{"reference":"Patient/p2"},
	  "recordedDate":"2020-03",
	  "reaction":[{"manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"247472004","display":"Hives"}]}],"onset":"2019-11-02T10:00:00Z"}]}`,
	`{"resourceType":"AllergyIntolerance","id":"a3",
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"resolved"}]},
	  "category":["food"],"criticality":"high",
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"91935009","display":"Allergy to peanut"}]},
	  "patient":{"reference":"Patient/p1"},
	  "recordedDate":"2019-01-01"}`,
	`{"resourceType":"AllergyIntolerance","id":"a4",
	  "criticality":"unable-to-assess",
	  "code":{"text":"Bee venom"},
	  "patient":{"reference":"http://other.example.org/fhir/Patient/p9"}}`,
	`{"resourceType":"AllergyIntolerance","id":"a5",
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "criticality":"low",
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"300916003","display":"Latex allergy"}]},
	  "patient":{"reference":"Patient/p6"},
	  "asserter":{"reference":"Patient/p3"},
	  "recordedDate":"2021-07-01T08:30:00Z"}`,

	// Appointments. ap2 starts at 13:00Z written with a +01:00 offset; ap4 has no start; ap5's patient is
	// p1 on another server.
	`{"resourceType":"Appointment","id":"ap1","status":"booked",
	  "serviceType":[{"coding":[{"system":"http://example.org/service-type","code":"cardio","display":"Cardiology"}]}],
	  "appointmentType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0276","code":"FOLLOWUP"}]},
	  "description":"Follow-up","start":"2024-03-01T09:00:00Z","end":"2024-03-01T09:30:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr1"},"status":"accepted"}]}`,
	`{"resourceType":"Appointment","id":"ap2","status":"booked",
	  "serviceType":[{"coding":[{"system":"http://example.org/service-type","code":"derma","display":"Dermatology"}]}],
	  "start":"2024-03-01T14:00:00+01:00","end":"2024-03-01T14:20:00+01:00",
	  "participant":[{"actor":{"reference":"Patient/p2"},"status":"accepted"},{"actor":{"reference":"Location/loc1"},"status":"accepted"}]}`,
	`{"resourceType":"Appointment","id":"ap3","status":"cancelled",
	  "start":"2024-03-02T08:00:00Z","end":"2024-03-02T08:30:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"declined"}]}`,
	`{"resourceType":"Appointment","id":"ap4","status":"proposed",
	  "participant":[{"actor":{"reference":"Patient/p3"},"status":"needs-action"}]}`,
	`{"resourceType":"Appointment","id":"ap5","status":"booked",
	  "start":"2024-02-28T10:00:00Z","end":"2024-02-28T10:15:00Z",
	  "participant":[{"actor":{"reference":"http://other.example.org/fhir/Patient/p1"},"status":"accepted"}]}`,

	// MedicationStatements: a closed period, a dateTime, an open-ended period.
	`{"resourceType":"MedicationStatement","id":"m1",
	  "identifier":[{"system":"http://example.org/medstatements","value":"ms-1"}],
	  "status":"active",
	  "category":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medication-statement-category","code":"outpatient"}]},
	  "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"313782","display":"Acetaminophen 325 MG Oral Tablet"}],"text":"Paracetamol"},
	  "subject":{"reference":"Patient/p1"},
	  "effectivePeriod":{"start":"2021-01-01","end":"2021-06-30"},
	  "informationSource":{"reference":"Patient/p1"}}`,
	`{"resourceType":"MedicationStatement","id":"m2","status":"completed",
	  "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"197361","display":"Amlodipine 5 MG Oral Tablet"}]},
	  "subject":{"reference":"Patient/p2"},
	  "effectiveDateTime":"2021-03-15",
	  "informationSource":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"9941339108"},"display":"Dr. Adam Careful"}}`,
	`{"resourceType":"MedicationStatement","id":"m3","status":"stopped",
	  "medicationReference":{"reference":"Medication/med1"},
	  "subject":{"reference":"Patient/p1"},
	  "effectivePeriod":{"start":"2022-05-01"}}`,

	// Coverage.
	`{"resourceType":"Coverage","id":"c1",
	  "identifier":[{"system":"http://benefitsinc.com/certificate","value":"12345"}],
	  "status":"active",
	  "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EHCPOL","display":"extended healthcare"}]},
	  "policyHolder":{"reference":"Patient/p6"},
	  "subscriber":{"reference":"Patient/p1"},
	  "beneficiary":{"reference":"Patient/p1"},
	  "dependent":"0",
	  "payor":[{"identifier":{"system":"http://example.org/payers","value":"ACME"},"display":"Acme Health"}],
	  "class":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/coverage-class","code":"group"}]},"value":"CB135","name":"Corporate Baker's Inc. Local #35"}]}`,
	`{"resourceType":"Coverage","id":"c2","status":"cancelled",
	  "beneficiary":{"reference":"Patient/p2"},
	  "payor":[{"reference":"Patient/p2"}],
	  "class":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/coverage-class","code":"plan"}]},"value":"B37FC"}]}`,

	// CarePlans. cp1 has two scheduled activities (February 2023, and an event on 2023-06-15) and one that
	// refers to ap1; cp2 one activity bounded to February 2020 and one that refers to t2; cp3 is a group's.
	`{"resourceType":"CarePlan","id":"cp1",
	  "instantiatesUri":["http://example.org/protocols/diabetes/v2"],
	  "status":"active","intent":"plan",
	  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"698360004","display":"Diabetes self management plan"}]}],
	  "subject":{"reference":"Patient/p1"},
	  "period":{"start":"2023-01-01","end":"2023-12-31"},
	  "activity":[
	    {"detail":{"code":{"coding":[{"system":"http://snomed.info/sct","code":"229065009","display":"Exercise therapy"}]},"status":"in-progress",
	      "scheduledPeriod":{"start":"2023-02-01","end":"2023-02-28"}}},
	    {"detail":{"code":{"coding":[{"system":"http://snomed.info/sct","code":"33633005","display":"Prescription of drug"}]},"status":"scheduled",
	      "scheduledTiming":{"event":["2023-06-15T10:00:00Z"]}}},
	    {"reference":{"reference":"Appointment/ap1"}}]}`,
	`{"resourceType":"CarePlan","id":"cp2",
	  "instantiatesUri":["http://example.org/protocols/asthma"],
	  "status":"completed","intent":"order",
	  "subject":{"reference":"Patient/p2"},
	  "period":{"start":"2020-01-01","end":"2020-06-30"},
	  "activity":[
	    {"reference":{"reference":"Task/t2"}},
	    {"detail":{"status":"completed","scheduledTiming":{"repeat":{"boundsPeriod":{"start":"2020-02-01","end":"2020-02-29"}}}}}]}`,
	`{"resourceType":"CarePlan","id":"cp3","status":"draft","intent":"proposal",
	  "subject":{"reference":"Group/g1"}}`,

	// Tasks. t1 refers to p1 with a version (…/_history/1), which searches as Patient/p1.
	`{"resourceType":"Task","id":"t1",
	  "identifier":[{"system":"http://example.org/tasks","value":"T-1"}],
	  "status":"requested","businessStatus":{"text":"Waiting for callback"},
	  "intent":"order","priority":"urgent",
	  "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
	  "focus":{"reference":"Appointment/ap1"},
	  "for":{"reference":"Patient/p1/_history/1"},
	  "authoredOn":"2024-02-20T08:00:00Z","lastModified":"2024-02-21T09:15:00Z",
	  "owner":{"reference":"Practitioner/dr1"},
	  "executionPeriod":{"start":"2024-02-20T08:00:00Z"}}`,
	`{"resourceType":"Task","id":"t2","status":"completed","intent":"plan","priority":"routine",
	  "focus":{"reference":"CarePlan/cp2"},
	  "basedOn":[{"reference":"CarePlan/cp2"}],
	  "for":{"reference":"Patient/p2"},
	  "authoredOn":"2024-02-21",
	  "owner":{"reference":"Patient/p2"},
	  "executionPeriod":{"start":"2024-02-21","end":"2024-02-22"}}`,
	`{"resourceType":"Task","id":"t3","status":"cancelled","intent":"order",
	  "focus":{"reference":"Appointment/ap3"},
	  "for":{"reference":"Patient/p3"}}`,
	// Number and quantity (search.html#number, #quantity). Observations without a subject, so that no
	// compartment or reference case sees them:
	//
	//	o1  5.4 g (UCUM)          o2  5400 mg (UCUM: 5.4 g)     o3  100 mg/dL (UCUM: 1 g/L)
	//	o4  37.5 Cel (UCUM, special: no canonical form)          o5  5.4 "mg" (human unit only)
	//	o6  blood pressure components 120 and 80 mm[Hg]          o7  no value
	//	ra1 probabilities 0.9 and 0.3   ra2 0.5   ra3 none
	`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"mass"},
	  "valueQuantity":{"value":5.4,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}}`,
	`{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"mass"},
	  "valueQuantity":{"value":5400,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}`,
	`{"resourceType":"Observation","id":"o3","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
	  "valueQuantity":{"value":100,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`,
	`{"resourceType":"Observation","id":"o4","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},
	  "valueQuantity":{"value":37.5,"unit":"°C","system":"http://unitsofmeasure.org","code":"Cel"}}`,
	`{"resourceType":"Observation","id":"o5","status":"final","code":{"text":"mass"},"valueQuantity":{"value":5.4,"unit":"mg"}}`,
	`{"resourceType":"Observation","id":"o6","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	`{"resourceType":"Observation","id":"o7","status":"registered","code":{"text":"pending"}}`,
	`{"resourceType":"RiskAssessment","id":"ra1","status":"final","prediction":[{"probabilityDecimal":0.9},{"probabilityDecimal":0.3}]}`,
	`{"resourceType":"RiskAssessment","id":"ra2","status":"final","prediction":[{"probabilityDecimal":0.5}]}`,
	`{"resourceType":"RiskAssessment","id":"ra3","status":"final"}`,
	// Composites (search.html#composite): both components of one element must match.
	//
	//	o8   blood pressure 140 / 90 mm[Hg]      o9   blood pressure 120 / 140 (the diastolic is 140)
	//	o10  ABO group (883-9) = group A         o11  components: 883-9 = group AB, and another code = group A
	//	o12  date of birth (21112-8) 2020-05-17T10:00:00Z            o13  a string value "Hello World"
	//	doc1 replaces doc0                       doc2 appends doc0, replaces doc9
	`{"resourceType":"Observation","id":"o8","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":140,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":90,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	`{"resourceType":"Observation","id":"o9","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":140,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	`{"resourceType":"Observation","id":"o10","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"883-9"}]},
	  "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112144000"}]}}`,
	`{"resourceType":"Observation","id":"o11","status":"final","code":{"text":"blood groups"},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"883-9"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"165743006"}]}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"10331-7"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112144000"}]}}]}`,
	`{"resourceType":"Observation","id":"o12","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"21112-8"}]},
	  "valueDateTime":"2020-05-17T10:00:00Z"}`,
	`{"resourceType":"Observation","id":"o13","status":"final","code":{"coding":[{"system":"http://example.org/codes","code":"greeting"}]},
	  "valueString":"Hello World"}`,
	`{"resourceType":"DocumentReference","id":"doc1","status":"current","content":[{"attachment":{"url":"http://example.org/doc1"}}],
	  "relatesTo":[{"code":"replaces","target":{"reference":"DocumentReference/doc0"}}]}`,
	`{"resourceType":"DocumentReference","id":"doc2","status":"current","content":[{"attachment":{"url":"http://example.org/doc2"}}],
	  "relatesTo":[{"code":"appends","target":{"reference":"DocumentReference/doc0"}},{"code":"replaces","target":{"reference":"DocumentReference/doc9"}}]}`,
	// near (location.html#positional): Ann Arbor, Detroit (57.6 km east-north-east of it), Suva and a
	// point 175 km east of it across the antimeridian, and a Location without a position.
	`{"resourceType":"Location","id":"l-a2","name":"Ann Arbor","position":{"latitude":42.2808,"longitude":-83.7430}}`,
	`{"resourceType":"Location","id":"l-det","name":"Detroit","position":{"latitude":42.3314,"longitude":-83.0458}}`,
	`{"resourceType":"Location","id":"l-suva","name":"Suva","position":{"latitude":-18.1416,"longitude":178.4419}}`,
	`{"resourceType":"Location","id":"l-east","name":"East of the antimeridian","position":{"latitude":-18.0,"longitude":-179.9}}`,
	`{"resourceType":"Location","id":"l-none","name":"Nowhere in particular"}`,
}
