package storage

import (
	"context"
	"errors"
)

type baseKey struct{}

// WithBase returns ctx carrying the public FHIR base URL of the request being served (no trailing slash).
// Store decorators that must tell absolute references to this server from references to others
// (storage/refint) read it with Base; the interaction layer sets it on every call.
func WithBase(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseKey{}, base)
}

// Base returns the base URL WithBase put into ctx, or "".
func Base(ctx context.Context) string {
	b, _ := ctx.Value(baseKey{}).(string)
	return b
}

type patientKey struct{}

// WithPatientCompartment returns ctx confining the store calls made with it to the compartment of Patient
// id (SMART patient/ scopes): searches find only resources in it, reads of resources outside it are
// ErrNotFound, and writes that would touch a resource outside it fail with *ConfinementError. The
// decorator that enforces it is storage/confine; the interaction layer sets it per request.
func WithPatientCompartment(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, patientKey{}, id)
}

// PatientCompartment returns the patient whose compartment ctx confines store calls to, or "".
func PatientCompartment(ctx context.Context) string {
	p, _ := ctx.Value(patientKey{}).(string)
	return p
}

// ConfinementError refuses a write that would put a resource outside the confining patient's compartment
// (or change one outside it).
type ConfinementError struct {
	Type, ID, Patient string
	// Before: the resource as stored is outside the compartment; else the resource as written would be.
	Before bool
}

func (e *ConfinementError) Error() string {
	if e.Before {
		return "storage: " + e.Type + "/" + e.ID + " is not in the compartment of Patient/" + e.Patient
	}
	return "storage: the resource written (" + e.Type + "/" + e.ID + ") would not be in the compartment of Patient/" + e.Patient
}

// ErrConfined refuses what patient-confined access cannot do (it is wrapped with the reason).
var ErrConfined = errors.New("storage: not available to patient-confined access")
