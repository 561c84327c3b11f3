package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/careflow/careflow/adapters/dashboard"
	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/message"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/adapters/summary"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// today is the reference day of the checked-in test data (testdata/bundles/manifest.json "today").
const today = "2026-11-25"

const bundlesDir = "../../testdata/bundles"

// chromiumPath finds the browser: CAREFLOW_CHROMIUM, Debian's /usr/bin/chromium, or chromium on PATH. The
// test fails, never skips, without one.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const install = "install Debian's chromium package (sudo apt-get install chromium) or run the tests " +
		"through scripts/test.sh, which installs it"
	if p := os.Getenv("CAREFLOW_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CAREFLOW_CHROMIUM=%s: %v; unset it and %s", p, err, install)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	// Like the MongoDB suites: skipped with one line on a machine without it, a failure under CI=true.
	msg := "headless Chromium is missing: the dashboard's end-to-end test needs it; " + install +
		" (CAREFLOW_CHROMIUM may name another Chromium binary)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// server starts careflow in process the way cmd/careflow wires it: the FHIR API on a fresh test database,
// the coordination operations ($summary, $worklist, $draft-message, $find, $hold, $book), and the dashboard
// under /app/.
func server(t *testing.T) (*httptest.Server, *adaptertest.Env) {
	t.Helper()
	return serverAt(t, nil)
}

