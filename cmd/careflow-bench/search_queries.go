package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/search"
)

// Index fields the raw queries read, as storage/mongo names them (fhir/search: "s_" + the parameter code
// with non-alphanumerics as "_", plus a suffix). checkRawFields verifies them against the registry, so a
// renaming in careflow fails the benchmark instead of silently comparing different queries.
const (
	fAppointmentPatient = "s_patient"
	fAppointmentStatus  = "s_status"
	fAppointmentDate    = "s_date" // + _lo, _hi, _sort
	fPatientName        = "s_name"
	fPatientFamily      = "s_family"
	fAllergyPatient     = "s_patient"
	fAllergyClinical    = "s_clinical_status"
)

// Server-side constants the raw queries mirror (server/rest, storage/mongo).
const (
	defaultPageSize = 50    // careflow's --default-count
	maxChainIDs     = 10000 // storage/mongo: a chain resolves at most this many ids
	maxIncluded     = 1000  // server/rest: _revinclude asks the store for maxIncluded+1 resources
)

// checkRawFields verifies that the raw queries use careflow's index field names.
func checkRawFields(r *search.Registry) error {
	for _, f := range []struct{ typ, code, field string }{
		{"Appointment", "patient", fAppointmentPatient},
		{"Appointment", "status", fAppointmentStatus},
		{"Appointment", "date", fAppointmentDate},
		{"Patient", "name", fPatientName},
		{"Patient", "family", fPatientFamily},
		{"AllergyIntolerance", "patient", fAllergyPatient},
		{"AllergyIntolerance", "clinical-status", fAllergyClinical},
	} {
		p, ok := r.Lookup(f.typ, f.code)
		if !ok {
			return fmt.Errorf("search parameter %s.%s is not registered", f.typ, f.code)
		}
		if p.Field != f.field {
			return fmt.Errorf("search parameter %s.%s is stored in %s, the raw queries read %s", f.typ, f.code, p.Field, f.field)
		}
	}
	if search.SuffixLow != "_lo" || search.SuffixHigh != "_hi" || search.SuffixSort != "_sort" || search.SuffixRanges != "_r" {
		return fmt.Errorf("date/sort index suffixes changed (%s, %s, %s, %s)", search.SuffixLow, search.SuffixHigh, search.SuffixSort, search.SuffixRanges)
	}
	return nil
}

// searchParams are the values the queries use, chosen deterministically from the loaded data.
type searchParams struct {
	patient patientFacts // X
	name    string       // Patient?name=
	family  string       // Appointment?patient.family=
	date    time.Time    // Appointment?date=ge
}

var asciiName = regexp.MustCompile(`^[A-Za-z]+$`)

// pickParams chooses X: the first patient from the middle of the data set on (wrapping around) with at
// least two booked appointments from --today on, an active allergy and a plain-ASCII family name (so
// that the chained search's normalised value is simply its lower case); failing that, relaxed criteria.
func pickParams(c searchConfig, facts []patientFacts) (*searchParams, error) {
	tests := []func(f patientFacts) bool{
		func(f patientFacts) bool {
			return f.bookedFrom >= 2 && f.activeAllergies >= 1 && asciiName.MatchString(f.family)
		},
		func(f patientFacts) bool {
			return f.bookedFrom >= 1 && f.allergies >= 1 && asciiName.MatchString(f.family)
		},
		func(f patientFacts) bool { return asciiName.MatchString(f.family) },
	}
	n := len(facts)
	for _, ok := range tests {
		for k := range n {
			f := facts[(n/2+k)%n]
			if ok(f) {
				return &searchParams{patient: f, name: "smi", family: f.family, date: c.today}, nil
			}
		}
	}
	return nil, fmt.Errorf("no generated patient has a plain family name to search for")
}

// searchCase is one coordinator query: its careflow URL and the equivalent raw finds.
type searchCase struct {
	name  string // label in the report
	query string // relative to the FHIR base
	// page is the page size careflow answers with (its _count).
	page int
	// deep: the query is the deep-paging one; the URL timed is that of page --deep-page.
	deep bool
	// raw runs the equivalent finds and returns the ids of the matches (in order) and of the included
	// resources; count, when careflow computes a total for the query, runs the equivalent count.
	raw   func(ctx context.Context) (matches, included []string, err error)
	count func(ctx context.Context) (int, error)
	// rawText describes the raw finds (mongosh-like, extended JSON).
	rawText []string
}

