package fhirread

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
)

// TestParseTime pins how the workflows read dates and times: with search.ParseDateTime, in the
// coordinator's location.
func TestParseTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in     string
		loc    *time.Location
		lo, hi string
	}{
		{"2026", time.UTC, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"2026-02", time.UTC, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"2026-12-01", time.UTC, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"},
		{"2026-12-01", ny, "2026-12-01T05:00:00Z", "2026-12-02T05:00:00Z"},
		{"2026-12-01T23:30:00-05:00", time.UTC, "2026-12-02T04:30:00Z", "2026-12-02T04:30:01Z"},
		{"2026-12-01T10:00:00Z", ny, "2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z"},
		{"2026-12-01T10:00:00.25+01:00", time.UTC, "2026-12-01T09:00:00.25Z", "2026-12-01T09:00:00.26Z"},
		{"2026-12-01T10:00", time.UTC, "2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z"},
	} {
		lo, hi, ok := search.ParseDateTime(tc.in, tc.loc)
		if !ok || lo.UTC().Format(time.RFC3339Nano) != tc.lo || hi.UTC().Format(time.RFC3339Nano) != tc.hi {
			t.Errorf("ParseDateTime(%q, %s) = %v %v %v, want %s %s", tc.in, tc.loc, lo, hi, ok, tc.lo, tc.hi)
		}
	}
	for _, bad := range []string{"", "2026-13-01", "tomorrow", "2026-12-01T25:00:00Z"} {
		if _, _, ok := search.ParseDateTime(bad, time.UTC); ok {
			t.Errorf("ParseDateTime(%q) accepted", bad)
		}
	}
}

func TestSpans(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	p, ok := PeriodSpan(&Period{Start: "2026-12-01", End: "2026-12-10"}, time.UTC)
	if !ok || p.OpenStart || p.OpenEnd || !p.Contains(at("2026-12-10T23:59:59Z")) || p.Contains(at("2026-12-11T00:00:00Z")) ||
		!p.Last.Equal(at("2026-12-10T00:00:00Z")) || !p.EndsBefore(at("2026-12-11T00:00:00Z")) || p.EndsBefore(at("2026-12-10T12:00:00Z")) {
		t.Errorf("closed period: %+v", p)
	}
	open, ok := PeriodSpan(&Period{Start: "2026-12-01"}, time.UTC)
	if !ok || !open.OpenEnd || !open.Contains(at("2099-01-01T00:00:00Z")) || open.EndsBefore(at("2099-01-01T00:00:00Z")) {
		t.Errorf("open-ended period: %+v", open)
	}
	if _, ok := PeriodSpan(&Period{}, time.UTC); ok {
		t.Error("empty period has a span")
	}
	if _, ok := PeriodSpan(nil, time.UTC); ok {
		t.Error("nil period has a span")
	}
	ts, ok := TimingSpan(&Timing{Event: []string{"2026-12-05T10:00:00Z", "2026-12-03"},
		Repeat: &TimingRepeat{BoundsPeriod: &Period{Start: "2026-12-04", End: "2026-12-20"}}}, time.UTC)
	if !ok || !ts.Start.Equal(at("2026-12-03T00:00:00Z")) || !ts.End.Equal(at("2026-12-21T00:00:00Z")) || !ts.Last.Equal(at("2026-12-20T00:00:00Z")) {
		t.Errorf("timing outer limits: %+v", ts)
	}
	if _, ok := TimingSpan(&Timing{Repeat: &TimingRepeat{Frequency: new(int)}}, time.UTC); ok {
		t.Error("a bare frequency has a span")
	}
	unbounded, ok := TimingSpan(&Timing{Event: []string{"2026-12-05"}, Repeat: &TimingRepeat{BoundsPeriod: &Period{Start: "2026-12-06"}}}, time.UTC)
	if !ok || !unbounded.OpenEnd || unbounded.OpenStart {
		t.Errorf("open bounds: %+v", unbounded)
	}
}

func TestReferences(t *testing.T) {
	for in, want := range map[string]string{
		"Patient/p1":                       "Patient/p1",
		"Patient/p1/_history/3":            "Patient/p1",
		"https://x.org/fhir/Patient/p1":    "https://x.org/fhir/Patient/p1",
		"#c1":                              "#c1",
		"urn:uuid:0b8f0b3c-1f1e-4f61-9c6c": "urn:uuid:0b8f0b3c-1f1e-4f61-9c6c",
	} {
		if got := RefKey(in); got != want {
			t.Errorf("RefKey(%q) = %q, want %q", in, got, want)
		}
	}
	if RefType("Patient/p1") != "Patient" || RefID("Patient/p1") != "p1" || RefType("https://x.org/fhir/Patient/p1") != "" || RefType("#c1") != "" {
		t.Error("RefType/RefID")
	}
	if PatientRef("p1") != "Patient/p1" || PatientRef("Patient/p1/_history/2") != "Patient/p1" || PatientRef("") != "" {
		t.Error("PatientRef")
	}
	var cc CodeableConcept
	if err := json.Unmarshal([]byte(`{"coding":[{"system":"s","code":"c"},{"code":"d","display":"D"}]}`), &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Label() != "D" || cc.Code() != "c" || !cc.HasCode("s", "c") || cc.HasCode("t", "c") || !cc.HasCode("", "d") {
		t.Errorf("CodeableConcept helpers: %+v", cc)
	}
	var nilCC *CodeableConcept
	if nilCC.Label() != "" || nilCC.Code() != "" {
		t.Error("nil CodeableConcept")
	}
	if err := Decode([]byte(`{"resourceType":"Patient","id":"p"}`), "CarePlan", &CarePlan{}); err == nil {
		t.Error("wrong resource type decoded")
	}
	// A struct without Head is checked by a first pass.
	var plain struct {
		ID string `json:"id"`
	}
	if err := Decode([]byte(`{"resourceType":"Patient","id":"p"}`), "CarePlan", &plain); err == nil {
		t.Error("wrong resource type decoded into a struct without Head")
	}
	if err := Decode([]byte(`{"resourceType":"Patient","id":"p"}`), "Patient", &plain); err != nil || plain.ID != "p" {
		t.Errorf("struct without Head: %v %+v", err, plain)
	}
	var cp CarePlan
	if err := Decode([]byte(`{"resourceType":"CarePlan","id":"c","status":"active"}`), "CarePlan", &cp); err != nil || cp.ID != "c" || cp.Status != "active" {
		t.Errorf("CarePlan: %v %+v", err, cp)
	}
	if err := Decode([]byte(`{"status":"active"}`), "CarePlan", &CarePlan{}); err == nil {
		t.Error("a body without resourceType decoded")
	}
}
