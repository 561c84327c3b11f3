package devtoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Flow is a development authorization server for SMART App Launch (standalone launch): the authorization
// code grant with PKCE (S256, required), for public clients. It has no login: every authorization request
// is approved at once for Subject (and Patient, when the client asks for launch/patient), with the scopes
// the client asked for. It exists so that the dashboard and SMART clients can be tested end to end without
// an identity server; never expose it.
type Flow struct {
	Key      *Key
	Issuer   string // the URL the handler is served at
	Audience string // careflow's FHIR base URL: the aud of the tokens
	Subject  string // sub of every token (default "dev-user")
	Patient  string // the patient context given when launch/patient is asked for
	// RedirectPrefix, when set, is the only prefix of redirect_uri accepted.
	RedirectPrefix string
	Lifetime       time.Duration // default 1 hour

	mu    sync.Mutex
	codes map[string]grant
}

// grant is an issued authorization code.
type grant struct {
	clientID, redirectURI, challenge, scope string
	expires                                 time.Time
}

// Handler serves the issuer: discovery (with the authorization and token endpoints), the JWKS,
// GET /authorize and POST /token.
func (f *Flow) Handler() (http.Handler, error) {
	base := strings.TrimSuffix(f.Issuer, "/")
	mux, err := f.Key.issuerMux(map[string]any{
		"issuer": f.Issuer, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
		"grant_types_supported": []string{"authorization_code"}, "response_types_supported": []string{"code"},
		"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported": []string{"openid", "fhirUser", "launch/patient", "user/*.cruds", "patient/*.cruds"},
	})
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	return cors(mux), nil
}

// cors lets a browser app on another origin call the token endpoint (it is a public client).
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (f *Flow) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if err != nil || !ru.IsAbs() || (f.RedirectPrefix != "" && !strings.HasPrefix(redirect, f.RedirectPrefix)) {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	fail := func(code, desc string) {
		v := ru.Query()
		v.Set("error", code)
		v.Set("error_description", desc)
		v.Set("state", q.Get("state"))
		ru.RawQuery = v.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case q.Get("client_id") == "":
		fail("invalid_request", "client_id is required")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		fail("invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	case q.Get("aud") != "" && q.Get("aud") != f.Audience:
		fail("invalid_request", "aud is not the FHIR server this issuer serves")
		return
	}
	code := randomString()
	f.mu.Lock()
	if f.codes == nil {
		f.codes = map[string]grant{}
	}
	f.codes[code] = grant{clientID: q.Get("client_id"), redirectURI: redirect, challenge: q.Get("code_challenge"),
		scope: q.Get("scope"), expires: time.Now().Add(time.Minute)}
	f.mu.Unlock()
	v := ru.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	ru.RawQuery = v.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (f *Flow) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthError("invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError("unsupported_grant_type", "only authorization_code")
		return
	}
	f.mu.Lock()
	g, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code")) // a code is used once
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok || time.Now().After(g.expires):
		oauthError("invalid_grant", "unknown or expired code")
		return
	case g.clientID != r.PostForm.Get("client_id") || g.redirectURI != r.PostForm.Get("redirect_uri"):
		oauthError("invalid_grant", "client_id or redirect_uri differ from the authorization request")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		oauthError("invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	subject := f.Subject
	if subject == "" {
		subject = "dev-user"
	}
	scopes := strings.Fields(g.scope)
	var patient string
	for _, s := range scopes {
		if s == "launch/patient" {
			patient = f.Patient
		}
	}
	life := f.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	tok, err := f.Key.Sign(Claims{Issuer: f.Issuer, Audience: f.Audience, Subject: subject, Scopes: scopes, Patient: patient,
		ClientID: g.clientID, Lifetime: life})
	if err != nil {
		oauthError("server_error", err.Error())
		return
	}
	out := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(life.Seconds()), "scope": g.scope}
	if patient != "" {
		out["patient"] = patient
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
