package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/scope"
)

const audience = "https://careflow.example/fhir"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signingKey is a private key with its algorithm and kid.
type signingKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

func newKey(t testing.TB, alg jose.SignatureAlgorithm, kid string) signingKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{alg: alg, kid: kid, priv: priv}
}

// sign signs claims (a map, so tests can write any claim) with k.
func sign(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// issuer is an httptest identity server: discovery and a JWKS that tests can replace.
type issuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	jwks      []byte
	status    int // of the JWKS answer (200 unless set)
	discovery string
	jwksHits  atomic.Int64
	metaHits  atomic.Int64
}

// newIssuer serves keys at /jwks.json and discovery at doc ("openid-configuration" or
// "smart-configuration").
func newIssuer(t testing.TB, doc string, keys ...signingKey) *issuer {
	iss := &issuer{discovery: doc}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/"+doc, func(w http.ResponseWriter, _ *http.Request) {
		iss.metaHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss.srv.URL, iss.srv.URL+"/jwks.json")
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		iss.jwksHits.Add(1)
		iss.mu.Lock()
		defer iss.mu.Unlock()
		if iss.status != 0 && iss.status != http.StatusOK {
			w.WriteHeader(iss.status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(iss.jwks)
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	iss.publish(t, keys...)
	return iss
}

func jwksOf(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (iss *issuer) publish(t testing.TB, keys ...signingKey) { iss.publishRaw(jwksOf(t, keys...)) }

func (iss *issuer) publishRaw(raw []byte) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.jwks = raw
}

func (iss *issuer) setStatus(code int) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.status = code
}

func (iss *issuer) URL() string { return iss.srv.URL }

func newVerifier(t testing.TB, iss *issuer, clk *clock, jwks string) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audience: audience, JWKS: jwks, Now: clk.Now, HTTPClient: iss.srv.Client(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims returns valid claims at clk's time; override sets or (with nil) removes claims.
func claims(iss string, clk *clock, override map[string]any) map[string]any {
	now := clk.Now()
	c := map[string]any{
		"iss": iss, "sub": "user-1", "aud": audience, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"client_id": "app-1", "scope": "openid fhirUser launch/patient patient/*.rs user/Coverage.read", "patient": "p1",
		"fhirUser": "Practitioner/pr1", "jti": "t1",
	}
	for k, v := range override {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func wantInvalid(t *testing.T, err error, what string) {
	t.Helper()
	e, ok := auth.AsError(err)
	if !ok || e.Status != http.StatusUnauthorized || e.Code != auth.CodeInvalidToken {
		t.Fatalf("%s: got %v, want 401 invalid_token", what, err)
	}
	t.Logf("%s: %v", what, err)
	if h := e.WWWAuthenticate("careflow"); !strings.HasPrefix(h, `Bearer realm="careflow", error="invalid_token", error_description="`) {
		t.Errorf("%s: WWW-Authenticate %s", what, h)
	}
}

func TestVerifyEveryAllowedAlgorithm(t *testing.T) {
	var keys []signingKey
	for i, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.ES384, jose.EdDSA} {
		keys = append(keys, newKey(t, alg, fmt.Sprintf("k%d", i)))
	}
	iss := newIssuer(t, "openid-configuration", keys...)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	for _, k := range keys {
		p, err := v.Verify(context.Background(), sign(t, k, claims(iss.URL(), clk, nil)))
		if err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
		if p.Subject != "user-1" || p.ClientID != "app-1" || p.Patient != "p1" || p.FHIRUser != "Practitioner/pr1" || p.Issuer != iss.URL() ||
			p.TokenID != "t1" || !p.Expiry.Equal(clk.Now().Add(5*time.Minute)) {
			t.Errorf("%s: principal %+v", k.alg, p)
		}
		if len(p.Scopes.Resources) != 2 || p.Scopes.Resources[0].Raw != "patient/*.rs" || p.Scopes.Resources[1].Permissions != scope.Read|scope.Search ||
			strings.Join(p.Scopes.Other, " ") != "openid fhirUser launch/patient" {
			t.Errorf("%s: scopes %+v", k.alg, p.Scopes)
		}
	}
	if got := iss.metaHits.Load() + iss.jwksHits.Load(); got != 2 {
		t.Errorf("key source read %d times for five tokens, want 2 (discovery + JWKS once)", got)
	}
}

func TestVerifyClaims(t *testing.T) {
	k := newKey(t, jose.ES256, "k1")
	iss := newIssuer(t, "openid-configuration", k)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	now := clk.Now()
	for _, tc := range []struct {
		name     string
		override map[string]any
		ok       bool
	}{
		{"valid", nil, true},
		{"azp when no client_id", map[string]any{"client_id": nil, "azp": "app-azp"}, true},
		{"aud array containing the audience", map[string]any{"aud": []string{"other", audience}}, true},
		{"scp array", map[string]any{"scope": nil, "scp": []string{"user/*.rs", "openid"}}, true},
		{"expired", map[string]any{"exp": now.Add(-31 * time.Second).Unix()}, false},
		{"expired within leeway", map[string]any{"exp": now.Add(-29 * time.Second).Unix()}, true},
		{"no exp", map[string]any{"exp": nil}, false},
		{"not yet valid", map[string]any{"nbf": now.Add(31 * time.Second).Unix()}, false},
		{"nbf within leeway", map[string]any{"nbf": now.Add(29 * time.Second).Unix()}, true},
		{"issued in the future", map[string]any{"iat": now.Add(time.Hour).Unix()}, false},
		{"wrong issuer", map[string]any{"iss": "https://evil.example"}, false},
		{"issuer with a trailing slash", map[string]any{"iss": iss.URL() + "/"}, false},
		{"no issuer", map[string]any{"iss": nil}, false},
		{"wrong audience", map[string]any{"aud": "https://other.example/fhir"}, false},
		{"aud array without the audience", map[string]any{"aud": []string{"a", "b"}}, false},
		{"no audience", map[string]any{"aud": nil}, false},
		{"malformed scope claim", map[string]any{"scope": 42}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), sign(t, k, claims(iss.URL(), clk, tc.override)))
			if !tc.ok {
				wantInvalid(t, err, tc.name)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "azp when no client_id":
				if p.ClientID != "app-azp" {
					t.Errorf("client id %q", p.ClientID)
				}
			case "scp array":
				if len(p.Scopes.Resources) != 1 || p.Scopes.Resources[0].Raw != "user/*.rs" {
					t.Errorf("scopes %+v", p.Scopes)
				}
			}
		})
	}
}

