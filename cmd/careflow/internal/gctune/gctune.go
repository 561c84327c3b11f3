// Package gctune lets a server's garbage collector run less often while its heap is small, without letting
// the heap grow past a ceiling when it is large.
//
// Go's default (GOGC=100) collects whenever the heap has doubled since the last collection's live data.
// careflow's requests allocate a lot of short-lived garbage (parse, validate, index, encode: ~145 KB per
// create) on a small live heap, so at the default the collector runs every few milliseconds under load and
// costs ~13 % of the CPU of a create (BenchmarkHTTPCreate with GOGC=400: 1,248 → 1,089 µs of CPU). A fixed
// higher GOGC would let a large live heap (a cold whole-day $worklist over 10,000 patients keeps ~130 MB
// live) grow 5× before collecting; a memory limit (GOMEMLIMIT) below the live heap makes the collector run
// continuously. The tuner instead sets GOGC after every collection from the live heap it found, so that the
// next collection's target stays under a ceiling: GOGC = (ceiling / live − 1) × 100, clamped to
// [Min, Max]. A small heap gets Max; a heap above half the ceiling gets Min (Go's default behaviour),
// never less — there is no cliff. This is the technique of Uber's and ByteDance's published GC tuners.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Config is the tuner's policy.
type Config struct {
	// Ceiling is the heap size (bytes) the next collection's target should stay under.
	Ceiling uint64
	// Min and Max bound the GOGC percentage the tuner sets.
	Min, Max int
}

// Default is careflow serve's policy: a 256 MiB ceiling, GOGC between 100 (Go's default) and 400.
var Default = Config{Ceiling: 256 << 20, Min: 100, Max: 400}

// Percent is the GOGC percentage for a live heap of live bytes under c.
func (c Config) Percent(live uint64) int {
	if live == 0 || live >= c.Ceiling/2 {
		return c.Min
	}
	p := (c.Ceiling/live - 1) * 100 // integer division: rounds the target down, under the ceiling
	if p > uint64(c.Max) {
		return c.Max
	}
	return max(int(p), c.Min)
}

// Tuner adjusts GOGC after each collection until Stop.
type Tuner struct {
	cfg     Config
	stopped atomic.Bool
	sample  []metrics.Sample
	last    atomic.Int64 // the last percentage set
}

// Start sets GOGC for the current live heap and re-sets it after every collection. It changes a setting of
// the whole process: call it once, from main.
func Start(c Config) *Tuner {
	t := &Tuner{cfg: c, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	t.arm()
	return t
}

// Percent is the GOGC percentage the tuner last set.
func (t *Tuner) Percent() int { return int(t.last.Load()) }

// Stop stops tuning after the next collection and restores Go's default (GOGC=100).
func (t *Tuner) Stop() {
	t.stopped.Store(true)
	debug.SetGCPercent(100)
}

// arm attaches a finalizer to a fresh unreachable object: the collector that frees it runs the finalizer,
// which tunes and arms again — once per collection cycle.
// The object is larger than the tiny allocator's 16 bytes, whose blocks are shared and whose finalizers
// may never run.
func (t *Tuner) arm() {
	sentinel := new([32]byte)
	runtime.SetFinalizer(sentinel, func(*[32]byte) {
		if t.stopped.Load() {
			return
		}
		t.tune()
		t.arm()
	})
}

func (t *Tuner) tune() {
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := t.cfg.Percent(live)
	if int64(p) != t.last.Load() {
		debug.SetGCPercent(p)
		t.last.Store(int64(p))
	}
}
