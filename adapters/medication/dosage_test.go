package medication_test

import (
	"encoding/json"
	"testing"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/adapters/medication"
)

const oral = `"route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006","display":"Oral route"}]}`

func TestRenderDosage(t *testing.T) {
	cases := []struct{ dosage, want string }{
		{`{"text":"1-2 tablets once daily at bedtime as needed for restless legs","timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}`,
			"1-2 tablets once daily at bedtime as needed for restless legs"},
		{`{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},"asNeededCodeableConcept":{"text":"Pain"},` + oral + `,"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}`,
			"Take 1 tablet by mouth twice a day as needed for pain"},
		{`{"method":{"text":"inject"},"route":{"coding":[{"system":"http://snomed.info/sct","code":"47625008"}]},"timing":{"repeat":{"frequency":1,"period":8,"periodUnit":"h"}},"doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}`,
			"Inject 500 mg intravenously every 8 hours"},
		{`{"timing":{"repeat":{"period":4,"periodMax":6,"periodUnit":"h"}},"asNeededBoolean":true,"doseAndRate":[{"doseRange":{"low":{"value":1,"unit":"tab"},"high":{"value":2,"unit":"tab"}}}]}`,
			"Take 1 to 2 tablets every 4 to 6 hours as needed"},
		{`{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d","when":["ACM"],"offset":30,"boundsDuration":{"value":7,"unit":"days","system":"http://unitsofmeasure.org","code":"d"}}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"capsule"}}]}`,
			"Take 1 capsule once a day 30 minutes before breakfast for 7 days"},
		{`{"route":{"text":"Inhalation"},"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"wk","dayOfWeek":["mon"],"timeOfDay":["08:00:00"]}},"doseAndRate":[{"doseQuantity":{"value":2,"unit":"puff"}}]}`,
			"Take 2 puffs via inhalation once a week at 08:00 on Monday"},
		{`{"timing":{"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation","code":"BID"}]}},"doseAndRate":[{"doseQuantity":{"value":5,"unit":"mL","system":"http://unitsofmeasure.org","code":"mL"}}]}`,
			"Take 5 mL twice a day"},
		{`{"route":{"coding":[{"system":"http://snomed.info/sct","code":"260548002","display":"Oral"}]},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tab","system":"http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm","code":"tab"}}],"maxDosePerPeriod":{"numerator":{"value":1,"unit":"tab"},"denominator":{"value":1,"system":"http://unitsofmeasure.org","code":"d"}}}`,
			"Take 1 tablet by mouth (maximum 1 tablet per day)"},
		{`{"timing":{"repeat":{"frequency":3,"period":1,"periodUnit":"d","count":15}},"doseAndRate":[{"doseQuantity":{"value":0.5,"unit":"tablet"}}]}`,
			"Take 0.5 tablets 3 times a day for 15 doses"},
		{`{"timing":{"repeat":{"frequency":1,"frequencyMax":2,"period":1,"periodUnit":"h","boundsPeriod":{"start":"2026-12-01","end":"2026-12-10"}}},"doseAndRate":[{"doseQuantity":{"value":1.50,"unit":"mg"}}]}`,
			"Take 1.50 mg 1 to 2 times an hour from 2026-12-01 until 2026-12-10"},
		{`{"timing":{"repeat":{"frequency":2,"period":3,"periodUnit":"d","when":["HS","WAKE"]}}}`,
			"Take twice every 3 days at bedtime and on waking"},
		{`{"asNeededBoolean":false}`, ""},
		{`{}`, ""},
	}
	for _, tc := range cases {
		got, err := medication.RenderDosage(json.RawMessage(tc.dosage))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.dosage, got, tc.want)
		}
	}
}

func TestInstructionSequences(t *testing.T) {
	var ds []fhirread.Dosage
	err := json.Unmarshal([]byte(`[
	  {"sequence":2,"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d","boundsDuration":{"value":4,"code":"d"}}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]},
	  {"sequence":1,"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d","boundsDuration":{"value":3,"code":"d"}}},"doseAndRate":[{"doseQuantity":{"value":2,"unit":"tablet"}}]},
	  {"sequence":1,"text":"Apply cream to the rash at night"}
	]`), &ds)
	if err != nil {
		t.Fatal(err)
	}
	want := "Take 2 tablets once a day for 3 days and apply cream to the rash at night, then take 1 tablet once a day for 4 days"
	if got := medication.Instruction(ds); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
