package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// TestDriverPicksTheLeastCriterion: the criterion that drives a search is the one selecting the fewest
// resources, whichever round of growing count limits finds it (below 16, below 256, up to driveLimit),
// and whatever order the criteria come in — except that an equality lookup selecting fewer than
// fewToDrive drives at once.
func TestDriverPicksTheLeastCriterion(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "drive.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	// 600 patients: 500 female, 100 male; family "rare" 5 of them; city "Ely" 40; all active.
	for i := 0; i < 600; i++ {
		gender, family, city := "female", fmt.Sprintf("f%03d", i), "York"
		if i%6 == 0 {
			gender = "male"
		}
		if i%120 == 1 {
			family = "rare"
		}
		if i%15 == 2 {
			city = "Ely"
		}
		createPatient(t, s, reg, fmt.Sprintf("p%03d", i), map[string]any{"gender": gender, "active": true,
			"name": []any{map[string]any{"family": family}}, "address": []any{map[string]any{"city": city}}})
	}
	tid, _ := s.names.typeID("Patient")
	for _, c := range []struct {
		query string
		want  string // the parameter whose criterion drives
	}{
		{"gender=female&family:exact=rare", "family"},          // 5 against 500: the first round
		{"family:exact=rare&gender=female", "family"},          // either order
		{"gender=male&address-city:exact=Ely", "address-city"}, // 100 against 40: the second round
		{"address-city:exact=Ely&gender=male", "address-city"},
		{"active=true&gender=female", "gender"}, // 600 against 500: the last round
		{"gender=female&active=true", "gender"},
		// Fewer than fewToDrive: the first such equality lookup drives, and the prefix search (no match,
		// but counting it reads the field's keys) is not counted.
		{"name=nobody&family:exact=rare", "family"},
	} {
		params, _ := url.ParseQuery(c.query)
		q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 50})
		if oerr != nil {
			t.Fatal(oerr)
		}
		b := &builder{s: s, now: time.Now()}
		parts, err := b.conds("r0", "Patient", tid, q.Criteria)
		if err != nil {
			t.Fatal(err)
		}
		i, err := s.driver(ctx, s.read, b, parts)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := reg.Lookup("Patient", c.want)
		fid, _ := s.names.fieldID(tid, p.Field)
		if i < 0 || !strings.Contains(parts[i], fmt.Sprintf("f = %d ", fid)) {
			t.Errorf("%s: driven by %d of %q, want the %s criterion (field %d)", c.query, i, parts, c.want, fid)
		}
	}
}
