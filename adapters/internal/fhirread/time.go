package fhirread

import (
	"time"

	"github.com/careflow/careflow/fhir/search"
)

// Dates and times are read by search.ParseDateTime, the parser the store's index uses: values without a
// zone (dates) in loc, the coordinator's location, so that "2026-12-01" means the coordinator's 1 December.

// Span is an instant range [Start, End). An open start or end (a Period without start or end) is flagged
// and its time is zero. Last is the start of the value that gave End ("2026-12-10" as an end gives End
// 2026-12-11T00:00 and Last 2026-12-10T00:00): the natural "due by" date of a window that has only an end.
type Span struct {
	Start, End, Last   time.Time
	OpenStart, OpenEnd bool
}

// Contains reports whether t lies in the span.
func (s Span) Contains(t time.Time) bool {
	return (s.OpenStart || !t.Before(s.Start)) && (s.OpenEnd || t.Before(s.End))
}

// EndsBefore reports whether the span ends at or before t (an open end never does).
func (s Span) EndsBefore(t time.Time) bool {
	return !s.OpenEnd && !s.End.After(t)
}

// PeriodSpan returns the span of a Period: from the start of its start value's precision to the end of its
// end value's precision (Period.end "2026-12-31" includes the whole of 31 December). ok is false when the
// period is nil or neither bound parses, which callers treat as "no period stated".
func PeriodSpan(p *Period, loc *time.Location) (Span, bool) {
	if p == nil {
		return Span{}, false
	}
	var s Span
	lo, _, okS := search.ParseDateTime(p.Start, loc)
	last, hi, okE := search.ParseDateTime(p.End, loc)
	s.Start, s.OpenStart = lo, !okS
	s.End, s.Last, s.OpenEnd = hi, last, !okE
	return s, okS || okE
}

// TimingSpan returns the outer limits of a Timing — its earliest and latest event and its
// repeat.boundsPeriod — as search.html#date prescribes for Timing ("only the outer limits matter"). ok is
// false when the timing places nothing on the calendar (only a frequency, a code or a boundsDuration).
func TimingSpan(t *Timing, loc *time.Location) (Span, bool) {
	if t == nil {
		return Span{}, false
	}
	var s Span
	have := false
	widen := func(w Span) {
		if !have {
			s, have = w, true
			return
		}
		if w.OpenStart {
			s.OpenStart, s.Start = true, time.Time{}
		} else if !s.OpenStart && w.Start.Before(s.Start) {
			s.Start = w.Start
		}
		if w.OpenEnd {
			s.OpenEnd, s.End, s.Last = true, time.Time{}, time.Time{}
		} else if !s.OpenEnd && w.End.After(s.End) {
			s.End, s.Last = w.End, w.Last
		}
	}
	for _, e := range t.Event {
		if lo, hi, ok := search.ParseDateTime(e, loc); ok {
			widen(Span{Start: lo, End: hi, Last: lo})
		}
	}
	if t.Repeat != nil {
		if b, ok := PeriodSpan(t.Repeat.BoundsPeriod, loc); ok {
			widen(b)
		}
	}
	return s, have
}
