package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestIndexRowsRoundTrip: the index rows a write stores (ixk, ixd, srt, in multi-row inserts) hold
// exactly the values of storage.Write.Index — strings byte for byte whatever they contain (quotes,
// backslashes, every control character including NUL, non-ASCII, JSON-looking and number-looking text),
// date bounds at the ends of the range FHIR allows, and the sort keys of string and date parameters (with
// their walk mark; a token's is not stored) — for a resource
// with more rows than one statement used to take, and again after an update replaced them.
func TestIndexRowsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "rows.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var control strings.Builder
	for c := 0; c < 0x20; c++ {
		control.WriteByte(byte(c))
	}
	tricky := []string{`"`, `\`, `\"`, `\u0041`, "a\x00b", "\x00", control.String(), "\x7f", "Zoë Öberg", "日本語", "🙂", "\u2028\u2029",
		`{"a":[1]}`, "[1,2]", "null", "true", "12", "-0", "1e3", " ", "c:x|y", "Patient/1", strings.Repeat("x", 5000)}
	many := make([]string, 150)
	for i := range many {
		many[i] = fmt.Sprintf("k%03d", i)
	}
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	index := func(gen int) map[string]any {
		norm := make([]string, len(tricky))
		for i, v := range tricky {
			norm[i] = search.Normalize(v)
		}
		return map[string]any{
			"s_tricky": tricky, "s_many": many[gen:], "s_str": norm, "s_str_e": tricky,
			"s_str_sort": tricky[len(tricky)-gen-2], "s_tok_sort": "\x00z",
			"s_name": []string{"n"}, "s_name_e": []string{"N"}, "s_name_sort": "n\"\\",
			"s_birthdate_lo": lo, "s_birthdate_hi": hi, "s_birthdate_sort": "0001",
			"s_date_lo": lo, "s_date_hi": hi, "s_date_r": []string{search.RangeKey(lo, hi.Add(-time.Microsecond/2)), search.RangeKey(time.Unix(0, 1500).UTC(), time.Unix(1, 0).UTC())},
		}
	}
	dump := func() string {
		var b strings.Builder
		for _, q := range []string{
			"SELECT f.name, quote(k.v) FROM ixk k JOIN fields f ON f.fid = k.f ORDER BY 1, 2",
			"SELECT f.name, d.lo || ' ' || d.hi FROM ixd d JOIN fields f ON f.fid = d.f ORDER BY 1, 2",
			"SELECT f.name, quote(r.v) || ' ' || quote(r.w) FROM srt r JOIN fields f ON f.fid = r.f ORDER BY 1, 2",
		} {
			rows, err := s.read.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var f, v string
				if err := rows.Scan(&f, &v); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s %s\n", f, v)
			}
			rows.Close()
		}
		return b.String()
	}
	want := func(idx map[string]any) string {
		quote := func(s string) string {
			// SQLite's quote() of a text value: single quotes doubled; a NUL ends it.
			if i := strings.IndexByte(s, 0); i >= 0 {
				s = s[:i]
			}
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
		var lines []string
		for _, f := range []string{"s_tricky", "s_many"} {
			for _, v := range idx[f].([]string) {
				lines = append(lines, f+" "+quote(v))
			}
		}
		// A string parameter's rows are its exact values' stringKeys, under its own field.
		for _, f := range []string{"s_str", "s_name"} {
			for _, v := range idx[f+search.SuffixExact].([]string) {
				lines = append(lines, f+" "+quote(stringKey(v)))
			}
		}
		slices.Sort(lines)
		var sorts []string
		// Sort keys are stored for date and string parameters only (a token's, s_tok_sort, is read from ixk).
		for _, f := range []string{"s_str_sort", "s_name_sort", "s_birthdate_sort"} {
			sorts = append(sorts, f+" "+quote(idx[f].(string))+" NULL") // not walked (walked.go)
		}
		slices.Sort(sorts)
		dates := []string{
			fmt.Sprintf("s_birthdate %d %d", lowMicros(lo), highMicros(hi)),
			fmt.Sprintf("s_date %d %d", lowMicros(lo), highMicros(hi.Add(-time.Microsecond/2))),
			"s_date 1 1000000",
		}
		slices.Sort(dates)
		return strings.Join(lines, "\n") + "\n" + strings.Join(dates, "\n") + "\n" + strings.Join(sorts, "\n") + "\n"
	}
	body := []byte(`{"resourceType":"Patient"}`)
	if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: "p", Body: body, Index: index(0)}); err != nil {
		t.Fatal(err)
	}
	if got, w := dump(), want(index(0)); got != w {
		t.Fatalf("index rows after the create:\n%s\nwant\n%s", got, w)
	}
	// The values as stored, byte for byte (quote() above stops at a NUL).
	var n int
	for _, v := range tricky {
		for _, k := range []string{v, stringKey(v)} {
			if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM ixk WHERE v = ? AND length(CAST(v AS BLOB)) = ?", k, len(k)).Scan(&n); err != nil || n != 1+btoi(k == v && stringKey(v) == v) {
				t.Errorf("ixk holds %q %d times (err %v), want it from s_tricky and from s_str", k, n, err)
			}
		}
	}
	if _, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "p", Body: body, Index: index(1)}, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if got, w := dump(), want(index(1)); got != w {
		t.Fatalf("index rows after the update:\n%s\nwant\n%s", got, w)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
