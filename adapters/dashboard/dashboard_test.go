package dashboard_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/careflow/careflow/adapters/dashboard"
)

func get(t *testing.T, h http.Handler, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func TestHandlerServesTheApp(t *testing.T) {
	h := dashboard.Handler()
	cases := []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", `<script type="module" src="js/main.js">`},
		{"/index.html", "text/html; charset=utf-8", "<main id=\"main\""},
		{"/app.css", "text/css; charset=utf-8", ":root"},
		{"/js/main.js", "text/javascript; charset=utf-8", "import"},
		{"/js/sanitize.js", "text/javascript; charset=utf-8", "DOMParser"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, c := range cases {
		res := get(t, h, http.MethodGet, c.path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != c.contentType || !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.contains, strings.Contains(string(body), c.contains))
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": dashboard.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-cache",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("GET %s: %s %q, want %q", c.path, k, got, want)
			}
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", c.path)
			continue
		}
		if res := get(t, h, http.MethodGet, c.path, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", c.path, res.StatusCode)
		}
	}
	if res := get(t, h, http.MethodHead, "/js/main.js"); res.StatusCode != 200 {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
	for _, p := range []string{"/nope.js", "/js/", "/static/index.html", "/../dashboard.go", "/js/../../dashboard.go"} {
		if res := get(t, h, http.MethodGet, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	if res := get(t, h, http.MethodPost, "/"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

// TestAppSources checks the app's sources statically: every module and asset they refer to is embedded,
// no inline script (the CSP forbids it), and no markup is ever built
// from strings (innerHTML and friends) — narratives go through sanitize.js.
func TestAppSources(t *testing.T) {
	files := dashboard.Files()
	var sources []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			sources = append(sources, p)
		}
		return err
	})
	if len(sources) < 8 {
		t.Fatalf("only %d files embedded: %v", len(sources), sources)
	}
	exists := func(p string) bool { _, err := fs.Stat(files, p); return err == nil }
	importRE := regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]+\s+from\s+)?['"]([^'"]+)['"]`)
	refRE := regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	forbidden := regexp.MustCompile(`\.innerHTML\s*=|outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*['"]`)
	for _, p := range sources {
		data, _ := fs.ReadFile(files, p)
		src := string(data)
		switch path.Ext(p) {
		case ".js":
			for _, m := range importRE.FindAllStringSubmatch(src, -1) {
				target := path.Join(path.Dir(p), m[1])
				if !strings.HasPrefix(m[1], "./") || !exists(target) {
					t.Errorf("%s imports %q, which is not an embedded module", p, m[1])
				}
			}
			if loc := forbidden.FindStringIndex(src); loc != nil {
				t.Errorf("%s builds markup from strings or evaluates code: %q", p, src[loc[0]:loc[1]])
			}
		case ".html":
			for _, m := range refRE.FindAllStringSubmatch(src, -1) {
				ref := m[1]
				if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "../fhir/") || strings.HasPrefix(ref, "./") && !strings.Contains(ref, ".") {
					continue
				}
				if strings.HasPrefix(ref, "./?") || ref == "./" {
					continue
				}
				if !exists(path.Join(path.Dir(p), ref)) {
					t.Errorf("%s refers to %q, which is not embedded", p, ref)
				}
			}
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(src) || regexp.MustCompile(`\son[a-z]+=`).MatchString(src) || strings.Contains(src, "style=") {
				t.Errorf("%s has inline script, event handlers or styles (the Content-Security-Policy blocks them)", p)
			}
		}
	}
}
