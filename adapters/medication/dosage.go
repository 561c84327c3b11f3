package medication

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/careflow/careflow/adapters/internal/fhirread"
)

// RenderDosage returns the plain-language instruction of one FHIR Dosage (JSON): its text when present,
// otherwise a sentence rendered from its structured elements (see Instruction).
func RenderDosage(dosage json.RawMessage) (string, error) {
	var d fhirread.Dosage
	if err := json.Unmarshal(dosage, &d); err != nil {
		return "", fmt.Errorf("medication: dosage: %w", err)
	}
	return instruction(&d), nil
}

// instruction renders one Dosage:
//
//	<verb> <dose> <route> <frequency> <when> <time of day> <days> <bounds> <count> <as needed> <maximum>
//
// e.g. "Take 1 tablet by mouth twice a day as needed for pain". The verb is the method's label ("Inhale")
// or "Take"; the dose is the first doseAndRate's doseQuantity or doseRange ("1 to 2 tablets"), with count
// nouns (tablet, capsule, puff, drop, …) in the plural when the amount is not 1; the route is a phrase for
// six common SNOMED CT routes ("by mouth", "under the skin", …) or "via <route>"; the frequency comes from
// timing.repeat frequency/period/periodUnit ("twice a day", "every 8 hours", "every 4 to 6 hours") or
// timing.code (BID, TID, …); "when" from the EventTiming codes with offset ("30 minutes before meals");
// bounds from boundsDuration ("for 7 days"), boundsRange or boundsPeriod; count as "for N doses";
// asNeeded as "as needed" or "as needed for <reason>"; maxDosePerPeriod as "(maximum 4 tablets per day)".
// Elements not listed (site, rate, patientInstruction, additionalInstruction) are not rendered. A dosage
// with nothing to say renders as "".
func instruction(d *fhirread.Dosage) string {
	if t := strings.TrimSpace(d.Text); t != "" {
		return t
	}
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	add(dose(d))
	add(route(d.Route))
	if t := d.Timing; t != nil {
		add(frequency(t))
		if r := t.Repeat; r != nil {
			add(when(r))
			add(timesOfDay(r.TimeOfDay))
			add(days(r.DayOfWeek))
			add(bounds(r))
			add(count(r))
		}
	}
	switch {
	case d.AsNeededCodeableConcept != nil && d.AsNeededCodeableConcept.Label() != "":
		add("as needed for " + strings.ToLower(d.AsNeededCodeableConcept.Label()))
	case d.AsNeededBoolean != nil && *d.AsNeededBoolean:
		add("as needed")
	}
	add(maxDose(d.MaxDosePerPeriod))
	if len(parts) == 0 {
		return ""
	}
	verb := "Take"
	if m := d.Method.Label(); m != "" {
		verb = strings.ToUpper(m[:1]) + m[1:]
	}
	return verb + " " + strings.Join(parts, " ")
}

// Instruction renders a statement's dosages as one instruction: dosages with the same sequence apply
// together (" and "), increasing sequences follow each other (", then "); dosages without a sequence are
// separate alternatives in order ("; ").
func Instruction(dosages []fhirread.Dosage) string {
	type item struct {
		seq  int
		has  bool
		text string
	}
	var items []item
	for i := range dosages {
		s := instruction(&dosages[i])
		if s == "" {
			continue
		}
		it := item{text: s}
		if dosages[i].Sequence != nil {
			it.seq, it.has = *dosages[i].Sequence, true
		}
		items = append(items, it)
	}
	key := func(it item) int {
		if it.has {
			return it.seq
		}
		return math.MaxInt // dosages without a sequence follow the sequenced ones, in order
	}
	sort.SliceStable(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			prev := items[i-1]
			switch {
			case it.has && prev.has && it.seq == prev.seq:
				b.WriteString(" and ")
			case it.has && prev.has:
				b.WriteString(", then ")
			default:
				b.WriteString("; ")
			}
			b.WriteString(lowerFirst(it.text))
			continue
		}
		b.WriteString(it.text)
	}
	return b.String()
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// countNouns maps unit spellings of countable dose forms to their singular and plural.
func countNoun(unit string) (singular, plural string, ok bool) {
	u := strings.ToLower(strings.Trim(unit, "{}"))
	switch u {
	case "tab", "tabs", "tbl", "tablet", "tablets":
		return "tablet", "tablets", true
	case "cap", "caps", "capsule", "capsules":
		return "capsule", "capsules", true
	case "puff", "puffs":
		return "puff", "puffs", true
	case "drop", "drops", "gtt":
		return "drop", "drops", true
	case "patch", "patches":
		return "patch", "patches", true
	case "spray", "sprays":
		return "spray", "sprays", true
	case "suppository", "suppositories":
		return "suppository", "suppositories", true
	case "lozenge", "lozenges":
		return "lozenge", "lozenges", true
	case "sachet", "sachets":
		return "sachet", "sachets", true
	}
	return "", "", false
}