// b64 is base64url without padding, as JWS uses.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVerifyRefusesForgeries(t *testing.T) {
	rsaKey := newKey(t, jose.RS256, "rsa")
	ecKey := newKey(t, jose.ES256, "ec")
	iss := newIssuer(t, "openid-configuration", rsaKey, ecKey)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	payload, err := json.Marshal(claims(iss.URL(), clk, nil))
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, rsaKey, claims(iss.URL(), clk, nil))
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")

	// HMAC with the RSA public key as the secret, in its usual encodings.
	der, err := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, err := json.Marshal(rsaKey.jwk())
	if err != nil {
		t.Fatal(err)
	}
	hmacToken := func(secret []byte, alg string) string {
		head := b64([]byte(fmt.Sprintf(`{"alg":%q,"kid":"rsa","typ":"JWT"}`, alg)))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(head + "." + b64(payload)))
		return head + "." + b64(payload) + "." + b64(mac.Sum(nil))
	}
	tamperedPayload := func() string {
		c := claims(iss.URL(), clk, map[string]any{"scope": "user/*.cruds", "patient": nil})
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return parts[0] + "." + b64(raw) + "." + parts[2]
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	attacker := newKey(t, jose.RS256, "rsa") // the real key's kid, another key
	wrongType := ecKey
	wrongType.kid = "rsa" // an ES256 signature under the RSA key's kid

	for name, tok := range map[string]string{
		"alg none":                 b64([]byte(`{"alg":"none","kid":"rsa"}`)) + "." + b64(payload) + ".",
		"alg none, no kid":         b64([]byte(`{"alg":"none"}`)) + "." + b64(payload) + ".",
		"HS256 with the DER key":   hmacToken(der, "HS256"),
		"HS256 with the PEM key":   hmacToken(pemKey, "HS256"),
		"HS256 with the JWK":       hmacToken(jwkJSON, "HS256"),
		"PS256 (not allow-listed)": strings.Replace(good, parts[0], b64([]byte(`{"alg":"PS256","kid":"rsa"}`)), 1),
		"tampered payload":         tamperedPayload(),
		"tampered signature":       parts[0] + "." + parts[1] + "." + b64(sig),
		"no signature":             parts[0] + "." + parts[1] + ".",
		"another key, same kid":    sign(t, attacker, claims(iss.URL(), clk, nil)),
		"EC signature, RSA kid":    sign(t, wrongType, claims(iss.URL(), clk, nil)),
		"not a JWT":                "abc",
		"JWE-shaped":               "a.b.c.d.e",
		"empty":                    "",
	} {
		_, err := v.Verify(context.Background(), tok)
		wantInvalid(t, err, name)
	}
}

