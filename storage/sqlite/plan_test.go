package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// fullScan matches a plan step that reads a whole table or index of the store: SQLite prints SCAN for
// those and SEARCH for a seek.
var fullScan = regexp.MustCompile(`\bSCAN (res|ver|ixk|ixd|ixq|srt|types|fields|r\d+|s\d+|k|ng|nv|nw)\b`)

// TestSearchPlansUseIndexes runs EXPLAIN QUERY PLAN on the page and count statements of a search for every
// parameter of every served type — each parameter type with its modifiers and prefixes, chains, _has,
// compartments, _sort both ways and a page deep in the results — and fails on a full scan of a resource or
// index table.
func TestSearchPlansUseIndexes(t *testing.T) {
	reg := r4test.Load(t).Registry
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "plan.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// Every index field of every type exists (as after writes of resources that have them), so that no
	// criterion is short-cut to "matches nothing".
	err = s.w.do(context.Background(), func(tx *wtx) error {
		for _, typ := range definitions.ResourceTypes {
			tid, err := tx.typeID(typ)
			if err != nil {
				return err
			}
			names := []string{search.RefsField}
			for _, p := range reg.Params(typ) {
				for _, suffix := range []string{"", search.SuffixText, search.SuffixExact, search.SuffixIdentifier, search.SuffixSort} {
					names = append(names, p.Field+suffix)
				}
			}
			for _, n := range names {
				f, err := tx.fieldID(tid, n)
				if err != nil {
					return err
				}
				if strings.HasSuffix(n, search.SuffixSort) {
					if err := tx.enableWalk(f); err != nil { // so that sorted searches build their walk
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	comps := r4test.Load(t).Compartments
	checked := 0
	for _, typ := range definitions.ResourceTypes {
		for i, q := range planQueries(reg, typ) {
			params, err := url.ParseQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			parsed, oerr := reg.Parse(typ, params, search.ParseOptions{Strict: true, DefaultCount: 50})
			if oerr != nil {
				t.Errorf("%s?%s: %v", typ, q, oerr)
				continue
			}
			queries := []*search.Query{parsed}
			// In the compartment: every query of the coordination types, the first two of the others (the
			// compartment's criterion does not depend on the parameter).
			if c, ok := comps.Lookup("Patient", "p1", typ); ok && (i < 2 || slices.Contains(definitions.Coordination, typ)) {
				inCompartment := *parsed
				inCompartment.Compartment = c
				queries = append(queries, &inCompartment)
			}
			for _, pq := range queries {
				checked++
				st, err := s.statements(context.Background(), s.read, pq)
				if err != nil {
					t.Errorf("%s?%s: %v", typ, q, err)
					continue
				}
				if st == nil {
					continue // matches nothing: no statement runs
				}
				for _, stmt := range []struct {
					sql  string
					args []any
				}{{st.page, st.pageArgs}, {st.count, st.countArgs}, {st.walk, st.walkArgs}} {
					if stmt.sql == "" {
						continue
					}
					plan := explain(t, s, stmt.sql, stmt.args)
					if fullScan.MatchString(plan) {
						t.Errorf("%s?%s (compartment %v) scans a table:\n%s\n%s", typ, q, pq.Compartment != nil, stmt.sql, plan)
					}
				}
			}
		}
	}
	t.Logf("%d searches checked", checked)
}

func explain(t *testing.T, s *Store, stmt string, args []any) string {
	t.Helper()
	rows, err := s.read.Query("EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d/%d %s\n", id, parent, detail)
	}
	return b.String()
}

// compositeQueries are the forms of a composite parameter: its leading components as tokens in each form
// (or a reference), its last component in each of its kind's forms and prefixes, OR, AND and :missing.
func compositeQueries(p *search.Param) []string {
	c := p.Code
	var lead, lead2 []string
	for _, comp := range p.Components[:len(p.Components)-1] {
		switch comp.Param.Type {
		case search.TypeReference:
			lead, lead2 = append(lead, comp.Param.Target[0]+"/x"), append(lead2, "x")
		default:
			lead, lead2 = append(lead, "http://s|x"), append(lead2, "|x")
		}
	}
	prefix, prefix2 := strings.Join(lead, "$")+"$", strings.Join(lead2, "$")+"$"
	var lasts []string
	switch p.Components[len(p.Components)-1].Param.Type {
	case search.TypeToken:
		lasts = []string{"y", "http://s|y", "|y", "http://s|"}
	case search.TypeString:
		lasts = []string{"smi"}
	case search.TypeReference:
		lasts = []string{"x", "Patient/x"}
	case search.TypeURI:
		lasts = []string{"http://x/y"}
	case search.TypeDate:
		for _, pre := range []string{"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"} {
			lasts = append(lasts, pre+"2020-05")
		}
	case search.TypeNumber, search.TypeQuantity:
		for _, pre := range []string{"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"} {
			lasts = append(lasts, pre+"5.4")
		}
		lasts = append(lasts, "5.4|http://unitsofmeasure.org|mg", "5.4||mg", "37|http://unitsofmeasure.org|Cel")
	}
	var out []string
	for _, l := range lasts {
		out = append(out, c+"="+url.QueryEscape(prefix+l))
	}
	out = append(out, c+"="+url.QueryEscape(prefix+lasts[0])+","+url.QueryEscape(prefix2+lasts[len(lasts)-1]),
		c+"="+url.QueryEscape(prefix+lasts[0])+"&"+c+"="+url.QueryEscape(prefix2+lasts[0]),
		c+":missing=true", c+":missing=false")
	return out
}

// planQueries lists query strings covering every parameter of typ: on the coordination types
// (definitions.Coordination) every form of each parameter (values, modifiers, prefixes, chains, sorts, the
// _has of the coordination types), on the others the first form of each parameter — the SQL of a form
// depends on the parameter's kind, not on its type, and every form of every parameter of the 143 types
// would be 79,100 plans (50 s, minutes under -race).
func planQueries(reg *search.Registry, typ string) []string {
	full := slices.Contains(definitions.Coordination, typ)
	deep := (&searchCursor{Values: []any{"2020-01-01T00:00:00.000Z", "id-5000"}}).encode()
	deepBack := (&searchCursor{Values: []any{nil, "id-5000"}, Backward: true}).encode()
	out := []string{"", "_count=10&_cursor=" + (&searchCursor{Values: []any{"id-5000"}}).encode()}
	for _, p := range reg.Params(typ) {
		c := p.Code
		first := len(out)
		switch p.Type {
		case search.TypeToken:
			out = append(out, c+"=x", c+"=http://s|x", c+"=|x", c+"=http://s|", c+":not=x", c+"=x,y")
			if c != "_id" {
				out = append(out, c+":text=word", c+":missing=true", c+":missing=false")
			}
			if c == "identifier" {
				out = append(out, c+":of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123")
			}
		case search.TypeString:
			out = append(out, c+"=smi", c+":exact=Smith", c+":contains=mit", c+"=a,b", c+":missing=true")
		case search.TypeURI:
			out = append(out, c+"=http://x/y", c+":below=http://x", c+":above=http://x/y/z")
		case search.TypeDate:
			for _, prefix := range []string{"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"} {
				out = append(out, c+"="+prefix+"2020-05")
			}
			out = append(out, c+":missing=true", c+"=ge2020&"+c+"=lt2021")
		case search.TypeNumber, search.TypeQuantity:
			// Every form on every type: there are few (39 parameters).
			for _, prefix := range []string{"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"} {
				out = append(out, c+"="+prefix+"5.4")
			}
			out = append(out, c+":missing=true", c+":missing=false", c+"=gt1&"+c+"=lt2", c+"=1,2e3")
			if p.Type == search.TypeQuantity {
				out = append(out, c+"=5.4|http://unitsofmeasure.org|mg", c+"=gt5.4|http://unitsofmeasure.org|mg,lt1|http://unitsofmeasure.org|g",
					c+"=5.4||mg", c+"=5.4|http://example.org/units|mg", c+"=37|http://unitsofmeasure.org|Cel")
			}
		case search.TypeComposite:
			// Every composite on every type (66 pairs), each form of its last component.
			out = append(out, compositeQueries(p)...)
		case search.TypeSpecial:
			out = append(out, c+"=42.28|-83.74|10|km", c+"=42.28|-83.74", c+"=-18|179.9|200|km,0|0|1|[mi_i]",
				c+"=89.99|0|100|km", c+"=0|0|30000|km", c+":missing=true")
		case search.TypeReference:
			if len(p.Target) == 0 {
				continue
			}
			target := p.Target[0]
			out = append(out, c+"="+target+"/x", c+"=x", c+":identifier=http://s|x", c+"=https://other.example/fhir/"+target+"/x", c+":missing=true")
			for _, tp := range reg.Params(target) {
				if tp.Type == search.TypeString || tp.Type == search.TypeToken && tp.Code != "_id" {
					out = append(out, c+":"+target+"."+tp.Code+"=x")
					break
				}
			}
		}
		numeric := p.Type == search.TypeNumber || p.Type == search.TypeQuantity
		if c != "_id" && (p.Type == search.TypeString || p.Type == search.TypeToken || p.Type == search.TypeDate || p.Type == search.TypeReference || p.Type == search.TypeURI || numeric) {
			out = append(out, "_sort="+c, "_sort=-"+c, "_sort="+c+"&_count=10&_cursor="+deep, "_sort=-"+c+"&_cursor="+deepBack)
		}
		if !full && !numeric && p.Type != search.TypeComposite && p.Type != search.TypeSpecial && len(out) > first+1 {
			out = out[:first+1]
		}
	}
	// _has from every reference parameter of the coordination types that can point at typ.
	for _, other := range definitions.Coordination {
		for _, p := range reg.Params(other) {
			if p.Type != search.TypeReference {
				continue
			}
			for _, target := range p.Target {
				if target == typ {
					out = append(out, "_has:"+other+":"+p.Code+":_id=x", "_has:"+other+":"+p.Code+":_lastUpdated=ge2020")
				}
			}
		}
	}
	out = append(out, "_sort=-_lastUpdated,_id", "_lastUpdated=ge2020-01-01", "_id=a,b")
	return out
}
