package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/devtoken"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/confine"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// TestUnmodifiedOAuthClient: a client built on an unmodified, widely used OAuth 2.0 library
// (golang.org/x/oauth2, with PKCE) finds the authorization server through careflow's SMART discovery,
// completes the standalone launch with patient context and reads that patient — and only that patient —
// with the token, as a SMART app would.
func TestUnmodifiedOAuthClient(t *testing.T) {
	key, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := httptest.NewServer(nil)
	defer issuer.Close()
	careflow := httptest.NewServer(nil)
	defer careflow.Close()
	base := careflow.URL + "/fhir"
	const redirect = "http://127.0.0.1:1/callback" // never contacted: the client reads the code from the redirect
	flow := &devtoken.Flow{Key: key, Issuer: issuer.URL, Audience: base, Subject: "app-user", Patient: "pat-1", RedirectPrefix: redirect}
	ih, err := flow.Handler()
	if err != nil {
		t.Fatal(err)
	}
	issuer.Config.Handler = ih
	verifier, err := auth.NewVerifier(auth.Config{Issuer: issuer.URL, Audience: base})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := verifier.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	smart, err := auth.SMARTConfiguration(issuer.URL, meta)
	if err != nil {
		t.Fatal(err)
	}
	defs := r4test.Load(t)
	store := sqlitetest.Open(t)
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Policy: auth.NewPolicy(definitions.ResourceTypes)},
		confine.New(store, defs.Registry, defs.Compartments), r4test.Validator(t), defs.Registry)
	if err != nil {
		t.Fatal(err)
	}
	careflow.Config.Handler = rest.New(rest.Config{Auth: verifier, SMARTConfiguration: smart}, svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	admin, err := key.Sign(devtoken.Claims{Issuer: issuer.URL, Audience: base, Subject: "loader", Scopes: []string{"system/*.cruds"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"pat-1", "pat-2"} {
		req, _ := http.NewRequest(http.MethodPut, base+"/Patient/"+id, strings.NewReader(`{"resourceType":"Patient","id":"`+id+`"}`))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+admin)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("PUT Patient/%s: %v %v", id, res, err)
		}
	}

	// The app: SMART discovery, then the library does the OAuth work.
	res, err := http.Get(base + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(res.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cfg := &oauth2.Config{ClientID: "third-party-app", RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: disc.Authorize, TokenURL: disc.Token, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "launch/patient", "patient/*.rs"}}
	pkce := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("aud", base))
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != "state-42" || back.Query().Get("code") == "" {
		t.Fatalf("authorization redirect: %d %q %v", res.StatusCode, res.Header.Get("Location"), err)
	}
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tok.Extra("patient").(string); p != "pat-1" {
		t.Fatalf("token response patient %v", tok.Extra("patient"))
	}
	// A code cannot be used twice.
	var rerr *oauth2.RetrieveError
	if _, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(pkce)); !errors.As(err, &rerr) {
		t.Errorf("second exchange of one code: %v", err)
	}
	app := cfg.Client(context.Background(), tok)
	for path, want := range map[string]int{"/Patient/pat-1": 200, "/Patient/pat-2": 404, "/Patient": 200} {
		res, err := app.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || strings.Contains(string(body), `"id":"pat-2"`) {
			t.Errorf("GET %s with the app's token: %d %s", path, res.StatusCode, body)
		}
	}
}
