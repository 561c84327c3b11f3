package devtoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/devtoken"
)

func TestGenerateLoadSign(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev-key.pem")
	k, err := devtoken.GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := devtoken.GenerateKey(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwriting a key: %v, want ErrExist", err)
	}
	loaded, err := devtoken.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.KeyID() != k.KeyID() || k.KeyID() == "" {
		t.Errorf("kid %q after load, %q before", loaded.KeyID(), k.KeyID())
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	raw, err := loaded.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != k.KeyID() || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["d"] != nil {
		t.Errorf("JWKS %s", raw)
	}
	if _, err := devtoken.LoadKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("loading a missing key succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devtoken.LoadKey(bad); err == nil {
		t.Error("loading garbage succeeded")
	}
	if _, err := k.Sign(devtoken.Claims{Subject: "x"}); err == nil {
		t.Error("a token without issuer and audience was signed")
	}
}

// TestTokensVerifyThroughDiscovery: careflow's verifier, configured with the dev issuer, accepts its
// tokens through discovery, and the principal carries what was signed.
func TestTokensVerifyThroughDiscovery(t *testing.T) {
	k, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux() // safe to register on while serving: the handler needs the server's URL
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h, err := k.Handler(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", h)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v, err := auth.NewVerifier(auth.Config{Issuer: srv.URL, Audience: "http://127.0.0.1:8080/fhir", Now: func() time.Time { return now },
		HTTPClient: srv.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(devtoken.Claims{Issuer: srv.URL, Audience: "http://127.0.0.1:8080/fhir", Subject: "tester",
		Scopes: []string{"launch/patient", "patient/*.rs"}, Patient: "pat-1", FHIRUser: "Patient/pat-1", Lifetime: 10 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "tester" || p.Patient != "pat-1" || p.FHIRUser != "Patient/pat-1" || p.ClientID != "careflow-dev" ||
		len(p.Scopes.Resources) != 1 || p.Scopes.Resources[0].Raw != "patient/*.rs" || !p.Expiry.Equal(now.Add(10*time.Minute)) {
		t.Errorf("principal %+v", p)
	}
	// The lifetime is honoured.
	v2, err := auth.NewVerifier(auth.Config{Issuer: srv.URL, Audience: "http://127.0.0.1:8080/fhir",
		Now: func() time.Time { return now.Add(11 * time.Minute) }, HTTPClient: srv.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(context.Background(), tok); err == nil {
		t.Error("an expired dev token was accepted")
	}
	// Another dev key's tokens are refused.
	other, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(devtoken.Claims{Issuer: srv.URL, Audience: "http://127.0.0.1:8080/fhir", Subject: "tester", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), forged); err == nil {
		t.Error("a token from another dev key was accepted")
	}
}
