package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// budget says when a phase ends: after Requests requests when Requests > 0, otherwise after Duration.
type budget struct {
	Requests int
	Duration time.Duration
}

func (b budget) String() string {
	if b.Requests > 0 {
		return fmt.Sprintf("%d requests", b.Requests)
	}
	return b.Duration.String()
}

// op performs request number i on behalf of worker w (0 ≤ w < concurrency).
type op func(ctx context.Context, w, i int) error

// result is what one phase measured.
type result struct {
	Name    string
	OK      int             // successful requests
	Errors  int             // failed requests (not in the latencies)
	Elapsed time.Duration   // wall time of the phase
	Lat     []time.Duration // latencies of the successful requests, sorted
	// Samples holds the first few distinct error messages.
	Samples []string
	// CPU is the CPU time of the measured process during the phase (the server's for HTTP phases, the
	// load generator's own for raw phases), when measured.
	CPU *cpuTime
	// DBCPU is the CPU time of the database processes during the phase, when measured.
	DBCPU *cpuTime
}

// RPS is the phase's throughput in successful requests per second.
func (r *result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the successful requests' latencies (nearest rank).
func (r *result) Quantile(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Lat))+0.5) - 1
	return r.Lat[max(0, min(i, len(r.Lat)-1))]
}

// CPUPerRequest is the measured process's CPU time per successful request; ok is false when it was not
// measured.
func (r *result) CPUPerRequest() (perRequest cpuTime, ok bool) { return r.perRequest(r.CPU) }

// DBCPUPerRequest is the database's CPU time per successful request; ok is false when it was not measured.
func (r *result) DBCPUPerRequest() (perRequest cpuTime, ok bool) { return r.perRequest(r.DBCPU) }

func (r *result) perRequest(t *cpuTime) (cpuTime, bool) {
	if t == nil || r.OK == 0 {
		return cpuTime{}, false
	}
	n := time.Duration(r.OK)
	return cpuTime{t.User / n, t.System / n}, true
}

// workerStats is one worker's share of a phase, merged at the end (no locking on the hot path).
type workerStats struct {
	lat     []time.Duration
	errors  int
	samples []string
}

const maxErrorSamples = 3

// runPhase runs do with concurrency workers until the budget is spent (or ctx is cancelled) and measures it.
// Requests are numbered 0, 1, 2, … across workers, so request i is the same whatever the scheduling.
func runPhase(ctx context.Context, name string, concurrency int, b budget, do op) *result {
	var next atomic.Int64
	start := time.Now()
	// A time-bound phase starts no request after the deadline and lets those in flight finish, so that
	// the server never sees requests cancelled by the load generator.
	deadline := start.Add(b.Duration)
	stats := make([]workerStats, concurrency)
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[w]
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if b.Requests > 0 && i >= b.Requests || b.Requests <= 0 && !time.Now().Before(deadline) {
					return
				}
				t0 := time.Now()
				err := do(ctx, w, i)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted (SIGINT): not an error of the system under test
					}
					st.errors++
					if len(st.samples) < maxErrorSamples {
						st.samples = append(st.samples, err.Error())
					}
					continue
				}
				st.lat = append(st.lat, d)
			}
		}()
	}
	wg.Wait()
	r := &result{Name: name, Elapsed: time.Since(start)}
	for _, st := range stats {
		r.Lat = append(r.Lat, st.lat...)
		r.Errors += st.errors
		for _, s := range st.samples {
			if len(r.Samples) < maxErrorSamples && !slices.Contains(r.Samples, s) {
				r.Samples = append(r.Samples, s)
			}
		}
	}
	r.OK = len(r.Lat)
	slices.Sort(r.Lat)
	return r
}
