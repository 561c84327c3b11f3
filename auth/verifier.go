// Package auth is careflow's OAuth 2.0 resource-server core: it verifies SMART on FHIR bearer tokens
// (JWT access tokens from any OpenID Connect / OAuth 2.0 server), turns them into a Principal with its
// granted scopes (package auth/scope), and decides which FHIR interactions a principal may perform
// (Interactions, Authorize). It does no HTTP serving itself: the REST layer calls Verify and Authorize
// and answers with the *Error they return.
//
// JOSE library: github.com/go-jose/go-jose/v4. It is the JOSE implementation under coreos/go-oidc, Dex
// and Kubernetes, has no dependencies beyond the standard library and golang.org/x/crypto, takes the
// allowed signature algorithms as a mandatory argument of every parse (so alg "none" and any algorithm
// not listed are refused before any key is looked at), and verifies with the key type the caller gives
// (an RSA or EC public key can never be used as an HMAC secret). careflow needs only verification and a
// key cache with its own refresh policy, which go-oidc's RemoteKeySet does not offer (no file source, no
// rate limit of its own), and lestrrat-go/jwx would bring a much larger API and dependency tree for the
// same checks. No cryptography is written here.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/careflow/careflow/auth/scope"
)

// Algorithms returns the signature algorithms careflow accepts: asymmetric only. HMAC (HS*) would let
// anyone who knows the (public) verification key mint tokens, and "none" is no signature at all.
func Algorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.ES384, jose.EdDSA}
}

func allowedAlg(alg string) bool {
	for _, a := range Algorithms() {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// Defaults of Config.
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 30 * time.Second
	DefaultFetchTimeout    = 10 * time.Second
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the exact iss of accepted tokens (required), also the base of discovery.
	Issuer string
	// Audience must be one of the token's aud values (required): careflow's FHIR base URL, usually.
	Audience string
	// JWKS is where the signing keys are: an http:// or https:// URL, or a file path. Empty: the jwks_uri
	// of the issuer's /.well-known/openid-configuration, or else of its /.well-known/smart-configuration.
	JWKS string
	// Leeway is the clock skew tolerated on exp, nbf and iat (DefaultLeeway when zero; negative: none).
	Leeway time.Duration
	// RefreshInterval is the least time between two reads of the key source caused by unknown kids (or
	// by failures): DefaultRefreshInterval when zero.
	RefreshInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// HTTPClient fetches discovery documents and the JWKS (a client with DefaultFetchTimeout when nil).
	HTTPClient *http.Client
	// Logger records key refreshes (slog.Default when nil).
	Logger *slog.Logger
	// CacheSize is how many verified tokens are remembered (DefaultCacheSize when zero; negative: none).
	// A remembered token is still checked against the clock and is forgotten when the keys change.
	CacheSize int
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	algs     []jose.SignatureAlgorithm
	keys     *keyCache
	cache    *tokenCache // nil: none
	log      *slog.Logger
}

// NewVerifier checks cfg and returns a Verifier. It reads no keys yet: the first token (or Refresh) does,
// so careflow starts while the identity provider is down.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: an issuer is required")
	}
	if cfg.Audience == "" {
		return nil, errors.New("auth: an audience is required")
	}
	if cfg.JWKS == "" && !strings.HasPrefix(cfg.Issuer, "https://") && !strings.HasPrefix(cfg.Issuer, "http://") {
		return nil, fmt.Errorf("auth: issuer %q is not an http(s) URL, so its keys cannot be discovered; give the JWKS", cfg.Issuer)
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	interval := cfg.RefreshInterval
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var cache *tokenCache
	switch {
	case cfg.CacheSize == 0:
		cache = newTokenCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		cache = newTokenCache(cfg.CacheSize)
	}
	return &Verifier{issuer: cfg.Issuer, cache: cache, audience: cfg.Audience, leeway: leeway, now: now, log: log, algs: Algorithms(),
		keys: &keyCache{source: cfg.JWKS, issuer: cfg.Issuer, client: client, now: now, minInterval: interval}}, nil
}

// Refresh reads the key source now (at start-up, to fail early on a misconfiguration).
func (v *Verifier) Refresh(ctx context.Context) error {
	if err := v.keys.refresh(ctx); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// KeyFetches is how many times the key source (discovery and JWKS) has been read.
func (v *Verifier) KeyFetches() int64 { return v.keys.fetches.Load() }

// claims are the JWT claims careflow reads.
type claims struct {
	jwt.Claims
	Scope    json.RawMessage `json:"scope"`
	SCP      json.RawMessage `json:"scp"`
	ClientID string          `json:"client_id"`
	AZP      string          `json:"azp"`
	Patient  string          `json:"patient"`
	FHIRUser string          `json:"fhirUser"`
}

// Verify checks a compact JWS access token and returns its principal, or an *Error (401 invalid_token;
// 503 when the keys cannot be read at all). The principal of a remembered token is shared by every
// request that carries it: treat it as read-only.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	now := v.now()
	if v.cache != nil {
		if p := v.cache.get(token, v.keys.keys.Load(), now); p != nil {
			return p, nil
		}
	}
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, invalidToken(err, "not a JWS signed with one of RS256, RS384, ES256, ES384, EdDSA")
	}
	if len(tok.Headers) != 1 {
		return nil, invalidToken(nil, "exactly one signature expected")
	}
	h := tok.Headers[0]
	keys, set, err := v.keys.keysFor(ctx, h.KeyID)
	if err != nil {
		if errors.Is(err, errKeysUnavailable) {
			v.log.WarnContext(ctx, "auth: signing keys unavailable", "issuer", v.issuer, "err", err)
			return nil, &Error{Status: http.StatusServiceUnavailable, Description: "the token issuer's signing keys are unavailable", Err: err}
		}
		return nil, invalidToken(err, "unknown signing key")
	}
	var c claims
	verified := false
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if err := tok.Claims(k.Key, &c); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalidToken(nil, "bad signature")
	}
	if c.Expiry == nil {
		return nil, invalidToken(nil, "the token has no exp")
	}
	err = c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{v.audience}, Time: now}, v.leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, invalidToken(err, "the token has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, invalidToken(err, "the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, invalidToken(err, "the token is issued in the future (iat)")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, invalidToken(err, "the token is from another issuer")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, invalidToken(err, "the token is for another audience")
	default:
		return nil, invalidToken(err, "invalid claims")
	}
	scopes, err := scopeClaim(c.Scope, c.SCP)
	if err != nil {
		return nil, invalidToken(err, "malformed scope claim")
	}
	p := &Principal{Issuer: c.Issuer, Subject: c.Subject, ClientID: c.ClientID, Patient: c.Patient, FHIRUser: c.FHIRUser,
		Scopes: scope.ParseList(scopes), Expiry: c.Expiry.Time(), TokenID: c.ID}
	if p.ClientID == "" {
		p.ClientID = c.AZP
	}
	if v.cache != nil {
		e := cacheEntry{p: p, set: set, exp: p.Expiry.Add(v.leeway)}
		if c.NotBefore != nil {
			e.nbf = c.NotBefore.Time().Add(-v.leeway)
		}
		v.cache.put(token, e)
	}
	return p, nil
}

// scopeClaim reads scope (a space-separated string, RFC 8693 §4.2 / RFC 9068) or, without it, scp (an
// array or a string, as some servers issue it).
func scopeClaim(raws ...json.RawMessage) ([]string, error) {
	for _, raw := range raws {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return strings.Fields(s), nil
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		var out []string
		for _, s := range list {
			out = append(out, strings.Fields(s)...)
		}
		return out, nil
	}
	return nil, nil
}
