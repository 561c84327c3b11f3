// Sign-in with SMART App Launch (standalone launch: OAuth 2.0 authorization code with PKCE, a public
// client), when the app has a client id (config.json, set by careflow serve with --auth-issuer) and the FHIR
// server publishes ../fhir/.well-known/smart-configuration. Without either the app runs without a token, as against a server with authorization off.
// The access token lives in sessionStorage (this tab only) and goes with every FHIR request (fhir.js).

const STORE = 'careflow.token';
const PENDING = 'careflow.launch';

let token = null;

/** bearer returns the access token to send, or null. */
export function bearer() {
  if (token) return token;
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    if (saved && saved.expires > Date.now() + 30000) token = saved.token;
  } catch {
    token = null;
  }
  return token;
}

/** forget drops the token (the server refused it); the next signIn starts a new launch. */
export function forget() {
  token = null;
  sessionStorage.removeItem(STORE);
}

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discover(base) {
  // Without a client id (the server runs without authorization) the app signs nobody in.
  const cfgRes = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
  if (!cfgRes.ok) return null;
  const cfg = await cfgRes.json();
  if (!cfg.clientId) return null;
  const smartRes = await fetch(new URL('.well-known/smart-configuration', base), { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!smartRes.ok) return null;
  const smart = await smartRes.json();
  if (!smart.authorization_endpoint || !smart.token_endpoint) return null;
  return { cfg, smart };
}

/**
 * signIn makes sure the app has a token when the server needs one: it completes a launch the
 * authorization server redirected back to, keeps a valid token, or starts a launch (the page then
 * navigates away and the returned promise never settles).
 */
export async function signIn(base) {
  const found = await discover(base);
  if (!found) return;
  const { cfg, smart } = found;
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  if (pending && params.get('state') === pending.state) {
    sessionStorage.removeItem(PENDING);
    if (params.get('error')) throw new Error(`Sign-in failed: ${params.get('error_description') || params.get('error')}`);
    const res = await fetch(smart.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: params.get('code') || '', redirect_uri: pending.redirect,
        client_id: cfg.clientId, code_verifier: pending.verifier,
      }),
    });
    const tok = await res.json().catch(() => ({}));
    if (!res.ok || !tok.access_token) throw new Error(`Sign-in failed: ${tok.error_description || tok.error || res.status}`);
    token = tok.access_token;
    sessionStorage.setItem(STORE, JSON.stringify({ token, expires: Date.now() + (Number(tok.expires_in) || 300) * 1000 }));
    history.replaceState(null, '', pending.returnTo);
    return;
  }
  if (bearer()) return;
  const verifier = randomString();
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const redirect = new URL('./', document.baseURI).href;
  const state = randomString();
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, redirect, returnTo: location.pathname + location.search }));
  const u = new URL(smart.authorization_endpoint);
  u.search = new URLSearchParams({
    response_type: 'code', client_id: cfg.clientId, redirect_uri: redirect, scope: cfg.scope, state,
    aud: base.href.replace(/\/$/, ''), code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(u.href);
  await new Promise(() => {}); // the page is leaving
}
