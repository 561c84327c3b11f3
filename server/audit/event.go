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
	"net/http"
	"time"
	"unicode/utf8"
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

// Code systems of the event.
const (
	dcm           = "http://dicom.nema.org/resources/ontology/DCM"
	objectRole    = "http://terminology.hl7.org/CodeSystem/object-role"
	entityType    = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	participation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)

// JSON renders the record as an AuditEvent resource.
func (r *Record) JSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends the record, rendered as an AuditEvent resource, to dst. It writes the JSON directly
// (no intermediate struct, no reflection): this runs on every request before its answer is sent.
func (r *Record) AppendJSON(dst []byte) []byte {
	b := append(dst, `{"resourceType":"AuditEvent","id":`...)
	b = appendString(b, r.EventID)
	b = append(b, `,"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"RESTful Operation"}`...)
	b = append(b, `,"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":`...)
	b = appendString(b, r.Interaction)
	b = append(b, `}],"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"recorded":"`...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","outcome":"`...)
	b = append(b, Outcome(r.Status)...)
	b = append(b, `","outcomeDesc":`...)
	b = appendString(b, r.Method+" "+r.Path+" → "+http.StatusText(r.Status))
	// The client application (BALP: the source role), with its network address.
	b = append(b, `,"agent":[{"type":{"coding":[{"system":"`+dcm+`","code":"110153","display":"Source Role ID"}]},"who":`...)
	if r.Client != "" {
		b = appendIdentified(b, "", r.Issuer, r.Client)
	} else {
		b = append(b, `{"display":"anonymous client"}`...)
	}
	b = appendBool(append(b, `,"requestor":`...), r.Subject == "")
	if r.Address != "" {
		b = append(b, `,"network":{"address":`...)
		b = appendString(b, r.Address)
		b = append(b, `,"type":"2"}`...) // 2: IP address
	}
	b = append(b, '}')
	// The user the token speaks for (BALP: the user agent, the requestor).
	if r.Subject != "" {
		b = append(b, `,{"type":{"coding":[{"system":"`+participation+`","code":"IRCP","display":"information recipient"}]},"who":`...)
		b = appendIdentified(b, r.User, r.Issuer, r.Subject)
		b = append(b, `,"altId":`...)
		b = appendString(b, r.Subject)
		b = append(b, `,"requestor":true`...)
		if r.TokenID != "" {
			b = append(b, `,"policy":[`...)
			b = appendString(b, r.TokenID)
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	// careflow (BALP: the destination role).
	b = append(b, `,{"type":{"coding":[{"system":"`+dcm+`","code":"110152","display":"Destination Role ID"}]},"who":{`...)
	if r.Server != "" {
		b = appendString(append(b, `"display":`...), r.Server)
	}
	b = append(b, `},"name":"careflow","requestor":false}]`...)
	b = append(b, `,"source":{"observer":{"display":`...)
	b = appendString(b, "careflow "+r.Server)
	b = append(b, `},"type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4","display":"Application Server"}]}`...)
	n := 0
	entity := func() {
		if n == 0 {
			b = append(b, `,"entity":[`...)
		} else {
			b = append(b, ',')
		}
		n++
	}
	for _, p := range r.Patients {
		entity()
		b = appendString(append(b, `{"what":{"reference":`...), "Patient/"+p)
		b = append(b, `},"type":{"system":"`+entityType+`","code":"1","display":"Person"},"role":{"system":"`+objectRole+`","code":"1","display":"Patient"}}`...)
	}
	if r.Type != "" && r.ResourceID != "" && !(r.Type == "Patient" && contains(r.Patients, r.ResourceID)) {
		entity()
		b = appendString(append(b, `{"what":{"reference":`...), r.Type+"/"+r.ResourceID)
		b = append(b, `},"type":{"system":"`+entityType+`","code":"2","display":"System Object"},"role":{"system":"`+objectRole+`","code":"4","display":"Domain Resource"}}`...)
	}
	if r.Query != "" {
		entity()
		b = append(b, `{"type":{"system":"`+entityType+`","code":"2","display":"System Object"},"role":{"system":"`+objectRole+`","code":"24","display":"Query"}`...)
		if r.Type != "" {
			b = appendString(append(b, `,"name":`...), r.Type)
		}
		b = append(b, `,"query":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(r.Query))
		b = append(b, `"}`...)
	}
	if n > 0 {
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendIdentified appends a reference {reference?, identifier: {system?, value}}.
func appendIdentified(b []byte, ref, system, value string) []byte {
	b = append(b, '{')
	if ref != "" {
		b = appendString(append(b, `"reference":`...), ref)
		b = append(b, ',')
	}
	b = append(b, `"identifier":{`...)
	if system != "" {
		b = appendString(append(b, `"system":`...), system)
		b = append(b, ',')
	}
	b = appendString(append(b, `"value":`...), value)
	return append(b, "}}"...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendString appends s as a JSON string, escaped as encoding/json does (HTML characters included;
// invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
