// Package rest is careflow's FHIR R4 RESTful API over HTTP (http://hl7.org/fhir/R4/http.html), on gin: routes,
// content negotiation, headers (ETag, Location, Last-Modified, Prefer, If-Match, If-None-Match,
// If-Modified-Since, If-None-Exist), body limits, request ids and logging. Each handler maps its request
// onto one method of the interaction layer (server/interaction) and writes the Result or the
// OperationOutcome of the error; no FHIR logic lives here.
package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/server/interaction"
)

// Config tunes the HTTP layer.
type Config struct {
	// BaseURL is the public base of the FHIR API (e.g. https://fhir.example.org/fhir). Empty: derived from
	// each request's Host as http://host/fhir.
	BaseURL string
	// MaxBodyBytes bounds request bodies (413 beyond). Default 16 MiB.
	MaxBodyBytes int64
	// App, when set, serves the coordinator web app under /app/ (it talks to the FHIR API like any
	// client).
	App http.Handler
	// Auth, when set, verifies bearer tokens (auth.Verifier): a request with an Authorization header
	// carries the token's principal to the interaction layer, which authorizes every interaction. Nil: no
	// authentication (the interaction layer then has no Policy either).
	Auth Authenticator
	// Audit, when set, records every FHIR request as an AuditEvent before its answer is sent
	// (server/audit).
	Audit Auditor
	// SMARTConfiguration is the document served at [base]/.well-known/smart-configuration (SMART App
	// Launch discovery); nil: not served.
	SMARTConfiguration []byte

	// Resilience and limits (docs/SECURITY.md, "Secure defaults, resilience and limits").
	// RetryAfter is the Retry-After of 503 answers (default 5 s, in whole seconds).
	RetryAfter time.Duration
	// ReadyTimeout bounds /readyz's database check (default 2 s).
	ReadyTimeout time.Duration
	// CORSOrigins are the browser origins (exact, such as https://app.example.org) allowed to call the API
	// (cors.go); none by default.
	CORSOrigins []string
	// RateLimit is the requests per second each client may make, with bursts of RateBurst (ratelimit.go);
	// 0: no limit.
	RateLimit float64
	RateBurst int
}

// Authenticator verifies a bearer token (auth.Verifier).
type Authenticator interface {
	Verify(ctx context.Context, token string) (*auth.Principal, error)
}

// Server serves the FHIR API over HTTP; every FHIR interaction is the interaction layer's.
type Server struct {
	cfg     Config
	svc     *interaction.Service
	log     *slog.Logger
	limiter *limiter // nil: no rate limit
	meta    metadataCache
}

