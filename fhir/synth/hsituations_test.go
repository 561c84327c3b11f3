package synth_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

// historySets are the data sets of seeds with the clinical history.
func historySets() []synth.Options {
	var out []synth.Options
	for _, o := range seeds {
		o.History = true
		out = append(out, o)
	}
	return out
}

// generated caches the history sets the tests of this file share (generating them is most of their time).
var generated = struct {
	sync.Mutex
	sets map[synth.Options][]*synth.Bundle
}{sets: map[synth.Options][]*synth.Bundle{}}

func generate(t *testing.T, o synth.Options) []*synth.Bundle {
	t.Helper()
	generated.Lock()
	defer generated.Unlock()
	if b, ok := generated.sets[o]; ok {
		return b
	}
	b, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	generated.sets[o] = b
	return b
}

type parsed struct {
	es    []entry
	all   []resource
	byURL map[string]resource
	ident map[string]string // fullUrl → ifNoneExist
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	p := parsed{es: entries(t, data), byURL: map[string]resource{}, ident: map[string]string{}}
	for _, e := range p.es {
		var r resource
		if err := json.Unmarshal(e.Resource, &r); err != nil {
			t.Fatal(err)
		}
		p.all = append(p.all, r)
		p.byURL[e.FullURL] = r
		p.ident[e.FullURL] = e.Request.IfNoneExist
	}
	return p
}

func refOf(v any) string { return str(v, "reference") }

func refsOf(v any) []string {
	var out []string
	xs, _ := v.([]any)
	for _, x := range xs {
		out = append(out, refOf(x))
	}
	return out
}

func instantOf(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("instant %q: %v", s, err)
	}
	return v
}

// TestSchedulesAndSlots: every appointment refers to its own Slot (busy unless the appointment was
// cancelled, which frees it), at the appointment's times, in the Schedule of its practitioner, whose planning
// horizon covers it; every bundle offers bookable slots (free or held) after today that overlap no visit of
// the schedule's practitioner in the bundle; and a directory resource (Schedule, free Slot, …) is the same in
// every bundle of a set, so the bundles load in any order.
func TestSchedulesAndSlots(t *testing.T) {
	for _, o := range historySets()[:4] {
		bundles := generate(t, o)
		directory := map[string][]byte{}
		for _, b := range bundles {
			p := parse(t, b.JSON)
			free := 0
			busy := map[string][][2]time.Time{} // schedule fullUrl → busy intervals
			var pairs []string                  // urn:uuid → the identifier it stands for, to compare directory resources across bundles
			for url, ident := range p.ident {
				pairs = append(pairs, url, ident)
			}
			canon := strings.NewReplacer(pairs...)
			for _, es := range p.es {
				if !strings.HasPrefix(es.Request.IfNoneExist, "identifier="+synth.SystemRecord+"|") && es.Request.URL != "Patient" {
					es.Resource = []byte(canon.Replace(string(es.Resource)))
					if prev, ok := directory[es.Request.IfNoneExist]; ok && !bytes.Equal(prev, es.Resource) {
						t.Errorf("seed %d %s: directory resource %s differs from another bundle's", o.Seed, b.File, es.Request.IfNoneExist)
					}
					directory[es.Request.IfNoneExist] = es.Resource
				}
			}
			for _, r := range p.all {
				if str(r, "resourceType") != "Appointment" {
					continue
				}
				slots := refsOf(r["slot"])
				if len(slots) != 1 {
					t.Fatalf("seed %d %s: appointment with slots %v", o.Seed, b.File, slots)
				}
				s := p.byURL[slots[0]]
				want := "busy"
				if str(r, "status") == "cancelled" {
					want = "free"
				}
				if str(s, "resourceType") != "Slot" || str(s, "status") != want || str(s, "start") != str(r, "start") || str(s, "end") != str(r, "end") {
					t.Errorf("seed %d %s: %s appointment %s–%s has slot %s %s–%s", o.Seed, b.File, str(r, "status"), str(r, "start"), str(r, "end"), str(s, "status"), str(s, "start"), str(s, "end"))
				}
				sched := p.byURL[refOf(s["schedule"])]
				if str(sched, "resourceType") != "Schedule" {
					t.Fatalf("seed %d %s: slot without its schedule", o.Seed, b.File)
				}
				// The schedule is the appointment's practitioner's.
				names := str(sched, "comment")
				var prac string
				for _, part := range r["participant"].([]any) {
					if d := str(part, "actor", "display"); strings.HasPrefix(d, "Dr. ") {
						prac = d
					}
				}
				if !strings.Contains(names, prac) {
					t.Errorf("seed %d %s: %s's appointment in the schedule %q", o.Seed, b.File, prac, names)
				}
				if want == "busy" {
					busy[refOf(s["schedule"])] = append(busy[refOf(s["schedule"])], [2]time.Time{instantOf(t, str(s, "start")), instantOf(t, str(s, "end"))})
				}
			}
			for _, r := range p.all {
				if str(r, "resourceType") != "Slot" {
					continue
				}
				sched := p.byURL[refOf(r["schedule"])]
				start, end := instantOf(t, str(r, "start")), instantOf(t, str(r, "end"))
				from, to := instantOf(t, str(sched, "planningHorizon", "start")), instantOf(t, str(sched, "planningHorizon", "end"))
				if start.Before(from) || end.After(to) {
					t.Errorf("seed %d %s: slot %s–%s outside the horizon %s–%s", o.Seed, b.File, start, end, from, to)
				}
				ids, _ := r["identifier"].([]any)
				if str(ids[0], "system") != synth.SystemStaff {
					continue
				}
				// A bookable slot of the schedule.
				if st := str(r, "status"); st != "free" && st != "busy-tentative" {
					t.Errorf("seed %d %s: directory slot %s", o.Seed, b.File, st)
				}
				if st := str(r, "status"); st == "free" {
					free++
				}
				if !start.After(o.Today.AddDate(0, 0, 1)) {
					t.Errorf("seed %d %s: bookable slot at %s, not after today", o.Seed, b.File, start)
				}
				for _, iv := range busy[refOf(r["schedule"])] {
					if start.Before(iv[1]) && iv[0].Before(end) {
						t.Errorf("seed %d %s: bookable slot %s overlaps a visit", o.Seed, b.File, start)
					}
				}
			}
			if free == 0 {
				t.Errorf("seed %d %s: no free slot to book", o.Seed, b.File)
			}
		}
	}
}

