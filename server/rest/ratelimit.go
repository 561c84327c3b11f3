package rest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/careflow/careflow/fhir/outcome"
)

// The per-client request rate limit (Config.RateLimit, --rate-limit; off by default): each client has a
// token bucket of RateLimit requests per second and RateBurst requests; a request beyond it answers 429
// with Retry-After (the seconds until the bucket holds a token again) and an OperationOutcome (issue code
// throttled). /healthz and /readyz are not limited (probes).

// clientKey names the client a request counts against. Today that is the address of the TCP peer (not
// X-Forwarded-For, which any client can set): behind a reverse proxy every client is the proxy, so put
// the limit in the proxy there. With authorization on, the key is the verified token's subject (the
// authorization wiring fills this in), so that clients behind one address are limited one by one.
func clientKey(c *gin.Context) string {
	return "ip:" + c.RemoteIP()
}

// limiterIdle is how long a client's bucket is kept without requests (it is full again by then at any
// sensible rate and burst).
const limiterIdle = 10 * time.Minute

// limiter holds the token buckets by client.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newLimiter returns the limiter of perSecond requests with bursts of burst (at least 1; default the
// rate rounded up), or nil when perSecond is not positive.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = int(math.Ceil(perSecond))
	}
	return &limiter{limit: rate.Limit(perSecond), burst: burst, clients: map[string]*bucket{}}
}

// reserve takes a token for key at now; it returns 0 when the request may proceed, else how long until
// it could.
func (l *limiter) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterIdle {
		for k, b := range l.clients {
			if now.Sub(b.seen) > limiterIdle {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	b := l.clients[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request takes no token
		return d
	}
	return 0
}

// rateLimit is the middleware of the limit.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil || c.Request.URL.Path == "/healthz" || c.Request.URL.Path == "/readyz" {
		c.Next()
		return
	}
	wait := s.limiter.reserve(clientKey(c), time.Now())
	if wait == 0 {
		c.Next()
		return
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(max(1, secs)))
	s.fail(c, outcome.New(http.StatusTooManyRequests, "throttled", "too many requests from this client: at most %g per second (bursts of %d); retry after %d s", float64(s.limiter.limit), s.limiter.burst, max(1, secs)))
	c.Abort()
}