// New returns the HTTP handler of the FHIR API (under /fhir) with /healthz and /readyz.
func New(cfg Config, svc *interaction.Service, log *slog.Logger) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	s := &Server{cfg: cfg, svc: svc, log: log, limiter: newLimiter(cfg.RateLimit, cfg.RateBurst)}
	return s.routes()
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.RemoveExtraSlash = false
	r.Use(s.requestLog, s.recover, s.cors(), s.rateLimit)

	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`)) })
	r.GET("/readyz", s.ready)

	if s.cfg.App != nil {
		r.GET("/app", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/app/") })
		r.GET("/app/*path", gin.WrapH(http.StripPrefix("/app", s.cfg.App)))
		r.HEAD("/app/*path", gin.WrapH(http.StripPrefix("/app", s.cfg.App)))
	}

	f := r.Group("/fhir", s.auditRequests, s.negotiate, s.authenticate)
	if s.cfg.SMARTConfiguration != nil {
		f.GET("/.well-known/smart-configuration", func(c *gin.Context) {
			c.Data(http.StatusOK, "application/json", s.cfg.SMARTConfiguration)
		})
	}
	f.GET("", s.searchSystem)
	f.POST("", s.batchOrTransaction)
	f.POST("/", s.batchOrTransaction)
	f.GET("/metadata", s.metadata)
	f.GET("/_history", s.historySystem)
	f.GET("/:type", s.withType(s.searchType))
	f.POST("/:type", s.withType(s.create))
	f.PUT("/:type", s.withType(s.conditionalUpdate))
	f.DELETE("/:type", s.withType(s.conditionalDelete))
	f.PATCH("/:type", s.withType(s.conditionalPatch))
	f.POST("/:type/_search", s.withType(s.searchType))
	f.POST("/:type/$validate", s.withType(s.validateType))
	f.POST("/:type/:id/$validate", s.withType(s.validateInstance))
	f.GET("/:type/:id/$validate", s.withType(s.validateInstance))
	f.GET("/:type/:id/$everything", s.withType(s.everything))
	for _, m := range []string{http.MethodGet, http.MethodPost} { // $meta is idempotent: GET or POST
		f.Handle(m, "/$meta", s.metaSystem)
		f.Handle(m, "/:type/$meta", s.withType(s.metaType))
		f.Handle(m, "/:type/:id/$meta", s.withType(s.metaInstance))
		f.Handle(m, "/:type/:id/_history/:vid/$meta", s.withType(s.metaInstance))
	}
	f.POST("/:type/:id/$meta-add", s.withType(s.metaAdd))
	f.POST("/:type/:id/$meta-delete", s.withType(s.metaDelete))
	f.GET("/:type/:id/$meta-add", s.metaByGet) // else taken for a compartment search
	f.GET("/:type/:id/$meta-delete", s.metaByGet)
	f.POST("/:type/:id/_history/:vid/$meta-add", s.withType(s.metaVersionEdit))
	f.POST("/:type/:id/_history/:vid/$meta-delete", s.withType(s.metaVersionEdit))
	for _, op := range s.svc.Operations() {
		switch d := op.Definition(); {
		case d.Resource == "":
			f.GET("/$"+d.Code, s.operation(op))
			f.POST("/$"+d.Code, s.operation(op))
		case d.TypeLevel:
			f.GET("/:type/$"+d.Code, s.withType(s.operation(op)))
			f.POST("/:type/$"+d.Code, s.withType(s.operation(op)))
		default:
			f.GET("/:type/:id/$"+d.Code, s.withType(s.operation(op)))
			f.POST("/:type/:id/$"+d.Code, s.withType(s.operation(op)))
		}
	}
	f.GET("/OperationDefinition/:id", s.operationDefinition)
	f.GET("/:type/_history", s.withType(s.historyType))
	f.GET("/:type/:id", s.withType(s.read))
	f.PUT("/:type/:id", s.withType(s.update))
	f.DELETE("/:type/:id", s.withType(s.delete))
	f.PATCH("/:type/:id", s.withType(s.patchInstance))
	f.GET("/:type/:id/_history", s.withType(s.historyInstance))
	f.GET("/:type/:id/_history/:vid", s.withType(s.vread))
	f.GET("/:type/:id/:compartment", s.withType(s.compartmentSearch))

	r.NoRoute(func(c *gin.Context) {
		s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "no FHIR endpoint at %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported, "method %s is not supported on %s", c.Request.Method, c.Request.URL.Path))
	})
	return r
}

// principalKey is the gin context key of the verified principal.
const principalKey = "careflow.principal"

// authenticate verifies the request's bearer token, when it has one, and keeps its principal for the
// interaction layer; a request without one goes on without a principal (public interactions need none,
// the others are refused by the interaction layer with 401). A malformed header is a 400, a bad token a
// 401, both with their WWW-Authenticate challenge.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	if s.cfg.Auth == nil || h == "" {
		c.Next()
		return
	}
	token, err := auth.BearerToken(h)
	if err == nil {
		var p *auth.Principal
		if p, err = s.cfg.Auth.Verify(c.Request.Context(), token); err == nil {
			c.Set(principalKey, p)
			c.Next()
			return
		}
	}
	s.fail(c, err)
	c.Abort()
}

// principal returns the request's verified principal, or nil.
func principal(c *gin.Context) *auth.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(*auth.Principal)
	return pr
}

// withType rejects resource types the server does not serve (404, per http.html).
func (s *Server) withType(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := c.Param("type")
		if !s.svc.Serves(t) {
			s.fail(c, outcome.At(http.StatusNotFound, outcome.CodeNotSupported, t, "resource type %q is not supported by this server", t))
			return
		}
		h(c)
	}
}

const requestIDHeader = "X-Request-Id"

// requestLog gives every request an id (the client's X-Request-Id when it sends a sane one) and logs it.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader(requestIDHeader)
	if id == "" || len(id) > 128 || strings.ContainsAny(id, " \t\r\n") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(requestIDHeader, id)
	c.Header(requestIDHeader, id)
	s.log.LogAttrs(c.Request.Context(), slog.LevelDebug, "request started",
		slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path), slog.String("request_id", id))
	c.Next()
	level := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", time.Since(start)),
		slog.String("request_id", id),
	)
}

// recover turns a panic into a 500 OperationOutcome instead of a dropped connection.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic", "panic", p, "path", c.Request.URL.Path)
			s.fail(c, outcome.New(http.StatusInternalServerError, outcome.CodeException, "internal server error"))
			c.Abort()
		}
	}()
	c.Next()
}

func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"database unavailable"}`))
		return
	}
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ready"}`))
}
