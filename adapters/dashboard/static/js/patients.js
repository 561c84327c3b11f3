// Find a patient: GET Patient?name=…&_sort=family,given (or identifier=… for an MRN-looking query).

import { h, uid } from './dom.js';
import { codingOf, fhirGet, humanName } from './fhir.js';
import { formatDay } from './format.js';
import { emptyState, errorPanel, navLink } from './ui.js';

export async function render({ root, params, signal, navigate, announce }) {
  const { date } = params;
  const q = (params.q || '').trim();
  root.append(h('div', { class: 'view-head' }, h('h1', { id: 'view-title', tabindex: '-1' }, 'Find a patient')));
  const input = h('input', { type: 'search', id: 'patient-q', name: 'q', value: q, autocomplete: 'off', placeholder: 'e.g. Chen, or an MRN', required: true });
  root.append(h('form', {
    class: 'filters', role: 'search', 'aria-label': 'Patient search',
    onsubmit: (e) => {
      e.preventDefault();
      navigate({ view: 'patients', date, q: input.value.trim() });
    },
  },
  h('div', { class: 'field grow' }, h('label', { for: 'patient-q' }, 'Name or MRN'), input),
  h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Search'))));

  const resultsId = uid('results');
  const results = h('section', { class: 'results', 'aria-labelledby': resultsId }, h('h2', { id: resultsId, class: 'visually-hidden' }, 'Results'));
  root.append(results);
  if (!q) {
    results.append(emptyState('Type a name (any part of the family or given name) or a medical record number.'));
    return;
  }
  results.setAttribute('aria-busy', 'true');
  results.append(h('p', { class: 'loading' }, 'Searching…'));
  const looksLikeId = /\d/.test(q);
  let bundle;
  try {
    bundle = await fhirGet('Patient', looksLikeId ? { identifier: q, _count: 50 } : { name: q, _sort: 'family,given', _count: 50 }, signal);
  } catch (err) {
    if (err.name === 'AbortError') return;
    results.replaceChildren(errorPanel(err, 'The search failed'));
    results.removeAttribute('aria-busy');
    return;
  }
  results.removeAttribute('aria-busy');
  const patients = (bundle.entry || []).filter((e) => !e.search || e.search.mode !== 'outcome').map((e) => e.resource).filter((r) => r && r.resourceType === 'Patient');
  results.replaceChildren(h('h2', { id: resultsId }, `${patients.length}${bundle.link && bundle.link.some((l) => l.relation === 'next') ? '+' : ''} ${patients.length === 1 ? 'patient' : 'patients'} found`));
  if (!patients.length) {
    results.append(emptyState(`No patient matches “${q}”.`));
  } else {
    results.append(h('ul', { class: 'patient-list' }, patients.map((p) => {
      const mrn = (p.identifier || []).find((i) => codingOf(i.type) && codingOf(i.type).code === 'MR');
      return h('li', {},
        navLink({ date, patient: p.id }, { class: 'patient-link' }, humanName(p) || `Patient ${p.id}`),
        h('span', { class: 'muted' }, [p.gender, p.birthDate ? `born ${formatDay(p.birthDate)}` : '', mrn ? `MRN ${mrn.value}` : ''].filter(Boolean).join(' · ')));
    })));
  }
  announce(`${patients.length} patients found.`);
}
