package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Metadata is what careflow takes from the authorization server's discovery document
// (/.well-known/openid-configuration, or else /.well-known/smart-configuration, of the issuer).
type Metadata struct {
	Issuer                  string   `json:"issuer"`
	JWKSURI                 string   `json:"jwks_uri"`
	AuthorizationEndpoint   string   `json:"authorization_endpoint"`
	TokenEndpoint           string   `json:"token_endpoint"`
	RevocationEndpoint      string   `json:"revocation_endpoint"`
	IntrospectionEndpoint   string   `json:"introspection_endpoint"`
	RegistrationEndpoint    string   `json:"registration_endpoint"`
	ManagementEndpoint      string   `json:"management_endpoint"`
	GrantTypes              []string `json:"grant_types_supported"`
	TokenAuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs    []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethods    []string `json:"code_challenge_methods_supported"`
	ResponseTypes           []string `json:"response_types_supported"`
	ScopesSupported         []string `json:"scopes_supported"`
	SMARTCapabilitiesListed []string `json:"capabilities"`
}

// Discover reads the issuer's metadata: its OpenID Connect discovery document, or else its SMART
// configuration. A document naming another issuer is refused.
func (v *Verifier) Discover(ctx context.Context) (*Metadata, error) {
	base := strings.TrimSuffix(v.keys.issuer, "/")
	var errs []string
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/smart-configuration"} {
		raw, err := v.keys.read(ctx, base+doc)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		var m Metadata
		if err := json.Unmarshal(raw, &m); err != nil {
			errs = append(errs, fmt.Sprintf("%s%s: %v", base, doc, err))
			continue
		}
		if m.Issuer != "" && m.Issuer != v.keys.issuer {
			errs = append(errs, fmt.Sprintf("%s%s names issuer %q, not %q", base, doc, m.Issuer, v.keys.issuer))
			continue
		}
		m.Issuer = v.keys.issuer
		return &m, nil
	}
	return nil, fmt.Errorf("auth: reading the issuer's metadata: %s", strings.Join(errs, "; "))
}

// SMARTConfiguration renders the document careflow serves at [base]/.well-known/smart-configuration (SMART
// App Launch 2.0, conformance): the authorization server's endpoints from m (nil when its metadata could
// not be read: then only what careflow itself decides is listed) and careflow's capabilities as a
// resource server — SMART v1 and v2 scopes in patient/, user/ and system/ contexts, the patient launch
// context of a standalone launch — plus the client types the authorization server supports.
func SMARTConfiguration(issuer string, m *Metadata) ([]byte, error) {
	if m == nil {
		m = &Metadata{Issuer: issuer}
	}
	caps := []string{"launch-standalone", "context-standalone-patient", "permission-patient", "permission-user",
		"permission-v1", "permission-v2", "client-public"}
	for _, method := range m.TokenAuthMethods {
		switch method {
		case "client_secret_basic", "client_secret_post":
			caps = append(caps, "client-confidential-symmetric")
		case "private_key_jwt":
			caps = append(caps, "client-confidential-asymmetric")
		}
	}
	if slices.Contains(m.ScopesSupported, "openid") || m.JWKSURI != "" {
		caps = append(caps, "sso-openid-connect")
	}
	slices.Sort(caps)
	caps = slices.Compact(caps)
	grants := m.GrantTypes
	if len(grants) == 0 {
		grants = []string{"authorization_code", "client_credentials"}
	}
	challenge := m.CodeChallengeMethods
	if len(challenge) == 0 {
		challenge = []string{"S256"} // SMART 2.0 requires PKCE with S256
	}
	doc := map[string]any{
		"issuer":                                m.Issuer,
		"jwks_uri":                              m.JWKSURI,
		"authorization_endpoint":                m.AuthorizationEndpoint,
		"token_endpoint":                        m.TokenEndpoint,
		"revocation_endpoint":                   m.RevocationEndpoint,
		"introspection_endpoint":                m.IntrospectionEndpoint,
		"registration_endpoint":                 m.RegistrationEndpoint,
		"management_endpoint":                   m.ManagementEndpoint,
		"grant_types_supported":                 grants,
		"token_endpoint_auth_methods_supported": m.TokenAuthMethods,
		"token_endpoint_auth_signing_alg_values_supported": m.TokenAuthSigningAlgs,
		"code_challenge_methods_supported":                 challenge,
		"response_types_supported":                         m.ResponseTypes,
		"scopes_supported":                                 m.ScopesSupported,
		"capabilities":                                     caps,
	}
	for k, v := range doc {
		switch v := v.(type) {
		case string:
			if v == "" {
				delete(doc, k)
			}
		case []string:
			if len(v) == 0 {
				delete(doc, k)
			}
		}
	}
	return json.Marshal(doc)
}
