package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/guard"
	"github.com/careflow/careflow/storage/sqlite"
)

// hardening holds serve's settings of secure defaults, resilience and limits (docs/SECURITY.md, "Secure
// defaults, resilience and limits"): who may listen where, CORS, the database and search timeouts, the
// HTTP server's timeouts and the rate limit.
type hardening struct {
	// authIssuer is --auth-issuer (declared with the other authorization flags, auth.go; serve copies it
	// here after parsing): authorization is on when it is set. The exposure check reads it through
	// authConfigured.
	authIssuer     string
	insecureNoAuth bool
	corsOrigins    string

	dbTimeout, searchTimeout               time.Duration
	readTimeout, writeTimeout, idleTimeout time.Duration

	rateLimit float64
	rateBurst int
}

// hardeningFlags declares the flags on fs; their environment variables are read first (a malformed one
// is an error, never silently the default).
func hardeningFlags(fs *flag.FlagSet) (*hardening, error) {
	h := &hardening{}
	var errs []error
	dur := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		d, err := envDuration(env, def)
		errs = append(errs, err)
		fs.DurationVar(p, name, d, usage+" ("+env+")")
	}
	insecure, err := envBool("CAREFLOW_INSECURE_NO_AUTH", false)
	errs = append(errs, err)
	rateLimit, err := envFloat("CAREFLOW_RATE_LIMIT", 0)
	errs = append(errs, err)

	fs.BoolVar(&h.insecureNoAuth, "insecure-no-auth", insecure, "allow listening on a non-loopback --addr without authorization (behind a gateway that authenticates); logged as a warning at every start (CAREFLOW_INSECURE_NO_AUTH)")
	fs.StringVar(&h.corsOrigins, "cors-origins", env("CAREFLOW_CORS_ORIGINS", ""), "comma-separated browser origins allowed to call the API, each exact (https://app.example.org); none by default (CAREFLOW_CORS_ORIGINS)")
	dur(&h.dbTimeout, "db-timeout", "CAREFLOW_DB_TIMEOUT", guard.DefaultDBTimeout, "how long a request waits for the database before answering 503 with Retry-After")
	dur(&h.searchTimeout, "search-timeout", "CAREFLOW_SEARCH_TIMEOUT", guard.DefaultQueryTimeout, "time budget of one search (and history page): beyond it the database work stops and the answer is 400 too-costly")
	dur(&h.readTimeout, "read-timeout", "CAREFLOW_READ_TIMEOUT", time.Minute, "longest time to read a whole request, body included (a slower client is cut off); 0: none")
	dur(&h.writeTimeout, "write-timeout", "CAREFLOW_WRITE_TIMEOUT", 2*time.Minute, "longest time from the end of a request's headers to the end of its response; 0: none")
	dur(&h.idleTimeout, "idle-timeout", "CAREFLOW_IDLE_TIMEOUT", 2*time.Minute, "how long an idle keep-alive connection stays open")
	fs.Float64Var(&h.rateLimit, "rate-limit", rateLimit, "requests per second each client may make (429 with Retry-After beyond); 0: no limit (CAREFLOW_RATE_LIMIT)")
	fs.IntVar(&h.rateBurst, "rate-burst", int(envInt("CAREFLOW_RATE_BURST", 0)), "requests a client may make at once under --rate-limit; 0: the rate rounded up (CAREFLOW_RATE_BURST)")
	return h, errors.Join(errs...)
}

// envFloat reads a number environment variable; a value that is not one is an error.
func envFloat(key string, def float64) (float64, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number", key, v)
	}
	return f, nil
}

// authConfigured reports whether requests are authorized (tokens checked against --auth-issuer).
func (h *hardening) authConfigured() bool { return h.authIssuer != "" }

