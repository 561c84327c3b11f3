// Who the coordinator is: a Practitioner of this server, chosen in the "You are" selector. Claims name
// them as the Task's owner, "My items" filters on them, and a message recorded as sent names them as
// the sender.
//
// The choice is kept in localStorage (this browser, every tab), not in the URL: a link shared with a
// colleague must show them the same view without making them act as the person who sent it. A second
// browser profile is a second identity. With authorization on, the server still decides what the
// token may write; the selector only says whose name goes on the item.

import { fhirGet, humanName } from './fhir.js';

const KEY = 'careflow.coordinator';

let practitioners = null;

/**
 * loadPractitioners returns the server's Practitioners ({reference, name}) sorted by family name: one
 * search (GET Practitioner?_sort=family&_count=200&_elements=name), kept for the page's life.
 */
export async function loadPractitioners(signal) {
  if (practitioners) return practitioners;
  const bundle = await fhirGet('Practitioner', { _sort: 'family,given', _count: 200, _elements: 'name' }, signal);
  practitioners = (bundle.entry || [])
    .map((e) => e.resource)
    .filter((r) => r && r.resourceType === 'Practitioner')
    .map((p) => ({ reference: `Practitioner/${p.id}`, name: humanName(p) || `Practitioner ${p.id}` }));
  return practitioners;
}

/** coordinator returns who the coordinator said they are ({reference, name}), or null. */
export function coordinator() {
  try {
    const c = JSON.parse(localStorage.getItem(KEY) || 'null');
    return c && typeof c.reference === 'string' && /^Practitioner\/[A-Za-z0-9\-.]{1,64}$/.test(c.reference) ? c : null;
  } catch {
    return null;
  }
}

/** setCoordinator remembers who the coordinator is (null: nobody). */
export function setCoordinator(c) {
  if (c) localStorage.setItem(KEY, JSON.stringify({ reference: c.reference, name: c.name }));
  else localStorage.removeItem(KEY);
}
