package search

// careDateCodes are, in order of preference, the official R4 date parameter codes that give the time of a
// clinical event (when the care happened, not when it was recorded or last changed), for the types
// without a `date` parameter.
var careDateCodes = []string{
	"effective", "effective-time", "onset-date", "occurrence", "period", "started", "start-date", "sent",
	"collected", "whenhandedover", "datetime", "datewritten", "authored-on", "authoredon", "authored",
	"identified", "created", "recorded",
}

// CareDate returns the code of typ's care-date parameter, the one Patient/$everything's start and end
// restrict (patient-operation-everything.html: "the date range relates to care dates, not record currency
// dates"), or "" when typ has none (its resources are then never left out by start/end). The rule, over the
// official SearchParameters: the type's `date` parameter when it has one (for most clinical types the
// date of the event: Observation.effective, Encounter.period, Immunization.occurrence, Procedure.performed…);
// otherwise the first of careDateCodes it has (Condition: onset-date, MedicationStatement: effective,
// Task: authored-on). Patient (birthdate) and the types without a clinical date have none.
func (r *Registry) CareDate(typ string) string {
	if p, ok := r.Lookup(typ, "date"); ok && p.Type == TypeDate {
		return "date"
	}
	for _, code := range careDateCodes {
		if p, ok := r.Lookup(typ, code); ok && p.Type == TypeDate {
			return code
		}
	}
	return ""
}
