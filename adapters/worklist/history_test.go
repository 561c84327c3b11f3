package worklist_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/synth"
)

// TestHistorySituationsRaiseItems checks the second-generation items against the generated clinical
// history (fhir/synth, Options.History), whose manifest labels each patient's situations from the records
// with its own, independently written rules: every labelled situation raises its item for that patient, and
// where the two definitions are the same, an item due by today is raised only for a labelled patient. (The generator's
// referral-result-missing has no 7-day grace and its post-discharge situation asks for a timely contact, so
// those hold one way.)
func TestHistorySituationsRaiseItems(t *testing.T) {
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	opt := synth.Options{Seed: 11, Patients: 48, Today: today, History: true}
	bundles, err := synth.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	e := adaptertest.New(t)
	e.Synth(opt)
	tasks, err := worklist.New(e.Store, e.Registry).Build(context.Background(), today, worklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]map[string]bool{} // patient → item codes
	due := map[string]map[string]bool{}   // patient → codes of the items due by the end of today
	for _, task := range tasks {
		for _, m := range []map[string]map[string]bool{items, due} {
			if m[task.Patient] == nil {
				m[task.Patient] = map[string]bool{}
			}
		}
		items[task.Patient][task.Code] = true
		if task.Due.Before(today.AddDate(0, 0, 1)) {
			due[task.Patient][task.Code] = true
		}
	}
	for _, c := range []struct {
		situation, code string
		both            bool // the definitions agree: an item only for a labelled patient
	}{
		{synth.SitPostDischargeFollowUp, worklist.PostDischargeFollowUp, false},
		{synth.SitDischargeMedsNotRecon, worklist.DischargeMedication, false},
		{synth.SitReferralNotScheduled, worklist.ReferralNotScheduled, true},
		{synth.SitOutreachDue, worklist.OutreachDue, false},
		{synth.SitPriorAuthPendingLate, worklist.PriorAuthPending, true},
		{synth.SitPriorAuthDeniedNoAlter, worklist.PriorAuthDenied, true},
		{synth.SitTherapeuticDuplication, worklist.TherapeuticDuplication, true},
	} {
		labelled := 0
		for _, b := range bundles {
			patient := bundlePatient(t, b)
			has := false
			for _, s := range b.Situations {
				has = has || s.Code == c.situation
			}
			if has {
				labelled++
			}
			switch {
			case has && !items[patient][c.code]:
				t.Errorf("%s (%s) is labelled %s but has no %s item", b.File, patient, c.situation, c.code)
			case c.both && !has && due[patient][c.code]:
				t.Errorf("%s (%s) has a %s item due by today but is not labelled %s", b.File, patient, c.code, c.situation)
			}
		}
		if labelled == 0 {
			t.Errorf("no generated patient is labelled %s: the check is empty", c.situation)
		}
	}
	// referral-result-missing: an item implies the generator's label (whose rule has no grace period).
	for _, b := range bundles {
		patient := bundlePatient(t, b)
		if !items[patient][worklist.ReferralResultMissing] {
			continue
		}
		var codes []string
		for _, s := range b.Situations {
			codes = append(codes, s.Code)
		}
		sort.Strings(codes)
		if !strings.Contains(strings.Join(codes, ","), synth.SitReferralResultMissing) {
			t.Errorf("%s has a %s item but is not labelled %s (%v)", b.File, worklist.ReferralResultMissing, synth.SitReferralResultMissing, codes)
		}
	}
}

// bundlePatient returns the stored reference of a generated bundle's patient.
func bundlePatient(t *testing.T, b *synth.Bundle) string {
	t.Helper()
	var bundle struct {
		Entry []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b.JSON, &bundle); err != nil {
		t.Fatal(err)
	}
	for _, en := range bundle.Entry {
		if en.Resource.ResourceType == "Patient" {
			return "Patient/" + strings.TrimPrefix(en.FullURL, "urn:uuid:")
		}
	}
	t.Fatalf("%s has no Patient", b.File)
	return ""
}
