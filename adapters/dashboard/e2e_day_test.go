package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/worklist"
)

// dayNow is the server's clock in the coordinator's day: 08:00 UTC on the test data's day, so that
// $find offers the free slots of the following days whatever the real date.
var dayNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// coordinatorServer starts careflow in process as cmd/careflow wires it, with every operation the
// coordinator's day uses ($summary, $worklist, $draft-message, $find, $hold, $book) and a fixed clock.
func coordinatorServer(t *testing.T) (*httptest.Server, *adaptertest.Env) {
	t.Helper()
	return serverAt(t, func() time.Time { return dayNow })
}

// tab is one browser tab driven by the test, with its console watched.
type tab struct {
	t       *testing.T
	ctx     context.Context
	name    string
	console *consoleLog
}

func newTab(t *testing.T, ctx context.Context, name string) *tab {
	tb := &tab{t: t, ctx: ctx, name: name, console: &consoleLog{}}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: starting the tab: %v", name, err)
	}
	tb.console.watch(ctx)
	return tb
}

func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

func (b *tab) eval(what, js string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("%s: %s: %v (%s)", b.name, what, err, raw)
	}
}

// choose sets a select's value as a person does (the change event).
func (b *tab) choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector(` + jsString(sel) + `); s.value = ` + jsString(value) +
		`; if (s.value !== ` + jsString(value) + `) throw new Error('no option ' + ` + jsString(value) + `); s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
}

func (b *tab) screenshot(name, dir string) {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	checkScreenshot(b.t, name, shot, dir)
}

// accessible checks what the existing test checks of the worklist, on whatever is open now (the booking
// and message forms included): one h1, every control labelled, every button named, images with alt.
func (b *tab) accessible(when string) {
	b.t.Helper()
	var a11y struct {
		H1        int      `json:"h1"`
		Unlabeled []string `json:"unlabeled"`
		Unnamed   int      `json:"unnamed"`
		NoAlt     int      `json:"noAlt"`
	}
	b.eval("check accessibility "+when, `({h1: document.querySelectorAll('h1').length,
		unlabeled: [...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name || e.className),
		unnamed: [...document.querySelectorAll('button')].filter(e => !(e.getAttribute('aria-label') || e.textContent.trim())).length,
		noAlt: [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')).length})`, &a11y)
	if a11y.H1 != 1 || len(a11y.Unlabeled) > 0 || a11y.Unnamed > 0 || a11y.NoAlt > 0 {
		b.t.Errorf("%s: accessibility %s: %d h1, unlabelled controls %v, %d unnamed buttons, %d images without alt", b.name, when, a11y.H1, a11y.Unlabeled, a11y.Unnamed, a11y.NoAlt)
	}
}

func (b *tab) noConsoleErrors(when string) {
	b.t.Helper()
	if p := b.console.take(); len(p) > 0 {
		b.t.Errorf("%s: the page wrote errors to the console %s:\n%s", b.name, when, strings.Join(p, "\n"))
	}
}

// shownIDs is the ids of the worklist items the page lists, in order.
const shownIDsJS = `[...document.querySelectorAll('.items li.task')].map(li => li.dataset.taskId)`

