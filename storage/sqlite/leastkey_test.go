package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestSortOnIndexValues: the sort key of a token, reference or uri parameter, which srt no longer holds,
// orders every page — ascending and descending, paged by two — exactly as the key Registry.Index extracts
// (field_sort) did: missing keys first ascending and last descending, ties by id. The resources have
// several values per parameter (the least one sorts), codes with and without a system, and updates that
// change or drop the values.
func TestSortOnIndexValues(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "sort.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	rng := rand.New(rand.NewPCG(3, 5))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	sortKeys := map[string]map[string]any{} // id → field_sort → key, as written last
	write := func(id string) {
		body := map[string]any{"resourceType": "Patient", "id": id}
		if g := pick("", "male", "female", "unknown"); g != "" {
			body["gender"] = g
		}
		var idents []any
		for range rng.IntN(3) {
			ident := map[string]any{"value": pick("b7", "a1", "zz", "Ä0", "m-2")}
			if rng.IntN(2) == 0 {
				ident["system"] = pick("urn:a", "urn:b")
			}
			idents = append(idents, ident)
		}
		if len(idents) > 0 {
			body["identifier"] = idents
		}
		var gps []any
		for range rng.IntN(3) {
			gps = append(gps, map[string]any{"reference": pick("Practitioner/p2", "Practitioner/p10", "Organization/o1", "Practitioner/p2/_history/3")})
		}
		if len(gps) > 0 {
			body["generalPractitioner"] = gps
		}
		if rng.IntN(3) > 0 {
			body["meta"] = map[string]any{"profile": []any{pick("http://x/b", "http://x/a"), pick("http://y/c", "http://x/a")}}
		}
		if rng.IntN(2) == 0 {
			body["telecom"] = []any{map[string]any{"system": pick("phone", "email"), "value": pick("555", "a@x", "0")}}
		}
		raw, _ := json.Marshal(body)
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: id, Body: raw, Index: idx}, storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
		sortKeys[id] = idx
	}
	for i := range 24 {
		write(fmt.Sprintf("p%02d", i))
	}
	for i := 0; i < 24; i += 3 {
		write(fmt.Sprintf("p%02d", i)) // updated: new values replace the old ones
	}
	for _, code := range []string{"gender", "identifier", "general-practitioner", "_profile", "telecom", "organization"} {
		p, ok := reg.Lookup("Patient", code)
		if !ok {
			t.Fatalf("no parameter %s", code)
		}
		for _, desc := range []bool{false, true} {
			var want []string
			for id := range sortKeys {
				want = append(want, id)
			}
			key := func(id string) (string, bool) {
				k, ok := sortKeys[id][p.Field+search.SuffixSort].(string)
				return k, ok
			}
			slices.SortFunc(want, func(a, b string) int {
				ka, oka := key(a)
				kb, okb := key(b)
				c := 0
				switch {
				case !oka && !okb:
				case !oka:
					c = -1
				case !okb:
					c = 1
				default:
					c = strings.Compare(ka, kb)
				}
				if desc {
					c = -c
				}
				return cmp.Or(c, strings.Compare(a, b))
			})
			sortParam := code
			if desc {
				sortParam = "-" + code
			}
			q, oerr := reg.Parse("Patient", url.Values{"_sort": {sortParam}, "_count": {"2"}}, search.ParseOptions{DefaultCount: 50})
			if oerr != nil {
				t.Fatal(oerr)
			}
			var got []string
			for {
				page, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range page.Versions {
					got = append(got, v.ID)
				}
				if page.Next == "" {
					break
				}
				next := *q
				next.Cursor = page.Next
				q = &next
			}
			if !slices.Equal(got, want) {
				t.Errorf("_sort=%s:\n got %v\nwant %v", sortParam, got, want)
			}
		}
	}
}
