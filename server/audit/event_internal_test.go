package audit

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// The reference encoding of a Record: the struct form AppendJSON replaced, marshalled by encoding/json.
// TestAppendJSONMatchesReference pins that both render the same AuditEvent.

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type agent struct {
	Type      *concept  `json:"type,omitempty"`
	Role      []concept `json:"role,omitempty"`
	Who       reference `json:"who"`
	AltID     string    `json:"altId,omitempty"`
	Name      string    `json:"name,omitempty"`
	Requestor bool      `json:"requestor"`
	Policy    []string  `json:"policy,omitempty"`
	Network   *network  `json:"network,omitempty"`
}

type entity struct {
	What  *reference `json:"what,omitempty"`
	Type  *coding    `json:"type,omitempty"`
	Role  *coding    `json:"role,omitempty"`
	Name  string     `json:"name,omitempty"`
	Query string     `json:"query,omitempty"`
}

type event struct {
	ResourceType string   `json:"resourceType"`
	ID           string   `json:"id"`
	Type         coding   `json:"type"`
	Subtype      []coding `json:"subtype"`
	Action       string   `json:"action"`
	Recorded     string   `json:"recorded"`
	Outcome      string   `json:"outcome"`
	OutcomeDesc  string   `json:"outcomeDesc,omitempty"`
	Agent        []agent  `json:"agent"`
	Source       struct {
		Observer reference `json:"observer"`
		Type     []coding  `json:"type"`
	} `json:"source"`
	Entity []entity `json:"entity,omitempty"`
}

func (r *Record) referenceJSON() ([]byte, error) {
	e := event{ResourceType: "AuditEvent", ID: r.EventID,
		Type:     coding{System: "http://terminology.hl7.org/CodeSystem/audit-event-type", Code: "rest", Display: "RESTful Operation"},
		Subtype:  []coding{{System: "http://hl7.org/fhir/restful-interaction", Code: r.Interaction}},
		Action:   r.Action,
		Recorded: r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Outcome:  Outcome(r.Status),
	}
	e.OutcomeDesc = r.Method + " " + r.Path + " → " + http.StatusText(r.Status)
	// The client application (BALP: the source role), with its network address.
	client := agent{Type: &concept{Coding: []coding{{System: dcm, Code: "110153", Display: "Source Role ID"}}},
		Who: reference{Display: "anonymous client"}, Requestor: r.Subject == ""}
	if r.Client != "" {
		client.Who = reference{Identifier: &identifier{System: r.Issuer, Value: r.Client}}
	}
	if r.Address != "" {
		client.Network = &network{Address: r.Address, Type: "2"} // 2: IP address
	}
	e.Agent = append(e.Agent, client)
	// The user the token speaks for (BALP: the user agent, the requestor).
	if r.Subject != "" {
		user := agent{Type: &concept{Coding: []coding{{System: participation, Code: "IRCP", Display: "information recipient"}}},
			Who: reference{Identifier: &identifier{System: r.Issuer, Value: r.Subject}}, AltID: r.Subject, Requestor: true}
		if r.User != "" {
			user.Who.Reference = r.User
		}
		if r.TokenID != "" {
			user.Policy = []string{r.TokenID}
		}
		e.Agent = append(e.Agent, user)
	}
	// careflow (BALP: the destination role).
	e.Agent = append(e.Agent, agent{Type: &concept{Coding: []coding{{System: dcm, Code: "110152", Display: "Destination Role ID"}}},
		Who: reference{Display: r.Server}, Name: "careflow", Requestor: false})
	e.Source.Observer = reference{Display: "careflow " + r.Server}
	e.Source.Type = []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}
	for _, p := range r.Patients {
		e.Entity = append(e.Entity, entity{What: &reference{Reference: "Patient/" + p},
			Type: &coding{System: entityType, Code: "1", Display: "Person"}, Role: &coding{System: objectRole, Code: "1", Display: "Patient"}})
	}
	if r.Type != "" && r.ResourceID != "" && !(r.Type == "Patient" && contains(r.Patients, r.ResourceID)) {
		e.Entity = append(e.Entity, entity{What: &reference{Reference: r.Type + "/" + r.ResourceID},
			Type: &coding{System: entityType, Code: "2", Display: "System Object"}, Role: &coding{System: objectRole, Code: "4", Display: "Domain Resource"}})
	}
	if r.Query != "" {
		e.Entity = append(e.Entity, entity{Type: &coding{System: entityType, Code: "2", Display: "System Object"},
			Role: &coding{System: objectRole, Code: "24", Display: "Query"}, Name: r.Type,
			Query: base64.StdEncoding.EncodeToString([]byte(r.Query))})
	}
	return json.Marshal(e)
}

// TestAppendJSONMatchesReference: AppendJSON renders exactly what encoding/json renders from the event
// structs, for records with and without a user, client, address, token id, patients, resource and query,
// and with strings that need escaping (quotes, control characters, HTML characters, invalid UTF-8, U+2028).
func TestAppendJSONMatchesReference(t *testing.T) {
	weird := "a\"b\\c\nd\re\tf\x01g<h>&i\xffj\u2028k\u2029l é 😀"
	full := Record{EventID: "e1", Time: time.Date(2026, 12, 1, 10, 0, 1, 5e6, time.FixedZone("x", 3600)),
		Subject: "u1", Issuer: "https://idp.example", Client: "app", User: "Practitioner/7", TokenID: "jti-1",
		Address: "10.0.0.1", Interaction: "read", Action: "R", Method: "GET", Path: "Patient/p1",
		Type: "Patient", ResourceID: "p1", Patients: []string{"p1", "p2"}, Status: 200, Server: "http://careflow.test/fhir"}
	cases := map[string]Record{"full": full, "anonymous": {EventID: "e2", Time: full.Time, Interaction: "search-system", Action: "E",
		Method: "GET", Query: "_type=Patient", Status: 401}, "empty": {}}
	withWeird := full
	withWeird.Subject, withWeird.Issuer, withWeird.Client, withWeird.User, withWeird.TokenID = weird, weird, weird, weird, weird
	withWeird.Address, withWeird.Path, withWeird.Type, withWeird.ResourceID, withWeird.Query = weird, weird, weird, weird, weird
	withWeird.Patients, withWeird.Server, withWeird.Interaction, withWeird.Action, withWeird.EventID = []string{weird}, weird, weird, weird, weird
	cases["escaping"] = withWeird
	noPatient := full
	noPatient.Patients, noPatient.Type, noPatient.ResourceID, noPatient.Query, noPatient.Status = nil, "Observation", "o1", "code=x", 503
	cases["resource and query"] = noPatient
	noClient := full
	noClient.Client, noClient.Address, noClient.TokenID, noClient.User, noClient.Issuer, noClient.Server = "", "", "", "", "", ""
	cases["no client"] = noClient
	for name, r := range cases {
		want, err := r.referenceJSON()
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendJSON([]byte("prefix"))
		if string(got) != "prefix"+string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got[len("prefix"):], want)
		}
		if !json.Valid(got[len("prefix"):]) {
			t.Errorf("%s: invalid JSON", name)
		}
	}
}
