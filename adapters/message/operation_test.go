package message_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/careflow/careflow/adapters/message"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/operation"
	"github.com/careflow/careflow/fhir/outcome"
)

// TestOperation: $draft-message's parameters and the OperationOutcome of each failure.
func TestOperation(t *testing.T) {
	e := fixture(t)
	b := worklist.New(e.Store, e.Registry)
	op := message.Operation(message.New(b, e.Store, e.Registry))
	out3 := item(t, b, "pm3", worklist.OutreachDue, "")
	run := func(patient, q string) ([]byte, error) {
		params, _ := url.ParseQuery(q)
		return op.Run(context.Background(), operation.Request{ID: patient, Params: params, Now: now})
	}
	if data, err := run("pm3", "task="+out3+"&date=2026-12-01&recipient=Patient/pm3"); err != nil || len(data) == 0 {
		t.Fatalf("draft: %v", err)
	}
	for q, want := range map[string]struct {
		status int
		code   string
	}{
		"":                                  {400, outcome.CodeRequired},
		"task=" + out3 + "&date=1-12-2026":  {400, outcome.CodeInvalid},
		"task=" + out3 + "&x=1":             {400, outcome.CodeNotSupported},
		"task=wl-none":                      {404, outcome.CodeNotFound},
		"task=" + out3 + "&recipient=Org/x": {400, outcome.CodeInvalid},
	} {
		_, err := run("pm3", q)
		var oe *outcome.Error
		if !asOutcome(err, &oe) || oe.Status != want.status || oe.Issues[0].Code != want.code {
			t.Errorf("%q: %v, want %d %s", q, err, want.status, want.code)
		}
	}
}

func asOutcome(err error, oe **outcome.Error) bool {
	e, ok := err.(*outcome.Error)
	*oe = e
	return ok
}
