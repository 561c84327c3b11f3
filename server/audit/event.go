// Package audit records every access to the FHIR API as an AuditEvent (R4), shaped after IHE Basic Audit Log
// Patterns (BALP, https://profiles.ihe.net/ITI/BALP/): who (the token's user and client, or anonymous, and
// the network address), what (the RESTful interaction, the resource or the query), which patients, when and
// with what outcome — refusals (401, 403) included.
//
// Records go through a durable outbox (Log): the HTTP layer appends a record to a local file before the
// response is sent, and a shipper moves the outbox into the store as AuditEvent resources in batches (one
// store transaction per batch, not one database round trip per request). After a crash the outbox is
// replayed from the last shipped position; events already stored are skipped (their ids are fixed when
// recorded), so none is lost and none is duplicated. docs/SECURITY.md ("Audit") states the durability.
package audit

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// Record is one access to the API.
type Record struct {
	EventID string    // the AuditEvent id (fixed when recorded, so that a replay can tell it was stored)
	Time    time.Time // when the answer was decided

	// Who. Subject is the token's sub (Issuer its iss), Client its client id, User its fhirUser
	// reference; all empty for an anonymous request.
	Subject, Issuer, Client, User string
	TokenID                       string // jti, kept as the agent's policy
	Address                       string // the client's network address

	// What. Interaction is the FHIR restful-interaction code (read, vread, update, patch, delete,
	// history-instance, history-type, history-system, create, search-type, search-system, capabilities,
	// transaction, batch, operation); Action the BALP/AuditEvent action (C, R, U, D, E).
	Interaction, Action string
	Method, Path, Query string // the request (Path relative to the FHIR base, Query raw)
	Type, ResourceID    string // the resource it addresses, when one ("Patient", "123")
	Patients            []string
	Status              int    // the HTTP status answered
	RequestID           string // X-Request-Id
	Server              string // the FHIR base URL (the server agent)
}

// Outcome is the AuditEvent outcome of an HTTP status: 0 success, 4 minor failure (the client's error),
// 8 serious failure (the server's).
func Outcome(status int) string {
	switch {
	case status < 400:
		return "0"
	case status < 500:
		return "4"
	}
	return "8"
}

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

// Code systems of the event.
const (
	dcm           = "http://dicom.nema.org/resources/ontology/DCM"
	objectRole    = "http://terminology.hl7.org/CodeSystem/object-role"
	entityType    = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	participation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)

// JSON renders the record as an AuditEvent resource.
func (r *Record) JSON() ([]byte, error) {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
