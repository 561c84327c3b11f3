package priorauth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/priorauth"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func claim(patient, priority, created, service string) string {
	return `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
	  "patient":{"reference":"Patient/` + patient + `"},"created":"` + created + `","provider":{"reference":"Organization/clinic"},
	  "priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"` + priority + `"}]},
	  "insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/c1"}}],
	  "item":[{"sequence":1,"productOrService":{"text":"` + service + `"}}]}`
}

func response(claim, outcome, created string) string {
	return `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
	  "patient":{"reference":"Patient/p1"},"created":"` + created + `","insurer":{"reference":"Organization/payer"},"outcome":"` + outcome + `","request":{"reference":"Claim/` + claim + `"}}`
}

func TestRequests(t *testing.T) {
	e := adaptertest.New(t)
	e.Put("Patient", "p1", `{"name":[{"family":"One"}]}`)
	e.Put("Patient", "p2", `{"name":[{"family":"Two"}]}`)
	e.Put("Claim", "urgent-late", claim("p1", "stat", "2026-11-27T10:00:00Z", "MRI knee"))       // deadline 11-30 10:00: late
	e.Put("Claim", "urgent-waiting", claim("p1", "stat", "2026-11-30T10:00:00Z", "CT chest"))    // deadline 12-03: waiting
	e.Put("Claim", "standard-late", claim("p2", "normal", "2026-11-20T09:00:00Z", "Cardiology")) // deadline 11-27: late
	e.Put("ClaimResponse", "queued", response("standard-late", "queued", "2026-11-21"))
	e.Put("Claim", "approved", claim("p2", "normal", "2026-11-10T09:00:00Z", "Physiotherapy"))
	e.Put("ClaimResponse", "ok", response("approved", "complete", "2026-11-12"))
	e.Put("Patient", "p3", `{"name":[{"family":"Three"}]}`)
	e.Put("Claim", "denied", claim("p3", "normal", "2026-11-01T09:00:00Z", "Sleep study")) // nothing asked since
	e.Put("ClaimResponse", "no", response("denied", "error", "2026-11-05"))
	e.Put("Claim", "denied-alt", claim("p1", "normal", "2026-11-01T09:00:00Z", "Brand drug")) // p1 asked again since
	e.Put("ClaimResponse", "no2", response("denied-alt", "error", "2026-11-03"))
	e.Put("Claim", "reversed", claim("p1", "normal", "2026-10-01T09:00:00Z", "Surgery"))
	e.Put("ClaimResponse", "no3", response("reversed", "error", "2026-10-03"))
	e.Put("ClaimResponse", "yes3", response("reversed", "partial", "2026-10-10"))
	e.Put("Claim", "normal-claim", strings.Replace(claim("p1", "normal", "2026-10-01T09:00:00Z", "x"), "preauthorization", "claim", 1))

	rs, err := priorauth.New(e.Store, e.Registry).WithPageSize(2).Requests(context.Background(), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s %s %q deadline %s decided=%v denied=%v %s late=%v alternative-needed=%v", r.ID, r.Patient, r.Label,
			r.Deadline.Format(time.RFC3339), r.Decided, r.Denied, r.Response, r.Late(now), r.NeedsAlternative()))
	}
	want := strings.Join([]string{
		`reversed Patient/p1 "Surgery" deadline 2026-10-08T09:00:00Z decided=true denied=false ClaimResponse/yes3 late=false alternative-needed=false`,
		`denied Patient/p3 "Sleep study" deadline 2026-11-08T09:00:00Z decided=true denied=true ClaimResponse/no late=false alternative-needed=true`,
		`denied-alt Patient/p1 "Brand drug" deadline 2026-11-08T09:00:00Z decided=true denied=true ClaimResponse/no2 late=false alternative-needed=false`,
		`approved Patient/p2 "Physiotherapy" deadline 2026-11-17T09:00:00Z decided=true denied=false ClaimResponse/ok late=false alternative-needed=false`,
		`standard-late Patient/p2 "Cardiology" deadline 2026-11-27T09:00:00Z decided=false denied=false  late=true alternative-needed=false`,
		`urgent-late Patient/p1 "MRI knee" deadline 2026-11-30T10:00:00Z decided=false denied=false  late=true alternative-needed=false`,
		`urgent-waiting Patient/p1 "CT chest" deadline 2026-12-03T10:00:00Z decided=false denied=false  late=false alternative-needed=false`,
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("requests:\n%s\nwant:\n%s", g, want)
	}
}
