package synth

// The vocabulary the generator draws from. Codes are real RxNorm, SNOMED CT, LOINC and HL7 terminology codes
// with their display strings; names, addresses, phone numbers (555-01xx), identifiers and practitioners are
// invented. Nothing here describes a real person.

// Code systems.
const (
	sysRxNorm        = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysSNOMED        = "http://snomed.info/sct"
	sysLOINC         = "http://loinc.org"
	sysUCUM          = "http://unitsofmeasure.org"
	sysV20203        = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysV20276        = "http://terminology.hl7.org/CodeSystem/v2-0276"
	sysActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysActReason     = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysGTSAbbrev     = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
	sysDrugForm      = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"
	sysAllergyClin   = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	sysAllergyVer    = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	sysCondClin      = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	sysCondVer       = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	sysCondCategory  = "http://terminology.hl7.org/CodeSystem/condition-category"
	sysCoverageClass = "http://terminology.hl7.org/CodeSystem/coverage-class"
	sysCopayType     = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
	sysSubscriberRel = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
	sysCancelReason  = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
	sysDoseRateType  = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
	sysMedStmtCat    = "http://terminology.hl7.org/CodeSystem/medication-statement-category"
	sysUSCoreCPCat   = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
	sysBCP47         = "urn:ietf:bcp:47"
	sysSSN           = "http://hl7.org/fhir/sid/us-ssn"
	sysNPI           = "http://hl7.org/fhir/sid/us-npi"
	sysNAIC          = "urn:oid:2.16.840.1.113883.6.300"
)

// careflow's own identifier systems and extension URLs (example.org is reserved for documentation, RFC 2606).
const (
	// SystemMRN is the Patient identifier system (medical record number); values are CF-<seed>-<nnnnnn>.
	SystemMRN = "https://careflow.example.org/fhir/sid/mrn"
	// SystemRecord identifies every other generated resource; values are <MRN>-<kind><n>, e.g. CF-1-000003-MS2.
	SystemRecord = "https://careflow.example.org/fhir/sid/synth-record"
	// ExtPriorAuthorization marks a Coverage that requires prior authorization before the services it names.
	// It is a complex extension with the sub-extensions "required" (valueBoolean) and "service"
	// (valueCodeableConcept, what needs the authorization) and optionally "phone" (valueString).
	ExtPriorAuthorization = "https://careflow.example.org/fhir/StructureDefinition/coverage-prior-authorization"
	// extBirthTime is the core extension for a patient's time of birth (on Patient.birthDate).
	extBirthTime = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
	// directoryBase is the external practitioner directory absolute references point into.
	directoryBase = "https://directory.example.org/fhir/Practitioner/"
)

type coding struct{ system, code, display string }

// Drug classes used to detect allergy conflicts.
const (
	classPenicillin  = "penicillin"
	classSulfonamide = "sulfonamide antibiotic"
	classNSAID       = "NSAID"
)

type drug struct {
	key     string
	code    coding // RxNorm SCD
	text    string
	classes []string
	// analgesicNSAID marks NSAIDs taken for pain (counted for therapeutic duplication; low-dose aspirin is
	// in the NSAID class for allergies but is not duplicate analgesia).
	analgesicNSAID bool
	anticoagulant  bool
	// dosage
	doseValue  dec
	doseUnit   string // UCUM code
	doseText   string // unit as written ("mg", "tablet", "puff")
	formCode   string // v3-orderableDrugForm when the dose is in units of the form
	route      coding
	freq       int
	period     int
	periodUnit string
	asNeeded   bool
	when       string // EventTiming, e.g. "HS"
	gts        string // v3-GTSAbbreviation code of the timing, when it has one
	sig        string
	courseDays int // 0: chronic
}

var (
	routeOral    = coding{sysSNOMED, "26643006", "Oral route"}
	routeInhaled = coding{sysSNOMED, "447694001", "Respiratory tract route (qualifier value)"}
)