// TestVerifyIgnoresSymmetricKeys: an oct key published in the JWKS (a misconfigured issuer) is never used,
// so an HS256 token under its kid is refused.
func TestVerifyIgnoresSymmetricKeys(t *testing.T) {
	ecKey := newKey(t, jose.ES256, "ec")
	secret := []byte("0123456789abcdef0123456789abcdef")
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ecKey.jwk(), {Key: secret, KeyID: "h", Algorithm: "HS256", Use: "sig"}}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	iss := newIssuer(t, "openid-configuration")
	iss.publishRaw(raw)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithHeader("kid", "h"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims(iss.URL(), clk, nil)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok)
	wantInvalid(t, err, "HS256 with a published oct key")
	if _, err := v.Verify(context.Background(), sign(t, ecKey, claims(iss.URL(), clk, nil))); err != nil {
		t.Fatalf("the EC key of the same set: %v", err)
	}
}

func TestKeyRotationWithoutRestart(t *testing.T) {
	old := newKey(t, jose.ES256, "2026-11")
	iss := newIssuer(t, "openid-configuration", old)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	if _, err := v.Verify(context.Background(), sign(t, old, claims(iss.URL(), clk, nil))); err != nil {
		t.Fatal(err)
	}
	if iss.jwksHits.Load() != 1 || iss.metaHits.Load() != 1 {
		t.Fatalf("jwks %d, discovery %d reads", iss.jwksHits.Load(), iss.metaHits.Load())
	}
	// The issuer rotates: the new key is published, the old one withdrawn.
	next := newKey(t, jose.ES384, "2026-12")
	iss.publish(t, next)
	tok := sign(t, next, claims(iss.URL(), clk, map[string]any{"exp": clk.Now().Add(time.Hour).Unix()}))

	// Within the refresh interval of the last read, the unknown kid is refused without asking the issuer.
	clk.Advance(auth.DefaultRefreshInterval - time.Second)
	_, err := v.Verify(context.Background(), tok)
	wantInvalid(t, err, "new kid within the refresh interval")
	if iss.jwksHits.Load() != 1 {
		t.Fatalf("the issuer was asked again within the interval (%d reads)", iss.jwksHits.Load())
	}
	// Once the interval has passed, the unknown kid refreshes the keys and the token is accepted.
	clk.Advance(time.Second)
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if p.Subject != "user-1" {
		t.Errorf("principal %+v", p)
	}
	if iss.jwksHits.Load() != 2 || iss.metaHits.Load() != 1 {
		t.Errorf("jwks %d reads (want 2), discovery %d (want 1: jwks_uri cached)", iss.jwksHits.Load(), iss.metaHits.Load())
	}
	// The withdrawn key no longer verifies.
	clk.Advance(auth.DefaultRefreshInterval)
	_, err = v.Verify(context.Background(), sign(t, old, claims(iss.URL(), clk, nil)))
	wantInvalid(t, err, "withdrawn key")
}

func TestRefreshRateLimitUnderFlood(t *testing.T) {
	k := newKey(t, jose.ES256, "k1")
	iss := newIssuer(t, "openid-configuration", k)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	attacker := newKey(t, jose.ES256, "")
	flood := func() {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 8 {
					a := attacker
					a.kid = fmt.Sprintf("bogus-%d-%d", i, j)
					_, err := v.Verify(context.Background(), sign(t, a, claims(iss.URL(), clk, nil)))
					if e, ok := auth.AsError(err); !ok || e.Status != http.StatusUnauthorized {
						t.Errorf("bogus kid: %v", err)
					}
				}
			}()
		}
		wg.Wait()
	}
	before := iss.jwksHits.Load()
	flood() // right after a read: no refresh at all
	if got := iss.jwksHits.Load() - before; got != 0 {
		t.Errorf("512 bogus kids right after a read caused %d JWKS reads, want 0", got)
	}
	clk.Advance(auth.DefaultRefreshInterval)
	flood() // one interval later: exactly one refresh for the whole flood
	if got := iss.jwksHits.Load() - before; got != 1 {
		t.Errorf("512 bogus kids one interval later caused %d JWKS reads, want 1", got)
	}
	if got := v.KeyFetches(); got != 2 {
		t.Errorf("KeyFetches = %d, want 2", got)
	}
	// Valid tokens kept working throughout.
	if _, err := v.Verify(context.Background(), sign(t, k, claims(iss.URL(), clk, nil))); err != nil {
		t.Fatal(err)
	}
}

func TestJWKSFromFile(t *testing.T) {
	k := newKey(t, jose.EdDSA, "file-1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksOf(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	const issuerID = "urn:careflow:test-issuer" // not a URL: allowed with an explicit JWKS
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerID, Audience: audience, JWKS: path, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), sign(t, k, claims(issuerID, clk, nil))); err != nil {
		t.Fatal(err)
	}
	// Rotation by rewriting the file.
	next := newKey(t, jose.RS256, "file-2")
	if err := os.WriteFile(path, jwksOf(t, next), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.DefaultRefreshInterval)
	if _, err := v.Verify(context.Background(), sign(t, next, claims(issuerID, clk, nil))); err != nil {
		t.Fatalf("after rewriting the file: %v", err)
	}
	if _, err := auth.NewVerifier(auth.Config{Issuer: issuerID, Audience: audience}); err == nil {
		t.Error("a non-URL issuer without a JWKS was accepted")
	}
}

