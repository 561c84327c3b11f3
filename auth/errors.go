package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of RFC 6750 §3.1, as the WWW-Authenticate header carries them.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// Error is a refused request, with what the HTTP layer needs to answer it:
//   - 401 without Code: no token (the WWW-Authenticate challenge then names no error, RFC 6750 §3.1);
//   - 401 invalid_token: the token is malformed, badly signed, expired, for another issuer or audience…;
//   - 400 invalid_request: the Authorization header is not a single Bearer token;
//   - 403 insufficient_scope: the token is valid but grants too little; Scope names what is missing;
//   - 503: the signing keys cannot be obtained (the identity provider is unreachable), so no token can be
//     judged; the client may retry.
//
// Description is safe to show to the client; Err (the cause, for logs) is not.
type Error struct {
	Status      int
	Code        string
	Description string
	// Scope is the scope that would allow the request (403 only), e.g. "patient/Observation.s".
	Scope string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// WWWAuthenticate renders the WWW-Authenticate header value of a 401 or 403 answer (RFC 6750 §3):
// Bearer realm="…", error="…", error_description="…", scope="…".
func (e *Error) WWWAuthenticate(realm string) string {
	parts := []string{"Bearer"}
	var params []string
	if realm != "" {
		params = append(params, "realm="+quote(realm))
	}
	if e.Code != "" {
		params = append(params, "error="+quote(e.Code))
		if e.Description != "" {
			params = append(params, "error_description="+quote(e.Description))
		}
	}
	if e.Scope != "" {
		params = append(params, "scope="+quote(e.Scope))
	}
	if len(params) > 0 {
		parts = append(parts, strings.Join(params, ", "))
	}
	return strings.Join(parts, " ")
}

// quote renders a quoted-string: RFC 6750 restricts error_description to printable ASCII without " and \,
// so anything else is replaced.
func quote(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return `"` + string(b) + `"`
}

// AsError returns err as an *Error when it is (or wraps) one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// NoToken is the answer to a request without an Authorization header: 401 with a challenge that names no
// error.
func NoToken() *Error {
	return &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
}

func invalidToken(cause error, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: fmt.Sprintf(format, args...), Err: cause}
}

func forbidden(scope, format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Description: fmt.Sprintf(format, args...), Scope: scope}
}

// BearerToken extracts the token of an Authorization header value ("Bearer <token>", the scheme case-
// insensitive). An empty header is NoToken(); anything else that is not one bearer token is a 400
// invalid_request (RFC 6750 §3.1).
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", NoToken()
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: "the Authorization header must be \"Bearer <token>\""}
	}
	return token, nil
}