// cases builds the six queries of the issue.
func (e *searchEnv) cases(p *searchParams) []*searchCase {
	x := p.patient.id
	xRef := "Patient/" + x
	day := p.date.Format(time.DateOnly)
	low, high := p.date.UTC(), p.date.UTC().AddDate(0, 0, 1)
	notDeleted := bson.E{Key: "del", Value: false}
	byID := bson.D{{Key: "_id", Value: 1}}
	byDate := bson.D{{Key: fAppointmentDate + "_sort", Value: 1}, {Key: "_id", Value: 1}}
	withSort := func(field string) bson.D { return append(slices.Clone(readProjection), bson.E{Key: field, Value: 1}) }

	var out []*searchCase

	// 1. A patient's upcoming booked appointments, by date. storage/mongo's "ge" on a date range
	// [lo, hi): for a resource with one date (no _r field), hi > end of the day or the range within the
	// day; for one with several dates, the envelope overlaps (the store then checks each range).
	{
		lo, hi, ranges := fAppointmentDate+search.SuffixLow, fAppointmentDate+search.SuffixHigh, fAppointmentDate+search.SuffixRanges
		cmp := func(f, op string, t time.Time) bson.D { return bson.D{{Key: f, Value: bson.D{{Key: op, Value: t}}}} }
		after := cmp(hi, "$gt", high)
		filter := bson.D{
			notDeleted,
			{Key: fAppointmentPatient, Value: xRef},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: "$and", Value: bson.A{
					bson.D{{Key: ranges, Value: bson.D{{Key: "$exists", Value: false}}}},
					bson.D{{Key: "$or", Value: bson.A{after, bson.D{{Key: "$and", Value: bson.A{cmp(lo, "$gte", low), cmp(hi, "$lte", high)}}}}}},
				}}},
				bson.D{{Key: "$and", Value: bson.A{
					bson.D{{Key: ranges, Value: bson.D{{Key: "$exists", Value: true}}}},
					bson.D{{Key: "$or", Value: bson.A{after, bson.D{{Key: "$and", Value: bson.A{cmp(lo, "$lt", high), cmp(hi, "$gt", low)}}}}}},
				}}},
			}},
			{Key: fAppointmentStatus, Value: "c:booked"},
		}
		proj := withSort(fAppointmentDate + "_sort")
		out = append(out, &searchCase{
			name:    "upcoming booked appointments of X, by date",
			query:   "Appointment?patient=" + url.QueryEscape(x) + "&date=ge" + day + "&status=booked&_sort=date",
			page:    defaultPageSize,
			raw:     e.findIDs("Appointment", filter, byDate, defaultPageSize+1, proj),
			count:   e.countDocs("Appointment", filter),
			rawText: []string{findText("Appointment", filter, byDate, defaultPageSize+1), countText("Appointment", filter)},
		})
	}

	// 2. Patients by name prefix.
	{
		filter := bson.D{notDeleted, {Key: fPatientName, Value: bson.Regex{Pattern: "^" + regexp.QuoteMeta(strings.ToLower(p.name))}}}
		out = append(out, &searchCase{
			name:    "patients by name prefix",
			query:   "Patient?name=" + url.QueryEscape(p.name),
			page:    defaultPageSize,
			raw:     e.findIDs("Patient", filter, byID, defaultPageSize+1, readProjection),
			count:   e.countDocs("Patient", filter),
			rawText: []string{findText("Patient", filter, byID, defaultPageSize+1), countText("Patient", filter)},
		})
	}

	// 3. A patient's active allergies.
	{
		filter := bson.D{notDeleted, {Key: fAllergyPatient, Value: xRef}, {Key: fAllergyClinical, Value: "c:active"}}
		out = append(out, &searchCase{
			name:    "active allergies of X",
			query:   "AllergyIntolerance?patient=" + url.QueryEscape(x) + "&clinical-status=active",
			page:    defaultPageSize,
			raw:     e.findIDs("AllergyIntolerance", filter, byID, defaultPageSize+1, readProjection),
			count:   e.countDocs("AllergyIntolerance", filter),
			rawText: []string{findText("AllergyIntolerance", filter, byID, defaultPageSize+1), countText("AllergyIntolerance", filter)},
		})
	}

	// 4. Chain: appointments of the patients with a family name. storage/mongo resolves the chain to the
	// matching Patient ids first, then filters on the reference field with them.
	{
		inner := bson.D{notDeleted, {Key: fPatientFamily, Value: bson.Regex{Pattern: "^" + regexp.QuoteMeta(strings.ToLower(p.family))}}}
		idsOnly := bson.D{{Key: "_id", Value: 1}}
		outer := func(ids []string) bson.D {
			refs := make([]string, len(ids))
			for i, id := range ids {
				refs[i] = "Patient/" + id
			}
			var cond any = bson.D{{Key: "$in", Value: refs}}
			if len(refs) == 1 {
				cond = refs[0]
			}
			return bson.D{notDeleted, {Key: fAppointmentPatient, Value: cond}}
		}
		var last bson.D // the outer filter of the latest raw run, for the count
		placeholder := bson.D{notDeleted, {Key: fAppointmentPatient, Value: bson.D{{Key: "$in", Value: bson.A{"Patient/<each id of find 1>"}}}}}
		out = append(out, &searchCase{
			name:  "appointments of patients with X's family name (chain)",
			query: "Appointment?patient.family=" + url.QueryEscape(p.family),
			page:  defaultPageSize,
			raw: func(ctx context.Context) ([]string, []string, error) {
				ids, err := e.find(ctx, "Patient", inner, nil, maxChainIDs+1, idsOnly)
				if err != nil {
					return nil, nil, err
				}
				if len(ids) == 0 {
					return nil, nil, errors.New("the chain matches no Patient")
				}
				last = outer(ids)
				m, err := e.find(ctx, "Appointment", last, byID, defaultPageSize+1, readProjection)
				return m, nil, err
			},
			count: func(ctx context.Context) (int, error) { return e.countDocs("Appointment", last)(ctx) },
			rawText: []string{findText("Patient", inner, nil, maxChainIDs+1) + ".projection({_id: 1})",
				findText("Appointment", placeholder, byID, defaultPageSize+1), countText("Appointment", placeholder)},
		})
	}

	// 5. A patient and its allergies (_revinclude): the match by _id, then the referring resources.
	{
		match := bson.D{notDeleted, {Key: "_id", Value: x}}
		rev := bson.D{notDeleted, {Key: fAllergyPatient, Value: xRef}}
		matches := e.findIDs("Patient", match, byID, defaultPageSize+1, readProjection)
		included := e.findIDs("AllergyIntolerance", rev, byID, maxIncluded+2, readProjection)
		out = append(out, &searchCase{
			name:  "X with its allergies (_revinclude)",
			query: "Patient?_revinclude=AllergyIntolerance:patient&_id=" + url.QueryEscape(x),
			page:  defaultPageSize,
			raw: func(ctx context.Context) ([]string, []string, error) {
				m, _, err := matches(ctx)
				if err != nil {
					return nil, nil, err
				}
				inc, _, err := included(ctx)
				return m, inc, err
			},
			count: e.countDocs("Patient", match),
			rawText: []string{findText("Patient", match, byID, defaultPageSize+1),
				findText("AllergyIntolerance", rev, byID, maxIncluded+2), countText("Patient", match)},
		})
	}

	// 6. Deep page: the raw side is built by measureCase once it knows the boundary of the page.
	out = append(out, &searchCase{
		name:  fmt.Sprintf("page %d of all appointments by date (_count=%d)", e.cfg.deepPage, e.cfg.deepCount),
		query: fmt.Sprintf("Appointment?_count=%d&_sort=date", e.cfg.deepCount),
		page:  e.cfg.deepCount,
		deep:  true,
	})
	return out
}

