package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestParseKeySetKeepsOnlyPublicSigningKeys: symmetric keys (which could serve as HMAC secrets),
// encryption keys and keys for algorithms outside the allow-list are dropped; a private key published by
// mistake is reduced to its public half.
func TestParseKeySetKeepsOnlyPublicSigningKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &priv.PublicKey, KeyID: "sig", Algorithm: "ES256", Use: "sig"},
		{Key: &priv.PublicKey, KeyID: "noalg"},
		{Key: priv, KeyID: "private", Algorithm: "ES256"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct-noalg"},
		{Key: &priv.PublicKey, KeyID: "enc", Use: "enc"},
		{Key: &priv.PublicKey, KeyID: "ps256", Algorithm: "PS256"},
	}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	// an unknown key type is skipped, not fatal
	raw = append(raw[:len(raw)-2], []byte(`,{"kty":"XYZ","kid":"unknown"}]}`)...)
	ks, err := parseKeySet(raw)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range ks.all {
		kids = append(kids, k.KeyID)
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
	}
	if got := len(kids); got != 3 || kids[0] != "sig" || kids[1] != "noalg" || kids[2] != "private" {
		t.Errorf("kept %q, want sig, noalg, private", kids)
	}
	if _, err := parseKeySet([]byte(`{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}`)); err == nil {
		t.Error("a set of only symmetric keys was accepted")
	}
	if _, err := parseKeySet([]byte(`not json`)); err == nil {
		t.Error("garbage accepted")
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	c := newTokenCache(2)
	for _, tok := range []string{"a", "b", "c", "d"} {
		c.put(tok, cacheEntry{p: &Principal{Subject: tok}})
	}
	if c.len() != 2 {
		t.Errorf("cache holds %d entries, bound 2", c.len())
	}
	c.put("d", cacheEntry{p: &Principal{Subject: "d2"}}) // replacing evicts nothing
	if c.len() != 2 {
		t.Errorf("cache holds %d entries after a replace", c.len())
	}
}