func isOne(n json.Number) bool {
	f, err := strconv.ParseFloat(string(n), 64)
	return err == nil && f == 1
}

// amount renders value and unit ("1 tablet", "5 mL", "2 tablets").
func amount(value json.Number, q *fhirread.Quantity) string {
	unit := q.Unit
	if unit == "" {
		unit = q.Code
	}
	if sing, plur, ok := countNoun(unit); ok {
		if isOne(value) {
			unit = sing
		} else {
			unit = plur
		}
	}
	if unit == "" {
		return string(value)
	}
	return string(value) + " " + unit
}

func dose(d *fhirread.Dosage) string {
	for _, dr := range d.DoseAndRate {
		if q := dr.DoseQuantity; q != nil && q.Value != "" {
			return amount(q.Value, q)
		}
		if r := dr.DoseRange; r != nil && r.Low != nil && r.High != nil && r.Low.Value != "" && r.High.Value != "" {
			unitQ := r.High
			if unitQ.Unit == "" && unitQ.Code == "" {
				unitQ = r.Low
			}
			return string(r.Low.Value) + " to " + amount(r.High.Value, unitQ)
		}
	}
	return ""
}

// route renders Dosage.route. SNOMED CT route codes (checked against the official R4 examples and several
// implementation guides): 26643006 Oral route, 260548002 Oral, 47625008 Intravenous route, 78421000
// Intramuscular route, 34206005 Subcutaneous route, 6064005 Topical route, 37839007 Sublingual route.
func route(c *fhirread.CodeableConcept) string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.System != SNOMED {
			continue
		}
		switch cd.Code {
		case "26643006", "260548002":
			return "by mouth"
		case "47625008":
			return "intravenously"
		case "78421000":
			return "into a muscle"
		case "34206005":
			return "under the skin"
		case "6064005":
			return "on the skin"
		case "37839007":
			return "under the tongue"
		}
	}
	l := strings.ToLower(c.Label())
	switch {
	case l == "":
		return ""
	case l == "oral" || l == "oral route" || l == "by mouth" || l == "po":
		return "by mouth"
	}
	return "via " + l
}