// deepRaw builds the raw side of the deep-paging query: careflow's keyset filter after the boundary
// (the last resource of the previous page) in (s_date_sort, _id) order, as storage/mongo writes it
// (missing sort values order first, as MongoDB orders null).
func (e *searchEnv) deepRaw(ctx context.Context, sc *searchCase, page int) error {
	sortField := fAppointmentDate + "_sort"
	order := bson.D{{Key: sortField, Value: 1}, {Key: "_id", Value: 1}}
	skip := int64((page-1)*e.cfg.deepCount - 1)
	var boundary bson.Raw
	err := e.db.Collection("Appointment").FindOne(ctx, bson.D{{Key: "del", Value: false}},
		options.FindOne().SetSort(order).SetSkip(skip).SetProjection(bson.D{{Key: sortField, Value: 1}})).Decode(&boundary)
	if err != nil {
		return fmt.Errorf("deep page boundary: %w", err)
	}
	id, _ := boundary.Lookup("_id").StringValueOK()
	var after bson.D
	if v, ok := boundary.Lookup(sortField).StringValueOK(); ok {
		after = bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: sortField, Value: bson.D{{Key: "$gt", Value: v}}}}}}},
			bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: sortField, Value: v}}, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: id}}}}}}},
		}}}
	} else {
		after = bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: sortField, Value: bson.D{{Key: "$exists", Value: true}}}}}}},
			bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: sortField, Value: bson.D{{Key: "$exists", Value: false}}}}, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: id}}}}}}},
		}}}
	}
	filter := append(bson.D{{Key: "del", Value: false}}, after...)
	limit := int64(e.cfg.deepCount + 1)
	sc.raw = e.findIDs("Appointment", filter, order, limit, append(slices.Clone(readProjection), bson.E{Key: sortField, Value: 1}))
	sc.rawText = []string{findText("Appointment", filter, order, limit)}
	return nil
}

