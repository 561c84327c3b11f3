package worklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/storage"
)

// # Incremental whole-day worklist
//
// A worklist of every patient costs seconds (thousands of bodies read and decoded), and it is asked again
// and again for the same day while the data changes a little. The Builder keeps the derived Tasks of the
// last whole build (every code, before the merge with the stored Tasks), grouped by patient, with the
// change feed's position it was built at; the next whole build with the same reference time and horizon
// reads the feed from there and derives again only the patients the listed versions touch — with the
// workflows restricted to one patient, which give that patient exactly what the whole build gives them.
// The stored Tasks are merged on every request, so a coordinator's PUT shows at once.

// changeFeed is what the incremental worklist needs of the store, beyond searching (storage.Store has it).
type changeFeed interface {
	History(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error)
	Read(ctx context.Context, typ, id string) (*storage.Version, error)
	VRead(ctx context.Context, typ, id string, versionID int64) (*storage.Version, error)
	Referrers(ctx context.Context, keys []string, limit int) (refs []string, total int, err error)
}

// derivedTypes are the types the workflows read to derive Tasks (TestDerivedTypes checks the list against
// the searches of a build). A version of another type changes no derived Task; Task versions change only
// the merge, which reads the stored Tasks on every request.
var derivedTypes = []string{"AllergyIntolerance", "Appointment", "CarePlan", "Claim", "ClaimResponse", "Communication",
	"CommunicationRequest", "Coverage", "DiagnosticReport", "DocumentReference", "Encounter", "MedicationRequest",
	"MedicationStatement", "Observation", "Patient", "Procedure", "ServiceRequest"}

const (
	// feedPage is the page size of the feed reads.
	feedPage = 200
	// maxChanges is the most versions an incremental build reads from the feed; beyond, a whole build is
	// cheaper.
	maxChanges = 2000
	// maxPatients is the most patients an incremental build derives again one by one (each costs a few
	// searches); beyond, a whole build is cheaper.
	maxPatients = 128
)

// wholeDay is the last whole build of a Builder. Its fields are guarded by slot: whole builds run one at
// a time (which also bounds the memory they hold).
type wholeDay struct {
	feed changeFeed
	slot chan struct{}

	valid     bool
	key       string    // reference time and horizon of the build
	since     time.Time // the feed position the Tasks hold every change before
	byPatient map[string][]Task
	patients  []string // keys of byPatient, sorted

	wholeBuilds, updates int // how many builds were made from scratch and brought up to date (tests)
}

func newWholeDay(f changeFeed) *wholeDay {
	return &wholeDay{feed: f, slot: make(chan struct{}, 1)}
}

// cacheable reports whether a build with opt is served from the whole build: every patient and every
// code (the other options only filter the merged Tasks).
func cacheable(opt Options) bool { return opt.Patient == "" && len(opt.Codes) == 0 }

// wholeOptions are the options of opt that derive Tasks when every patient and code is asked for.
func wholeOptions(opt Options) Options {
	return Options{Since: opt.Since, Until: opt.Until, FollowUpAllKinds: opt.FollowUpAllKinds}
}

func wholeKey(now time.Time, opt Options) string {
	name, offset := now.Zone()
	return fmt.Sprintf("%s|%s|%s|%d|%s|%s|%t", now.UTC().Format(time.RFC3339Nano), now.Location(), name, offset,
		opt.Since.UTC().Format(time.RFC3339Nano), opt.Until.UTC().Format(time.RFC3339Nano), opt.FollowUpAllKinds)
}

