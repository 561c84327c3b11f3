// Package outcome builds FHIR R4 OperationOutcome resources and the error type that carries an HTTP status
// with the issues that explain it. Every client-visible failure in careflow is an *Error.
package outcome

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Severity values (http://hl7.org/fhir/R4/valueset-issue-severity.html).
const (
	Fatal       = "fatal"
	SeverityErr = "error"
	Warning     = "warning"
	Information = "information"
)

// Issue type codes used by careflow (http://hl7.org/fhir/R4/valueset-issue-type.html).
const (
	CodeInvalid       = "invalid"
	CodeStructure     = "structure"
	CodeRequired      = "required"
	CodeValue         = "value"
	CodeInvariant     = "invariant"
	CodeSecurity      = "security"
	CodeNotSupported  = "not-supported"
	CodeDuplicate     = "duplicate"
	CodeMultipleMatch = "multiple-matches"
	CodeNotFound      = "not-found"
	CodeDeleted       = "deleted"
	CodeTooLong       = "too-long"
	CodeConflict      = "conflict"
	CodeTransient     = "transient"
	CodeProcessing    = "processing"
	CodeException     = "exception"
	CodeInformational = "informational"
	CodeTooCostly     = "too-costly"
	CodeBusinessRule  = "business-rule" // a rule of the domain refuses the request (422)
	CodeLogin         = "login"         // authentication required or failed (401)
	CodeForbidden     = "forbidden"     // not permitted (403)
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// Error is a failure with the HTTP status a FHIR server answers and the issues explaining it.
type Error struct {
	Status int
	Issues []Issue
	// Cause is the underlying error, kept for logs; it is never shown to clients.
	Cause error
}

func (e *Error) Error() string {
	msg := http.StatusText(e.Status)
	if len(e.Issues) > 0 {
		msg = e.Issues[0].Diagnostics
		if len(e.Issues) > 1 {
			msg = fmt.Sprintf("%s (and %d more issues)", msg, len(e.Issues)-1)
		}
	}
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, msg, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, msg)
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an *Error with one error-severity issue.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: SeverityErr, Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// At returns an *Error with one issue located at a FHIRPath expression.
func At(status int, code, expression, format string, args ...any) *Error {
	e := New(status, code, format, args...)
	e.Issues[0].Expression = []string{expression}
	return e
}

// Wrap turns any error into an *Error: an *Error anywhere in the chain is returned as is, anything else is an
// internal failure (500) whose details stay in the logs.
func Wrap(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Cause: err, Issues: []Issue{{
		Severity: SeverityErr, Code: CodeException, Diagnostics: "internal server error",
	}}}
}

// Resource renders issues as an OperationOutcome resource (JSON). An empty list becomes the single
// informational "All OK" issue the specification uses for success outcomes.
func Resource(issues []Issue) []byte {
	if len(issues) == 0 {
		issues = []Issue{{Severity: Information, Code: CodeInformational, Diagnostics: "All OK"}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Info returns a single informational issue.
func Info(format string, args ...any) Issue {
	return Issue{Severity: Information, Code: CodeInformational, Diagnostics: fmt.Sprintf(format, args...)}
}