var drugs = map[string]*drug{
	"amoxicillin": {key: "amoxicillin", code: coding{sysRxNorm, "308191", "amoxicillin 500 MG Oral Capsule"}, text: "Amoxicillin 500 mg capsule",
		classes: []string{classPenicillin}, doseValue: "500", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 3, period: 1, periodUnit: "d", gts: "TID",
		sig: "Take 1 capsule (500 mg) by mouth three times daily for 10 days", courseDays: 10},
	"smx-tmp": {key: "smx-tmp", code: coding{sysRxNorm, "198335", "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet"}, text: "Bactrim DS (sulfamethoxazole/trimethoprim 800/160 mg)",
		classes: []string{classSulfonamide}, doseValue: "1", doseUnit: "{tbl}", doseText: "tablet", formCode: "TAB", route: routeOral, freq: 2, period: 1, periodUnit: "d", gts: "BID",
		sig: "Take 1 tablet by mouth every 12 hours for 7 days", courseDays: 7},
	"ibuprofen": {key: "ibuprofen", code: coding{sysRxNorm, "197806", "ibuprofen 600 MG Oral Tablet"}, text: "Ibuprofen 600 mg tablet",
		classes: []string{classNSAID}, analgesicNSAID: true, doseValue: "600", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 6, periodUnit: "h", asNeeded: true,
		sig: "Take 1 tablet (600 mg) by mouth every 6 hours as needed for pain, with food"},
	"naproxen": {key: "naproxen", code: coding{sysRxNorm, "849574", "naproxen sodium 220 MG Oral Tablet"}, text: "Naproxen sodium 220 mg (over the counter)",
		classes: []string{classNSAID}, analgesicNSAID: true, doseValue: "220", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 2, period: 1, periodUnit: "d", asNeeded: true, gts: "BID",
		sig: "1 tablet by mouth twice a day as needed for knee pain"},
	"aspirin": {key: "aspirin", code: coding{sysRxNorm, "243670", "aspirin 81 MG Oral Tablet"}, text: "Low-dose aspirin 81 mg",
		classes: []string{classNSAID}, doseValue: "81", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (81 mg) by mouth once daily"},
	"acetaminophen": {key: "acetaminophen", code: coding{sysRxNorm, "313782", "acetaminophen 325 MG Oral Tablet"}, text: "Acetaminophen 325 mg tablet",
		doseValue: "650", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 6, periodUnit: "h", asNeeded: true,
		sig: "Take 2 tablets (650 mg) by mouth every 6 hours as needed for pain; no more than 3 g per day"},
	"lisinopril": {key: "lisinopril", code: coding{sysRxNorm, "314076", "lisinopril 10 MG Oral Tablet"}, text: "Lisinopril 10 mg tablet",
		doseValue: "10", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (10 mg) by mouth once daily"},
	"amlodipine": {key: "amlodipine", code: coding{sysRxNorm, "197361", "amlodipine 5 MG Oral Tablet"}, text: "Amlodipine 5 mg tablet",
		doseValue: "5", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (5 mg) by mouth once daily"},
	"hctz": {key: "hctz", code: coding{sysRxNorm, "310798", "hydrochlorothiazide 25 MG Oral Tablet"}, text: "Hydrochlorothiazide 25 mg tablet",
		doseValue: "0.5", doseUnit: "{tbl}", doseText: "tablet", formCode: "TAB", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "AM",
		sig: "Take ½ tablet (12.5 mg) by mouth every morning"},
	"metformin": {key: "metformin", code: coding{sysRxNorm, "860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"}, text: "Metformin ER 500 mg",
		doseValue: "500", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", when: "CV",
		sig: "Take 1 tablet (500 mg) by mouth with the evening meal"},
	"simvastatin": {key: "simvastatin", code: coding{sysRxNorm, "312961", "simvastatin 20 MG Oral Tablet"}, text: "Simvastatin 20 mg tablet",
		doseValue: "20", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", when: "HS",
		sig: "Take 1 tablet (20 mg) by mouth at bedtime"},
	"metoprolol": {key: "metoprolol", code: coding{sysRxNorm, "866412", "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet"}, text: "Metoprolol succinate ER 100 mg",
		doseValue: "100", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (100 mg) by mouth once daily; do not crush"},
	"warfarin": {key: "warfarin", code: coding{sysRxNorm, "855332", "warfarin sodium 5 MG Oral Tablet"}, text: "Warfarin 5 mg tablet",
		anticoagulant: true, doseValue: "5", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", when: "PCV",
		sig: "Take 1 tablet (5 mg) by mouth daily in the evening, or as directed by the anticoagulation clinic"},
	"clopidogrel": {key: "clopidogrel", code: coding{sysRxNorm, "309362", "clopidogrel 75 MG Oral Tablet"}, text: "Clopidogrel 75 mg tablet",
		doseValue: "75", doseUnit: "mg", doseText: "mg", route: routeOral, freq: 1, period: 1, periodUnit: "d", gts: "QD",
		sig: "Take 1 tablet (75 mg) by mouth once daily"},
	"fluticasone": {key: "fluticasone", code: coding{sysRxNorm, "895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler"}, text: "Fluticasone 44 mcg inhaler",
		doseValue: "2", doseUnit: "{puff}", doseText: "puff", route: routeInhaled, freq: 2, period: 1, periodUnit: "d", gts: "BID",
		sig: "Inhale 2 puffs twice daily; rinse mouth after use"},
}

type allergen struct {
	key      string
	codes    []coding // alternative codings (one is chosen per record)
	text     string
	class    string // drug class, "" for non-drugs
	category string // medication, food, environment
	typ      string // allergy or intolerance
}

var allergens = map[string]*allergen{
	"penicillin": {key: "penicillin", class: classPenicillin, category: "medication", typ: "allergy", text: "Penicillins",
		codes: []coding{{sysSNOMED, "764146007", "Penicillin (substance)"}, {sysRxNorm, "70618", "Penicillin"}, {sysRxNorm, "7980", "penicillin G"}}},
	"sulfonamide": {key: "sulfonamide", class: classSulfonamide, category: "medication", typ: "allergy", text: "Sulfa drugs",
		codes: []coding{{sysSNOMED, "387406002", "Sulfonamide (substance)"}, {sysRxNorm, "10831", "sulfamethoxazole / trimethoprim"}}},
	"nsaid": {key: "nsaid", class: classNSAID, category: "medication", typ: "allergy", text: "NSAIDs",
		codes: []coding{{sysSNOMED, "372665008", "Non-steroidal anti-inflammatory agent (substance)"}, {sysRxNorm, "5640", "ibuprofen"}, {sysRxNorm, "1191", "aspirin"}}},
	"codeine": {key: "codeine", category: "medication", typ: "intolerance", text: "Codeine",
		codes: []coding{{sysRxNorm, "2670", "codeine"}}},
	"peanut": {key: "peanut", category: "food", typ: "allergy", text: "Peanuts",
		codes: []coding{{sysSNOMED, "762952008", "Peanut (substance)"}}},
	"latex": {key: "latex", category: "environment", typ: "allergy", text: "Latex",
		codes: []coding{{sysSNOMED, "111088007", "Latex (substance)"}}},
	"bee": {key: "bee", category: "environment", typ: "allergy", text: "Bee stings",
		codes: []coding{{sysSNOMED, "288328004", "Bee venom (substance)"}}},
}

var (
	rxHives       = coding{sysSNOMED, "247472004", "Wheal (finding)"}
	rxRash        = coding{sysSNOMED, "271807003", "Eruption of skin (disorder)"}
	rxAnaphylaxis = coding{sysSNOMED, "39579001", "Anaphylaxis (disorder)"}
	rxAngioedema  = coding{sysSNOMED, "402387002", "Allergic angioedema (disorder)"}
	rxItching     = coding{sysSNOMED, "418290006", "Itching (finding)"}
	rxDyspnea     = coding{sysSNOMED, "267036007", "Dyspnea (finding)"}
	rxNausea      = coding{sysSNOMED, "422587007", "Nausea (finding)"}
)

type specialty struct {
	code coding
	text string
}

var (
	spGP     = specialty{coding{sysSNOMED, "394814009", "General practice"}, "General practice"}
	spEndo   = specialty{coding{sysSNOMED, "394583002", "Endocrinology"}, "Endocrinology"}
	spCardio = specialty{coding{sysSNOMED, "394579002", "Cardiology"}, "Cardiology"}
	spPulmo  = specialty{coding{sysSNOMED, "418112009", "Pulmonary medicine"}, "Pulmonology"}
	spPeds   = specialty{coding{sysSNOMED, "394537008", "Pediatric specialty"}, "Pediatrics"}
	spRheum  = specialty{coding{sysSNOMED, "394810000", "Rheumatology"}, "Rheumatology"}
)

type practitioner struct {
	name      string
	npi       string // 10 digits with a valid Luhn check digit (prefix 80840), computed at init
	specialty specialty
}

var practitioners = []*practitioner{
	{name: "Dr. Amara Okafor", npi: "174820396", specialty: spGP},
	{name: "Dr. Michael Brennan", npi: "128455730", specialty: spGP},
	{name: "Dr. Inés Castaño", npi: "165309824", specialty: spEndo},
	{name: "Dr. Søren Østergaard", npi: "190276453", specialty: spCardio},
	{name: "Dr. Rachel Goldberg", npi: "133904687", specialty: spCardio},
	{name: "Dr. Priya Raman", npi: "142267019", specialty: spPulmo},
	{name: "Dr. Hélène Dubois", npi: "158813472", specialty: spPeds},
	{name: "Dr. Kwame Mensah", npi: "119640258", specialty: spRheum},
}

func init() {
	for _, p := range practitioners {
		p.npi += string(rune('0' + luhnNPI(p.npi)))
	}
}

// luhnNPI is the NPI check digit of a 9-digit base: the Luhn digit of "80840" + base.
func luhnNPI(base string) int {
	s := "80840" + base
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 { // rightmost digit of the payload is doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

func practitionerBySpecialty(sp specialty) []*practitioner {
	var out []*practitioner
	for _, p := range practitioners {
		if p.specialty.code.code == sp.code.code {
			out = append(out, p)
		}
	}
	return out
}

// careCoordinators author care plans.
var careCoordinators = []string{"Lucía Fernández, RN, care coordinator", "Tom Whitaker, RN, care coordinator", "Ngozi Eze, MSW, care manager"}

type activityTemplate struct {
	kind        string // Appointment or ServiceRequest
	code        *coding
	text        string
	description string
	specialty   specialty // for Appointment activities
	everyMonths int       // recurring interval
}

type condition struct {
	key       string
	code      coding
	text      string
	planCode  coding
	planTitle string
	planDesc  string
	meds      []string
	specialty specialty
	followUp  activityTemplate
	others    []activityTemplate
	acute     bool
}

var (
	careplanGeneric = coding{sysSNOMED, "734163000", "Care plan (record artifact)"}
)

var conditions = map[string]*condition{
	"diabetes": {key: "diabetes", code: coding{sysSNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"}, text: "Type 2 diabetes mellitus",
		planCode: coding{sysSNOMED, "698360004", "Diabetes self management plan (record artifact)"}, planTitle: "Diabetes self-management plan",
		planDesc: "Keep HbA1c under 7.5 %, review medication and foot care every 3 months.", meds: []string{"metformin", "lisinopril"}, specialty: spEndo,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Endocrinology follow-up", specialty: spEndo, everyMonths: 3,
			description: "Endocrinology review of glucose log, HbA1c and medication"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysLOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"}, text: "HbA1c", everyMonths: 3, description: "HbA1c before each endocrinology visit"},
			{kind: "ServiceRequest", text: "Diabetic retinal eye exam", description: "Annual dilated eye exam (ophthalmology referral)"},
		}},
	"hypertension": {key: "hypertension", code: coding{sysSNOMED, "59621000", "Essential hypertension (disorder)"}, text: "Essential hypertension",
		planCode: coding{sysSNOMED, "443402002", "Lifestyle education regarding hypertension (procedure)"}, planTitle: "Hypertension management",
		planDesc: "Target blood pressure below 130/80 mmHg; low-sodium diet; home readings twice a week.", meds: []string{"lisinopril", "amlodipine", "hctz"}, specialty: spGP,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "185389009", "Follow-up visit (procedure)"}, text: "Blood pressure check", specialty: spGP, everyMonths: 6,
			description: "Primary care blood pressure and medication review"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysLOINC, "24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"}, text: "Metabolic panel", everyMonths: 12, description: "Kidney function and potassium on ACE inhibitor"},
		}},
	"heart-failure": {key: "heart-failure", code: coding{sysSNOMED, "88805009", "Chronic congestive heart failure (disorder)"}, text: "Chronic congestive heart failure",
		planCode: coding{sysSNOMED, "735984001", "Heart failure self management plan (record artifact)"}, planTitle: "Heart failure care plan",
		planDesc: "Daily weights, fluid restriction 1.5 L, cardiology review after every admission.", meds: []string{"metoprolol", "lisinopril"}, specialty: spCardio,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Cardiology follow-up", specialty: spCardio, everyMonths: 3,
			description: "Cardiology review of weight log, symptoms and diuretic dose"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysSNOMED, "40701008", "Echocardiography (procedure)"}, text: "Echocardiogram", description: "Repeat echocardiogram to reassess ejection fraction"},
		}},
	"copd": {key: "copd", code: coding{sysSNOMED, "185086009", "Chronic obstructive bronchitis (disorder)"}, text: "COPD",
		planCode: coding{sysSNOMED, "412776001", "Chronic obstructive pulmonary disease clinical management plan (record artifact)"}, planTitle: "COPD management plan",
		planDesc: "Inhaler technique review, smoking cessation, pulmonary rehabilitation referral.", meds: []string{"fluticasone"}, specialty: spPulmo,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Pulmonology follow-up", specialty: spPulmo, everyMonths: 6,
			description: "Pulmonology review of exacerbations and inhaler use"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysSNOMED, "127783003", "Spirometry (procedure)"}, text: "Spirometry", everyMonths: 12, description: "Annual spirometry"},
			{kind: "ServiceRequest", code: &coding{sysSNOMED, "710081004", "Smoking cessation therapy (regime/therapy)"}, text: "Smoking cessation program", description: "Referral to the smoking cessation program"},
		}},
	"asthma": {key: "asthma", code: coding{sysSNOMED, "195967001", "Asthma (disorder)"}, text: "Asthma",
		planCode: coding{sysSNOMED, "699728000", "Asthma self management (procedure)"}, planTitle: "Asthma action plan",
		planDesc: "Controller inhaler twice daily; written action plan shared with school nurse.", meds: []string{"fluticasone"}, specialty: spPeds,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Asthma review", specialty: spPeds, everyMonths: 6,
			description: "Pediatric asthma control review"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysSNOMED, "127783003", "Spirometry (procedure)"}, text: "Spirometry", everyMonths: 12, description: "Spirometry when well"},
		}},
	"osteoarthritis": {key: "osteoarthritis", code: coding{sysSNOMED, "239873007", "Osteoarthritis of knee (disorder)"}, text: "Osteoarthritis of knee",
		planCode: careplanGeneric, planTitle: "Knee osteoarthritis plan",
		planDesc: "Physical therapy, weight management and pain control; orthopedic referral if no improvement.", meds: []string{"acetaminophen"}, specialty: spRheum,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Rheumatology follow-up", specialty: spRheum, everyMonths: 6,
			description: "Rheumatology review of pain control and function"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysSNOMED, "91251008", "Physical therapy procedure (regime/therapy)"}, text: "Physical therapy", description: "Physical therapy twice a week for 8 weeks"},
		}},
	"afib": {key: "afib", code: coding{sysSNOMED, "49436004", "Atrial fibrillation (disorder)"}, text: "Atrial fibrillation",
		planCode: careplanGeneric, planTitle: "Anticoagulation and rate control plan",
		planDesc: "Warfarin with INR target 2.0–3.0; rate control with metoprolol.", meds: []string{"warfarin", "metoprolol"}, specialty: spCardio,
		followUp: activityTemplate{kind: "Appointment", code: &coding{sysSNOMED, "390906007", "Follow-up encounter (procedure)"}, text: "Cardiology follow-up", specialty: spCardio, everyMonths: 6,
			description: "Cardiology rhythm and anticoagulation review"},
		others: []activityTemplate{
			{kind: "ServiceRequest", code: &coding{sysLOINC, "6301-6", "INR in Platelet poor plasma by Coagulation assay"}, text: "INR check", everyMonths: 1, description: "Monthly INR at the anticoagulation clinic"},
		}},
	"hyperlipidemia": {key: "hyperlipidemia", code: coding{sysSNOMED, "55822004", "Hyperlipidemia (disorder)"}, text: "Hyperlipidemia",
		meds: []string{"simvastatin"}, specialty: spGP},
	"uti": {key: "uti", code: coding{sysSNOMED, "68566005", "Urinary tract infectious disease (disorder)"}, text: "Urinary tract infection",
		meds: []string{"smx-tmp"}, acute: true, specialty: spGP},
	"strep": {key: "strep", code: coding{sysSNOMED, "43878008", "Streptococcal sore throat (disorder)"}, text: "Strep throat",
		meds: []string{"amoxicillin"}, acute: true, specialty: spGP},
	"sinusitis": {key: "sinusitis", code: coding{sysSNOMED, "36971009", "Sinusitis (disorder)"}, text: "Acute sinusitis",
		meds: []string{"amoxicillin"}, acute: true, specialty: spGP},
}

