package scheduling_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// TestBookingOverHTTP: the operations are routed at the type ([base]/Appointment/$find), $find answers
// GET, $book only POST, reads of Appointments by id still work, and the CapabilityStatement lists the three
// operations on Appointment with their OperationDefinitions.
func TestBookingOverHTTP(t *testing.T) {
	e := newBookEnv(t, sqlitetest.Open(t))
	ts := httptest.NewServer(rest.New(rest.Config{}, e.svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer ts.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+"/fhir"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	st, body := do("GET", "/Appointment/$find?practitioner=Practitioner/dr-a&patient-reference=Patient/p1&start=2026-12-02&end=2026-12-02&_count=1", "")
	if st != 200 || !strings.Contains(body, `"reference":"Slot/a1"`) {
		t.Fatalf("GET $find: %d %s", st, body)
	}
	i := strings.Index(body, `{"resourceType":"Appointment"`)
	j := strings.LastIndex(body, `,"search":`)
	proposal := body[i:j]
	if st, body := do("GET", "/Appointment/$book", ""); st != http.StatusMethodNotAllowed || !strings.Contains(body, "OperationOutcome") {
		t.Errorf("GET $book: %d %s", st, body)
	}
	st, body = do("POST", "/Appointment/$book", `{"resourceType":"Parameters","parameter":[{"name":"appointment-resource","resource":`+proposal+`}]}`)
	if st != 200 || !strings.Contains(body, `"status":"booked"`) {
		t.Fatalf("POST $book: %d %s", st, body)
	}
	if st, body := do("POST", "/Appointment/$book", `{"resourceType":"Parameters","parameter":[{"name":"appointment-resource","resource":`+proposal+`}]}`); st != http.StatusConflict || !strings.Contains(body, `"code":"conflict"`) {
		t.Errorf("booking again: %d %s", st, body)
	}
	if st, _ := do("GET", "/Slot/a1", ""); st != 200 {
		t.Errorf("GET Slot/a1: %d", st)
	}
	_, caps := do("GET", "/metadata", "")
	for _, op := range []string{"find", "hold", "book"} {
		if !strings.Contains(caps, `"name":"`+op+`","definition":"http://careflow.example/fhir/OperationDefinition/Appointment-`+op+`"`) {
			t.Errorf("the CapabilityStatement does not list $%s", op)
		}
		st, def := do("GET", "/OperationDefinition/Appointment-"+op, "")
		if st != 200 || !strings.Contains(def, `"type":true`) {
			t.Errorf("OperationDefinition/Appointment-%s: %d %s", op, st, def)
		}
		if _, verr := r4test.Validator(t).Validate("OperationDefinition", []byte(def)); verr != nil {
			t.Errorf("OperationDefinition/Appointment-%s does not validate: %v", op, verr)
		}
	}
}