// find runs one raw find and decodes the documents as careflow does (into its version struct), returning
// their ids in order.
func (e *searchEnv) find(ctx context.Context, coll string, filter, sort bson.D, limit int64, proj bson.D) ([]string, error) {
	o := options.Find().SetLimit(limit).SetProjection(proj)
	if sort != nil {
		o.SetSort(sort)
	}
	cur, err := e.db.Collection(coll).Find(ctx, filter, o)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", coll, err)
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, fmt.Errorf("find %s: %w", coll, err)
	}
	ids := make([]string, len(raws))
	for i, raw := range raws {
		var v rawVersion
		if err := bson.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("find %s: decode: %w", coll, err)
		}
		ids[i] = v.ID
	}
	return ids, nil
}

func (e *searchEnv) findIDs(coll string, filter, sort bson.D, limit int64, proj bson.D) func(context.Context) ([]string, []string, error) {
	return func(ctx context.Context) ([]string, []string, error) {
		ids, err := e.find(ctx, coll, filter, sort, limit, proj)
		return ids, nil, err
	}
}

func (e *searchEnv) countDocs(coll string, filter bson.D) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		n, err := e.db.Collection(coll).CountDocuments(ctx, filter)
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", coll, err)
		}
		return int(n), nil
	}
}

func extJSON(d bson.D) string {
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return fmt.Sprintf("%v", d)
	}
	return string(b)
}

func findText(coll string, filter, sort bson.D, limit int64) string {
	s := "db." + coll + ".find(" + extJSON(filter) + ")"
	if sort != nil {
		s += ".sort(" + extJSON(sort) + ")"
	}
	return s + fmt.Sprintf(".limit(%d)", limit)
}

func countText(coll string, filter bson.D) string {
	return "db." + coll + ".countDocuments(" + extJSON(filter) + ")"
}

// fhirPage is what the benchmark reads of a searchset Bundle.
type fhirPage struct {
	Total *int `json:"total"`
	Link  []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL string `json:"fullUrl"`
		Search  struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (p *fhirPage) next() string {
	for _, l := range p.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// ids returns the logical ids of the entries of one search mode.
func (p *fhirPage) ids(mode string) []string {
	var out []string
	for _, e := range p.Entry {
		if e.Search.Mode == mode {
			out = append(out, e.FullURL[strings.LastIndexByte(e.FullURL, '/')+1:])
		}
	}
	return out
}

// getPage GETs a search URL and returns the body read in full and the time that took.
func getPage(ctx context.Context, c *fhirClient, u string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: read body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d: %.300s", u, resp.StatusCode, body)
	}
	return body, d, nil
}

func parsePage(body []byte) (*fhirPage, error) {
	var p fhirPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("search result: %w", err)
	}
	return &p, nil
}

