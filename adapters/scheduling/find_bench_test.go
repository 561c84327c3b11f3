package scheduling_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/scheduling"
)

// BenchmarkFind: $find over December 2026 for one practitioner among CAREFLOW_BENCH_PRACTITIONERS (default
// 20), each with one schedule of 15-minute slots 08:00–16:00 UTC on weekdays (704 a month, one in five
// busy: 589 proposals, 428 of 30 minutes), plus CAREFLOW_BENCH_PATIENTS (default 0) patients with a booked appointment each, on the embedded
// store. Sub-benchmarks: single slots, and 30-minute appointments (consecutive slots combined).
func BenchmarkFind(b *testing.B) {
	env := func(name string, def int) int {
		if s := os.Getenv(name); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
		return def
	}
	practitioners, patients := env("CAREFLOW_BENCH_PRACTITIONERS", 20), env("CAREFLOW_BENCH_PATIENTS", 0)
	e := adaptertest.New(b)
	var all []adaptertest.Res
	for p := range practitioners {
		sc := fmt.Sprintf("sc%03d", p)
		all = append(all, adaptertest.Res{Type: "Schedule", ID: sc, Body: fmt.Sprintf(`{"actor":[{"reference":"Practitioner/dr%03d"}],"planningHorizon":{"start":"2026-11-01","end":"2027-03-31"}}`, p)})
		n := 0
		for d := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC); d.Month() == 12; d = d.AddDate(0, 0, 1) {
			if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
				continue
			}
			for m := 8 * 60; m < 16*60; m += 15 {
				start := d.Add(time.Duration(m) * time.Minute)
				status := "free"
				if n%5 == 4 {
					status = "busy"
				}
				all = append(all, adaptertest.Res{Type: "Slot", ID: fmt.Sprintf("%s-%04d", sc, n), Body: fmt.Sprintf(
					`{"schedule":{"reference":"Schedule/%s"},"status":"%s","start":"%s","end":"%s"}`, sc, status,
					start.Format(time.RFC3339), start.Add(15*time.Minute).Format(time.RFC3339))})
				n++
			}
		}
	}
	for i := range patients {
		all = append(all, adaptertest.Res{Type: "Patient", ID: fmt.Sprintf("pt%05d", i), Body: `{"active":true}`},
			adaptertest.Res{Type: "Appointment", ID: fmt.Sprintf("ap%05d", i), Body: fmt.Sprintf(
				`{"status":"booked","start":"2026-12-%02dT09:00:00Z","end":"2026-12-%02dT09:15:00Z","participant":[{"actor":{"reference":"Patient/pt%05d"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr%03d"},"status":"accepted"}]}`,
				1+i%28, 1+i%28, i, i%max(practitioners, 1))})
	}
	e.WriteAll(all)
	s := scheduling.New(e.Store, e.Registry)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		duration time.Duration
		want     int
		count    int
	}{{"slots", 0, 589, 0}, {"30min", 30 * time.Minute, 428, 0}, {"count10", 0, 10, 10}} {
		b.Run(c.name, func(b *testing.B) {
			req := scheduling.FindRequest{Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
				Actors: [][]string{{"Practitioner/dr000"}}, Duration: c.duration, Count: c.count}
			cpu0 := cpuTime(b)
			for b.Loop() {
				ps, err := s.Find(context.Background(), req, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(ps) != c.want {
					b.Fatalf("%d proposals, want %d", len(ps), c.want)
				}
			}
			// CPU per call (user + system of the process): the machine is shared, wall time is noisy.
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
