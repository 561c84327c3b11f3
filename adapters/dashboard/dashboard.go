// Package dashboard is the care coordinator's web app: a dependency-free single-page application (plain
// HTML, CSS and JavaScript modules, no build step) embedded in the binary and served under /app/ through
// rest.Config.App. It talks to careflow only through the public FHIR API, like any other client:
//
//	GET  ../fhir/$worklist?date=…[&view=…][&owner=…]  the day's worklist (Tasks), its views and an owner's
//	GET  ../fhir/Patient?_id=a,b,…                    patient names for the worklist (one search)
//	GET  ../fhir/Practitioner?_sort=family,given      who the coordinator is ("You are"), owners
//	PUT  ../fhir/Task/{id}                            claim, release, reassign, done (If-None-Match / If-Match)
//	GET  ../fhir/Appointment/$find?start=…&end=…      free slots for a follow-up or referral
//	POST ../fhir/Appointment/$book                    book one, completing the item's Task
//	GET  ../fhir/Patient?name=…                       patient search
//	GET  ../fhir/Patient/{id}/$summary                a patient's summary document
//	GET  ../fhir/$worklist?date=…&patient=…           that patient's open items
//	GET  ../fhir/Communication?subject=…&_sort=-sent  the patient's message thread
//	POST ../fhir/Patient/{id}/$draft-message          a draft message for an item
//	PUT  ../fhir/Communication/{id}                   the message recorded as sent (completes the item)
//
// Every file is served with a strong ETag and Cache-Control: no-cache (revalidated, so a new binary's app
// is picked up at once) and a Content-Security-Policy that allows only the app's own scripts, styles and
// API calls: no inline script, no eval, no third-party origin.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every file of the app.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	data        []byte
	contentType string
	etag        string
}

// Files returns the app's files (paths relative to the app root, such as "index.html" and "js/main.js").
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has the static directory
	}
	return sub
}

// Options configure the app for a server with authorization on.
type Options struct {
	// ClientID is the app's client id at the authorization server: with it, the app signs in with the
	// SMART App Launch standalone flow (authorization code + PKCE, a public client) whenever the FHIR
	// server publishes [base]/.well-known/smart-configuration, and sends the access token with every
	// request. Empty: the app sends no token.
	ClientID string
	// Scope is what the app asks for (default: openid fhirUser and user/ read, search and update scopes).
	Scope string
	// ConnectOrigins are the origins besides its own the app may call (the authorization server's token
	// endpoint), added to the Content-Security-Policy.
	ConnectOrigins []string
}

// DefaultScope is what the app asks for: it reads and searches every type; it creates and updates worklist
// Tasks (claim, release, reassign, done) and Communications (a message recorded as sent), and books
// appointments ($book: c and u on Appointment, u on Slot and Task; auth/interactions.go).
const DefaultScope = "openid fhirUser user/*.rs user/Task.cu user/Communication.cu user/Appointment.cu user/Slot.u"

// Handler serves the app without authorization (HandlerWith).
func Handler() http.Handler { return HandlerWith(Options{}) }

// HandlerWith serves the app. It expects paths relative to the mount point ("/", "/index.html",
// "/js/main.js"): mount it with http.StripPrefix, as rest.Config.App is. "/" serves index.html;
// "/config.json" is the app's configuration (its client id and scope); a path that names no file is a
// plain 404.
func HandlerWith(opt Options) http.Handler {
	if opt.Scope == "" {
		opt.Scope = DefaultScope
	}
	csp := ContentSecurityPolicy
	if len(opt.ConnectOrigins) > 0 {
		csp = strings.Replace(csp, "connect-src 'self'", "connect-src 'self' "+strings.Join(opt.ConnectOrigins, " "), 1)
	}
	files := map[string]*file{}
	root := Files()
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the platform's MIME tables
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		files["/"+p] = &file{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	files["/"] = files["/index.html"]
	config, err := json.Marshal(map[string]string{"clientId": opt.ClientID, "scope": opt.Scope})
	if err != nil {
		panic(err) // two strings always encode
	}
	csum := sha256.Sum256(config)
	files["/config.json"] = &file{data: config, contentType: "application/json", etag: `"` + hex.EncodeToString(csum[:16]) + `"`}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f := files[r.URL.Path]
		if f == nil || strings.Contains(r.URL.Path, "..") {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
