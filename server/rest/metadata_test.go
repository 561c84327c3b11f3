package rest_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// metadataServer is a server and the service behind it, to compare /metadata with a statement built anew.
func metadataServer(tb testing.TB) (*interaction.Service, http.Handler) {
	tb.Helper()
	defs := r4test.Load(tb)
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes}, sqlitetest.Open(tb), r4test.Validator(tb), defs.Registry)
	if err != nil {
		tb.Fatal(err)
	}
	return svc, rest.New(rest.Config{BaseURL: "http://careflow.test/fhir"}, svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestMetadataCachedWithETagAndGzip: /metadata is the statement built anew, byte for byte, on every call;
// its ETag makes a conditional GET a 304 without a body; with Accept-Encoding gzip it is the same bytes
// compressed.
func TestMetadataCachedWithETagAndGzip(t *testing.T) {
	svc, h := metadataServer(t)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c := &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
	want := svc.Capabilities("http://careflow.test/fhir")
	first := c.do("GET", "/metadata", "", "Accept-Encoding", "identity")
	etag := first.header.Get("ETag")
	if first.status != 200 || !bytes.Equal(first.body, want) || etag == "" || first.header.Get("Content-Encoding") != "" {
		t.Fatalf("first /metadata: %d, ETag %q, %d bytes (want %d), equal %v", first.status, etag, len(first.body), len(want), bytes.Equal(first.body, want))
	}
	if again := c.do("GET", "/metadata", "", "Accept-Encoding", "identity"); !bytes.Equal(again.body, want) || again.header.Get("ETag") != etag {
		t.Errorf("second /metadata differs: ETag %q", again.header.Get("ETag"))
	}
	for _, inm := range []string{etag, `"x", ` + etag, "*", etag[2:]} {
		r := c.do("GET", "/metadata", "", "If-None-Match", inm)
		if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q", inm, r.status, len(r.body), r.header.Get("ETag"))
		}
	}
	if r := c.do("GET", "/metadata", "", "If-None-Match", `W/"other"`, "Accept-Encoding", "identity"); r.status != 200 || !bytes.Equal(r.body, want) {
		t.Errorf("If-None-Match of another statement: %d", r.status)
	}
	gz := c.do("GET", "/metadata", "", "Accept-Encoding", "br;q=1, gzip;q=0.8")
	if gz.header.Get("Content-Encoding") != "gzip" || gz.header.Get("Vary") != "Accept-Encoding" || len(gz.body) >= len(want)/4 {
		t.Fatalf("gzip: Content-Encoding %q, Vary %q, %d bytes of %d", gz.header.Get("Content-Encoding"), gz.header.Get("Vary"), len(gz.body), len(want))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, want) {
		t.Errorf("gunzipped /metadata differs (%v)", err)
	}
	if r := c.do("GET", "/metadata", "", "Accept-Encoding", "gzip;q=0, *"); r.header.Get("Content-Encoding") != "" || !bytes.Equal(r.body, want) {
		t.Errorf("gzip;q=0: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	if r := c.do("GET", "/metadata?_pretty=true", "", "Accept-Encoding", "identity"); r.status != 200 || !bytes.Contains(r.body, []byte("\n  \"resourceType\"")) {
		t.Errorf("_pretty=true: %d %.100s", r.status, r.body)
	}
}

// BenchmarkMetadata: CPU per /metadata request, served from the cache (as a client without and with
// gzip sends it), against building the statement anew as every request did before.
//
//	go test -run XXX -bench BenchmarkMetadata -count 5 ./server/rest
func BenchmarkMetadata(b *testing.B) {
	svc, h := metadataServer(b)
	for _, bc := range []struct{ name, encoding string }{{"cached", "identity"}, {"cached-gzip", "gzip"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/fhir/metadata", nil)
				req.Header.Set("Accept-Encoding", bc.encoding)
				w := &discardWriter{h: http.Header{}} // read_bench_test.go
				h.ServeHTTP(w, req)
				if w.status != 200 || w.n == 0 {
					b.Fatal(w.status, w.n)
				}
			}
		})
	}
	b.Run("rebuilt", func(b *testing.B) { // what each request cost before: the build alone
		for b.Loop() {
			if len(svc.Capabilities("http://careflow.test/fhir")) == 0 {
				b.Fatal("empty")
			}
		}
	})
}
