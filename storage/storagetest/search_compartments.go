package storagetest

import (
	"strings"
	"testing"

	"github.com/careflow/careflow/storage"
)

// compartmentResources link two patients' records to practitioners, a related person, an encounter and a
// device, each through the parameters the official CompartmentDefinitions name:
//
//	o1 px, encounter e1, performer dr1      o2 py, encounter e2, performer dr1   o3 px, performer rp1
//	o4 px, device dev1                      c1 px, encounter e1, asserter dr1    c2 py, asserter rp1
//	e1 px, participant dr1                  e2 py, participant dr2
//	m1 px, sender dr2, recipient rp1        m2 py, sender dr2, recipient dr1
var compartmentResources = []string{
	`{"resourceType":"Patient","id":"px"}`,
	`{"resourceType":"Patient","id":"py"}`,
	`{"resourceType":"Practitioner","id":"dr1"}`,
	`{"resourceType":"Practitioner","id":"dr2"}`,
	`{"resourceType":"RelatedPerson","id":"rp1","patient":{"reference":"Patient/px"}}`,
	`{"resourceType":"Device","id":"dev1","patient":{"reference":"Patient/px"}}`,
	`{"resourceType":"Encounter","id":"e1","status":"finished","subject":{"reference":"Patient/px"},
	  "participant":[{"individual":{"reference":"Practitioner/dr1"}}],"period":{"start":"2026-01-10T08:00:00Z"}}`,
	`{"resourceType":"Encounter","id":"e2","status":"finished","subject":{"reference":"Patient/py"},
	  "participant":[{"individual":{"reference":"Practitioner/dr2"}}],"period":{"start":"2026-02-10T08:00:00Z"}}`,
	`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/px"},
	  "encounter":{"reference":"Encounter/e1"},"performer":[{"reference":"Practitioner/dr1"}]}`,
	`{"resourceType":"Observation","id":"o2","status":"amended","code":{"text":"b"},"subject":{"reference":"Patient/py"},
	  "encounter":{"reference":"Encounter/e2"},"performer":[{"reference":"Practitioner/dr1"}]}`,
	`{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"c"},"subject":{"reference":"Patient/px"},
	  "performer":[{"reference":"RelatedPerson/rp1"}]}`,
	`{"resourceType":"Observation","id":"o4","status":"final","code":{"text":"d"},"subject":{"reference":"Patient/px"},
	  "device":{"reference":"Device/dev1"}}`,
	`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/px"},"encounter":{"reference":"Encounter/e1"},
	  "asserter":{"reference":"Practitioner/dr1"}}`,
	`{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/py"},"asserter":{"reference":"RelatedPerson/rp1"}}`,
	`{"resourceType":"Communication","id":"m1","status":"completed","subject":{"reference":"Patient/px"},
	  "sender":{"reference":"Practitioner/dr2"},"recipient":[{"reference":"RelatedPerson/rp1"}]}`,
	`{"resourceType":"Communication","id":"m2","status":"completed","subject":{"reference":"Patient/py"},
	  "sender":{"reference":"Practitioner/dr2"},"recipient":[{"reference":"Practitioner/dr1"}]}`,
}

// testSearchOtherCompartments: searches in the Practitioner, RelatedPerson, Encounter and Device
// compartments (compartmentdefinition.html) find exactly the resources that refer to the compartment's
// resource through one of the compartment's parameters (ORed), composed with criteria and paging; a
// compartment Within another (the confining patient's) finds the members of both.
func testSearchOtherCompartments(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	for _, body := range compartmentResources {
		e.create(t, s, body)
	}
	fx := &fixture{}
	for _, c := range []searchCase{
		inCase("Practitioner/dr1", "Observation", "", "o1 o2"),
		inCase("Practitioner/dr1", "Observation", "status=final", "o1"),
		inCase("Practitioner/dr1", "Observation", "subject=Patient/py", "o2"),
		inCase("Practitioner/dr1", "Encounter", "", "e1"),
		inCase("Practitioner/dr2", "Encounter", "", "e2"),
		inCase("Practitioner/dr1", "Condition", "", "c1"),
		inCase("Practitioner/dr1", "Communication", "", "m2"), // recipient
		inCase("Practitioner/dr2", "Communication", "", "m1 m2"),
		inCase("Practitioner/dr1", "Practitioner", "", "dr1"), // itself ({def})
		inCase("Practitioner/dr9", "Observation", "", ""),
		inCase("RelatedPerson/rp1", "Observation", "", "o3"),
		inCase("RelatedPerson/rp1", "Condition", "", "c2"),
		inCase("RelatedPerson/rp1", "Communication", "", "m1"),
		inCase("RelatedPerson/rp1", "RelatedPerson", "", "rp1"),
		inCase("Encounter/e1", "Observation", "", "o1"),
		inCase("Encounter/e1", "Condition", "", "c1"),
		inCase("Encounter/e1", "Encounter", "", "e1"),
		inCase("Encounter/e2", "Observation", "", "o2"),
		inCase("Encounter/e2", "Observation", "status=final", ""),
		inCase("Device/dev1", "Observation", "", "o4"),
		inCase("Patient/px", "Observation", "", "o1 o3 o4"),
	} {
		e.check(t, s, fx, c)
	}
	within := func(in, typ, patient, want string) {
		t.Helper()
		q := e.query(t, typ, in, "")
		p, _ := e.comps.Lookup("Patient", patient, typ)
		q.Compartment.Within = p
		if got := ids(search1(t, s, q).Versions); got != want {
			t.Errorf("%s/%s within Patient/%s: got [%s], want [%s]", in, typ, patient, got, want)
		}
	}
	within("Practitioner/dr1", "Observation", "px", "o1")
	within("Practitioner/dr1", "Observation", "py", "o2")
	within("Practitioner/dr2", "Communication", "px", "m1")
	within("Practitioner/dr2", "Communication", "pz", "")
	within("Encounter/e1", "Observation", "py", "")
	var got []string
	for _, page := range e.walkForward(t, s, "Observation", "Practitioner/dr1", "_count=1", nil) {
		got = append(got, ids(page.Versions))
	}
	if strings.Join(got, "|") != "o1|o2" {
		t.Errorf("Practitioner/dr1/Observation?_count=1 pages: %v, want o1|o2", got)
	}
	if _, ok := e.comps.Lookup("Encounter", "e1", "Patient"); ok {
		t.Error("Patient is not a member of the Encounter compartment")
	}
}
