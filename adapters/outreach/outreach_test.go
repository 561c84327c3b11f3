package outreach_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/outreach"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestDue(t *testing.T) {
	e := adaptertest.New(t)
	e.Put("Patient", "p1", `{"name":[{"family":"One"}]}`)
	e.Put("Patient", "p2", `{"name":[{"family":"Two"}]}`)
	cr := func(id, status, patient, extra string) {
		e.Put("CommunicationRequest", id, `{"status":"`+status+`","subject":{"reference":"Patient/`+patient+`"}`+extra+`}`)
	}
	cr("call", "active", "p1", `,"priority":"urgent","recipient":[{"reference":"Patient/p1"}],"payload":[{"contentString":"Post-discharge call"}],"occurrenceDateTime":"2026-11-27"`)
	cr("family", "active", "p1", `,"recipient":[{"reference":"RelatedPerson/daughter"}],"category":[{"text":"Caregiver update"}],"occurrencePeriod":{"start":"2026-11-20","end":"2026-11-30"}`)
	cr("answered", "active", "p1", `,"occurrenceDateTime":"2026-11-25"`)
	e.Put("Communication", "done", `{"status":"completed","basedOn":[{"reference":"CommunicationRequest/answered"}],"subject":{"reference":"Patient/p1"}}`)
	cr("tried", "active", "p2", `,"authoredOn":"2026-11-28"`)
	e.Put("Communication", "draft", `{"status":"preparation","basedOn":[{"reference":"CommunicationRequest/tried"}],"subject":{"reference":"Patient/p2"}}`)
	cr("undated", "active", "p2", ``)
	cr("held", "on-hold", "p2", `,"occurrenceDateTime":"2026-11-01"`)
	cr("later", "active", "p2", `,"occurrenceDateTime":"2026-12-20"`)

	s := outreach.New(e.Store, e.Registry).WithPageSize(2)
	rs, err := s.Due(context.Background(), "", now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s %s due %s dated=%v %s %q to %v", r.ID, r.Patient, r.Due.Format(time.RFC3339), r.Dated, r.Priority, r.Text, r.Recipients))
	}
	want := strings.Join([]string{
		`call Patient/p1 due 2026-11-27T00:00:00Z dated=true urgent "Post-discharge call" to [Patient/p1]`,
		`tried Patient/p2 due 2026-11-28T00:00:00Z dated=true routine "message" to []`,
		`family Patient/p1 due 2026-11-30T00:00:00Z dated=true routine "Caregiver update" to [RelatedPerson/daughter]`,
		`undated Patient/p2 due 2026-12-01T12:00:00Z dated=false routine "message" to []`,
		`later Patient/p2 due 2026-12-20T00:00:00Z dated=true routine "message" to []`,
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("due:\n%s\nwant:\n%s", g, want)
	}
	one, err := s.Due(context.Background(), "Patient/p1", now)
	if err != nil || len(one) != 2 {
		t.Errorf("p1: %d %v", len(one), err)
	}
}
