// Booking a follow-up or a referral into a free slot, from its worklist item (IHE ITI Scheduling, as
// careflow serves it — docs/ARCHITECTURE.md, "Booking"):
//
//   1. GET Appointment/$find?start=…&end=…[&practitioner=…]&patient-reference=Patient/x&_count=… lists
//      proposals (Appointments with status proposed, one per free slot; nothing is stored).
//   2. Book: $book closes the item only when its Task is stored, so an item nobody stored yet is claimed
//      first (PUT with If-None-Match: *, owner = the coordinator): the one who books is the one who took
//      it. A 412 there means a colleague took it first.
//   3. POST Appointment/$book with appointment-resource (the proposal), patient-reference and
//      task=Task/{id}: in one transaction the slot becomes busy, the Appointment is booked and the Task
//      completed, so the item leaves the worklist. A 409 means the slot was taken meanwhile: the page
//      says so and searches again.

import { h, uid } from './dom.js';
import { fhirGet, fhirOperation } from './fhir.js';
import { dateTimeText, daysBetween } from './format.js';
import { claim, isConflict } from './claim.js';
import { emptyState, errorPanel } from './ui.js';

/** WINDOW_DAYS is how far after the worklist day the search for a slot reaches by default. */
const WINDOW_DAYS = 14;

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * proposalText describes a proposed Appointment: when, and with whom (the schedule's actors, the patient
 * left out; a practitioner whose role is listed too — "Dr. A" and "Dr. A, Cardiology" — once).
 */
function proposalText(a) {
  const who = [...new Set((a.participant || [])
    .map((p) => p.actor || {})
    .filter((r) => !String(r.reference || '').includes('Patient/'))
    .map((r) => r.display || r.reference)
    .filter(Boolean))];
  const shown = who.filter((d) => !who.some((o) => o !== d && o.startsWith(`${d},`)));
  const end = typeof a.end === 'string' && !Number.isNaN(Date.parse(a.end)) ? `–${new Date(a.end).toISOString().slice(11, 16)}` : '';
  return { when: dateTimeText(a.start).replace(/ UTC$/, `${end} UTC`), who: shown.join(' · ') };
}

/**
 * bookingPanel is the booking form of one item t (taskInfo): a window and an optional practitioner, the
 * free slots found, and a Book button on each. onBooked(when) runs after a booking, onConflict() when a
 * colleague claimed the item first.
 */
export function bookingPanel(t, { date, patientName, practitioners, me, onBooked, onConflict }) {
  const ids = { from: uid('book-from'), to: uid('book-to'), who: uid('book-who'), results: uid('book-results') };
  const from = h('input', { type: 'date', id: ids.from, value: date, required: true });
  const to = h('input', { type: 'date', id: ids.to, value: addDays(date, WINDOW_DAYS), required: true });
  // Any practitioner by default: the item's owner is whoever works it (often the coordinator), not the
  // clinician to see.
  const who = h('select', { id: ids.who },
    h('option', { value: '' }, 'Any practitioner'),
    practitioners.map((p) => h('option', { value: p.reference }, p.name)));
  const results = h('div', { class: 'proposals', id: ids.results, 'aria-live': 'polite' });
  const form = h('form', { class: 'booking-form', 'aria-label': `Book a visit for ${patientName || `patient ${t.patientId}`}` },
    h('div', { class: 'field' }, h('label', { for: ids.from }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: ids.to }, 'To (included)'), to),
    h('div', { class: 'field' }, h('label', { for: ids.who }, 'With'), who),
    h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'small-button book-find' }, 'Find free slots')));

  async function find(note) {
    results.setAttribute('aria-busy', 'true');
    results.replaceChildren(h('p', { class: 'loading' }, 'Looking for free slots…'));
    let bundle;
    try {
      if (daysBetween(from.value, to.value) < 0) throw Object.assign(new Error('"To" is before "From".'), { issues: [{ severity: 'error', code: 'invalid', diagnostics: '"To" is before "From".' }] });
      bundle = await fhirGet('Appointment/$find', {
        start: from.value, end: to.value, practitioner: who.value, 'patient-reference': `Patient/${t.patientId}`, _count: 12,
      });
    } catch (err) {
      results.removeAttribute('aria-busy');
      results.replaceChildren(errorPanel(err, 'Free slots could not be found'));
      return;
    }
    results.removeAttribute('aria-busy');
    const proposals = (bundle.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === 'Appointment');
    results.replaceChildren(...[
      note ? h('p', { class: 'notice warn', role: 'alert' }, note) : null,
      proposals.length === 0
        ? emptyState('No free slot in this window: widen it or choose another practitioner.')
        : h('ol', { class: 'proposal-list', 'aria-label': 'Free slots' }, proposals.map((a) => {
          const { when, who: with_ } = proposalText(a);
          const b = h('button', { type: 'button', class: 'small-button book-slot', 'aria-label': `Book ${when}${with_ ? ` with ${with_}` : ''}` }, 'Book');
          b.addEventListener('click', () => book(a, when, b));
          return h('li', { class: 'proposal', 'data-appointment-id': a.id, 'data-start': a.start },
            h('span', { class: 'proposal-when' }, when), ' ', h('span', { class: 'muted' }, with_), ' ', b);
        })),
    ].filter(Boolean));
  }

  async function book(proposal, when, button) {
    button.disabled = true;
    try {
      if (!t.version) {
        if (!me) throw Object.assign(new Error('no coordinator'), { issues: [{ severity: 'error', code: 'required', diagnostics: 'Choose who you are ("You are") first: booking claims the item for you.' }] });
        try {
          // Keep what was stored: a second attempt (another slot) must not claim again.
          const stored = await claim(t, me);
          t.resource = stored;
          t.version = (stored.meta && stored.meta.versionId) || '';
        } catch (err) {
          if (isConflict(err)) {
            onConflict();
            return;
          }
          throw err;
        }
      }
      await fhirOperation('Appointment/$book', {
        'appointment-resource': proposal,
        'patient-reference': { reference: `Patient/${t.patientId}` },
        task: { reference: `Task/${t.id}` },
      });
    } catch (err) {
      button.disabled = false;
      if (isConflict(err)) {
        find(`The slot of ${when} was just taken by another booking: here are the free slots now.`);
        return;
      }
      button.closest('li').append(errorPanel(err, 'The visit could not be booked'));
      return;
    }
    onBooked(when);
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    find();
  });
  return h('div', { class: 'booking-panel' }, form, results);
}