// derived returns the Tasks a whole build at now derives (a fresh slice; the Tasks' Resource bytes are
// shared and never written): from the last build, brought up to date from the change feed, when it was
// made with the same reference time and horizon; from a whole build otherwise.
func (d *wholeDay) derived(ctx context.Context, b *Builder, now time.Time, opt Options) ([]Task, error) {
	select {
	case d.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-d.slot }()
	key := wholeKey(now, opt)
	if d.valid && d.key == key {
		ok, err := d.update(ctx, b, now, opt)
		if err != nil {
			d.valid = false
			return nil, err
		}
		if ok {
			d.updates++
			return d.tasks(), nil
		}
	}
	d.valid = false
	// The position is taken before the build reads anything: a version the build does not see becomes
	// visible after it, so the feed lists it from there. (Read from the last position, when there is one,
	// which spares the store a look at the whole feed: the horizon is the store's current one, or that
	// position when it is later.)
	page, err := d.feed.History(ctx, storage.HistoryQuery{Since: d.since, Count: 1})
	if err != nil {
		return nil, fmt.Errorf("worklist: change feed: %w", err)
	}
	ts, err := b.newRun().derive(ctx, now, wholeOptions(opt))
	if err != nil {
		return nil, err
	}
	d.byPatient = map[string][]Task{}
	for _, t := range ts {
		d.byPatient[t.Patient] = append(d.byPatient[t.Patient], t)
	}
	d.index()
	d.valid, d.key, d.since = true, key, page.Horizon
	d.wholeBuilds++
	return d.tasks(), nil
}

func (d *wholeDay) index() {
	d.patients = d.patients[:0]
	for p := range d.byPatient {
		d.patients = append(d.patients, p)
	}
	sort.Strings(d.patients)
}

// tasks returns the Tasks of every patient. Their order does not matter: finish sorts them by due date,
// priority and id, and Tasks with the same id are the same Task.
func (d *wholeDay) tasks() []Task {
	n := 0
	for _, ts := range d.byPatient {
		n += len(ts)
	}
	out := make([]Task, 0, n)
	for _, p := range d.patients {
		out = append(out, d.byPatient[p]...)
	}
	return out
}

