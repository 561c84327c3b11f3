// Package devtoken is a development stand-in for an identity server: it creates an ES256 signing key,
// signs SMART access tokens with it and publishes the matching JWKS (and a discovery document), so that
// tests, the README and testers can use careflow's authorization without Keycloak or Auth0. Nothing uses
// it unless asked to: careflow trusts its tokens only when it is configured with this key's issuer and
// JWKS, exactly as for any other issuer.
//
// Keys are ECDSA P-256 from crypto/ecdsa, stored as PKCS#8 PEM; tokens are signed by go-jose.
package devtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Key is a signing key with its key id (the RFC 7638 thumbprint of its public JWK).
type Key struct {
	priv *ecdsa.PrivateKey
	kid  string
}

// NewKey creates a key in memory.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devtoken: generating a P-256 key: %w", err)
	}
	return fromPrivate(priv)
}

func fromPrivate(priv *ecdsa.PrivateKey) (*Key, error) {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("devtoken: key thumbprint: %w", err)
	}
	return &Key{priv: priv, kid: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// GenerateKey creates a key and writes it to path (PKCS#8 PEM, mode 0600). It never overwrites a file.
func GenerateKey(path string) (*Key, error) {
	k, err := NewKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("devtoken: encoding the key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("devtoken: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("devtoken: writing %s: %w", path, err)
	}
	return k, nil
}

// LoadKey reads a key written by GenerateKey.
func LoadKey(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("devtoken: %s holds no PKCS#8 PEM private key", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devtoken: %s: %w", path, err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("devtoken: %s is not a P-256 ECDSA key", path)
	}
	return fromPrivate(priv)
}

// KeyID is the kid of the key's tokens and JWK.
func (k *Key) KeyID() string { return k.kid }

// JWKS returns the JWK Set with the key's public half.
func (k *Key) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("devtoken: encoding the JWKS: %w", err)
	}
	return raw, nil
}

// Claims describe a token to sign.
type Claims struct {
	Issuer   string   // iss (required)
	Audience string   // aud (required): careflow's FHIR base URL
	Subject  string   // sub (required)
	Scopes   []string // the scope claim, e.g. "patient/*.rs", "openid"
	Patient  string   // the SMART patient launch context, when the scopes include patient/ ones
	FHIRUser string   // fhirUser, e.g. "Practitioner/123"
	ClientID string   // client_id (default "careflow-dev")
	// Lifetime is from Now to exp (default 1 hour).
	Lifetime time.Duration
	// Now is the issue time (time.Now when zero).
	Now time.Time
}

// Sign returns a compact ES256 JWT for c, with iat = nbf = Now, exp = Now + Lifetime and a random jti.
func (k *Key) Sign(c Claims) (string, error) {
	if c.Issuer == "" || c.Audience == "" || c.Subject == "" {
		return "", errors.New("devtoken: issuer, audience and subject are required")
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	life := c.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	client := c.ClientID
	if client == "" {
		client = "careflow-dev"
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("devtoken: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), k.kid))
	if err != nil {
		return "", fmt.Errorf("devtoken: %w", err)
	}
	std := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience{c.Audience}, IssuedAt: jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(life)), ID: base64.RawURLEncoding.EncodeToString(jti[:])}
	extra := map[string]any{"client_id": client}
	if len(c.Scopes) > 0 {
		extra["scope"] = strings.Join(c.Scopes, " ")
	}
	if c.Patient != "" {
		extra["patient"] = c.Patient
	}
	if c.FHIRUser != "" {
		extra["fhirUser"] = c.FHIRUser
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	if err != nil {
		return "", fmt.Errorf("devtoken: signing: %w", err)
	}
	return tok, nil
}

// Handler serves the key as an issuer would: GET /.well-known/openid-configuration (issuer and jwks_uri)
// and GET /jwks.json. issuer must be the URL this handler is served at.
func (k *Key) Handler(issuer string) (http.Handler, error) {
	return k.issuerMux(map[string]any{"issuer": issuer})
}

// issuerMux serves the discovery document meta (jwks_uri and the signing algorithm added) and the JWKS.
func (k *Key) issuerMux(meta map[string]any) (*http.ServeMux, error) {
	jwks, err := k.JWKS()
	if err != nil {
		return nil, err
	}
	issuer, _ := meta["issuer"].(string)
	meta["jwks_uri"] = strings.TrimSuffix(issuer, "/") + "/jwks.json"
	meta["id_token_signing_alg_values_supported"] = []string{string(jose.ES256)}
	doc, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks)
	})
	return mux, nil
}
