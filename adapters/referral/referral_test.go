package referral_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/referral"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const referralCat = `"category":[{"coding":[{"system":"http://snomed.info/sct","code":"3457005"}]}]`

func sr(status, priority, authored, extra string) string {
	s := `{"status":"` + status + `","intent":"order",` + referralCat + `,"subject":{"reference":"Patient/p1"},"code":{"text":"Cardiology consult"}`
	if priority != "" {
		s += `,"priority":"` + priority + `"`
	}
	if authored != "" {
		s += `,"authoredOn":"` + authored + `"`
	}
	return s + extra + `}`
}

func apptFor(sr, status, start string) string {
	return `{"status":"` + status + `","start":"` + start + `","end":"` + start[:11] + `23:00:00Z","basedOn":[{"reference":"ServiceRequest/` + sr + `"}],"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`
}

func TestReferrals(t *testing.T) {
	e := adaptertest.New(t)
	e.Put("Patient", "p1", `{"name":[{"family":"One"}]}`)
	e.Put("ServiceRequest", "unscheduled", sr("active", "", "2026-11-20", ""))
	e.Put("ServiceRequest", "urgent", sr("active", "urgent", "2026-11-30", ""))
	e.Put("ServiceRequest", "noresult", sr("active", "", "2026-11-01", ""))
	e.Put("Appointment", "a-noresult", apptFor("noresult", "booked", "2026-11-20T09:00:00Z"))
	e.Put("ServiceRequest", "reported", sr("active", "", "2026-11-01", ""))
	e.Put("Appointment", "a-reported", apptFor("reported", "fulfilled", "2026-11-15T09:00:00Z"))
	e.Put("DiagnosticReport", "dr", `{"status":"final","code":{"text":"Consult note"},"basedOn":[{"reference":"ServiceRequest/reported"}]}`)
	e.Put("ServiceRequest", "completed", sr("completed", "", "2026-10-01", ""))
	e.Put("ServiceRequest", "lab", `{"status":"active","intent":"order","category":[{"coding":[{"system":"http://snomed.info/sct","code":"108252007"}]}],"subject":{"reference":"Patient/p1"},"authoredOn":"2026-10-01"}`)
	e.Put("ServiceRequest", "cancelledvisit", sr("active", "", "2026-11-25", ""))
	e.Put("Appointment", "a-cancelled", apptFor("cancelledvisit", "cancelled", "2026-11-28T09:00:00Z"))
	e.Put("ServiceRequest", "recent", sr("active", "", "2026-11-10", ""))
	e.Put("Appointment", "a-recent", apptFor("recent", "booked", "2026-11-29T09:00:00Z"))
	e.Put("ServiceRequest", "documented", sr("active", "", "2026-11-01", ""))
	e.Put("Encounter", "e-documented", `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"},"basedOn":[{"reference":"ServiceRequest/documented"}],"period":{"start":"2026-11-10T09:00:00Z"}}`)
	e.Put("DocumentReference", "note", `{"status":"current","content":[{"attachment":{"contentType":"text/plain","data":"b2s="}}],"context":{"related":[{"reference":"ServiceRequest/documented"}]}}`)
	e.Put("ServiceRequest", "inprogress", sr("active", "", "2026-10-20", ""))
	e.Put("Appointment", "a-inprogress", apptFor("inprogress", "fulfilled", "2026-11-01T09:00:00Z"))
	e.Put("Procedure", "proc", `{"status":"in-progress","subject":{"reference":"Patient/p1"},"basedOn":[{"reference":"ServiceRequest/inprogress"}]}`)

	rs, err := referral.New(e.Store, e.Registry).WithPageSize(2).Referrals(context.Background(), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s due %s scheduled=%v visit=%s linked=%v notScheduled=%v resultMissing=%v", r.ID, r.Due.Format("2006-01-02"),
			r.Scheduled, r.VisitRef, r.ResultLinked, r.NotScheduled(), r.ResultMissing(now)))
	}
	want := strings.Join([]string{
		"inprogress due 2026-11-08 scheduled=true visit=Appointment/a-inprogress linked=false notScheduled=false resultMissing=true",
		"documented due 2026-11-17 scheduled=true visit=Encounter/e-documented linked=true notScheduled=false resultMissing=false",
		"reported due 2026-11-22 scheduled=true visit=Appointment/a-reported linked=true notScheduled=false resultMissing=false",
		"noresult due 2026-11-27 scheduled=true visit=Appointment/a-noresult linked=false notScheduled=false resultMissing=true",
		"urgent due 2026-12-03 scheduled=false visit= linked=false notScheduled=true resultMissing=false",
		"unscheduled due 2026-12-04 scheduled=false visit= linked=false notScheduled=true resultMissing=false",
		"recent due 2026-12-06 scheduled=true visit=Appointment/a-recent linked=false notScheduled=false resultMissing=false",
		"cancelledvisit due 2026-12-09 scheduled=false visit= linked=false notScheduled=true resultMissing=false",
	}, "\n")
	// Sorted by due date, then id.
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("referrals:\n%s\nwant:\n%s", g, want)
	}
}
