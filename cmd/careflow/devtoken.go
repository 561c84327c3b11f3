package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/careflow/careflow/auth/devtoken"
)

// devIssuer runs a development authorization server: `careflow dev-issuer --key FILE --addr HOST:PORT`
// creates the key file when it does not exist and serves its discovery document, JWKS and an authorization
// code + PKCE flow that approves every request (so the dashboard signs in), so that careflow can run with
// --auth-issuer http://HOST:PORT and tokens from `careflow dev-token`. It is for development and tests: it
// has no login, and anyone holding the key file signs any token.
func devIssuer(args []string) error {
	fs := flag.NewFlagSet("dev-issuer", flag.ExitOnError)
	keyFile := fs.String("key", "careflow-data/dev-issuer.pem", "the signing key (created when absent)")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address; the issuer is http://ADDR")
	audience := fs.String("audience", "http://127.0.0.1:8080/fhir", "careflow's FHIR base URL: the aud of the tokens it issues")
	subject := fs.String("subject", "dev-user", "the sub of every token its authorization endpoint issues (no login: every request is approved)")
	patient := fs.String("patient", "", "the patient context given to clients that ask for launch/patient")
	_ = fs.Parse(args)
	key, err := loadOrCreateKey(*keyFile)
	if err != nil {
		return err
	}
	issuer := "http://" + *addr
	flow := &devtoken.Flow{Key: key, Issuer: issuer, Audience: *audience, Subject: *subject, Patient: *patient}
	h, err := flow.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "development issuer %s (key %s); run careflow serve --auth-issuer %s\n", issuer, *keyFile, issuer)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// devToken prints an access token signed with a development key:
// careflow dev-token --key FILE --issuer URL --audience URL --scope "patient/*.rs" --patient ID.
func devToken(args []string) error {
	fs := flag.NewFlagSet("dev-token", flag.ExitOnError)
	keyFile := fs.String("key", "careflow-data/dev-issuer.pem", "the signing key (as dev-issuer uses it)")
	issuer := fs.String("issuer", "http://127.0.0.1:8081", "iss: the dev-issuer's URL")
	audience := fs.String("audience", "http://127.0.0.1:8080/fhir", "aud: careflow's FHIR base URL")
	subject := fs.String("subject", "dev-user", "sub")
	scopes := fs.String("scope", "user/*.cruds", "space-separated SMART scopes, e.g. \"patient/*.rs launch/patient\"")
	patient := fs.String("patient", "", "the patient launch context (for patient/ scopes)")
	fhirUser := fs.String("fhir-user", "", "fhirUser, e.g. Practitioner/123")
	lifetime := fs.Duration("lifetime", time.Hour, "token lifetime")
	_ = fs.Parse(args)
	key, err := devtoken.LoadKey(*keyFile)
	if err != nil {
		return fmt.Errorf("%w (start `careflow dev-issuer --key %s` once to create it)", err, *keyFile)
	}
	tok, err := key.Sign(devtoken.Claims{Issuer: *issuer, Audience: *audience, Subject: *subject,
		Scopes: strings.Fields(*scopes), Patient: *patient, FHIRUser: *fhirUser, Lifetime: *lifetime})
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func loadOrCreateKey(path string) (*devtoken.Key, error) {
	key, err := devtoken.LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return devtoken.GenerateKey(path)
}
