package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// BenchmarkSearchOnFile times coordinator searches on an existing data file (CAREFLOW_SQLITE_BENCH_DB, e.g.
// the 10,000-patient file scripts/bench-search.sh loads with BENCH_SQLITE_FILE); skipped without one. The
// patient X is the one with the most appointments.
func BenchmarkSearchOnFile(b *testing.B) {
	path := os.Getenv("CAREFLOW_SQLITE_BENCH_DB")
	if path == "" {
		b.Skip("CAREFLOW_SQLITE_BENCH_DB names no data file")
	}
	reg := r4test.Load(b).Registry
	s, err := Open(context.Background(), Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	var x, family string
	err = s.read.QueryRow(`SELECT k.v FROM ixk k JOIN fields f ON f.fid = k.f JOIN types t ON t.tid = f.tid
		WHERE t.name = 'Appointment' AND f.name = 's_patient' GROUP BY k.v ORDER BY count(*) DESC LIMIT 1`).Scan(&x)
	if err != nil {
		b.Fatal(err)
	}
	err = s.read.QueryRow(`SELECT s.v FROM srt s JOIN fields f ON f.fid = s.f JOIN res r ON r.rid = s.rid JOIN types t ON t.tid = f.tid
		WHERE t.name = 'Patient' AND f.name = 's_family_sort' AND r.id = ?`, x[len("Patient/"):]).Scan(&family)
	if err != nil && err != sql.ErrNoRows {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, typ, query string }{
		{"upcoming-booked", "Appointment", "patient=" + x + "&date=ge2026-11-25&status=booked&_sort=date"},
		{"name-prefix", "Patient", "name=smi"},
		{"active-allergies", "AllergyIntolerance", "patient=" + x + "&clinical-status=active"},
		{"chain-family", "Appointment", "patient.family=" + family},
		{"all-by-date", "Appointment", "_sort=date&_count=20"},
		{"status-booked", "Appointment", "status=booked&_count=20"},
	} {
		params, _ := url.ParseQuery(q.query)
		parsed, oerr := reg.Parse(q.typ, params, search.ParseOptions{DefaultCount: 50})
		if oerr != nil {
			b.Fatal(oerr)
		}
		b.Run(q.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := s.Search(context.Background(), parsed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
