package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/definitions"
)

// authFlags are serve's authorization flags (docs/SECURITY.md).
type authFlags struct {
	issuer, audience, jwks *string
}

func addAuthFlags(fs *flag.FlagSet) *authFlags {
	return &authFlags{
		issuer:   fs.String("auth-issuer", env("CAREFLOW_AUTH_ISSUER", ""), "OAuth 2.0 / OpenID issuer whose access tokens careflow accepts; authorization is on when set (CAREFLOW_AUTH_ISSUER)"),
		audience: fs.String("auth-audience", env("CAREFLOW_AUTH_AUDIENCE", ""), "the aud access tokens must carry; default the FHIR base URL (CAREFLOW_AUTH_AUDIENCE)"),
		jwks:     fs.String("auth-jwks", env("CAREFLOW_AUTH_JWKS", ""), "the issuer's signing keys: an http(s) URL or a file; default the jwks_uri of the issuer's discovery document (CAREFLOW_AUTH_JWKS)"),
	}
}

// authSetup is what serve wires when authorization is on.
type authSetup struct {
	verifier *auth.Verifier
	policy   *auth.Policy
	smart    []byte
	oauth    *capability.OAuth
}

// setup builds the verifier, the interaction policy and the SMART discovery answers; nil when
// authorization is off. fhirBase is the public FHIR base URL (the default audience).
func (a *authFlags) setup(ctx context.Context, fhirBase string, log *slog.Logger) (*authSetup, error) {
	if *a.issuer == "" {
		if *a.audience != "" || *a.jwks != "" {
			return nil, fmt.Errorf("--auth-audience and --auth-jwks need --auth-issuer")
		}
		return nil, nil
	}
	audience := *a.audience
	if audience == "" {
		audience = strings.TrimRight(fhirBase, "/")
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: *a.issuer, Audience: audience, JWKS: *a.jwks, Logger: log})
	if err != nil {
		return nil, err
	}
	// The authorization server's endpoints, for SMART discovery and the CapabilityStatement. careflow starts
	// when it cannot read them (the identity provider may start later); clients then find only what careflow
	// knows itself, and the keys are still read on the first token.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	meta, err := v.Discover(dctx)
	cancel()
	if err != nil {
		log.Warn("authorization server metadata unavailable: SMART discovery lists careflow's capabilities only", "err", err)
	}
	smart, err := auth.SMARTConfiguration(*a.issuer, meta)
	if err != nil {
		return nil, err
	}
	s := &authSetup{verifier: v, policy: auth.NewPolicy(definitions.ResourceTypes), smart: smart}
	if meta != nil {
		s.oauth = &capability.OAuth{Authorize: meta.AuthorizationEndpoint, Token: meta.TokenEndpoint,
			Revoke: meta.RevocationEndpoint, Introspect: meta.IntrospectionEndpoint, Manage: meta.ManagementEndpoint}
	}
	log.Info("authorization on", "issuer", *a.issuer, "audience", audience)
	return s, nil
}