// serverAt is server with the server's clock (nil: the real one).
func serverAt(t *testing.T, now func() time.Time) (*httptest.Server, *adaptertest.Env) {
	t.Helper()
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	store := sqlitetest.Open(t)
	worklists := worklist.New(store, reg)
	scheduler := scheduling.New(store, reg)
	booker := scheduling.NewBooker(scheduler, scheduling.DefaultHold)
	svc, err := interaction.New(interaction.Config{
		Types: definitions.ResourceTypes,
		Now:   now,
		Operations: []interaction.Operation{
			summary.Operation(summary.New(store, reg)),
			worklist.Operation(worklists),
			message.Operation(message.New(worklists, store, reg)),
			scheduling.FindOperation(scheduler),
			scheduling.HoldOperation(booker),
			scheduling.BookOperation(booker),
		},
	}, store, v, reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rest.New(rest.Config{App: dashboard.Handler()}, svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	return ts, &adaptertest.Env{T: t, Store: store, Registry: reg, Validator: v}
}

// manifest is the part of testdata/bundles/manifest.json the test reads.
type manifest struct {
	Today   string `json:"today"`
	Bundles []struct {
		File    string `json:"file"`
		Patient struct {
			Identifier string `json:"identifier"`
			Name       string `json:"name"`
		} `json:"patient"`
		SituationCodes []string `json:"situationCodes"`
	} `json:"bundles"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundlesDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Today != today || len(m.Bundles) == 0 {
		t.Fatalf("manifest.json: today %q, %d bundles; the test expects today %s", m.Today, len(m.Bundles), today)
	}
	return m
}

// load writes testdata/bundles into the server: through the transaction endpoint (POST [base]) when the
// server has one, else resource by resource through the store — urn:uuid references resolved to
// Type/<uuid>, the uuid as the id, validated and indexed as the REST API does. It returns how.
func load(t *testing.T, ts *httptest.Server, env *adaptertest.Env, m manifest) string {
	t.Helper()
	bundles := make([][]byte, len(m.Bundles))
	for i, b := range m.Bundles {
		data, err := os.ReadFile(filepath.Join(bundlesDir, b.File))
		if err != nil {
			t.Fatal(err)
		}
		bundles[i] = data
	}
	// The first bundle tells whether the server has a transaction endpoint.
	status, body := postTransaction(ts, bundles[0])
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		for i, data := range bundles {
			storeBundle(t, env, m.Bundles[i].File, data)
		}
		return "store"
	}
	// One at a time: concurrent transactions are slower on FerretDB (they contend for the same locks).
	if p := checkTransaction(status, body); p != "" {
		t.Fatalf("POST [base] %s: %s", m.Bundles[0].File, p)
	}
	for i := 1; i < len(bundles); i++ {
		if p := checkTransaction(postTransaction(ts, bundles[i])); p != "" {
			t.Fatalf("POST [base] %s: %s", m.Bundles[i].File, p)
		}
	}
	return "transaction"
}

func postTransaction(ts *httptest.Server, data []byte) (int, []byte) {
	res, err := http.Post(ts.URL+"/fhir", "application/fhir+json", bytes.NewReader(data))
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// checkTransaction describes what is wrong with a transaction's answer ("" when every entry succeeded).
func checkTransaction(status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprintf("%d %s", status, body)
	}
	var out struct {
		Entry []struct {
			Response struct{ Status string } `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return err.Error()
	}
	for i, e := range out.Entry {
		if !strings.HasPrefix(e.Response.Status, "20") {
			return fmt.Sprintf("entry %d answered %q", i, e.Response.Status)
		}
	}
	return ""
}

func storeBundle(t *testing.T, env *adaptertest.Env, name string, data []byte) {
	t.Helper()
	var b struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	refs := map[string]string{} // fullUrl → Type/id
	for _, e := range b.Entry {
		var head struct{ ResourceType string }
		if err := json.Unmarshal(e.Resource, &head); err != nil || !strings.HasPrefix(e.FullURL, "urn:uuid:") {
			t.Fatalf("%s: entry %s is not a resource with a urn:uuid fullUrl", name, e.FullURL)
		}
		refs[e.FullURL] = head.ResourceType + "/" + strings.TrimPrefix(e.FullURL, "urn:uuid:")
	}
	for _, e := range b.Entry {
		var compact bytes.Buffer
		if err := json.Compact(&compact, e.Resource); err != nil {
			t.Fatal(err)
		}
		body := compact.String()
		for u, r := range refs {
			body = strings.ReplaceAll(body, `"reference":"`+u+`"`, `"reference":"`+r+`"`)
		}
		typ, id, _ := strings.Cut(refs[e.FullURL], "/")
		prefix := `{"resourceType":"` + typ + `",`
		body = strings.Replace(body, prefix, prefix+`"id":"`+id+`",`, 1)
		if _, err := env.Write(typ, id, body); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// getJSON GETs a FHIR URL and decodes the answer; status is returned for error answers.
func getJSON(t *testing.T, u string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/fhir+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return res.StatusCode
}

type coding struct{ System, Code, Display string }

type concept struct {
	Coding []coding
	Text   string
}

func (c concept) label() string {
	if c.Text != "" {
		return c.Text
	}
	if len(c.Coding) > 0 {
		if c.Coding[0].Display != "" {
			return c.Coding[0].Display
		}
		return c.Coding[0].Code
	}
	return ""
}

type ref struct{ Reference string }

// task is what the test reads of a worklist Task.
type task struct {
	ID          string
	Code        concept
	Description string
	Priority    string
	For         ref
	Restriction struct{ Period struct{ End string } }
}

func (t task) code() string { return t.Code.Coding[0].Code }

func (t task) patientID() string { return strings.TrimPrefix(t.For.Reference, "Patient/") }

func (t task) due() string {
	if len(t.Restriction.Period.End) >= 10 {
		return t.Restriction.Period.End[:10]
	}
	return ""
}

func worklistOf(t *testing.T, base, query string) []task {
	t.Helper()
	var b struct {
		ResourceType string
		Entry        []struct{ Resource task }
	}
	if st := getJSON(t, base+"/fhir/$worklist?"+query, &b); st != 200 || b.ResourceType != "Bundle" {
		t.Fatalf("$worklist?%s: %d %s", query, st, b.ResourceType)
	}
	out := make([]task, 0, len(b.Entry))
	for _, e := range b.Entry {
		out = append(out, e.Resource)
	}
	return out
}

// patientName is the name the dashboard shows: the official (or first) name's text, else given + family.
func patientName(t *testing.T, base, id string) string {
	t.Helper()
	var p struct {
		Name []struct {
			Use, Text, Family string
			Given             []string
		}
	}
	if st := getJSON(t, base+"/fhir/Patient/"+id, &p); st != 200 || len(p.Name) == 0 {
		t.Fatalf("Patient/%s: %d, %d names", id, st, len(p.Name))
	}
	n := p.Name[0]
	for _, x := range p.Name {
		if x.Use == "official" {
			n = x
			break
		}
	}
	if n.Text != "" {
		return n.Text
	}
	return strings.Join(append(append([]string{}, n.Given...), n.Family), " ")
}

// summaryDoc is what the test reads of a $summary document.
type summaryDoc struct {
	Entry []struct {
		Resource struct {
			ResourceType string
			Section      []struct {
				Title string
				Code  concept
				Entry []ref
			}
			Code                      concept
			MedicationCodeableConcept concept
		}
	}
}

func (d summaryDoc) labels(typ string) []string {
	var out []string
	for _, e := range d.Entry {
		switch {
		case e.Resource.ResourceType != typ:
		case typ == "MedicationStatement":
			out = append(out, e.Resource.MedicationCodeableConcept.label())
		default:
			out = append(out, e.Resource.Code.label())
		}
	}
	return out
}

// consoleLog collects what the page writes to the console: console.error/assert calls, uncaught
// exceptions and browser log errors. Network errors are expected while the error states are shown.
type consoleLog struct {
	mu       sync.Mutex
	ignore   []string // substrings of messages that are expected now
	problems []string
}

// watch records the console errors, exceptions and failed assertions of the browser tab ctx drives, except
// the expected ones, until the tab closes.
func (c *consoleLog) watch(ctx context.Context) {
	messages := chromedp.Console(ctx)
	go func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Type != chromedp.ConsoleError && msg.Type != chromedp.ConsoleException && msg.Type != "assert" {
				continue
			}
			c.mu.Lock()
			expected := false
			for _, s := range c.ignore {
				expected = expected || strings.Contains(msg.Text, s)
			}
			if !expected {
				c.problems = append(c.problems, fmt.Sprintf("%s (%s:%d)", msg, msg.URL, msg.Line))
			}
			c.mu.Unlock()
		}
	}()
}

func (c *consoleLog) expect(substrings ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ignore = substrings
}

func (c *consoleLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.problems
	c.problems = nil
	return p
}

// renderedTask is a worklist item as the page shows it.
type renderedTask struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Patient string `json:"patient"`
	Text    string `json:"text"`
	Due     string `json:"due"`
	Group   string `json:"group"`
}

