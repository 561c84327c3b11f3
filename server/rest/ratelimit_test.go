package rest_test

import (
	"strconv"
	"testing"
)

// TestRateLimit: beyond its burst a client gets 429 with Retry-After and a throttled OperationOutcome;
// probes are not limited; without a limit nothing is refused.
func TestRateLimit(t *testing.T) {
	// One request per 100 s with bursts of 3: the fourth request within the test is refused whatever the
	// machine's speed.
	c := server(t, func(cfg *testConfig) { cfg.http.RateLimit, cfg.http.RateBurst = 0.01, 3 })
	for i := 0; i < 3; i++ {
		if r := c.do("GET", "/Patient", ""); r.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.status, r.body)
		}
	}
	r := c.do("GET", "/Patient", "")
	expectOutcome(t, r, 429, "throttled", "")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 100 {
		t.Errorf("Retry-After %q, want 1..100 seconds", r.header.Get("Retry-After"))
	}
	// Probes are never limited.
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := c.do("GET", c.root+p, ""); r.status != 200 {
			t.Errorf("%s under the limit: %d", p, r.status)
		}
	}

	unlimited := server(t)
	for i := 0; i < 20; i++ {
		if r := unlimited.do("GET", "/metadata", ""); r.status != 200 {
			t.Fatalf("request %d without a limit: %d", i+1, r.status)
		}
	}
}
