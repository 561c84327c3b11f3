package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxDocumentBytes bounds a discovery document or JWKS read from the network or a file.
const maxDocumentBytes = 1 << 20

// errKeysUnavailable means the key source could not be read and no keys are cached.
var errKeysUnavailable = errors.New("signing keys unavailable")

// keyCache holds the verification keys of the issuer. Readers take the current set without a lock; an
// unknown kid (or an empty cache) refreshes it, at most once per minInterval whatever the number of
// callers, so a flood of tokens with invented kids costs the identity provider one request per interval.
type keyCache struct {
	source      string // JWKS URL or file path; "" until discovered
	issuer      string // for discovery
	client      *http.Client
	now         func() time.Time
	minInterval time.Duration

	keys atomic.Pointer[keySet]

	mu          sync.Mutex // serialises refreshes
	lastAttempt time.Time  // of the last refresh, successful or not (under mu)
	jwksURI     string     // discovered jwks_uri (under mu)
	fetches     atomic.Int64
}

// keySet is one immutable snapshot of the issuer's public signing keys, by kid.
type keySet struct {
	byKid map[string][]jose.JSONWebKey
	all   []jose.JSONWebKey
}

// lookup returns the keys with kid, or every key for a token without a kid.
func (s *keySet) lookup(kid string) []jose.JSONWebKey {
	if s == nil {
		return nil
	}
	if kid == "" {
		return s.all
	}
	return s.byKid[kid]
}

// keysFor returns the candidate keys for kid and the key set they come from, refreshing the cache once
// (rate-limited) when it has none.
func (c *keyCache) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, *keySet, error) {
	cur := c.keys.Load()
	if keys := cur.lookup(kid); len(keys) > 0 {
		return keys, cur, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.keys.Load(); now != cur { // refreshed while we waited
		if keys := now.lookup(kid); len(keys) > 0 {
			return keys, now, nil
		}
	}
	if t := c.now(); c.lastAttempt.IsZero() || t.Sub(c.lastAttempt) >= c.minInterval || t.Before(c.lastAttempt) {
		c.lastAttempt = t
		if err := c.refreshLocked(ctx); err != nil {
			if c.keys.Load() == nil {
				return nil, nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
			}
			return nil, nil, fmt.Errorf("unknown key %q; refreshing the keys failed: %w", kid, err)
		}
		set := c.keys.Load()
		if keys := set.lookup(kid); len(keys) > 0 {
			return keys, set, nil
		}
		return nil, nil, fmt.Errorf("no signing key %q in the issuer's key set", kid)
	}
	if c.keys.Load() == nil {
		return nil, nil, fmt.Errorf("%w: the last attempt failed less than %s ago", errKeysUnavailable, c.minInterval)
	}
	return nil, nil, fmt.Errorf("no signing key %q (keys refreshed less than %s ago)", kid, c.minInterval)
}

// refresh reads the key source now, whatever the rate limit (used at start-up).
func (c *keyCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastAttempt = c.now()
	return c.refreshLocked(ctx)
}

func (c *keyCache) refreshLocked(ctx context.Context) error {
	c.fetches.Add(1)
	src := c.source
	if src == "" {
		if c.jwksURI == "" {
			uri, err := c.discover(ctx)
			if err != nil {
				return err
			}
			c.jwksURI = uri
		}
		src = c.jwksURI
	}
	raw, err := c.read(ctx, src)
	if err != nil {
		return fmt.Errorf("reading the JWKS %s: %w", src, err)
	}
	set, err := parseKeySet(raw)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", src, err)
	}
	c.keys.Store(set)
	return nil
}

// discover reads the issuer's jwks_uri from its OpenID Connect discovery document, or else from its SMART
// configuration (both at issuer + /.well-known/…).
func (c *keyCache) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(c.issuer, "/")
	var errs []error
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/smart-configuration"} {
		raw, err := c.read(ctx, base+doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", base, doc, err))
			continue
		}
		if meta.Issuer != "" && meta.Issuer != c.issuer {
			// OpenID Connect Discovery §4.3: the issuer in the document must be the one asked for.
			errs = append(errs, fmt.Errorf("%s%s names issuer %q, not %q", base, doc, meta.Issuer, c.issuer))
			continue
		}
		if meta.JWKSURI == "" {
			errs = append(errs, fmt.Errorf("%s%s has no jwks_uri", base, doc))
			continue
		}
		return meta.JWKSURI, nil
	}
	return "", fmt.Errorf("discovering the issuer's jwks_uri: %w", errors.Join(errs...))
}

// read fetches an http(s) URL or reads a file.
func (c *keyCache) read(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentBytes))
		return nil, fmt.Errorf("GET %s: %s", src, resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxDocumentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxDocumentBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxDocumentBytes)
	}
	return raw, nil
}

// parseKeySet keeps the usable verification keys of a JWKS: asymmetric (RSA, EC, OKP) public keys whose
// use, if given, is "sig" and whose alg, if given, is allowed. Symmetric (oct) keys are dropped, so no
// key can ever serve as an HMAC secret; a private key is reduced to its public part.
func parseKeySet(raw []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	set := &keySet{byKid: map[string][]jose.JSONWebKey{}}
	for _, one := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(one); err != nil {
			continue // a key this library cannot read (unknown kty, bad parameters) is skipped, as RFC 7517 §5 allows
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && !allowedAlg(k.Algorithm) {
			continue
		}
		switch k.Key.(type) {
		case []byte:
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		if !k.Valid() {
			continue
		}
		set.all = append(set.all, k)
		set.byKid[k.KeyID] = append(set.byKid[k.KeyID], k)
	}
	if len(set.all) == 0 {
		return nil, errors.New("no usable signing key")
	}
	return set, nil
}
