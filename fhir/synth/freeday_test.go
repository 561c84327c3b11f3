package synth

import (
	"testing"
	"time"
)

// TestFreeDayMovesInItsDirection: from a used past Friday, moving forward, freeDay skips the weekend to the
// Monday instead of returning to the Friday forever (seed 1's patient 6635 with history hung the generator).
func TestFreeDayMovesInItsDirection(t *testing.T) {
	o := Options{Seed: 1, Patients: 1, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)} // a Wednesday
	g := newGen(o, 0, scenarioFor(o.Seed, 0))
	friday := -12 // Friday 13 November 2026
	if d := g.day(friday); d.Weekday() != time.Friday {
		t.Fatalf("day %d is a %s", friday, d.Weekday())
	}
	g.usedDays[friday] = true
	if got := g.freeDay(friday, 1); got != friday+3 {
		t.Errorf("freeDay(used Friday, forward) = %d (%s), want the Monday %d", got, g.day(got).Format(time.DateOnly), friday+3)
	}
	g.usedDays[2] = true // Friday 27 November, the day after Thanksgiving
	if got := g.freeDay(2, -1); got != 0 {
		t.Errorf("freeDay(used day after Thanksgiving, backward) = %d (%s), want today 0", got, g.day(got).Format(time.DateOnly))
	}
	// The patient whose history hung the generator is generated.
	big := Options{Seed: 1, Patients: 10000, Today: o.Today, History: true}
	if _, err := Patient(big, 6635); err != nil {
		t.Fatal(err)
	}
}