// caseResult is what one query measured.
type caseResult struct {
	number int // 1-based, as in the issue
	sc     *searchCase
	url    string // the URL timed (for the deep page: that of page --deep-page)
	// cf is careflow over HTTP; raw the raw find(s); rawCount the raw find(s) followed by the count
	// careflow also runs for the query (same as raw when it runs none).
	cf, raw, rawCount *result
	// CPU time over the timed requests: the server's during careflow requests, the database's during each side.
	serverCPU, cfDBCPU, rawDBCPU *cpuTime
	matches, included, total     int // careflow's answer (total -1: none)
	rawMatches, rawIncluded      int
	rawTotal                     int // -1: not counted
	mismatch                     string
	// walk is the time walkPages GETs took following next links from page 1 to the deep page (deep
	// query only; not part of the timed requests).
	walk      time.Duration
	walkPages int
}

// minTimedRounds is the fewest timed rounds --max-query-time allows.
const minTimedRounds = 3

// measureCase times one query: --warmup then --requests rounds of one careflow request and one raw run,
// one at a time, alternating so that both sides see the same machine.
func (e *searchEnv) measureCase(ctx context.Context, fhir *fhirClient, sc *searchCase) (*caseResult, error) {
	c := e.cfg
	r := &caseResult{sc: sc, url: fhir.base + "/" + sc.query, total: -1, rawTotal: -1}
	progress("%s: %s", sc.name, r.url)
	if sc.deep {
		t0 := time.Now()
		u, page := r.url, 1
		for ; page < c.deepPage; page++ {
			r.walkPages++
			body, _, err := getPage(ctx, fhir, u)
			if err != nil {
				return nil, err
			}
			p, err := parsePage(body)
			if err != nil {
				return nil, err
			}
			next := p.next()
			if next == "" {
				// Fewer pages than asked for (a small data set): time the last page.
				progress("  only %d pages: timing the last one", page)
				break
			}
			u = next
		}
		r.walk = time.Since(t0)
		r.url = u
		sc.name = fmt.Sprintf("page %d of all appointments by date (_count=%d)", page, c.deepCount)
		progress("  fetched %d pages in %s; timing %s", r.walkPages, r.walk.Round(time.Millisecond), u)
		if e.db != nil {
			if err := e.deepRaw(ctx, sc, page); err != nil {
				return nil, err
			}
		}
	}
	r.cf, r.raw, r.rawCount = &result{Name: "careflow"}, &result{Name: "raw"}, &result{Name: "raw+count"}
	var srv, cfDB, rawDB cpuTime
	var first *fhirPage
	var rawM, rawInc []string
	srvOK, dbOK := c.serverPID > 0, len(c.dbPIDs) > 0
	var timedStart time.Time
	for i := range c.warmup + c.requests {
		timed := i >= c.warmup
		if i == c.warmup {
			timedStart = time.Now()
		}
		if timed && c.maxQueryTime > 0 && len(r.cf.Lat) >= minTimedRounds && time.Since(timedStart) >= c.maxQueryTime {
			progress("  stopping after %d rounds: --max-query-time %s reached", len(r.cf.Lat), c.maxQueryTime)
			break
		}
		// careflow
		s0, sErr := cpuIf(srvOK && timed, func() (cpuTime, error) { return processCPU(c.serverPID) })
		d0, dErr := dbCPUIf(dbOK && timed, c.dbPIDs)
		body, d, err := getPage(ctx, fhir, r.url)
		if err != nil {
			return nil, err
		}
		if timed {
			r.cf.Lat = append(r.cf.Lat, d)
			srvOK = srvOK && sErr == nil && addCPU(&srv, s0, func() (cpuTime, error) { return processCPU(c.serverPID) })
			dbOK = dbOK && dErr == nil && addDBCPU(&cfDB, d0, c.dbPIDs)
		}
		if i == 0 {
			p, err := parsePage(body)
			if err != nil {
				return nil, err
			}
			r.matches, r.included = len(p.ids("match")), len(p.ids("include"))
			if p.Total != nil {
				r.total = *p.Total
			}
			first = p
		}
		if e.db == nil {
			continue // no raw side (the embedded store)
		}
		// raw
		d0, dErr = dbCPUIf(dbOK && timed, c.dbPIDs)
		t0 := time.Now()
		m, inc, err := sc.raw(ctx)
		if err != nil {
			return nil, err
		}
		dFind := time.Since(t0)
		n := -1
		if sc.count != nil {
			if n, err = sc.count(ctx); err != nil {
				return nil, err
			}
		}
		dAll := time.Since(t0)
		if timed {
			r.raw.Lat = append(r.raw.Lat, dFind)
			r.rawCount.Lat = append(r.rawCount.Lat, dAll)
			dbOK = dbOK && dErr == nil && addDBCPU(&rawDB, d0, c.dbPIDs)
		}
		if i == 0 {
			r.rawMatches, r.rawIncluded, r.rawTotal = min(len(m), sc.page), len(inc), n
			rawM, rawInc = m[:min(len(m), sc.page)], inc
		}
	}
	if e.db != nil {
		r.compare(first, rawM, rawInc)
	}
	for _, res := range []*result{r.cf, r.raw, r.rawCount} {
		res.OK = len(res.Lat)
		slices.Sort(res.Lat)
	}
	if srvOK {
		r.serverCPU = &srv
	}
	if dbOK && e.db != nil {
		r.cfDBCPU, r.rawDBCPU = &cfDB, &rawDB
	}
	progress("  careflow p50 %s ms, p99 %s ms; raw p50 %s ms, p99 %s ms; raw+count p50 %s ms; %d matches, %d included, total %d",
		ms(r.cf.Quantile(0.5)), ms(r.cf.Quantile(0.99)), ms(r.raw.Quantile(0.5)), ms(r.raw.Quantile(0.99)),
		ms(r.rawCount.Quantile(0.5)), r.matches, r.included, r.total)
	return r, nil
}

