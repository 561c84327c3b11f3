package search

import (
	"strconv"
	"time"
)

// ParseDateTime is careflow's one parser of FHIR date, dateTime and instant values (and of the date values
// of searches, without their prefix). It returns the instant range [lo, hi) the value denotes at its
// precision — "2026" is the whole year, "2026-12" the month, "2026-12-01" the day, "2026-12-01T10:00" the
// minute, "…T10:00:00" the second, "…T10:00:00.25" a hundredth of a second — with lo and hi in loc.
//
// The time-zone rule: a value with a zone (Z or ±hh:mm, at most ±14:00) denotes the same instants whatever
// loc is; a value without one — a date or partial date, which FHIR never qualifies with a zone, or a search
// dateTime without one — is read in loc, and its day, month or year boundaries are loc's midnights (a local
// day across a daylight-saving change lasts 23 or 25 hours). loc nil is UTC. FHIR search (search.html#date)
// says a value without a zone is in "the server's local time zone": careflow's server time zone is UTC, so
// the indexer (DateRange) and the query parser (Parse) both pass time.UTC and always agree; workflows pass
// the coordinator's location where a local day is meant and query the store with explicit instants.
//
// Accepted syntax: YYYY, YYYY-MM, YYYY-MM-DD and YYYY-MM-DDThh:mm[:ss[.f…]][Z|±hh:mm] with real calendar
// dates (year 0001 on, 29 February only in leap years), hours 00–23, minutes and seconds 00–59 (a leap
// second "60" is rejected) and any number of fractional digits (beyond nine the precision stays one
// nanosecond). ok is false for anything else, including "".
func ParseDateTime(s string, loc *time.Location) (lo, hi time.Time, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	num := func(i, w int) (int, bool) {
		if i+w > len(s) {
			return 0, false
		}
		n := 0
		for _, c := range []byte(s[i : i+w]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok := num(0, 4)
	if !ok || y < 1 {
		return lo, hi, false
	}
	if len(s) == 4 {
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc), time.Date(y+1, 1, 1, 0, 0, 0, 0, loc), true
	}
	m, ok := num(5, 2)
	if s[4] != '-' || !ok || m < 1 || m > 12 {
		return lo, hi, false
	}
	if len(s) == 7 {
		return time.Date(y, time.Month(m), 1, 0, 0, 0, 0, loc), time.Date(y, time.Month(m)+1, 1, 0, 0, 0, 0, loc), true
	}
	d, ok := num(8, 2)
	if len(s) < 10 || s[7] != '-' || !ok || d < 1 || d > daysIn(y, time.Month(m)) {
		return lo, hi, false
	}
	if len(s) == 10 {
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc), time.Date(y, time.Month(m), d+1, 0, 0, 0, 0, loc), true
	}
	hh, ok1 := num(11, 2)
	mm, ok2 := num(14, 2)
	if s[10] != 'T' || len(s) < 16 || s[13] != ':' || !ok1 || !ok2 || hh > 23 || mm > 59 {
		return lo, hi, false
	}
	i, prec, sec, nsec := 16, time.Minute, 0, 0
	if i < len(s) && s[i] == ':' {
		if sec, ok = num(i+1, 2); !ok || sec > 59 {
			return lo, hi, false
		}
		i, prec = i+3, time.Second
		if i < len(s) && s[i] == '.' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			digits := j - i - 1
			if digits == 0 {
				return lo, hi, false
			}
			// The precision is one unit of the last digit (.5 → 100ms, .123 → 1ms), at least 1ns.
			used := min(digits, 9)
			frac, _ := strconv.Atoi(s[i+1 : i+1+used])
			for k := used; k < 9; k++ {
				frac *= 10
			}
			nsec, i, prec = frac, j, pow10Duration(9-used)
		}
	}
	zone := loc
	if i < len(s) {
		switch s[i] {
		case 'Z':
			zone, i = time.UTC, i+1
		case '+', '-':
			oh, ok1 := num(i+1, 2)
			om, ok2 := num(i+4, 2)
			if !ok1 || !ok2 || s[i+3] != ':' || oh > 14 || om > 59 || oh == 14 && om != 0 {
				return lo, hi, false
			}
			offset := oh*3600 + om*60
			if s[i] == '-' {
				offset = -offset
			}
			zone, i = time.FixedZone("", offset), i+6
		default:
			return lo, hi, false
		}
	}
	if i != len(s) {
		return lo, hi, false
	}
	lo = time.Date(y, time.Month(m), d, hh, mm, sec, nsec, zone).In(loc)
	return lo, lo.Add(prec), true
}

// pow10Duration returns 10^n nanoseconds.
func pow10Duration(n int) time.Duration {
	d := time.Duration(1)
	for range n {
		d *= 10
	}
	return d
}

// daysIn returns the number of days of a month, leap years included.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
