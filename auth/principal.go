package auth

import (
	"time"

	"github.com/careflow/careflow/auth/scope"
)

// Principal is who a verified token speaks for and what it grants.
type Principal struct {
	Issuer string
	// Subject is the token's sub: the user, or the client itself for backend services.
	Subject string
	// ClientID is the client_id claim (RFC 9068), or else azp.
	ClientID string
	// Patient is the SMART patient launch context (the patient claim): the id of the Patient whose
	// compartment patient/ scopes are confined to. Without it patient/ scopes grant nothing.
	Patient string
	// FHIRUser is the fhirUser claim (e.g. "Practitioner/123"), when the token carries it.
	FHIRUser string
	Scopes   scope.Set
	Expiry   time.Time
	TokenID  string // jti
}

// Access answers whether the principal's scopes allow permissions perms on resource type typ, and in
// which context: patient is the id of the Patient whose compartment the access is confined to (a.Confined:
// it rests on patient/ scopes), "" when it is unrestricted (user/ or system/ scopes). a.Filters carries
// the restrictions of granular scopes. patient/ scopes count only when the token names a patient (see
// scope.Set.Access).
func (p *Principal) Access(perms scope.Permission, typ string) (a scope.Access, patient string) {
	a = p.Scopes.Access(perms, typ, p.Patient != "")
	if a.Allowed() && a.Confined {
		patient = p.Patient
	}
	return a, patient
}