func cpuIf(on bool, f func() (cpuTime, error)) (cpuTime, error) {
	if !on {
		return cpuTime{}, nil
	}
	return f()
}

func addCPU(sum *cpuTime, before cpuTime, f func() (cpuTime, error)) bool {
	after, err := f()
	if err != nil {
		return false
	}
	d := after.Sub(before)
	sum.User += d.User
	sum.System += d.System
	return true
}

func dbCPUIf(on bool, pids []int) (map[int]cpuTime, error) {
	if !on {
		return nil, nil
	}
	return treeCPU(pids)
}

func addDBCPU(sum *cpuTime, before map[int]cpuTime, pids []int) bool {
	after, err := treeCPU(pids)
	if err != nil {
		return false
	}
	d := treeCPUUsed(before, after)
	sum.User += d.User
	sum.System += d.System
	return true
}

// compare checks that careflow and the raw finds returned the same resources (first round): the matches
// in the same order, the included resources as a set, the same total.
func (r *caseResult) compare(p *fhirPage, rawMatches, rawIncluded []string) {
	var problems []string
	if m := p.ids("match"); !slices.Equal(m, rawMatches) {
		problems = append(problems, fmt.Sprintf("matches differ: careflow %d %v…, raw %d %v…", len(m), head(m), len(rawMatches), head(rawMatches)))
	}
	inc, rawInc := slices.Sorted(slices.Values(p.ids("include"))), slices.Sorted(slices.Values(rawIncluded))
	if !slices.Equal(inc, rawInc) {
		problems = append(problems, fmt.Sprintf("included differ: careflow %d, raw %d", len(inc), len(rawInc)))
	}
	if r.rawTotal >= 0 && r.total != r.rawTotal {
		problems = append(problems, fmt.Sprintf("totals differ: careflow %d, raw %d", r.total, r.rawTotal))
	}
	if len(problems) > 0 {
		r.mismatch = strings.Join(problems, "; ")
		progress("  MISMATCH: %s", r.mismatch)
	}
}

func head(ids []string) []string { return ids[:min(3, len(ids))] }