type payor struct {
	name     string
	naic     string // NAIC company code, for the identifier form
	public   bool
	memberID string // prefix of member ids
	plans    []string
	phone    string
}

var payors = []*payor{
	{name: "Acme Health Plan", naic: "60054", memberID: "ACM", plans: []string{"Acme Gold PPO", "Acme Silver HMO"}, phone: "1-800-555-0134"},
	{name: "Northwind Mutual Insurance", naic: "62308", memberID: "NWM", plans: []string{"Northwind Choice POS", "Northwind Basic EPO"}, phone: "1-800-555-0177"},
	{name: "Blue Harbor Health", naic: "95610", memberID: "BHH", plans: []string{"Harbor Advantage HMO", "Harbor Family PPO"}, phone: "1-800-555-0150"},
	{name: "Medicare Part B", public: true, memberID: "1EG4", plans: []string{"Original Medicare"}, phone: "1-800-555-0108"},
	{name: "State Medicaid Program", public: true, memberID: "MCD", plans: []string{"Medicaid Managed Care"}, phone: "1-800-555-0111"},
}

type city struct {
	name, state, zip string
	stdOffset        int // hours from UTC in winter
	dst              bool
	area             string // telephone area code
}

var cities = []city{
	{"Boston", "MA", "02118", -5, true, "617"},
	{"Worcester", "MA", "01608", -5, true, "508"},
	{"Chicago", "IL", "60614", -6, true, "312"},
	{"Springfield", "IL", "62701", -6, true, "217"},
	{"Denver", "CO", "80205", -7, true, "303"},
	{"Phoenix", "AZ", "85004", -7, false, "602"}, // Arizona keeps standard time all year
	{"Albuquerque", "NM", "87102", -7, true, "505"},
	{"Sacramento", "CA", "95814", -8, true, "916"},
	{"San José", "CA", "95112", -8, true, "408"},
	{"Miami", "FL", "33135", -5, true, "305"},
}

