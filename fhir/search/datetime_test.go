package search_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestParseDateTimeMidnight pins the time-zone rule at the edges where the readings would differ: a value
// without a zone is read in the location given (its midnights, across daylight-saving changes too); a
// value with a zone is the same instants in every location.
func TestParseDateTimeMidnight(t *testing.T) {
	ny, auckland := mustZone(t, "America/New_York"), mustZone(t, "Pacific/Auckland")
	for _, tc := range []struct {
		in     string
		loc    *time.Location
		lo, hi string // in UTC
	}{
		// A day is the location's day: UTC's, New York's (UTC-5 in December), Auckland's (UTC+13).
		{"2026-12-01", nil, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"},
		{"2026-12-01", time.UTC, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"},
		{"2026-12-01", ny, "2026-12-01T05:00:00Z", "2026-12-02T05:00:00Z"},
		{"2026-12-01", auckland, "2026-11-30T11:00:00Z", "2026-12-01T11:00:00Z"},
		// Month and year end at the location's midnight, not 24 h multiples.
		{"2026-12", ny, "2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z"},
		{"2026", auckland, "2025-12-31T11:00:00Z", "2026-12-31T11:00:00Z"},
		{"2026-02", time.UTC, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		// Daylight-saving days in New York last 23 and 25 hours.
		{"2026-03-08", ny, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"},
		{"2026-11-01", ny, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
		// A zoned value near midnight is the same instant wherever it is read.
		{"2026-12-01T23:30:00-05:00", time.UTC, "2026-12-02T04:30:00Z", "2026-12-02T04:30:01Z"},
		{"2026-12-01T23:30:00-05:00", ny, "2026-12-02T04:30:00Z", "2026-12-02T04:30:01Z"},
		{"2026-12-01T23:30:00-05:00", auckland, "2026-12-02T04:30:00Z", "2026-12-02T04:30:01Z"},
		{"2026-12-02T00:00:00Z", ny, "2026-12-02T00:00:00Z", "2026-12-02T00:00:01Z"},
		{"2024-01-01T00:30+01:00", ny, "2023-12-31T23:30:00Z", "2023-12-31T23:31:00Z"},
		{"2026-12-01T10:00:00+14:00", time.UTC, "2026-11-30T20:00:00Z", "2026-11-30T20:00:01Z"},
		// A dateTime without a zone (search values only) is read in the location too.
		{"2026-12-01T23:59", time.UTC, "2026-12-01T23:59:00Z", "2026-12-02T00:00:00Z"},
		{"2026-12-01T23:59", ny, "2026-12-02T04:59:00Z", "2026-12-02T05:00:00Z"},
		{"2026-12-01T23:59:59.9", auckland, "2026-12-01T10:59:59.9Z", "2026-12-01T11:00:00Z"},
		// Fractional seconds: the precision of the digits given, at least a nanosecond.
		{"2026-12-01T10:00:00.25+01:00", ny, "2026-12-01T09:00:00.25Z", "2026-12-01T09:00:00.26Z"},
		{"2026-12-01T10:00:00.1234567891Z", time.UTC, "2026-12-01T10:00:00.123456789Z", "2026-12-01T10:00:00.12345679Z"},
	} {
		lo, hi, ok := search.ParseDateTime(tc.in, tc.loc)
		if !ok || lo.UTC().Format(time.RFC3339Nano) != tc.lo || hi.UTC().Format(time.RFC3339Nano) != tc.hi {
			t.Errorf("ParseDateTime(%q, %v) = %v %v %v, want %s %s", tc.in, tc.loc, lo, hi, ok, tc.lo, tc.hi)
		}
		want := tc.loc
		if want == nil {
			want = time.UTC
		}
		if ok && (lo.Location() != want || hi.Location() != want) {
			t.Errorf("ParseDateTime(%q, %v) returned times in %v/%v", tc.in, tc.loc, lo.Location(), hi.Location())
		}
	}
	for _, bad := range []string{"", "tomorrow", "0000", "2026-13-01", "2026-02-29", "2026-12-01T25:00:00Z",
		"2026-12-01T10:00:60Z", "2026-12-01T10:00:00+15:00", "2026-12-01T10:00:00+0200", "2026-12-01Z",
		"2026-12-01T10Z", "2026-12-01t10:00Z", "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00 01:00"} {
		if _, _, ok := search.ParseDateTime(bad, time.UTC); ok {
			t.Errorf("ParseDateTime(%q) accepted", bad)
		}
	}
}

// TestDateIndexAndQueryAgree: the indexer and the query parser read every value — zoned or not, at
// midnight or not — as the same instants, so a resource dated D is found by a search for D.
func TestDateIndexAndQueryAgree(t *testing.T) {
	r := r4test.Load(t).Registry
	for _, v := range []string{"2026", "2026-12", "2026-12-01", "2026-12-31", "2026-12-01T00:00:00Z",
		"2026-12-01T23:59:59-05:00", "2026-12-02T00:00:00+13:00", "2026-12-01T23:59", "2026-12-01T00:00:00.5"} {
		lo, hi, ok := search.DateRange(v)
		if !ok || lo.Location() != time.UTC || hi.Location() != time.UTC {
			t.Fatalf("DateRange(%q) = %v %v %v", v, lo, hi, ok)
		}
		q, oerr := r.Parse("Patient", url.Values{"birthdate": {v}}, search.ParseOptions{Strict: true})
		if oerr != nil {
			t.Fatalf("Parse birthdate=%s: %v", v, oerr)
		}
		got := q.Criteria[0].Values[0]
		if !got.Low.Equal(lo) || !got.High.Equal(hi) {
			t.Errorf("%s: query [%v, %v), index [%v, %v)", v, got.Low, got.High, lo, hi)
		}
		if !search.DateMatches(lo, hi, got, time.Time{}) {
			t.Errorf("%s: a resource dated %s does not match birthdate=%s", v, v, v)
		}
	}
}

// BenchmarkDateRange measures the indexer's date parsing over a year, a month, a day and three dateTimes.
func BenchmarkDateRange(b *testing.B) {
	dates := []string{"1980", "1980-05", "1980-05-02", "2026-12-01T23:30:00-05:00", "2026-12-01T10:00:00.123Z", "2026-12-01T10:00:00+01:00"}
	for i := 0; i < b.N; i++ {
		for _, s := range dates {
			if _, _, ok := search.DateRange(s); !ok {
				b.Fatal(s)
			}
		}
	}
}
