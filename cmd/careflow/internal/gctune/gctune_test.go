package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercent(t *testing.T) {
	c := Config{Ceiling: 256 << 20, Min: 100, Max: 400}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},         // nothing measured yet: Go's default
		{10 << 20, 400},  // small heap: the most headroom (target 50 MB)
		{51 << 20, 400},  // 256/51 − 1 = 4 (integer): target 255 MB
		{64 << 20, 300},  // target exactly 256 MB
		{100 << 20, 100}, // 256/100 − 1 = 1 (integer): 100, target 200 MB
		{128 << 20, 100}, // half the ceiling: Go's default, never less
		{600 << 20, 100}, // above the ceiling: still Go's default, no cliff
	} {
		if got := c.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestTunerFollowsTheLiveHeap runs real collections: a small live heap gets Max, a live heap above half
// the ceiling gets Min, and Stop restores the default.
func TestTunerFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	c := Config{Ceiling: 64 << 20, Min: 100, Max: 400}
	tu := Start(c)
	defer tu.Stop()
	collect := func() {
		// The finalizer runs on its own goroutine after the cycle that freed the sentinel; a second
		// collection and waiting for finalizers to drain makes the tuning of the first one visible.
		for range 3 {
			runtime.GC()
		}
		waitFinalizers()
	}
	collect()
	if got := tu.Percent(); got != 400 {
		t.Fatalf("small heap: GOGC %d, want 400", got)
	}
	big := make([][]byte, 0, 48)
	for range 48 {
		big = append(big, make([]byte, 1<<20)) // 48 MiB live, above half of 64 MiB
	}
	collect()
	if got := tu.Percent(); got != 100 {
		t.Fatalf("48 MiB live under a 64 MiB ceiling: GOGC %d, want 100", got)
	}
	runtime.KeepAlive(big)
	big = nil
	collect()
	if got := tu.Percent(); got != 400 {
		t.Fatalf("heap freed again: GOGC %d, want 400", got)
	}
	tu.Stop()
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Fatalf("after Stop: GOGC %d, want 100", prev)
	}
}

// waitFinalizers returns once the finalizers queued so far have run: it queues one of its own and waits for it.
func waitFinalizers() {
	done := make(chan struct{})
	o := new([32]byte)
	runtime.SetFinalizer(o, func(*[32]byte) { close(done) })
	o = nil
	for {
		runtime.GC()
		select {
		case <-done:
			return
		default:
			runtime.Gosched()
		}
	}
}
