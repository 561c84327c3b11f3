// The app's only way to the server: the public FHIR API next to the app (../fhir/) in
// application/fhir+json — GET for everything it shows; PUT for what a coordinator changes (a worklist
// Task's owner and status, a message recorded as sent), with If-Match / If-None-Match preconditions; POST
// for the operations that change data (Appointment/$book) and for $draft-message. Errors carry the
// OperationOutcome issues the server sent.

import { bearer, forget, signIn } from './auth.js';

export const BASE = new URL('../fhir/', document.baseURI);

/** FhirError is a failed request: the HTTP status (0: no answer) and the OperationOutcome issues. */
export class FhirError extends Error {
  constructor(status, issues, url, method = 'GET') {
    super(issues.map((i) => i.diagnostics || i.details?.text || i.code).filter(Boolean).join('; ') || `HTTP ${status}`);
    this.name = 'FhirError';
    this.status = status;
    this.issues = issues;
    this.url = String(url);
    this.method = method;
  }
}

/** fhirUrl resolves a path of the FHIR API ("Patient", "$worklist") with query parameters. */
export function fhirUrl(path, params) {
  const u = new URL(path, BASE);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u;
}

/** fhirGet fetches one FHIR resource (JSON) from a path of the API or an absolute URL of this server. */
export async function fhirGet(pathOrUrl, params, signal) {
  const url = pathOrUrl instanceof URL ? pathOrUrl : fhirUrl(pathOrUrl, params);
  if (url.origin !== location.origin) {
    throw new FhirError(0, [{ severity: 'error', code: 'security', diagnostics: `refusing to follow a link to another server: ${url.origin}` }], url);
  }
  return request(url, { headers: { Accept: 'application/fhir+json' }, signal, credentials: 'same-origin', cache: 'no-store' });
}

/**
 * fhirPut updates (or creates) a resource with PUT [base]/[type]/[id]; with ifMatch (a versionId) the
 * server refuses the update if someone changed the resource meanwhile (412); with ifNoneMatch it sends
 * If-None-Match: * and the server refuses it (412) when the resource is already stored (RFC 9110 §13.1.2:
 * of two clients creating one id, exactly one succeeds). Returns the stored resource.
 */
export async function fhirPut(resource, { ifMatch, ifNoneMatch, signal } = {}) {
  const url = fhirUrl(`${resource.resourceType}/${encodeURIComponent(resource.id)}`);
  const headers = { Accept: 'application/fhir+json', 'Content-Type': 'application/fhir+json', Prefer: 'return=representation' };
  if (ifMatch) headers['If-Match'] = `W/"${ifMatch}"`;
  else if (ifNoneMatch) headers['If-None-Match'] = '*';
  return request(url, { method: 'PUT', headers, body: JSON.stringify(resource), signal, credentials: 'same-origin', cache: 'no-store' });
}

/**
 * fhirOperation invokes an operation with POST and a Parameters resource (R4 operations.html#request):
 * params maps names to a string (valueString), a {reference} (valueReference) or a resource (resource).
 */
export async function fhirOperation(path, params, signal) {
  const parameter = [];
  for (const [name, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (typeof v === 'string') parameter.push({ name, valueString: v });
    else if (v.resourceType) parameter.push({ name, resource: v });
    else parameter.push({ name, valueReference: v });
  }
  const headers = { Accept: 'application/fhir+json', 'Content-Type': 'application/fhir+json' };
  return request(fhirUrl(path), { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Parameters', parameter }), signal, credentials: 'same-origin', cache: 'no-store' });
}

/** withoutVersion returns a copy of a resource without meta.versionId and meta.lastUpdated (for a PUT). */
export function withoutVersion(resource) {
  const copy = { ...resource };
  if (copy.meta) {
    const { versionId, lastUpdated, ...meta } = copy.meta;
    copy.meta = meta;
    if (Object.keys(meta).length === 0) delete copy.meta;
  }
  return copy;
}

/** request sends one request and returns the FHIR resource answered, or throws a FhirError. */
async function request(url, init) {
  let res;
  const token = bearer();
  if (token) init = { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } };
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new FhirError(0, [{ severity: 'error', code: 'transient', diagnostics: `The FHIR server could not be reached (${e.message}).` }], url, init.method);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.status === 401 && token) {
    // The token expired or was revoked: sign in again (the page navigates to the authorization server).
    forget();
    await signIn(BASE);
  }
  if (!res.ok) {
    const issues = body && body.resourceType === 'OperationOutcome' && Array.isArray(body.issue) && body.issue.length
      ? body.issue
      : [{ severity: 'error', code: 'exception', diagnostics: `HTTP ${res.status} ${res.statusText}`.trim() }];
    throw new FhirError(res.status, issues, url, init.method);
  }
  if (!body || typeof body !== 'object' || typeof body.resourceType !== 'string') {
    throw new FhirError(res.status, [{ severity: 'error', code: 'structure', diagnostics: 'The server did not answer with FHIR JSON.' }], url, init.method);
  }
  return body;
}

/**
 * searchAll runs a search and follows the Bundle's next links, returning every entry's resource
 * (search.mode "match" or absent; "outcome" entries are reported separately) — at most maxPages pages.
 */
export async function searchAll(path, params, signal, maxPages = 20) {
  const resources = [];
  const outcomes = [];
  let url = fhirUrl(path, params);
  for (let page = 0; url && page < maxPages; page++) {
    const bundle = await fhirGet(url, null, signal);
    for (const e of bundle.entry || []) {
      if (!e.resource) continue;
      if (e.search && e.search.mode === 'outcome') outcomes.push(e.resource);
      else if (!e.search || e.search.mode === 'match') resources.push(e.resource);
    }
    const next = (bundle.link || []).find((l) => l.relation === 'next');
    url = next ? new URL(next.url, BASE) : null;
  }
  return { resources, outcomes };
}

/** refId returns the id of a reference to type ("Patient/x", "http://…/Patient/x" → "x"), or "". */
export function refId(ref, type) {
  if (!ref || typeof ref.reference !== 'string') return '';
  const parts = ref.reference.split('/');
  const i = parts.lastIndexOf(type);
  if (i < 0 || i + 1 >= parts.length) return '';
  return parts[i + 1];
}

/** humanName formats Patient.name: the official (or first) name's text, else given + family. */
export function humanName(patient) {
  const names = (patient && patient.name) || [];
  const n = names.find((x) => x.use === 'official') || names.find((x) => x.use !== 'old') || names[0];
  if (!n) return '';
  if (n.text) return n.text;
  return [...(n.given || []), n.family].filter(Boolean).join(' ');
}

/** codingOf returns the first coding of a CodeableConcept with the system (or any), or null. */
export function codingOf(cc, system) {
  const cs = (cc && cc.coding) || [];
  return (system ? cs.find((c) => c.system === system) : cs[0]) || null;
}

/** conceptText is a CodeableConcept's text, else its first coding's display or code. */
export function conceptText(cc) {
  if (!cc) return '';
  if (cc.text) return cc.text;
  const c = codingOf(cc);
  return c ? c.display || c.code || '' : '';
}
