package auth_test

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/careflow/careflow/auth"
)

// cpuTime is the process's user + system CPU time: load-independent, unlike wall time on a shared machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVerify verifies one token with a warm key cache, per algorithm, without the verified-token
// cache (a full signature check every time: a client with a new token) and with it (the same token
// again, as a SMART client sends it for the token's lifetime). cpu-ns/op is the process CPU (user +
// system) per verification, which the load of other processes does not inflate as it does ns/op.
//
//	go test -run XXX -bench Verify -benchmem -count 3 ./auth
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA} {
		for _, mode := range []struct {
			name string
			size int
		}{{"uncached", -1}, {"cached", 0}} {
			b.Run(string(alg)+"/"+mode.name, func(b *testing.B) {
				k := newKey(b, alg, "k1")
				iss := newIssuer(b, "openid-configuration", k)
				clk := newClock()
				v, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), Audience: audience, Now: clk.Now, HTTPClient: iss.srv.Client(),
					CacheSize: mode.size, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				tok := sign(b, k, claims(iss.URL(), clk, nil))
				ctx := context.Background()
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := cpuTime(b)
				for range b.N {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkAuthorize decides a patient-scoped search (the common case) and a $summary (the widest
// fixed check).
func BenchmarkAuthorize(b *testing.B) {
	pol := auth.NewPolicy(served)
	p := principal("p1", "openid", "fhirUser", "launch/patient", "patient/*.rs", "patient/Appointment.cu")
	for _, req := range []auth.Request{
		{Interaction: "search-type", Type: "Appointment"},
		{Interaction: "$summary", Type: "Patient", ID: "p1"},
	} {
		b.Run(req.Interaction, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := pol.Authorize(p, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