// check refuses settings that would expose the data or cannot work: above all a non-loopback --addr with
// authorization off, unless --insecure-no-auth says a gateway in front authenticates.
func (h *hardening) check(addr string) error {
	if !h.authConfigured() && !h.insecureNoAuth && !loopback(addr) {
		return fmt.Errorf("--addr %s accepts connections from other machines, but authorization is off: anyone who reaches it could read and change every patient's data. "+
			"Set --auth-issuer (CAREFLOW_AUTH_ISSUER) to require access tokens, listen on a loopback address such as 127.0.0.1:8080, "+
			"or, only behind a gateway that authenticates every request, pass --insecure-no-auth", addr)
	}
	for _, o := range h.origins() {
		if o == "*" || o == "null" || !strings.Contains(o, "://") {
			return fmt.Errorf("--cors-origins: %q is not an origin; list exact origins such as https://app.example.org (no wildcard: requests carry credentials)", o)
		}
	}
	switch {
	case h.dbTimeout <= 0:
		return fmt.Errorf("--db-timeout must be positive, got %s", h.dbTimeout)
	case h.searchTimeout <= 0:
		return fmt.Errorf("--search-timeout must be positive, got %s", h.searchTimeout)
	case h.writeTimeout > 0 && h.writeTimeout < h.searchTimeout:
		return fmt.Errorf("--write-timeout %s is shorter than --search-timeout %s: a search would outlive its connection", h.writeTimeout, h.searchTimeout)
	case h.rateLimit < 0 || h.rateBurst < 0:
		return fmt.Errorf("--rate-limit and --rate-burst cannot be negative")
	}
	return nil
}

// warn logs, at every start, what is insecure about the settings.
func (h *hardening) warn(addr string, log *slog.Logger) {
	if h.insecureNoAuth && !h.authConfigured() {
		log.Warn("INSECURE: authorization is off (--insecure-no-auth): every client that reaches careflow may read and change all data; only run it so behind a gateway that authenticates every request",
			"addr", addr, "loopback", loopback(addr))
	}
}

// loopback reports whether addr (host:port) listens on this machine only: a loopback IP or localhost.
// An empty host (":8080") listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *hardening) origins() []string {
	var out []string
	for _, o := range strings.Split(h.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// rest adds the HTTP layer's settings of h to c.
func (h *hardening) rest(c rest.Config) rest.Config {
	c.RetryAfter = h.dbTimeout
	c.CORSOrigins = h.origins()
	c.RateLimit, c.RateBurst = h.rateLimit, h.rateBurst
	return c
}

// server returns the HTTP server with its timeouts.
func (h *hardening) server(addr string, handler http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: h.readTimeout, WriteTimeout: h.writeTimeout, IdleTimeout: h.idleTimeout}
}

// open opens the configured store behind a guard (storage/guard). The embedded store opens now (a
// failure is fatal: its file is local); a MongoDB store opens in the background, so that careflow starts
// while its database is down and serves 503 until it answers.
func (h *hardening) open(ctx context.Context, c storeConfig, registry *search.Registry, log *slog.Logger) (*guard.Store, error) {
	opts := guard.Options{DBTimeout: h.dbTimeout, QueryTimeout: h.searchTimeout, Logger: log}
	if _, ok, _ := sqlite.ParseDSN(c.Database); ok || !strings.HasPrefix(c.Database, "mongodb") {
		openCtx, cancel := openContext(ctx, c.Database)
		defer cancel()
		s, err := openStore(openCtx, c, registry, log)
		if err != nil {
			return nil, err
		}
		return guard.New(s, opts), nil
	}
	if err := checkMongoURI(c.Database); err != nil {
		return nil, fmt.Errorf("database %s: %w", redact(c.Database), err)
	}
	c.Database = withServerSelectionTimeout(c.Database, h.dbTimeout)
	return guard.Opening(ctx, func(ctx context.Context) (storage.Store, error) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return openStore(ctx, c, registry, log)
	}, opts), nil
}

// withServerSelectionTimeout sets serverSelectionTimeoutMS (how long the driver waits for a reachable
// server, 30 s by default) to d unless the URI sets it: with the database down, an operation then fails
// within the database timeout instead of waiting out the driver's default.
func withServerSelectionTimeout(uri string, d time.Duration) string {
	if strings.Contains(strings.ToLower(uri), "serverselectiontimeoutms=") {
		return uri
	}
	param := "serverSelectionTimeoutMS=" + strconv.FormatInt(d.Milliseconds(), 10)
	if strings.Contains(uri, "?") {
		return uri + "&" + param
	}
	_, rest, _ := strings.Cut(uri, "://")
	if !strings.Contains(rest, "/") {
		return uri + "/?" + param
	}
	return uri + "?" + param
}