func idsOf(tasks []task) []string {
	out := make([]string, 0, len(tasks))
	for _, tk := range tasks {
		out = append(out, tk.ID)
	}
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

// storedTask is what the test reads of a stored Task.
type storedTask struct {
	Status         string
	Owner          struct{ Reference, Display string }
	BusinessStatus concept
	Meta           struct{ VersionID string }
	Output         []struct{ ValueReference ref }
}

// TestDashboardCoordinatorDay is the "done when": a coordinator opening the dashboard on the test
// data sees the day's work in its panels (exactly what $worklist answers for their codes) and views, says
// who they are, claims an item (a colleague's stale second claim gets the 412 message), releases and
// claims it again, filters on their items (pools included by the server), books the follow-up into a
// free slot (the slot becomes busy, the item leaves the queue), books an item nobody stored yet (booking
// claims it first), and records the message of an outreach item, which completes it; the summary shows
// the family history, the care team and the message thread. Screenshots are checked non-blank.
func TestDashboardCoordinatorDay(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()
	m := readManifest(t)
	ts, env := coordinatorServer(t)
	load(t, ts, env, m)
	base := ts.URL
	appURL := base + "/app/"
	tasks := worklistOf(t, base, "date="+today)
	names := map[string]string{}
	for _, tk := range tasks {
		if _, ok := names[tk.patientID()]; !ok {
			names[tk.patientID()] = patientName(t, base, tk.patientID())
		}
	}

	// The coordinator (a care coordinator of the data) and a colleague.
	var prs struct {
		Entry []struct {
			Resource struct {
				ID   string
				Name []struct{ Text string }
			}
		}
	}
	if st := getJSON(t, base+"/fhir/Practitioner?_sort=family,given&_count=200&_elements=name", &prs); st != 200 || len(prs.Entry) < 2 {
		t.Fatalf("Practitioner search: %d, %d practitioners", st, len(prs.Entry))
	}
	var me, colleague, meName, colleagueName string
	for _, e := range prs.Entry {
		n := e.Resource.Name[0].Text
		switch {
		case me == "" && strings.Contains(n, "care coordinator"):
			me, meName = "Practitioner/"+e.Resource.ID, n
		case colleague == "" && strings.HasPrefix(n, "Dr. "):
			colleague, colleagueName = "Practitioner/"+e.Resource.ID, n
		}
	}
	if me == "" || colleague == "" {
		t.Fatalf("the test data has no care coordinator or no doctor among %d practitioners", len(prs.Entry))
	}

	shots, err := os.MkdirTemp("", "careflow-dashboard-day-")
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	watchdog, cancelWatchdog := context.WithTimeout(allocCtx, 3*time.Minute)
	defer cancelWatchdog()
	ctxA, cancelA := chromedp.NewContext(watchdog, chromedp.WithLogf(t.Logf))
	defer cancelA()
	a := newTab(t, ctxA, "coordinator")
	ready := func(view string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"][data-view="` + view + `"]`))
	}
	itemSel := func(id, rest string) string {
		return `main[data-ready="true"] .items li.task[data-task-id="` + id + `"]` + rest
	}

	// 1. The day: every panel lists exactly the Tasks $worklist answers for its codes.
	a.run("open the worklist", chromedp.Navigate(appURL+"?date="+today), ready("worklist"))
	panels := map[string][]string{
		"panel-conflicts":  {worklist.AllergyConflict},
		"panel-coverage":   {worklist.CoverageGap, worklist.ApprovalRequired, worklist.CoverageEndsBeforeFollowUp},
		"panel-discharges": {worklist.PostDischargeFollowUp, worklist.DischargeMedication},
		"panel-referrals":  {worklist.ReferralNotScheduled, worklist.ReferralResultMissing},
		"panel-outreach":   {worklist.OutreachDue},
		"panel-approvals":  {worklist.PriorAuthPending, worklist.PriorAuthDenied},
	}
	var onPage map[string][]string
	a.eval("read the panels", `Object.fromEntries([...document.querySelectorAll('.side .panel')].map(p => [p.id,
		[...p.querySelectorAll('li')].map(li => li.dataset.taskId + ' | ' + li.dataset.code + ' | ' + li.querySelector('.patient-link').textContent)]))`, &onPage)
	if len(onPage) != len(panels) {
		t.Errorf("the page has panels %v, want %d", onPage, len(panels))
	}
	inPanels := map[string]string{} // code → panel
	for id, codes := range panels {
		var want []string
		for _, tk := range tasks {
			if slices.Contains(codes, tk.code()) {
				want = append(want, tk.ID+" | "+tk.code()+" | "+names[tk.patientID()])
			}
		}
		for _, c := range codes {
			inPanels[c] = id
		}
		if got := sortedCopy(onPage[id]); strings.Join(got, "\n") != strings.Join(sortedCopy(want), "\n") {
			t.Errorf("%s shows\n%s\nwant\n%s", id, strings.Join(got, "\n"), strings.Join(sortedCopy(want), "\n"))
		}
		if id != "panel-coverage" && len(want) == 0 {
			t.Errorf("%s: $worklist?date=%s has no item for it; the test data has these situations", id, today)
		}
	}
	// The manifest's second-generation situations are in their panels, under the patient's name.
	situations := map[string]string{
		"post-discharge-follow-up-missing":          worklist.PostDischargeFollowUp,
		"discharge-medication-not-reconciled":       worklist.DischargeMedication,
		"referral-not-scheduled":                    worklist.ReferralNotScheduled,
		"referral-result-missing":                   worklist.ReferralResultMissing,
		"outreach-due":                              worklist.OutreachDue,
		"prior-authorization-pending-past-deadline": worklist.PriorAuthPending,
		"prior-authorization-denied":                worklist.PriorAuthDenied,
	}
	for _, b := range m.Bundles {
		for _, s := range b.SituationCodes {
			code, ok := situations[s]
			if !ok {
				continue
			}
			found := false
			for _, row := range onPage[inPanels[code]] {
				found = found || strings.HasSuffix(row, " | "+code+" | "+b.Patient.Name)
			}
			if !found {
				t.Errorf("manifest situation %s of %s: no %s item in %s", s, b.Patient.Name, code, inPanels[code])
			}
		}
	}

	// 2. The views are $worklist's, kept in the URL.
	for _, view := range []string{"due-today", "overdue", "unassigned"} {
		want := worklistOf(t, base, "date="+today+"&view="+view)
		a.run("view "+view, a.choose("#wl-view", view), chromedp.WaitVisible(chromedp.CSS(`#wl-clear`)), ready("worklist"))
		var got []string
		a.eval("read view "+view, shownIDsJS, &got)
		loc, _ := chromedp.Run(a.ctx, chromedp.Location())
		if strings.Join(sortedCopy(got), ",") != strings.Join(sortedCopy(idsOf(want)), ",") || !strings.Contains(loc, "view="+view) {
			t.Errorf("view %s at %s shows %d items %v, $worklist answers %d %v", view, loc, len(got), got, len(want), idsOf(want))
		}
		if view != "unassigned" && len(want) == 0 {
			t.Errorf("view %s: $worklist answers nothing; the test data has such items", view)
		}
	}
	a.run("back to everything", a.choose("#wl-view", ""), chromedp.WaitNotPresent(chromedp.CSS(`#wl-clear`)), ready("worklist"))

	// 3. Who am I: remembered in this browser.
	a.run("say who I am", a.choose("#wl-me", me), chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"] #stat-mine`)))
	var stored string
	a.eval("read localStorage", `localStorage.getItem('careflow.coordinator')`, &stored)
	if !strings.Contains(stored, me) {
		t.Errorf("localStorage careflow.coordinator = %q, want %s", stored, me)
	}

	// The items the test works: a follow-up or referral to book after claiming it, another one booked
	// straight away (booking claims it), an outreach item to message.
	var claimID, bookID, outreachID string
	for _, tk := range tasks {
		switch tk.code() {
		case worklist.FollowUpOverdue, worklist.FollowUpDue, worklist.ReferralNotScheduled:
			if claimID == "" {
				claimID = tk.ID
			} else if bookID == "" {
				bookID = tk.ID
			}
		case worklist.OutreachDue:
			if outreachID == "" {
				outreachID = tk.ID
			}
		}
	}
	if claimID == "" || bookID == "" || outreachID == "" {
		t.Fatalf("the day lacks items to work: follow-up/referral %q %q, outreach %q", claimID, bookID, outreachID)
	}
	byID := map[string]task{}
	for _, tk := range tasks {
		byID[tk.ID] = tk
	}

	// A colleague opens the same day in another browser profile before the claim.
	ctxB, cancelB := chromedp.NewContext(ctxA, chromedp.WithNewBrowserContext())
	defer cancelB()
	b := newTab(t, ctxB, "colleague")
	b.run("colleague opens the worklist", chromedp.Navigate(appURL+"?date="+today), ready("worklist"),
		b.choose("#wl-me", colleague), chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"] #stat-mine`)))

	// 4. Claim: PUT with If-None-Match: * — the item shows as mine.
	readTask := func(id string) storedTask {
		t.Helper()
		var st storedTask
		if code := getJSON(t, base+"/fhir/Task/"+id, &st); code != 200 {
			t.Fatalf("Task/%s: %d", id, code)
		}
		return st
	}
	a.run("claim", chromedp.Click(chromedp.CSS(itemSel(claimID, " .task-claim"))),
		chromedp.WaitVisible(chromedp.CSS(itemSel(claimID, " .badge.claimed"))))
	st := readTask(claimID)
	if st.Status != "accepted" || st.Owner.Reference != me || len(st.BusinessStatus.Coding) == 0 || st.BusinessStatus.Coding[0].Code != "claimed" || st.Meta.VersionID != "1" {
		t.Errorf("Task/%s after the claim: %+v", claimID, st)
	}
	if got, _ := chromedp.Run(a.ctx, chromedp.Text(chromedp.CSS(itemSel(claimID, " .task-owner")))); !strings.Contains(got, meName) {
		t.Errorf("the claimed item's owner shows %q, want %s", got, meName)
	}
	a.screenshot("day-claimed", shots)

	// The colleague's page is stale: their claim is refused (412) and the page says so and reloads.
	b.console.expect("status of 412")
	b.run("colleague claims the same item", chromedp.Click(chromedp.CSS(itemSel(claimID, " .task-claim"))),
		chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"] #wl-flash`)))
	if got, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`#wl-flash`))); !strings.Contains(got, "Someone else claimed this item") {
		t.Errorf("after a refused claim the colleague sees %q", got)
	}
	if got, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(itemSel(claimID, " .task-owner")))); !strings.Contains(got, meName) {
		t.Errorf("after reloading the colleague sees the owner %q, want %s", got, meName)
	}
	if st := readTask(claimID); st.Owner.Reference != me || st.Meta.VersionID != "1" {
		t.Errorf("Task/%s after the refused claim: %+v", claimID, st)
	}
	b.noConsoleErrors("during the refused claim")

	// Release (If-Match) and claim again (If-Match now that it is stored).
	a.run("release", chromedp.Click(chromedp.CSS(itemSel(claimID, " .task-release"))),
		chromedp.WaitVisible(chromedp.CSS(itemSel(claimID, " .task-claim"))))
	if st := readTask(claimID); st.Status != "requested" || st.Owner.Reference != "" || st.BusinessStatus.Coding[0].Code != "released" || st.Meta.VersionID != "2" {
		t.Errorf("Task/%s after the release: %+v", claimID, st)
	}
	a.run("claim again", chromedp.Click(chromedp.CSS(itemSel(claimID, " .task-claim"))),
		chromedp.WaitVisible(chromedp.CSS(itemSel(claimID, " .badge.claimed"))))
	if st := readTask(claimID); st.Status != "accepted" || st.Owner.Reference != me || st.Meta.VersionID != "3" {
		t.Errorf("Task/%s claimed again: %+v", claimID, st)
	}

	// Reassign another item to the colleague.
	var reassignID string
	for _, tk := range tasks {
		if tk.ID != claimID && tk.ID != bookID && tk.ID != outreachID && tk.code() == worklist.DischargeMedication {
			reassignID = tk.ID
		}
	}
	if reassignID != "" {
		a.run("reassign", chromedp.Click(chromedp.CSS(itemSel(reassignID, " .task-reassign"))),
			a.choose(itemSel(reassignID, " .reassign-to"), colleague),
			chromedp.Click(chromedp.CSS(itemSel(reassignID, " .task-assign"))),
			// The reloaded page names the colleague as the owner.
			chromedp.Poll[chromedp.Void](`(document.querySelector('`+itemSel(reassignID, " .task-owner")+`') || {textContent: ''}).textContent.includes(`+jsString(colleagueName)+`) || undefined`),
			ready("worklist"))
		if st := readTask(reassignID); st.Status != "requested" || st.Owner.Reference != colleague || st.Owner.Display != colleagueName || st.Meta.VersionID != "1" {
			t.Errorf("Task/%s after reassigning it to %s: %+v", reassignID, colleagueName, st)
		}
	}

	// 5. The owner filter is $worklist?owner= (the server adds the owner's pools).
	mine := worklistOf(t, base, "date="+today+"&owner="+url.QueryEscape(me))
	a.run("my items", a.choose("#wl-owner", me), chromedp.WaitVisible(chromedp.CSS(`#wl-clear`)), ready("worklist"))
	var got []string
	a.eval("read my items", shownIDsJS, &got)
	if strings.Join(sortedCopy(got), ",") != strings.Join(sortedCopy(idsOf(mine)), ",") || !slices.Contains(got, claimID) {
		t.Errorf("my items show %v, $worklist?owner=%s answers %v (the claimed %s must be there)", got, me, idsOf(mine), claimID)
	}
	a.run("everyone's items", a.choose("#wl-owner", ""), chromedp.WaitNotPresent(chromedp.CSS(`#wl-clear`)), ready("worklist"))

	// 6. Book the claimed follow-up into a free slot: the proposals are $find's, the slot becomes busy,
	// the Task is completed with the appointment and the item leaves the queue.
	pt := byID[claimID].patientID()
	var proposals struct {
		Entry []struct {
			Resource struct {
				ID    string
				Start string
				Slot  []ref
			}
		}
	}
	findQuery := "start=" + today + "&end=2026-12-09&patient-reference=Patient/" + pt + "&_count=12"
	if code := getJSON(t, base+"/fhir/Appointment/$find?"+findQuery, &proposals); code != 200 || len(proposals.Entry) == 0 {
		t.Fatalf("$find?%s: %d, %d proposals", findQuery, code, len(proposals.Entry))
	}
	var wantProposals []string
	for _, e := range proposals.Entry {
		wantProposals = append(wantProposals, e.Resource.ID)
	}
	a.run("open the booking form", chromedp.Click(chromedp.CSS(itemSel(claimID, " .task-book"))),
		chromedp.Click(chromedp.CSS(itemSel(claimID, " .book-find"))),
		chromedp.WaitVisible(chromedp.CSS(itemSel(claimID, " .proposal-list"))))
	var shownProposals []string
	a.eval("read the proposals", `[...document.querySelectorAll('.items li.task[data-task-id="`+claimID+`"] .proposal')].map(li => li.dataset.appointmentId)`, &shownProposals)
	if strings.Join(shownProposals, ",") != strings.Join(wantProposals, ",") {
		t.Errorf("the booking form proposes %v, $find?%s answers %v", shownProposals, findQuery, wantProposals)
	}
	a.accessible("with the booking form open")
	a.screenshot("day-booking", shots)
	booked := proposals.Entry[0].Resource
	a.run("book the first slot", chromedp.Click(chromedp.CSS(itemSel(claimID, ` .proposal[data-appointment-id="`+booked.ID+`"] .book-slot`))),
		chromedp.WaitNotPresent(chromedp.CSS(`.items li.task[data-task-id="`+claimID+`"]`)), ready("worklist"))
	checkBooked := func(taskID, apptID string, slots []ref) {
		t.Helper()
		for _, s := range slots {
			var slot struct{ Status string }
			if code := getJSON(t, base+"/fhir/"+s.Reference, &slot); code != 200 || slot.Status != "busy" {
				t.Errorf("%s after booking: %d %q, want busy", s.Reference, code, slot.Status)
			}
		}
		var appt struct{ Status string }
		if code := getJSON(t, base+"/fhir/Appointment/"+apptID, &appt); code != 200 || appt.Status != "booked" {
			t.Errorf("Appointment/%s after booking: %d %q", apptID, code, appt.Status)
		}
		st := readTask(taskID)
		if st.Status != "completed" || st.Owner.Reference != me || len(st.Output) != 1 || st.Output[0].ValueReference.Reference != "Appointment/"+apptID {
			t.Errorf("Task/%s after booking: %+v", taskID, st)
		}
		if slices.Contains(idsOf(worklistOf(t, base, "date="+today)), taskID) {
			t.Errorf("$worklist still lists %s after booking", taskID)
		}
	}
	checkBooked(claimID, booked.ID, booked.Slot)

	// Book an item nobody stored yet: booking claims it first, then books (the slot just taken is no
	// longer proposed).
	pt = byID[bookID].patientID()
	findQuery = "start=" + today + "&end=2026-12-09&patient-reference=Patient/" + pt + "&_count=12"
	if code := getJSON(t, base+"/fhir/Appointment/$find?"+findQuery, &proposals); code != 200 || len(proposals.Entry) == 0 {
		t.Fatalf("$find?%s: %d, %d proposals", findQuery, code, len(proposals.Entry))
	}
	second := proposals.Entry[0].Resource
	if second.ID == booked.ID {
		t.Errorf("$find still proposes the booked %s", booked.ID)
	}
	a.run("book an unclaimed item", chromedp.Click(chromedp.CSS(itemSel(bookID, " .task-book"))),
		chromedp.Click(chromedp.CSS(itemSel(bookID, " .book-find"))),
		chromedp.Click(chromedp.CSS(itemSel(bookID, ` .proposal[data-appointment-id="`+second.ID+`"] .book-slot`))),
		chromedp.WaitNotPresent(chromedp.CSS(`.items li.task[data-task-id="`+bookID+`"]`)), ready("worklist"))
	checkBooked(bookID, second.ID, second.Slot)
	var left []string
	a.eval("read the worklist after booking", shownIDsJS, &left)
	// The page lists what $worklist answers now: the booked items are gone (a booking may raise another
	// item, such as coverage that ends before the new visit).
	now := idsOf(worklistOf(t, base, "date="+today))
	if strings.Join(sortedCopy(left), ",") != strings.Join(sortedCopy(now), ",") || slices.Contains(left, claimID) || slices.Contains(left, bookID) {
		t.Errorf("after two bookings the page lists %v, $worklist answers %v", left, now)
	}
	for _, id := range now {
		if _, ok := byID[id]; !ok {
			t.Logf("after the bookings $worklist raises %s (%s): %s", id, worklistTask(t, base, id).code(), worklistTask(t, base, id).Description)
		}
	}
	a.noConsoleErrors("while claiming and booking")

	// 7. The outreach item's patient: summary with family history, care team and message thread; draft
	// the message, edit it, record it as sent — the item is completed.
	pt = byID[outreachID].patientID()
	a.run("open the outreach patient's summary", chromedp.Navigate(appURL+"?date="+today+"&patient="+pt), ready("summary"))
	var doc struct {
		Entry []struct {
			Resource struct {
				ResourceType string
				ID           string
				Section      []struct {
					Title string
					Code  concept
				}
				Participant []struct {
					Member struct{ Reference, Display string }
				}
				Name json.RawMessage
			}
		}
	}
	getJSON(t, base+"/fhir/Patient/"+pt+"/$summary", &doc)
	var page struct {
		Sections []string `json:"sections"`
		Team     string   `json:"team"`
		Family   string   `json:"family"`
		Thread   []string `json:"thread"`
	}
	a.eval("read the summary", `({sections: [...document.querySelectorAll('.doc-section')].map(s => s.id),
		team: document.querySelector('#card-care-team').innerText,
		family: (document.querySelector('#section-family-history') || {}).innerText || '',
		thread: [...document.querySelectorAll('#card-messages li.message')].map(li => li.dataset.id)})`, &page)
	for _, id := range []string{"section-family-history", "section-care-team", "section-past-problems", "section-immunizations", "section-results", "section-procedures", "section-encounters"} {
		if !slices.Contains(page.Sections, id) {
			t.Errorf("summary of %s: no %s among %v", names[pt], id, page.Sections)
		}
	}
	members := 0
	for _, e := range doc.Entry {
		if e.Resource.ResourceType != "CareTeam" {
			continue
		}
		for _, p := range e.Resource.Participant {
			members++
			if p.Member.Display != "" && !strings.Contains(page.Team, p.Member.Display) {
				t.Errorf("the care team card does not show %q:\n%s", p.Member.Display, page.Team)
			}
		}
	}
	if members == 0 {
		t.Errorf("$summary of %s cites no care team member", names[pt])
	}
	thread := func() []string {
		var c struct {
			Entry []struct{ Resource struct{ ID string } }
		}
		getJSON(t, base+"/fhir/Communication?subject=Patient/"+pt+"&_sort=-sent&_count=50", &c)
		var out []string
		for _, e := range c.Entry {
			out = append(out, e.Resource.ID)
		}
		return out
	}
	if before := thread(); strings.Join(page.Thread, ",") != strings.Join(before, ",") {
		t.Errorf("the message thread shows %v, Communication?subject=…&_sort=-sent answers %v", page.Thread, before)
	}
	// The message goes to the family: the patient's first RelatedPerson.
	var related struct {
		Entry []struct{ Resource struct{ ID string } }
	}
	if code := getJSON(t, base+"/fhir/RelatedPerson?patient=Patient/"+pt, &related); code != 200 || len(related.Entry) == 0 {
		t.Fatalf("RelatedPerson?patient=Patient/%s: %d, %d found; the test data gives every patient a family caregiver", pt, code, len(related.Entry))
	}
	family := "RelatedPerson/" + related.Entry[0].Resource.ID
	var draft struct {
		ID        string
		Recipient []ref
		Payload   []struct{ ContentString string }
	}
	if code := getJSON(t, base+"/fhir/Patient/"+pt+"/$draft-message?task="+outreachID+"&date="+today+"&recipient="+family, &draft); code != 200 || len(draft.Payload) == 0 || draft.Recipient[0].Reference != family {
		t.Fatalf("$draft-message for %s to %s: %d %+v", outreachID, family, code, draft)
	}
	cardItem := `main[data-ready="true"] #card-items li.task[data-task-id="` + outreachID + `"]`
	a.run("draft the message", chromedp.Click(chromedp.CSS(cardItem+" .task-draft")), chromedp.WaitVisible(chromedp.CSS(cardItem+" textarea")))
	var recipient string
	a.eval("read the draft's recipient", `document.querySelector('`+cardItem+` .draft-recipient').value`, &recipient)
	if recipient != "Patient/"+pt {
		t.Errorf("the draft is addressed to %q, want the patient (careflow's choice for a reachable patient)", recipient)
	}
	a.run("address it to the family", a.choose(cardItem+" .draft-recipient", family),
		chromedp.WaitVisible(chromedp.CSS(cardItem+` form[aria-label] textarea`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('`+cardItem+` .draft-recipient') && document.querySelector('`+cardItem+` .draft-recipient').value === `+jsString(family)+` || undefined`))
	var text string
	a.eval("read the draft", `document.querySelector('`+cardItem+` textarea').value`, &text)
	if text != draft.Payload[0].ContentString {
		t.Errorf("the draft shows %q, $draft-message answers %q", text, draft.Payload[0].ContentString)
	}
	const added = " We will call again on Friday."
	a.run("edit the draft", chromedp.SendKeys(chromedp.CSS(cardItem+" textarea"), added))
	a.accessible("with the message draft open")
	a.screenshot("day-message", shots)
	a.run("record it as sent", chromedp.Click(chromedp.CSS(cardItem+" .draft-record")),
		chromedp.WaitNotPresent(chromedp.CSS(`#card-items li.task[data-task-id="`+outreachID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-ready="true"] #card-messages li.message[data-id="`+draft.ID+`"]`)))
	var sent struct {
		Status    string
		Sent      string
		BasedOn   []ref
		Sender    ref
		Recipient []ref
		Payload   []struct{ ContentString string }
	}
	if code := getJSON(t, base+"/fhir/Communication/"+draft.ID, &sent); code != 200 || sent.Status != "completed" || sent.Sent == "" ||
		len(sent.Recipient) != 1 || sent.Recipient[0].Reference != family ||
		len(sent.BasedOn) != 1 || sent.BasedOn[0].Reference != "Task/"+outreachID || sent.Sender.Reference != me ||
		len(sent.Payload) != 1 || sent.Payload[0].ContentString != strings.TrimSpace(text+added) {
		t.Errorf("Communication/%s after recording: %d %+v", draft.ID, code, sent)
	}
	if slices.Contains(idsOf(worklistOf(t, base, "date="+today)), outreachID) {
		t.Errorf("$worklist still lists the outreach item %s after its message was recorded", outreachID)
	}
	a.eval("read the thread", `[...document.querySelectorAll('#card-messages li.message')].map(li => li.dataset.id)`, &page.Thread)
	if after := thread(); strings.Join(page.Thread, ",") != strings.Join(after, ",") || !slices.Contains(after, draft.ID) {
		t.Errorf("after recording, the thread shows %v, the server has %v", page.Thread, after)
	}
	a.screenshot("day-summary", shots)
	a.noConsoleErrors("in the summary")

	// The summary on a phone-sized screen: nothing overflows sideways.
	a.run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), ready("summary"))
	var overflow struct{ Scroll, Inner int }
	a.eval("measure the page width", `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`, &overflow)
	if overflow.Scroll > overflow.Inner {
		t.Errorf("on a 390px screen the summary is %dpx wide", overflow.Scroll)
	}
	a.run("desktop viewport", chromedp.EmulateReset())

	// Recording the same message again (a second tab with the old draft) is refused, not stored twice.
	var again struct{ ResourceType string }
	req := `{"resourceType":"Communication","id":"` + draft.ID + `","status":"completed","subject":{"reference":"Patient/` + pt + `"}}`
	if code := putJSON(t, base+"/fhir/Communication/"+draft.ID, req, map[string]string{"If-None-Match": "*"}, &again); code != 412 {
		t.Errorf("PUT Communication/%s with If-None-Match: * again: %d, want 412", draft.ID, code)
	}
	t.Logf("coordinator's day took %s", time.Since(start).Round(time.Millisecond))
}

// worklistTask is one Task of today's $worklist.
func worklistTask(t *testing.T, base, id string) task {
	t.Helper()
	for _, tk := range worklistOf(t, base, "date="+today) {
		if tk.ID == id {
			return tk
		}
	}
	t.Fatalf("$worklist has no %s", id)
	return task{}
}

// putJSON PUTs a FHIR resource with extra headers and decodes the answer.
func putJSON(t *testing.T, u, body string, headers map[string]string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("PUT %s: %v", u, err)
	}
	return res.StatusCode
}
