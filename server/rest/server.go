// Package rest is careflow's FHIR R4 RESTful API (http://hl7.org/fhir/R4/http.html) on gin: interaction
// dispatch, headers (ETag, Location, Last-Modified, Prefer, conditional requests), content negotiation and
// OperationOutcome errors. One generic code path serves every registered resource type.
package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Validator checks a resource body; it is implemented by fhir/validate.
type Validator interface {
	Validate(resourceType string, data []byte) (map[string]any, *outcome.Error)
}

// Config tunes the server.
type Config struct {
	// BaseURL is the public base of the FHIR API (e.g. https://fhir.example.org/fhir). Empty: derived from
	// each request's Host as http://host/fhir.
	BaseURL string
	// MaxBodyBytes bounds request bodies (413 beyond). Default 16 MiB.
	MaxBodyBytes int64
	// DefaultCount and MaxCount bound page sizes (_count). Defaults 50 and 1000.
	DefaultCount, MaxCount int
	// Version is the software version reported in the CapabilityStatement.
	Version string
	// Types are the resource types served.
	Types []string
	// MaxBundleEntries bounds the entries of a batch or transaction (413 beyond). Default 10,000.
	MaxBundleEntries int
	// Operations are the FHIR operations contributed by workflow packages.
	Operations []Operation
	// App, when set, serves the coordinator web app under /app/ (it talks to the FHIR API like any
	// client).
	App http.Handler
	// ReferentialIntegrity makes writes keep references intact (refint.go): a resource whose references
	// to this server name missing or deleted resources is refused (422), and so is the deletion of a
	// resource that current resources reference (409). Off: references are not checked and cost nothing.
	ReferentialIntegrity bool
}

// Server serves the FHIR API.
type Server struct {
	cfg       Config
	store     storage.Store
	validator Validator
	registry  *search.Registry
	// compartments are the official CompartmentDefinitions (Patient).
	compartments *search.Compartments
	// summary holds, per type, the top-level elements _summary=true returns (official isSummary flags).
	summary map[string]map[string]bool
	log     *slog.Logger
	types   map[string]bool
	started time.Time
	now     func() time.Time
}

// New returns the HTTP handler of the FHIR API (under /fhir) with /healthz and /readyz.
func New(cfg Config, store storage.Store, v Validator, registry *search.Registry, log *slog.Logger) (http.Handler, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.DefaultCount <= 0 {
		cfg.DefaultCount = 50
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = 1000
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.ReferentialIntegrity {
		store = newRefStore(store, cfg)
	}
	s := &Server{cfg: cfg, store: store, validator: v, registry: registry, log: log, types: map[string]bool{}, started: time.Now(), now: time.Now}
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	comps, err := registry.NewCompartments(definitions.PatientCompartment)
	if err != nil {
		return nil, err
	}
	s.compartments = comps
	s.summary = s.summarySets()
	return s.routes(), nil
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.RemoveExtraSlash = false
	r.Use(s.requestLog, s.recover)

	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`)) })
	r.GET("/readyz", s.ready)

	if s.cfg.App != nil {
		r.GET("/app", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/app/") })
		r.GET("/app/*path", gin.WrapH(http.StripPrefix("/app", s.cfg.App)))
		r.HEAD("/app/*path", gin.WrapH(http.StripPrefix("/app", s.cfg.App)))
	}

	f := r.Group("/fhir", s.negotiate)
	if s.cfg.ReferentialIntegrity && s.cfg.BaseURL == "" {
		f.Use(s.withRequestBase)
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
	for _, op := range s.cfg.Operations {
		if op.Type == "" {
			f.GET("/$"+op.Name, s.operationHandler(op))
			f.POST("/$"+op.Name, s.operationHandler(op))
		} else {
			f.GET("/:type/:id/$"+op.Name, s.withType(s.operationHandler(op)))
			f.POST("/:type/:id/$"+op.Name, s.withType(s.operationHandler(op)))
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

// withType rejects resource types the server does not serve (404, per http.html).
func (s *Server) withType(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := c.Param("type")
		if !s.types[t] {
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
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"database unavailable"}`))
		return
	}
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ready"}`))
}

// storageError maps storage errors to FHIR answers.
func storageError(err error, typ, id string) *outcome.Error {
	var gone *storage.GoneError
	var conflict *storage.VersionConflictError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return outcome.New(http.StatusNotFound, outcome.CodeNotFound, "%s/%s is not known", typ, id)
	case errors.As(err, &gone):
		return outcome.New(http.StatusGone, outcome.CodeDeleted, "%s/%s was deleted (version %d)", typ, id, gone.Deleted.VersionID)
	case errors.As(err, &conflict) && conflict.Expected == neverMatches:
		// If-Match named no version this resource has or can have (a versionId not of careflow's form, a
		// list without the current one, "*" on a resource that is absent).
		if conflict.Current == 0 {
			return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match does not match: %s/%s does not exist (or is deleted); nothing was changed", typ, id)
		}
		return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match does not name the current version of %s/%s, which is %d (ETag W/\"%d\"); nothing was changed", typ, id, conflict.Current, conflict.Current)
	case errors.As(err, &conflict):
		if conflict.Current == 0 {
			return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: %s/%s does not exist (If-Match expected version %d)", typ, id, conflict.Expected)
		}
		return outcome.New(http.StatusPreconditionFailed, outcome.CodeConflict, "version conflict: If-Match expected version %d of %s/%s, the current version is %d", conflict.Expected, typ, id, conflict.Current)
	case errors.Is(err, storage.ErrBadCursor):
		return outcome.New(http.StatusBadRequest, outcome.CodeInvalid, "invalid paging cursor")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e := outcome.New(http.StatusServiceUnavailable, outcome.CodeTransient, "the request was cancelled or timed out")
		e.Cause = err
		return e
	}
	return outcome.Wrap(err)
}
