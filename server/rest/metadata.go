package rest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// maxMetadataBases bounds the CapabilityStatements kept when the base comes from the Host header (no
// Config.BaseURL): beyond it, a statement is built for the request and not kept.
const maxMetadataBases = 8

// metadataCache holds the CapabilityStatement per base, built once: it depends only on the configuration
// and the base (about 750 KB and 16 ms of CPU to build with every R4 type).
type metadataCache struct {
	mu     sync.Mutex
	byBase map[string]*metadataDoc
}

// metadataDoc is one CapabilityStatement: its bytes, their gzip encoding and its entity tag.
type metadataDoc struct {
	body, gz []byte
	etag     string
}

// doc returns the statement for base, building it with build the first time.
func (m *metadataCache) doc(base string, build func(string) []byte) (*metadataDoc, error) {
	m.mu.Lock()
	d, ok := m.byBase[base]
	m.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := newMetadataDoc(build(base))
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.byBase[base]; ok {
		return prev, nil
	}
	if m.byBase == nil {
		m.byBase = map[string]*metadataDoc{}
	}
	if len(m.byBase) < maxMetadataBases {
		m.byBase[base] = d
	}
	return d, nil
}

func newMetadataDoc(body []byte) (*metadataDoc, error) {
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("rest: gzip the CapabilityStatement: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("rest: gzip the CapabilityStatement: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("rest: gzip the CapabilityStatement: %w", err)
	}
	sum := sha256.Sum256(body)
	// Weak: the identity and gzip encodings are the same statement (RFC 9110 §8.8.1).
	return &metadataDoc{body: body, gz: gz.Bytes(), etag: `W/"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// metadata serves GET [base]/metadata: the CapabilityStatement, built once per base, with an ETag (a
// matching If-None-Match is a 304) and gzip when the client accepts it. _pretty=true indents it anew.
func (s *Server) metadata(c *gin.Context) {
	d, err := s.meta.doc(s.baseURL(c), s.svc.Capabilities)
	if err != nil {
		s.fail(c, err)
		return
	}
	if c.Query("_pretty") == "true" {
		s.writeJSON(c, http.StatusOK, d.body)
		return
	}
	h := c.Writer.Header()
	h.Set("ETag", d.etag)
	h.Add("Vary", "Accept-Encoding")
	if etagMatches(c.GetHeader("If-None-Match"), d.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := d.body
	if acceptsGzip(c.GetHeader("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = d.gz
	}
	c.Data(http.StatusOK, mimeOf(c)+"; charset=utf-8", body)
}

// etagMatches reports whether an If-None-Match header matches etag by the weak comparison (RFC 9110
// §13.1.2): "*", or one of its tags with the same opaque value.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (named, or *, without q=0).
func acceptsGzip(header string) bool {
	gzipQ, starQ := "", ""
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := "1"
		if v, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q="); ok {
			q = v
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	nonZero := func(q string) bool { return q != "" && strings.Trim(strings.TrimPrefix(q, "0"), ".0") != "" }
	if gzipQ != "" {
		return nonZero(gzipQ)
	}
	return nonZero(starQ)
}
