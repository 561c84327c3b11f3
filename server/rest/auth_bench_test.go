package rest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/devtoken"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/audit"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/confine"
)

// BenchmarkAuthorization measures the cost of authorization per read and per create, through the handler
// (no network), in one run: off (no Policy, no decorator), user (a user/*.cruds token: verification from
// the verified-token cache, the interaction table, the confine decorator passing through) and patient (a
// patient/*.cruds token: reads confined to the token's patient, each read version's compartment checked)
// and user+audit (as user, with every request recorded in the audit outbox and shipped to the store).
//
//	go test -run XXX -bench BenchmarkAuthorization -benchtime 2s ./server/rest
func BenchmarkAuthorization(b *testing.B) {
	const patients = 64 // patient/ tokens, one per patient read
	key, err := devtoken.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	issuer := httptest.NewServer(nil)
	defer issuer.Close()
	h, err := key.Handler(issuer.URL)
	if err != nil {
		b.Fatal(err)
	}
	issuer.Config.Handler = h
	defs := r4test.Load(b)
	v := r4test.Validator(b)
	store := readBenchStore(b)
	// One AllergyIntolerance per benchmark patient (al-rI): reading it under patient/ scopes decodes and
	// indexes it to check its compartment.
	pipeline := interaction.Pipeline{Validator: v, Registry: defs.Registry}
	var ops []storage.TxOp
	for i := 0; i < patients; i++ {
		w, _, err := pipeline.Prepare("AllergyIntolerance", []byte(fmt.Sprintf(`{"resourceType":"AllergyIntolerance","id":"al-r%d","patient":{"reference":"Patient/r%d"},"code":{"text":"peanut"},"note":[{"text":"%s"}]}`, i, i, strings.Repeat("x", 1500))))
		if err != nil {
			b.Fatal(err)
		}
		w.ID = fmt.Sprintf("al-r%d", i)
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: w})
	}
	if _, err := store.Transact(context.Background(), ops); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	handler := func(on, audited bool) http.Handler {
		var st storage.Store = store
		icfg := interaction.Config{Types: definitions.ResourceTypes}
		hcfg := rest.Config{BaseURL: authBase}
		if on {
			st = confine.New(store, defs.Registry, defs.Compartments)
			icfg.Policy = auth.NewPolicy(definitions.ResourceTypes)
			verifier, err := auth.NewVerifier(auth.Config{Issuer: issuer.URL, Audience: authBase})
			if err != nil {
				b.Fatal(err)
			}
			hcfg.Auth = verifier
		}
		svc, err := interaction.New(icfg, st, v, defs.Registry)
		if err != nil {
			b.Fatal(err)
		}
		if audited {
			l, err := audit.Open(filepath.Join(b.TempDir(), "outbox"), store, defs.Registry, audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close(context.Background()) })
			hcfg.Audit = l
		}
		return rest.New(hcfg, svc, log)
	}
	sign := func(scope, patient string) string {
		tok, err := key.Sign(devtoken.Claims{Issuer: issuer.URL, Audience: authBase, Subject: "bench", Scopes: []string{scope}, Patient: patient})
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	patientTokens := make([]string, patients)
	for i := range patientTokens {
		patientTokens[i] = sign("patient/*.cruds", fmt.Sprintf("r%d", i))
	}
	user := sign("user/*.cruds", "")
	modes := []struct {
		name  string
		h     http.Handler
		token func(i int) string
	}{
		{"off", handler(false, false), func(int) string { return "" }},
		{"user", handler(true, false), func(int) string { return user }},
		{"patient", handler(true, false), func(i int) string { return patientTokens[i] }},
		{"user+audit", handler(true, true), func(int) string { return user }},
	}
	for _, m := range modes {
		for _, typ := range []string{"Patient", "AllergyIntolerance"} {
			prefix := map[string]string{"Patient": "r", "AllergyIntolerance": "al-r"}[typ]
			b.Run("read-"+typ+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
					w := &discardWriter{h: http.Header{}}
					for pb.Next() {
						i := rng.IntN(patients)
						req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/fhir/%s/%s%d", typ, prefix, i), nil)
						req.Header.Set("Accept", "application/fhir+json")
						if tok := m.token(i); tok != "" {
							req.Header.Set("Authorization", "Bearer "+tok)
						}
						clear(w.h)
						w.status, w.n = 0, 0
						m.h.ServeHTTP(w, req)
						if w.status != http.StatusOK {
							b.Fatalf("status %d", w.status)
						}
					}
				})
			})
		}
		b.Run("create/"+m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 4))
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					i := rng.IntN(patients)
					body := `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/r` + fmt.Sprint(i) + `"},"code":{"text":"peanut"}}`
					req := httptest.NewRequest(http.MethodPost, "/fhir/AllergyIntolerance", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/fhir+json")
					req.Header.Set("Prefer", "return=minimal")
					if tok := m.token(i); tok != "" {
						req.Header.Set("Authorization", "Bearer "+tok)
					}
					clear(w.h)
					w.status = 0
					m.h.ServeHTTP(w, req)
					if w.status != http.StatusCreated {
						b.Fatalf("status %d", w.status)
					}
				}
			})
		})
	}
}
