package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/careflow/careflow/adapters/dashboard"
	"github.com/careflow/careflow/adapters/summary"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/devtoken"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/confine"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// TestDashboardSignsInWithSMART: with authorization on, the dashboard signs in with the SMART standalone
// launch (authorization code + PKCE against the authorization server named by
// [base]/.well-known/smart-configuration), then shows the worklist with its token; the API refuses the
// same requests without one.
func TestDashboardSignsInWithSMART(t *testing.T) {
	chromium := chromiumPath(t)
	key, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := httptest.NewServer(nil)
	defer issuer.Close()
	ts := httptest.NewServer(nil)
	defer ts.Close()
	base := ts.URL + "/fhir"
	flow := &devtoken.Flow{Key: key, Issuer: issuer.URL, Audience: base, Subject: "coordinator-1", RedirectPrefix: ts.URL + "/app/"}
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
	defs, v := r4test.Load(t), r4test.Validator(t)
	raw := sqlitetest.Open(t)
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Policy: auth.NewPolicy(definitions.ResourceTypes),
		Operations: []interaction.Operation{summary.Operation(summary.New(raw, defs.Registry)), worklist.Operation(worklist.New(raw, defs.Registry))}},
		confine.New(raw, defs.Registry, defs.Compartments), v, defs.Registry)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = rest.New(rest.Config{Auth: verifier, SMARTConfiguration: smart,
		App: dashboard.HandlerWith(dashboard.Options{ClientID: "careflow-dashboard", ConnectOrigins: []string{issuer.URL}})},
		svc, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// Two patients' data (an overdue follow-up, a drug-allergy conflict), loaded with a system token;
	// without a token the worklist is refused.
	admin, err := key.Sign(devtoken.Claims{Issuer: issuer.URL, Audience: base, Subject: "loader", Scopes: []string{"system/*.cruds"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"patient-004.json", "patient-005.json"} {
		data, err := os.ReadFile(filepath.Join(bundlesDir, f))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, base, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+admin)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("loading %s: %v %v", f, res, err)
		}
	}
	if res, err := http.Get(base + "/$worklist?date=" + today); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("worklist without a token: %v %v", res, err)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	watchdog, cancelWatchdog := context.WithTimeout(allocCtx, 2*time.Minute)
	defer cancelWatchdog()
	ctx, cancel := chromedp.NewContext(watchdog)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/app/?date="+today), chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"]`))); err != nil {
		t.Fatal(err)
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`JSON.stringify({view: document.querySelector('main').dataset.view || '',
		tasks: document.querySelectorAll('li.task').length, text: document.querySelector('main').innerText.slice(0, 500), location: location.href})`))
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		View, Text, Location string
		Tasks                int
	}
	var js string // Evaluate answers the JSON string the expression built
	if err := json.Unmarshal(state, &js); err != nil {
		t.Fatalf("%v: %s", err, state)
	}
	if err := json.Unmarshal([]byte(js), &page); err != nil {
		t.Fatalf("%v: %s", err, state)
	}
	if page.View != "worklist" || page.Tasks == 0 {
		t.Errorf("after signing in: view %q, %d tasks; page text: %s", page.View, page.Tasks, page.Text)
	}
	if strings.Contains(page.Location, "code=") || strings.Contains(page.Location, "state=") || !strings.Contains(page.Location, "date="+today) {
		t.Errorf("the app did not return to its own URL after the launch: %s", page.Location)
	}
}