// update brings the Tasks up to date with the versions the change feed lists since the last build, and
// reports false when it cannot and a whole build is needed (too many changes, or one it cannot attribute
// to patients).
func (d *wholeDay) update(ctx context.Context, b *Builder, now time.Time, opt Options) (bool, error) {
	var changed []*storage.Version
	var horizon time.Time
	q := storage.HistoryQuery{Since: d.since, Count: feedPage}
	for {
		page, err := d.feed.History(ctx, q)
		if err != nil {
			return false, fmt.Errorf("worklist: change feed since %s: %w", d.since.Format(time.RFC3339Nano), err)
		}
		if q.After == "" {
			horizon = page.Horizon
		}
		changed = append(changed, page.Versions...)
		if len(changed) > maxChanges {
			return false, nil
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	patients, ok, err := d.affected(ctx, changed)
	if err != nil || !ok || len(patients) > maxPatients {
		return false, err
	}
	r := b.newRun()
	for _, p := range patients {
		o := wholeOptions(opt)
		o.Patient = p
		ts, err := r.derive(ctx, now, o)
		if err != nil {
			return false, err
		}
		var mine []Task
		for _, t := range ts {
			if t.Patient == p {
				mine = append(mine, t)
			}
		}
		if len(mine) == 0 {
			delete(d.byPatient, p)
		} else {
			d.byPatient[p] = mine
		}
	}
	d.index()
	d.since = horizon
	return true, nil
}

// affected returns the patients ("Patient/id", sorted) whose derived Tasks the versions may change: the
// patients a version or the version before it references (the compartment, and more), or the resource
// itself when it is a Patient, and the patients of the care plans either references; for appointments
// also the patients of the care plans that reference one of them (an appointment counts for a plan's
// follow-ups through either link, whoever its patient). ok is false when a version of a type the
// workflows read names no patient at all.
func (d *wholeDay) affected(ctx context.Context, changed []*storage.Version) ([]string, bool, error) {
	oldest := map[string]*storage.Version{} // per resource, the oldest version listed
	bodies := map[string][][]byte{}
	var keys, appointments []string
	for _, v := range changed {
		if !slices.Contains(derivedTypes, v.Type) {
			continue
		}
		k := v.Type + "/" + v.ID
		o, seen := oldest[k]
		if !seen {
			keys = append(keys, k)
			if v.Type == "Appointment" {
				appointments = append(appointments, k)
			}
		}
		if !seen || v.VersionID < o.VersionID {
			oldest[k] = v
		}
		if v.Body != nil {
			bodies[k] = append(bodies[k], v.Body)
		}
	}
	sort.Strings(keys)
	sort.Strings(appointments)
	// The plans that reference one of the appointments (activity references and outcomes): one look-up.
	linked := map[string]bool{}
	if len(appointments) > 0 {
		refs, total, err := d.feed.Referrers(ctx, appointments, maxChanges)
		if err != nil {
			return nil, false, fmt.Errorf("worklist: referrers of %d appointments: %w", len(appointments), err)
		}
		if total > len(refs) {
			return nil, false, nil
		}
		for _, r := range refs {
			if strings.HasPrefix(r, "CarePlan/") {
				linked[r] = true
			}
		}
	}
	planPatients := map[string]map[string]bool{} // CarePlan → its patients (current version)
	patientsOf := func(plan string) (map[string]bool, error) {
		if ps, ok := planPatients[plan]; ok {
			return ps, nil
		}
		ps := map[string]bool{} // nil for a plan that names no patient
		v, err := d.feed.Read(ctx, "CarePlan", strings.TrimPrefix(plan, "CarePlan/"))
		var gone *storage.GoneError
		switch {
		case errors.Is(err, storage.ErrNotFound) || errors.As(err, &gone):
			// its Tasks went with it (its own versions are listed)
		case err != nil:
			return nil, fmt.Errorf("worklist: %s: %w", plan, err)
		default:
			if err := references(v.Body, ps, map[string]bool{}); err != nil {
				return nil, fmt.Errorf("worklist: %s: %w", plan, err)
			}
			if len(ps) == 0 {
				ps = nil
			}
		}
		planPatients[plan] = ps
		return ps, nil
	}
	patients := map[string]bool{}
	for _, k := range keys {
		v := oldest[k]
		if v.VersionID > 1 { // the version the last build may have seen
			prev, err := d.feed.VRead(ctx, v.Type, v.ID, v.VersionID-1)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, false, fmt.Errorf("worklist: %s/_history/%d: %w", k, v.VersionID-1, err)
			}
			if err == nil && !prev.Deleted {
				bodies[k] = append(bodies[k], prev.Body)
			}
		}
		found := map[string]bool{}
		if v.Type == "Patient" {
			found[k] = true
		}
		plans := map[string]bool{}
		for _, body := range bodies[k] {
			if err := references(body, found, plans); err != nil {
				return nil, false, fmt.Errorf("worklist: %s: %w", k, err)
			}
		}
		if v.Type == "Appointment" {
			for p := range linked {
				plans[p] = true
			}
		}
		delete(plans, k)
		for _, p := range sortedKeys(plans) {
			ps, err := patientsOf(p)
			if err != nil {
				return nil, false, err
			}
			if ps == nil {
				return nil, false, nil // a plan of no patient (a Group's): its items are not attributed
			}
			for pt := range ps {
				found[pt] = true
			}
		}
		if len(found) == 0 {
			return nil, false, nil
		}
		for p := range found {
			patients[p] = true
		}
	}
	return sortedKeys(patients), true, nil
}

// references adds to patients and plans the Patient and CarePlan references ("Type/id") of a resource:
// every "reference" string, absolute or relative, a version's suffix dropped.
func references(body []byte, patients, plans map[string]bool) error {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && k == "reference" {
					if i := strings.Index(s, "/_history/"); i >= 0 {
						s = s[:i]
					}
					parts := strings.Split(s, "/")
					if n := len(parts); n >= 2 && parts[n-1] != "" {
						switch parts[n-2] {
						case "Patient":
							patients["Patient/"+parts[n-1]] = true
						case "CarePlan":
							plans["CarePlan/"+parts[n-1]] = true
						}
					}
					continue
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(doc)
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
