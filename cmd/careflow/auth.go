package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/dashboard"
	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/server/audit"
	"github.com/careflow/careflow/storage"
)

// authFlags are serve's authorization and audit flags (docs/SECURITY.md).
type authFlags struct {
	issuer, audience, jwks *string
	audit, auditOutbox     *string
	auditSync              *string
	auditShip              *time.Duration
	dashboardClient        *string
}

func addAuthFlags(fs *flag.FlagSet) *authFlags {
	return &authFlags{
		issuer:          fs.String("auth-issuer", env("CAREFLOW_AUTH_ISSUER", ""), "OAuth 2.0 / OpenID issuer whose access tokens careflow accepts; authorization is on when set (CAREFLOW_AUTH_ISSUER)"),
		audience:        fs.String("auth-audience", env("CAREFLOW_AUTH_AUDIENCE", ""), "the aud access tokens must carry; default the FHIR base URL (CAREFLOW_AUTH_AUDIENCE)"),
		jwks:            fs.String("auth-jwks", env("CAREFLOW_AUTH_JWKS", ""), "the issuer's signing keys: an http(s) URL or a file; default the jwks_uri of the issuer's discovery document (CAREFLOW_AUTH_JWKS)"),
		audit:           fs.String("audit", env("CAREFLOW_AUDIT", "auto"), "record every FHIR request as an AuditEvent: on, off, or auto (on when --auth-issuer is set) (CAREFLOW_AUDIT)"),
		auditOutbox:     fs.String("audit-outbox", env("CAREFLOW_AUDIT_OUTBOX", "careflow-data/audit-outbox.log"), "the local file audit records are written to before each answer, then moved into the store (CAREFLOW_AUDIT_OUTBOX)"),
		auditSync:       fs.String("audit-sync", env("CAREFLOW_AUDIT_SYNC", "written"), "when an audit record counts as kept before the answer: written (survives any crash of careflow) or synced (also a power loss; each answer waits for a disk sync) (CAREFLOW_AUDIT_SYNC)"),
		dashboardClient: fs.String("dashboard-client-id", env("CAREFLOW_DASHBOARD_CLIENT_ID", "careflow-dashboard"), "with --auth-issuer: the dashboard's client id at the authorization server (SMART standalone launch, a public client with redirect URI <public URL>/app/) (CAREFLOW_DASHBOARD_CLIENT_ID)"),
		auditShip:       fs.Duration("audit-ship-interval", 200*time.Millisecond, "the longest an audit record waits in the outbox before it is moved into the store"),
	}
}

// authSetup is what serve wires when authorization is on.
type authSetup struct {
	verifier  *auth.Verifier
	policy    *auth.Policy
	smart     []byte
	oauth     *capability.OAuth
	dashboard dashboard.Options
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
	s.dashboard = dashboard.Options{ClientID: *a.dashboardClient}
	if meta != nil {
		s.oauth = &capability.OAuth{Authorize: meta.AuthorizationEndpoint, Token: meta.TokenEndpoint,
			Revoke: meta.RevocationEndpoint, Introspect: meta.IntrospectionEndpoint, Manage: meta.ManagementEndpoint}
		if u, err := url.Parse(meta.TokenEndpoint); err == nil && u.Host != "" {
			s.dashboard.ConnectOrigins = []string{u.Scheme + "://" + u.Host} // the app calls the token endpoint
		}
	}
	log.Info("authorization on", "issuer", *a.issuer, "audience", audience)
	return s, nil
}

// openAudit opens the audit log when auditing is on (nil otherwise): the outbox file, shipped into store.
func (a *authFlags) openAudit(store storage.Store, registry *search.Registry, authOn bool, log *slog.Logger) (*audit.Log, error) {
	on := authOn
	switch *a.audit {
	case "on", "true":
		on = true
	case "off", "false":
		on = false
	case "auto":
	default:
		return nil, fmt.Errorf("--audit must be on, off or auto, got %q", *a.audit)
	}
	opt := audit.Options{Logger: log, ShipInterval: *a.auditShip}
	switch *a.auditSync {
	case "written":
	case "synced":
		opt.Durability = audit.Synced
	default:
		return nil, fmt.Errorf("--audit-sync must be written or synced, got %q", *a.auditSync)
	}
	if !on {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(*a.auditOutbox), 0o700); err != nil {
		return nil, err
	}
	l, err := audit.Open(*a.auditOutbox, store, registry, opt)
	if err != nil {
		return nil, err
	}
	log.Info("audit on", "outbox", *a.auditOutbox, "sync", *a.auditSync)
	return l, nil
}