const renderedTasksJS = `[...document.querySelectorAll('.items li.task')].map(li => ({
	id: li.dataset.taskId, code: li.dataset.code,
	patient: (li.querySelector('.patient-link') || {}).textContent || '',
	text: li.innerText, due: (li.querySelector('time') || {}).dateTime || '',
	group: li.closest('.due-group').dataset.due}))`

var priorityRank = map[string]int{"stat": 0, "asap": 1, "urgent": 2, "routine": 3}

// TestDashboardEndToEnd drives the dashboard in headless Chromium against a careflow loaded with
// testdata/bundles: the worklist shows exactly what $worklist answers (names, grouping, order, filters,
// panels), the manifest's situations are visible, a patient's summary renders its allergies and
// medications, error states show the OperationOutcome, narratives are sanitised, the page works by
// keyboard and on a phone-sized screen, nothing is written to the console, and full-page screenshots
// show real content.
func TestDashboardEndToEnd(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()
	m := readManifest(t)
	ts, env := server(t)
	how := load(t, ts, env, m)
	t.Logf("loaded %d bundles through the %s in %s", len(m.Bundles), map[string]string{"store": "store (no transaction endpoint)", "transaction": "transaction endpoint"}[how], time.Since(start).Round(time.Millisecond))

	// Expectations from the server's own answers.
	tasks := worklistOf(t, ts.URL, "date="+today)
	if len(tasks) == 0 {
		t.Fatalf("$worklist?date=%s is empty: the checked-in data should raise items", today)
	}
	names := map[string]string{} // patient id → name
	for _, tk := range tasks {
		if _, ok := names[tk.patientID()]; !ok {
			names[tk.patientID()] = patientName(t, ts.URL, tk.patientID())
		}
	}

	// The browser.
	shots, err := os.MkdirTemp("", "careflow-dashboard-")
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	watchdog, cancelWatchdog := context.WithTimeout(allocCtx, 3*time.Minute)
	defer cancelWatchdog()
	ctx, cancel := chromedp.NewContext(watchdog, chromedp.WithLogf(t.Logf))
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v (is it a working Chromium? scripts/test.sh installs Debian's chromium package)", chromium, err)
	}
	console := &consoleLog{}
	console.watch(ctx)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string, out any) {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, raw)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	ready := func(view string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"][data-view="` + view + `"]`))
	}
	appURL := ts.URL + "/app/"

	// 1. The worklist of the data's day.
	run("open the worklist", chromedp.Navigate(appURL+"?date="+today), ready("worklist"))
	var shown []renderedTask
	eval("read the worklist", renderedTasksJS, &shown)
	if len(shown) != len(tasks) {
		t.Errorf("the page shows %d items, $worklist answers %d", len(shown), len(tasks))
	}
	byID := map[string]task{}
	for _, tk := range tasks {
		byID[tk.ID] = tk
	}
	for i, r := range shown {
		tk, ok := byID[r.ID]
		switch {
		case !ok:
			t.Errorf("item %d (%s) is not in $worklist", i, r.ID)
			continue
		case r.Code != tk.code():
			t.Errorf("item %s: code %q, want %q", r.ID, r.Code, tk.code())
		case r.Patient != names[tk.patientID()]:
			t.Errorf("item %s: patient %q, want %q", r.ID, r.Patient, names[tk.patientID()])
		case !strings.Contains(r.Text, tk.Description):
			t.Errorf("item %s does not show its description %q:\n%s", r.ID, tk.Description, r.Text)
		case !strings.Contains(strings.ToLower(r.Text), tk.Priority):
			t.Errorf("item %s does not show its priority %q", r.ID, tk.Priority)
		case r.Due != tk.due() || r.Group != tk.due():
			t.Errorf("item %s: due %q in group %q, want %q", r.ID, r.Due, r.Group, tk.due())
		}
		if i > 0 { // grouped by due day, ascending; most pressing first within a day
			p := shown[i-1]
			if p.Due > r.Due || (p.Due == r.Due && priorityRank[byID[p.ID].Priority] > priorityRank[tk.Priority]) {
				t.Errorf("items out of order: %s (%s, %s) before %s (%s, %s)", p.ID, p.Due, byID[p.ID].Priority, r.ID, r.Due, tk.Priority)
			}
		}
	}
	if got := text("#stat-total .stat-value"); got != fmt.Sprint(len(tasks)) {
		t.Errorf("total shown %q, want %d", got, len(tasks))
	}
	// The panels list exactly the allergy conflicts and the coverage items.
	var panels map[string][]string
	eval("read the panels", `({
		conflicts: [...document.querySelectorAll('#panel-conflicts li')].map(li => li.querySelector('.patient-link').textContent + ' | ' + li.dataset.code),
		coverage: [...document.querySelectorAll('#panel-coverage li')].map(li => li.querySelector('.patient-link').textContent + ' | ' + li.dataset.code)})`, &panels)
	var wantConflicts, wantCoverage []string
	for _, tk := range tasks {
		switch tk.code() {
		case worklist.AllergyConflict:
			wantConflicts = append(wantConflicts, names[tk.patientID()]+" | "+tk.code())
		case worklist.CoverageGap, worklist.ApprovalRequired, worklist.CoverageEndsBeforeFollowUp:
			wantCoverage = append(wantCoverage, names[tk.patientID()]+" | "+tk.code())
		}
	}
	for name, pair := range map[string][2][]string{"conflicts": {panels["conflicts"], wantConflicts}, "coverage": {panels["coverage"], wantCoverage}} {
		got, want := append([]string{}, pair[0]...), append([]string{}, pair[1]...)
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s panel shows %q, want %q", name, got, want)
		}
	}
	if len(wantCoverage) == 0 {
		t.Errorf("$worklist?date=%s raises no coverage item; the manifest has uninsured and lapsed patients", today)
	}

	// The manifest's situations that are due by today must be visible as items of the right kind.
	situationItems := map[string]string{
		"drug-allergy-conflict":               worklist.AllergyConflict,
		"uninsured-upcoming-appointment":      worklist.CoverageGap,
		"coverage-lapsed":                     worklist.CoverageGap,
		"overdue-follow-up":                   worklist.FollowUpOverdue,
		"care-plan-period-ended-still-active": worklist.CarePlanPeriodEnded,
	}
	var situationProblems []string
	situationPatients := map[string][]string{} // situation → patient names
	for _, b := range m.Bundles {
		for _, s := range b.SituationCodes {
			situationPatients[s] = append(situationPatients[s], b.Patient.Name)
		}
	}
	for situation, code := range situationItems {
		if len(situationPatients[situation]) == 0 {
			t.Errorf("manifest.json has no %s patient", situation)
		}
		for _, name := range situationPatients[situation] {
			visible := false
			for _, r := range shown {
				visible = visible || (r.Code == code && r.Patient == name)
			}
			if visible {
				continue
			}
			inOperation := false
			for _, tk := range tasks {
				inOperation = inOperation || (tk.code() == code && names[tk.patientID()] == name)
			}
			why := "the dashboard does not show the item $worklist answers"
			if !inOperation {
				why = "$worklist itself raises no such item"
			}
			situationProblems = append(situationProblems, fmt.Sprintf("manifest situation %s of %s: no %q item on the worklist of %s (%s)", situation, name, code, today, why))
		}
	}

	// Filters: by item type, then by owner; both are kept in the URL.
	var codeFilter string
	for _, tk := range tasks {
		if codeFilter == "" || tk.code() == worklist.CoverageGap {
			codeFilter = tk.code()
		}
	}
	wantN := 0
	for _, tk := range tasks {
		if tk.code() == codeFilter {
			wantN++
		}
	}
	run("filter by item type", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('wl-code'); s.value = `+jsString(codeFilter)+`; s.dispatchEvent(new Event('change', {bubbles: true})); })()`),
		chromedp.WaitVisible(chromedp.CSS(`#wl-clear`)), ready("worklist"))
	eval("read the filtered worklist", renderedTasksJS, &shown)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if len(shown) != wantN || !strings.Contains(loc, "code="+url.QueryEscape(codeFilter)) {
		t.Errorf("filtered by %s: %d items at %s, want %d", codeFilter, len(shown), loc, wantN)
	}
	for _, r := range shown {
		if r.Code != codeFilter {
			t.Errorf("filtered by %s, the page shows a %s item", codeFilter, r.Code)
		}
	}
	run("clear the filters", chromedp.Click(chromedp.CSS("#wl-clear")), chromedp.WaitNotPresent(chromedp.CSS("#wl-clear")), ready("worklist"))
	owners := map[string]int{}
	var anOwner string
	{
		var b struct {
			Entry []struct {
				Resource struct{ Owner struct{ Reference string } }
			}
		}
		getJSON(t, ts.URL+"/fhir/$worklist?date="+today, &b)
		for _, e := range b.Entry {
			if o := e.Resource.Owner.Reference; o != "" {
				owners[o]++
				anOwner = o
			}
		}
	}
	if anOwner != "" {
		run("filter by owner", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('wl-owner'); s.value = `+jsString(anOwner)+`; s.dispatchEvent(new Event('change', {bubbles: true})); })()`),
			chromedp.WaitVisible(chromedp.CSS(`#wl-clear`)), ready("worklist"))
		eval("read the worklist filtered by owner", renderedTasksJS, &shown)
		if len(shown) != owners[anOwner] {
			t.Errorf("filtered by owner %s: %d items, want %d", anOwner, len(shown), owners[anOwner])
		}
		run("clear the owner filter", chromedp.Click(chromedp.CSS("#wl-clear")), chromedp.WaitNotPresent(chromedp.CSS("#wl-clear")), ready("worklist"))
	}

	// Accessibility basics: one h1, every form control labelled, images with alt text.
	var a11y struct {
		H1        int      `json:"h1"`
		Unlabeled []string `json:"unlabeled"`
		NoAlt     int      `json:"noAlt"`
		Lang      string   `json:"lang"`
	}
	eval("check accessibility basics", `({h1: document.querySelectorAll('h1').length,
		unlabeled: [...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name),
		noAlt: [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')).length,
		lang: document.documentElement.lang})`, &a11y)
	if a11y.H1 != 1 || len(a11y.Unlabeled) > 0 || a11y.NoAlt > 0 || a11y.Lang == "" {
		t.Errorf("accessibility: %d h1, unlabelled controls %v, %d images without alt, lang %q", a11y.H1, a11y.Unlabeled, a11y.NoAlt, a11y.Lang)
	}

	// Screenshot of the worklist.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, "worklist", shot, shots)

	// Done: the item's Task is stored as completed (an ordinary PUT) and the worklist no longer lists it.
	var doneID string
	for _, tk := range tasks {
		if tk.code() != worklist.AllergyConflict {
			doneID = tk.ID
		}
	}
	run("mark an item done", chromedp.Click(chromedp.CSS(`.items li.task[data-task-id="`+doneID+`"] .task-done`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.items li.task[data-task-id="`+doneID+`"]`)), ready("worklist"))
	eval("read the worklist after marking an item done", renderedTasksJS, &shown)
	if len(shown) != len(tasks)-1 {
		t.Errorf("after marking %s done the page shows %d items, want %d", doneID, len(shown), len(tasks)-1)
	}
	var stored struct {
		Status string
		Meta   struct{ VersionID string }
	}
	if st := getJSON(t, ts.URL+"/fhir/Task/"+doneID, &stored); st != 200 || stored.Status != "completed" {
		t.Errorf("Task/%s after Done: %d %+v", doneID, st, stored)
	}
	if n := len(worklistOf(t, ts.URL, "date="+today)); n != len(tasks)-1 {
		t.Errorf("$worklist lists %d items after one was marked done, want %d", n, len(tasks)-1)
	}

	// 2. A patient's summary, opened from the worklist by keyboard. Prefer a patient with an allergy
	// conflict, else one whose summary lists allergies and medications.
	var pick string
	var pickDoc summaryDoc
	candidates := make([]string, 0, len(names))
	for _, tk := range tasks {
		if tk.code() == worklist.AllergyConflict {
			candidates = append([]string{tk.patientID()}, candidates...)
		} else {
			candidates = append(candidates, tk.patientID())
		}
	}
	for _, id := range candidates {
		var d summaryDoc
		if st := getJSON(t, ts.URL+"/fhir/Patient/"+id+"/$summary", &d); st != 200 {
			t.Fatalf("$summary of %s: %d", id, st)
		}
		if len(d.labels("AllergyIntolerance")) > 0 && len(d.labels("MedicationStatement")) > 0 {
			pick, pickDoc = id, d
			break
		}
		if pick == "" {
			pick, pickDoc = id, d
		}
	}
	run("open a summary from the worklist by keyboard",
		chromedp.Focus(chromedp.CSS(`.items .patient-link[href*="patient=`+pick+`"]`)),
		chromedp.KeyEvent(kb.Enter),
		ready("summary"))
	checkSummary(t, ctx, ts.URL, pick, names[pick], pickDoc)

	// 3. A patient with a drug-allergy conflict (manifest), found with the patient search.
	conflictName := situationPatients["drug-allergy-conflict"][0]
	family := conflictName[strings.LastIndex(conflictName, " ")+1:]
	run("search a patient",
		chromedp.Click(chromedp.CSS("#nav-patients")),
		ready("patients"),
		chromedp.SendKeys(chromedp.CSS("#patient-q"), family+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(".patient-list")))
	var found []struct{ Name, Href string }
	eval("read the search results", `[...document.querySelectorAll('.patient-list .patient-link')].map(a => ({name: a.textContent, href: a.getAttribute('href')}))`, &found)
	href := ""
	for _, f := range found {
		if f.Name == conflictName {
			href = f.Href
		}
	}
	if href == "" {
		t.Fatalf("searching %q finds %v, not %s", family, found, conflictName)
	}
	conflictID := strings.TrimPrefix(href[strings.Index(href, "patient="):], "patient=")
	if i := strings.IndexByte(conflictID, '&'); i >= 0 {
		conflictID = conflictID[:i]
	}
	run("open the summary from the search", chromedp.Click(chromedp.CSS(`.patient-list a[href="`+href+`"]`)), ready("summary"))
	var conflictDoc summaryDoc
	getJSON(t, ts.URL+"/fhir/Patient/"+conflictID+"/$summary", &conflictDoc)
	checkSummary(t, ctx, ts.URL, conflictID, conflictName, conflictDoc)
	if len(conflictDoc.labels("AllergyIntolerance")) == 0 || len(conflictDoc.labels("MedicationStatement")) == 0 {
		t.Errorf("%s (drug-allergy-conflict) has no allergies or medications in $summary", conflictName)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#card-conflicts li.task[data-code="allergy-conflict"]').length`)); n == 0 {
		situationProblems = append(situationProblems, fmt.Sprintf("manifest situation drug-allergy-conflict of %s: the summary's conflict card shows no allergy conflict (allergies %q, medications %q)",
			conflictName, conflictDoc.labels("AllergyIntolerance"), conflictDoc.labels("MedicationStatement")))
	}
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, "summary", shot, shots)

	// Back and forward work (every state has a URL).
	run("go back to the search", chromedp.NavigateBack(), ready("patients"))

	// 4. A phone-sized screen: nothing overflows sideways.
	run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(appURL+"?date="+today), ready("worklist"))
	var overflow struct{ Scroll, Inner int }
	eval("measure the page width", `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`, &overflow)
	if overflow.Scroll > overflow.Inner {
		t.Errorf("on a 390px screen the page is %dpx wide", overflow.Scroll)
	}
	run("desktop viewport", chromedp.EmulateReset())

	// 5. Narratives are sanitised: no script, handler, javascript: link, image or foreign element
	// survives, and nothing runs.
	if p := console.take(); len(p) > 0 {
		t.Errorf("the page wrote errors to the console:\n%s", strings.Join(p, "\n"))
	}
	for _, c := range []struct {
		name, input string
		keep        []string
		expect      []string // console messages expected while sanitising
	}{
		{"well-formed XHTML", `<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="window.__pwned=1" id="x" class="y" style="color:red">ok<script>window.__pwned=2</script><img src="x" onerror="window.__pwned=3"/><a href="javascript:window.__pwned=4">js</a><a href="https://example.org/a">ext</a><svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned=5</script></svg><iframe src="javascript:parent.__pwned=6"></iframe><table><tr><td colspan="2" onmouseover="x()">c &amp; d</td></tr></table><custom-el>kept text</custom-el></p></div>`,
			[]string{"<p>ok", `<a>js</a>`, `<a href="https://example.org/a" rel="noopener noreferrer nofollow" target="_blank">ext</a>`, `<td colspan="2">c &amp; d</td>`, "kept text"}, nil},
		// Not well-formed: parsed as HTML, where the browser checks the handlers against the page's
		// Content-Security-Policy (and reports them) before the sanitiser drops them.
		{"tag soup", `<p>not xhtml <b>bold<custom-el>kept text</custom-el><img src=x onerror="window.__pwned=7"><math><mi>x</mi></math></b><form action="/x"><input name=a></form><a href="javascript:window.__pwned=8" style="x">l</a>`,
			[]string{"<p>not xhtml <b>bold", "kept text", "<a>l</a>"}, []string{"Content Security Policy"}},
	} {
		console.expect(c.expect...)
		var got struct {
			HTML string `json:"html"`
			Ran  bool   `json:"ran"`
		}
		eval("sanitise "+c.name, `import('./js/sanitize.js').then(async (m) => {
			const out = document.createElement('div');
			out.append(m.sanitizeNarrative(`+jsString(c.input)+`));
			await new Promise((r) => setTimeout(r, 200));
			return {html: out.innerHTML, ran: window.__pwned !== undefined};
		})`, &got)
		for _, bad := range []string{"script", "onclick", "onerror", "onmouseover", "javascript:", "<img", "<svg", "<iframe", "<form", "<input", "<math", "style=", "class=", `id="x"`, "custom-el"} {
			if strings.Contains(got.HTML, bad) {
				t.Errorf("sanitised %s keeps %q: %s", c.name, bad, got.HTML)
			}
		}
		for _, good := range c.keep {
			if !strings.Contains(got.HTML, good) {
				t.Errorf("sanitised %s lost %q: %s", c.name, good, got.HTML)
			}
		}
		if got.Ran {
			t.Errorf("a script of a %s narrative ran", c.name)
		}
		if p := console.take(); len(p) > 0 {
			t.Errorf("sanitising %s wrote errors to the console:\n%s", c.name, strings.Join(p, "\n"))
		}
	}

	// 6. Error states show the server's OperationOutcome.
	console.expect("the server responded with a status of 4") // the browser logs the failed requests
	for _, c := range []struct{ app, api string }{
		{"?date=2026-02-30", "/fhir/$worklist?date=2026-02-30"},
		{"?date=" + today + "&patient=no-such-patient", "/fhir/Patient/no-such-patient/$summary"},
	} {
		var oo struct {
			ResourceType string
			Issue        []struct{ Diagnostics string }
		}
		if st := getJSON(t, ts.URL+c.api, &oo); st < 400 || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
			t.Fatalf("GET %s: %d %s, want an OperationOutcome", c.api, st, oo.ResourceType)
		}
		run("open "+c.app, chromedp.Navigate(appURL+c.app), chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"] .error-panel`)))
		if got := text(".error-panel .diagnostics"); got != oo.Issue[0].Diagnostics {
			t.Errorf("%s: the error panel shows %q, want the diagnostics %q", c.app, got, oo.Issue[0].Diagnostics)
		}
		if role, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.error-panel').getAttribute('role')`)); role != "alert" {
			t.Errorf("%s: the error panel has role %q, want alert", c.app, role)
		}
	}
	if p := console.take(); len(p) > 0 {
		t.Errorf("the page wrote errors to the console while showing error states:\n%s", strings.Join(p, "\n"))
	}

	t.Run("manifest situations", func(t *testing.T) {
		for _, p := range situationProblems {
			t.Error(p)
		}
	})
	t.Logf("end-to-end run took %s", time.Since(start).Round(time.Millisecond))
}

