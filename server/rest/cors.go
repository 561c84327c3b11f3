package rest

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS (https://fetch.spec.whatwg.org/#http-cors-protocol) lets browser apps served from other origins —
// SMART apps, the coordinators' own front ends — call the API with their bearer token. Only the origins
// configured (Config.CORSOrigins, --cors-origins) are allowed, each exactly (scheme, host and port, as the
// browser sends it in Origin): never a wildcard, since requests carry credentials. Without any configured
// origin nothing is added and browsers keep to their same-origin policy.

const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer, X-Request-Id"
	corsExposeHeaders = "ETag, Location, Content-Location, Last-Modified, X-Request-Id"
	corsMaxAge        = "600"
)

// cors returns the middleware that answers preflight requests of allowed origins (204) and adds the
// CORS headers to their requests; a no-op when no origin is configured.
func (s *Server) cors() gin.HandlerFunc {
	allowed := map[string]bool{}
	for _, o := range s.cfg.CORSOrigins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			allowed[o] = true
		}
	}
	if len(allowed) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if origin == "" || !allowed[origin] {
			c.Next() // not a cross-origin request of an allowed origin: no CORS headers, the browser blocks it
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		c.Next()
	}
}