// unitNames gives the singular and plural of UCUM time units (Timing.repeat.periodUnit and durations).
func unitNames(code string) (string, string) {
	switch code {
	case "s":
		return "second", "seconds"
	case "min":
		return "minute", "minutes"
	case "h":
		return "hour", "hours"
	case "d":
		return "day", "days"
	case "wk":
		return "week", "weeks"
	case "mo":
		return "month", "months"
	case "a":
		return "year", "years"
	}
	return code, code
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

func article(word string) string {
	if word == "hour" {
		return "an " + word
	}
	return "a " + word
}

// frequency renders Timing.repeat frequency/period or Timing.code.
func frequency(t *fhirread.Timing) string {
	if r := t.Repeat; r != nil && r.Period != "" {
		freq := 1
		if r.Frequency != nil {
			freq = *r.Frequency
		}
		howOften := times(freq)
		if r.FrequencyMax != nil && *r.FrequencyMax > freq {
			howOften = strconv.Itoa(freq) + " to " + strconv.Itoa(*r.FrequencyMax) + " times"
		}
		sing, plur := unitNames(r.PeriodUnit)
		switch {
		case r.PeriodMax != "":
			every := "every " + string(r.Period) + " to " + string(r.PeriodMax) + " " + plur
			if freq == 1 && r.FrequencyMax == nil {
				return every
			}
			return howOften + " " + every
		case isOne(r.Period):
			return howOften + " " + article(sing)
		case freq == 1 && r.FrequencyMax == nil:
			return "every " + string(r.Period) + " " + plur
		default:
			return howOften + " every " + string(r.Period) + " " + plur
		}
	}
	if t.Code == nil {
		return ""
	}
	switch t.Code.Code() {
	case "QD":
		return "once a day"
	case "BID":
		return "twice a day"
	case "TID":
		return "3 times a day"
	case "QID":
		return "4 times a day"
	case "QOD":
		return "every other day"
	case "AM":
		return "every morning"
	case "PM":
		return "every afternoon"
	case "BED":
		return "at bedtime"
	case "WK":
		return "once a week"
	case "MO":
		return "once a month"
	case "Q1H":
		return "every hour"
	case "Q2H", "Q3H", "Q4H", "Q6H", "Q8H":
		return "every " + strings.TrimSuffix(strings.TrimPrefix(t.Code.Code(), "Q"), "H") + " hours"
	}
	return strings.ToLower(t.Code.Label())
}

// eventTiming renders the EventTiming codes of Timing.repeat.when.
func eventTiming(code string) string {
	switch code {
	case "MORN", "MORN.early", "MORN.late":
		return "in the morning"
	case "NOON":
		return "at noon"
	case "AFT", "AFT.early", "AFT.late":
		return "in the afternoon"
	case "EVE", "EVE.early", "EVE.late":
		return "in the evening"
	case "NIGHT":
		return "at night"
	case "PHS":
		return "after sleep"
	case "HS":
		return "at bedtime"
	case "WAKE":
		return "on waking"
	case "C":
		return "with meals"
	case "CM":
		return "with breakfast"
	case "CD":
		return "with lunch"
	case "CV":
		return "with dinner"
	case "AC":
		return "before meals"
	case "ACM":
		return "before breakfast"
	case "ACD":
		return "before lunch"
	case "ACV":
		return "before dinner"
	case "PC":
		return "after meals"
	case "PCM":
		return "after breakfast"
	case "PCD":
		return "after lunch"
	case "PCV":
		return "after dinner"
	}
	return ""
}

func when(r *fhirread.TimingRepeat) string {
	var phrases []string
	for _, c := range r.When {
		p := eventTiming(c)
		if p == "" {
			continue
		}
		if r.Offset != nil && *r.Offset > 0 && (strings.HasPrefix(p, "before ") || strings.HasPrefix(p, "after ")) {
			p = minutes(*r.Offset) + " " + p
		}
		phrases = append(phrases, p)
	}
	return joinAnd(phrases)
}

func minutes(m int) string {
	if m%60 == 0 {
		if m == 60 {
			return "1 hour"
		}
		return strconv.Itoa(m/60) + " hours"
	}
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func timesOfDay(ts []string) string {
	if len(ts) == 0 {
		return ""
	}
	var out []string
	for _, t := range ts {
		out = append(out, strings.TrimSuffix(t, ":00")) // 08:00:00 → 08:00
	}
	return "at " + joinAnd(out)
}

func days(ds []string) string {
	names := map[string]string{"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
		"fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
	var out []string
	for _, d := range ds {
		if n, ok := names[d]; ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "on " + joinAnd(out)
}

func duration(value json.Number, q *fhirread.Quantity) string {
	code := q.Code
	if code == "" {
		code = q.Unit
	}
	sing, plur := unitNames(code)
	if isOne(value) {
		return string(value) + " " + sing
	}
	return string(value) + " " + plur
}

func bounds(r *fhirread.TimingRepeat) string {
	switch {
	case r.BoundsDuration != nil && r.BoundsDuration.Value != "":
		return "for " + duration(r.BoundsDuration.Value, r.BoundsDuration)
	case r.BoundsRange != nil && r.BoundsRange.Low != nil && r.BoundsRange.High != nil:
		return "for " + string(r.BoundsRange.Low.Value) + " to " + duration(r.BoundsRange.High.Value, r.BoundsRange.High)
	case r.BoundsPeriod != nil:
		p := r.BoundsPeriod
		switch {
		case p.Start != "" && p.End != "":
			return "from " + p.Start + " until " + p.End
		case p.End != "":
			return "until " + p.End
		case p.Start != "":
			return "starting " + p.Start
		}
	}
	return ""
}

func count(r *fhirread.TimingRepeat) string {
	if r.Count == nil {
		return ""
	}
	n := strconv.Itoa(*r.Count)
	if r.CountMax != nil && *r.CountMax > *r.Count {
		return "for " + n + " to " + strconv.Itoa(*r.CountMax) + " doses"
	}
	if *r.Count == 1 {
		return "once only"
	}
	return "for " + n + " doses"
}

func maxDose(r *fhirread.Ratio) string {
	if r == nil || r.Numerator == nil || r.Numerator.Value == "" {
		return ""
	}
	per := ""
	if d := r.Denominator; d != nil && d.Value != "" {
		if isOne(d.Value) {
			sing, _ := unitNames(firstNonEmpty(d.Code, d.Unit))
			per = " per " + sing
		} else {
			per = " per " + duration(d.Value, d)
		}
	}
	return "(maximum " + amount(r.Numerator.Value, r.Numerator) + per + ")"
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// joinAnd joins phrases as "a", "a and b", "a, b and c".
func joinAnd(ps []string) string {
	switch len(ps) {
	case 0:
		return ""
	case 1:
		return ps[0]
	}
	return strings.Join(ps[:len(ps)-1], ", ") + " and " + ps[len(ps)-1]
}