// TestHistorySituations: every situation of the clinical history is exercised by each of these data sets
// (about 20 patients or more each), and the ones that can be read off the JSON alone — outreach due, a
// referral not scheduled, a prior authorization pending past its deadline or denied without an alternative —
// are exactly the resources the manifest names (no more, no fewer).
func TestHistorySituations(t *testing.T) {
	for k, o := range historySets() {
		bundles := generate(t, o)
		seen := map[string]int{}
		for _, b := range bundles {
			for _, c := range b.SituationCodes() {
				seen[c]++
			}
			p := parse(t, b.JSON)
			today := date(o.Today)
			want := map[string][]string{}
			based := map[string]bool{} // fullUrls some resource is basedOn
			for _, r := range p.all {
				for _, u := range refsOf(r["basedOn"]) {
					if str(r, "resourceType") != "Appointment" {
						based[u] = true
					}
				}
			}
			apptFor := map[string]bool{}
			answered := map[string]bool{}
			for _, r := range p.all {
				if str(r, "resourceType") == "Appointment" {
					for _, u := range refsOf(r["basedOn"]) {
						apptFor[u] = true
					}
				}
				if str(r, "resourceType") == "ClaimResponse" {
					answered[refOf(r["request"])] = true
				}
			}
			var claims []string
			for url, r := range p.byURL {
				if str(r, "resourceType") == "Claim" {
					claims = append(claims, url)
				}
			}
			for url, r := range p.byURL {
				switch str(r, "resourceType") {
				case "CommunicationRequest":
					if str(r, "status") == "active" && str(r, "occurrenceDateTime") < today && !based[url] {
						want[synth.SitOutreachDue] = append(want[synth.SitOutreachDue], url)
					}
				case "ServiceRequest":
					if str(r, "status") == "active" && slices.Contains(codes(r["category"].([]any)[0]), "3457005") &&
						str(r, "authoredOn") <= date(o.Today.AddDate(0, 0, -14)) && !apptFor[url] {
						want[synth.SitReferralNotScheduled] = append(want[synth.SitReferralNotScheduled], url)
					}
				case "Claim":
					days := 7
					if slices.Contains(codes(r["priority"]), "stat") {
						days = 3
					}
					if str(r, "use") != "preauthorization" {
						t.Errorf("a claim of use %s", str(r, "use"))
					}
					if !answered[url] && date(day(str(r, "created")).AddDate(0, 0, days)) < today {
						want[synth.SitPriorAuthPendingLate] = append(want[synth.SitPriorAuthPendingLate], url)
					}
				case "ClaimResponse":
					if str(r, "outcome") != "error" {
						continue
					}
					alternative := false
					for _, c := range claims {
						if c != refOf(r["request"]) && str(p.byURL[c], "created") >= str(r, "created") {
							alternative = true
						}
					}
					if !alternative {
						want[synth.SitPriorAuthDeniedNoAlter] = append(want[synth.SitPriorAuthDeniedNoAlter], refOf(r["request"]))
					}
				}
			}
			for code, urls := range want {
				var got []string
				for _, s := range b.Situations {
					if s.Code == code {
						got = append(got, s.Resources[0].FullURL)
					}
				}
				sort.Strings(got)
				sort.Strings(urls)
				if !slices.Equal(got, urls) {
					t.Errorf("seed %d %s: %s names %v, the records say %v", o.Seed, b.File, code, got, urls)
				}
			}
			for _, s := range b.Situations {
				if _, checked := want[s.Code]; !checked && slices.Contains([]string{synth.SitOutreachDue, synth.SitReferralNotScheduled, synth.SitPriorAuthPendingLate, synth.SitPriorAuthDeniedNoAlter}, s.Code) {
					t.Errorf("seed %d %s: %s named, the records have none", o.Seed, b.File, s.Code)
				}
			}
		}
		if k >= 5 { // the last set is smaller in practice: not every situation
			continue
		}
		for _, info := range synth.Situations {
			if info.History && seen[info.Code] == 0 {
				t.Errorf("seed %d: no patient exercises %s", o.Seed, info.Code)
			}
		}
	}
}

func date(t time.Time) string { return t.Format(time.DateOnly) }