var streets = []string{"Maple Avenue", "Oak Street", "Cedar Lane", "Juniper Court", "Elm Street", "Harbor View Road",
	"Calle Ocho", "Avenida del Sol", "Birch Drive", "Riverside Terrace", "Chestnut Hill Road", "Old Mill Way"}

var (
	givenMale         = []string{"James", "Robert", "Michael", "David", "Daniel", "Kevin", "Marcus", "Samuel", "Anthony", "Thomas", "Brian", "Omar"}
	givenFemale       = []string{"Mary", "Linda", "Susan", "Karen", "Emily", "Grace", "Olivia", "Hannah", "Sarah", "Nicole", "Fatima", "Ruth"}
	givenMaleAccent   = []string{"José", "André", "François", "Björn", "Łukasz", "Raúl", "Søren", "Jérôme", "Ángel", "Tomáš"}
	givenFemaleAccent = []string{"Zoë", "Renée", "Chloé", "Inés", "Noémie", "Sinéad", "Dóra", "Thảo", "Begoña", "Małgorzata"}
	middleNamesFemale = []string{"Ann", "Marie", "Elizabeth", "Lynn", "Louise", "Jean"}
	family            = []string{"Smith", "Johnson", "Williams", "Brown", "Chen", "Patel", "Kim", "Haddad", "Cohen", "Rossi", "Okafor", "O'Connor", "Washington", "Nakamura", "Singh", "Reyes"}
	familyAccent      = []string{"García", "Muñoz", "Müller", "Nguyễn", "Øvrebø", "Ólafsdóttir", "Brontë", "Kowalczyk", "Lefèvre", "Peña", "Ibáñez", "Šimůnek", "Gómez-Dávila", "Château"}
)

type language struct{ code, display, text string }

var languages = []language{
	{"es", "Spanish", "Español"},
	{"fr", "French", "Français"},
	{"vi", "Vietnamese", "Tiếng Việt"},
	{"pl", "Polish", "Polski"},
	{"de", "German", "Deutsch"},
}