// checkSummary asserts that the summary view of a patient shows the name, every section of $summary,
// every allergy and medication it cites, the coverage status and the patient's allergy conflicts.
func checkSummary(t *testing.T, ctx context.Context, base, id, name string, doc summaryDoc) {
	t.Helper()
	var page struct {
		H1         string            `json:"h1"`
		Sections   []string          `json:"sections"`
		Allergies  string            `json:"allergies"`
		Meds       string            `json:"meds"`
		Coverage   string            `json:"coverage"`
		Conflicts  []string          `json:"conflicts"`
		SectionIDs map[string]string `json:"sectionIds"`
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`({
		h1: document.querySelector('h1').textContent,
		sections: [...document.querySelectorAll('.doc-section h3')].map(h => h.textContent),
		allergies: (document.querySelector('#section-allergies') || {}).innerText || '',
		meds: (document.querySelector('#section-medications') || {}).innerText || '',
		coverage: (document.querySelector('#coverage-status') || {}).innerText || '',
		conflicts: [...document.querySelectorAll('#card-conflicts li.task')].map(li => li.dataset.taskId)})`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	if page.H1 != name {
		t.Errorf("summary of %s: heading %q", name, page.H1)
	}
	var titles []string
	for _, s := range doc.Entry[0].Resource.Section {
		titles = append(titles, s.Title)
	}
	if strings.Join(page.Sections, "|") != strings.Join(titles, "|") {
		t.Errorf("summary of %s: sections %q, want %q", name, page.Sections, titles)
	}
	if len(titles) != 14 { // summary.go lists the sections
		t.Errorf("summary of %s: $summary has %d sections, want 14", name, len(titles))
	}
	for _, a := range doc.labels("AllergyIntolerance") {
		if !strings.Contains(page.Allergies, a) {
			t.Errorf("summary of %s: allergy %q not shown in:\n%s", name, a, page.Allergies)
		}
	}
	for _, m := range doc.labels("MedicationStatement") {
		if !strings.Contains(page.Meds, m) {
			t.Errorf("summary of %s: medication %q not shown in:\n%s", name, m, page.Meds)
		}
	}
	if !strings.Contains(strings.ToLower(page.Coverage), "coverage") {
		t.Errorf("summary of %s: coverage status %q", name, page.Coverage)
	}
	var want []string
	for _, tk := range worklistOf(t, base, "date="+today+"&patient=Patient/"+id) {
		if tk.code() == worklist.AllergyConflict {
			want = append(want, tk.ID)
		}
	}
	sort.Strings(want)
	sort.Strings(page.Conflicts)
	if strings.Join(page.Conflicts, ",") != strings.Join(want, ",") {
		t.Errorf("summary of %s: conflict card shows %v, $worklist has %v", name, page.Conflicts, want)
	}
}

// checkScreenshot decodes a full-page PNG and checks that it shows a rendered page rather than a blank or
// unstyled one: a sane size, the app's header colour at the top, and enough text-like and
// non-background pixels. It saves the image in dir and logs the path.
func checkScreenshot(t *testing.T, name string, data []byte, dir string) {
	t.Helper()
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the %s: %s", name, path)
	if d := os.Getenv("CAREFLOW_DASHBOARD_SCREENSHOTS"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "dashboard-"+name+".png"), data, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s screenshot: %v", name, err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dx() > 4000 || b.Dy() < 600 || b.Dy() > 40000 {
		t.Errorf("%s screenshot is %dx%d", name, b.Dx(), b.Dy())
	}
	counts := map[[3]uint8]int{}
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
			counts[c]++
			if 299*int(c[0])+587*int(c[1])+114*int(c[2]) < 110*1000 {
				dark++
			}
		}
	}
	total := b.Dx() * b.Dy()
	background := 0
	for _, n := range counts {
		background = max(background, n)
	}
	nonBackground := float64(total-background) / float64(total)
	darkShare := float64(dark) / float64(total)
	t.Logf("%s screenshot: %dx%d, %d colours, %.1f%% non-background, %.2f%% dark (text) pixels", name, b.Dx(), b.Dy(), len(counts), 100*nonBackground, 100*darkShare)
	if len(counts) < 64 || nonBackground < 0.10 || darkShare < 0.005 {
		t.Errorf("%s screenshot looks blank (%d colours, %.1f%% non-background, %.2f%% dark pixels): %s", name, len(counts), 100*nonBackground, 100*darkShare, path)
	}
	// The header bar is the app's accent colour (#1d5c8c): the stylesheet was applied.
	r, g, bl, _ := img.At(b.Min.X+5, b.Min.Y+5).RGBA()
	if c := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}; abs(c[0]-0x1d) > 12 || abs(c[1]-0x5c) > 12 || abs(c[2]-0x8c) > 12 {
		t.Errorf("%s screenshot: the header is %v, not the app's #1d5c8c: is the stylesheet applied?", name, c)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