func TestDiscoveryThroughSmartConfiguration(t *testing.T) {
	k := newKey(t, jose.ES256, "k1")
	iss := newIssuer(t, "smart-configuration", k)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	if _, err := v.Verify(context.Background(), sign(t, k, claims(iss.URL(), clk, nil))); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	k := newKey(t, jose.ES256, "k1")
	iss := newIssuer(t, "openid-configuration", k)
	clk := newClock()
	// Configured with a different issuer string than the document names: discovery must refuse it.
	v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL() + "/", Audience: audience, Now: clk.Now, HTTPClient: iss.srv.Client(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), sign(t, k, claims(iss.URL()+"/", clk, nil)))
	if e, ok := auth.AsError(err); !ok || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("got %v, want 503", err)
	}
}

func TestKeysUnavailableThenRecovered(t *testing.T) {
	k := newKey(t, jose.ES256, "k1")
	iss := newIssuer(t, "openid-configuration", k)
	iss.setStatus(http.StatusInternalServerError)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	tok := sign(t, k, claims(iss.URL(), clk, map[string]any{"exp": clk.Now().Add(time.Hour).Unix()}))
	for range 3 { // the failure is not retried within the interval
		_, err := v.Verify(context.Background(), tok)
		if e, ok := auth.AsError(err); !ok || e.Status != http.StatusServiceUnavailable || e.Code != "" {
			t.Fatalf("got %v, want 503", err)
		}
	}
	if iss.jwksHits.Load() != 1 {
		t.Errorf("JWKS read %d times while failing, want 1", iss.jwksHits.Load())
	}
	iss.setStatus(http.StatusOK)
	clk.Advance(auth.DefaultRefreshInterval)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the issuer recovered: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		status        int
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", 0},
		{"bearer abc", "abc", 0},
		{"  Bearer   abc  ", "abc", 0},
		{"", "", http.StatusUnauthorized},
		{"Basic dXNlcjpwYXNz", "", http.StatusBadRequest},
		{"Bearer", "", http.StatusBadRequest},
		{"Bearer a b", "", http.StatusBadRequest},
	} {
		tok, err := auth.BearerToken(tc.header)
		if tc.status == 0 {
			if err != nil || tok != tc.token {
				t.Errorf("%q: %q, %v", tc.header, tok, err)
			}
			continue
		}
		if e, ok := auth.AsError(err); !ok || e.Status != tc.status {
			t.Errorf("%q: %v, want %d", tc.header, err, tc.status)
		}
	}
	if h := auth.NoToken().WWWAuthenticate("careflow"); h != `Bearer realm="careflow"` {
		t.Errorf("no-token challenge %s", h)
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	a := newKey(t, jose.ES256, "a")
	iss := newIssuer(t, "openid-configuration", a)
	clk := newClock()
	v := newVerifier(t, iss, clk, "")
	tok := sign(t, a, claims(iss.URL(), clk, nil)) // exp = now + 5 min
	p1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute)
	p2, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Error("the second verification of the same token was not answered from the cache")
	}
	// A remembered token still expires (leeway 30 s).
	clk.Advance(31 * time.Second)
	_, err = v.Verify(context.Background(), tok)
	wantInvalid(t, err, "cached token after exp + leeway")

	// A remembered token is forgotten when its key is withdrawn.
	tok = sign(t, a, claims(iss.URL(), clk, map[string]any{"exp": clk.Now().Add(time.Hour).Unix()}))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	b := newKey(t, jose.ES256, "b")
	iss.publish(t, b)
	clk.Advance(auth.DefaultRefreshInterval)
	if _, err := v.Verify(context.Background(), sign(t, b, claims(iss.URL(), clk, nil))); err != nil {
		t.Fatal(err) // refreshes the keys: a is gone
	}
	_, err = v.Verify(context.Background(), tok)
	wantInvalid(t, err, "cached token of a withdrawn key")

	// Without a cache every verification is a full one.
	nc, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audience: audience, Now: clk.Now, HTTPClient: iss.srv.Client(), CacheSize: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tok = sign(t, b, claims(iss.URL(), clk, nil))
	q1, err1 := nc.Verify(context.Background(), tok)
	q2, err2 := nc.Verify(context.Background(), tok)
	if err1 != nil || err2 != nil || q1 == q2 {
		t.Errorf("uncached: %p %v, %p %v", q1, err1, q2, err2)
	}
}
