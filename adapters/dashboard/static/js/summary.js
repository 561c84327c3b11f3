// The patient view: GET Patient/{id}/$summary (an IPS-like document Bundle) rendered section by section —
// the narratives through the sanitiser — with structured highlights: medication–allergy conflicts and the
// patient's other open items (GET $worklist?date=…&patient=…, each with "Draft message" when careflow can
// draft one), allergies needing attention, coverage in force on the worklist date, the care team with
// contact points (from the resources the document cites) and the message thread (messages.js).

import { h, uid } from './dom.js';
import { codingOf, conceptText, fhirGet, humanName } from './fhir.js';
import { COVERAGE_CODES, CONFLICT_CODES, MESSAGE_CODES, ageOn, dayOf, formatDay, priorityRank } from './format.js';
import { sanitizeNarrative } from './sanitize.js';
import { emptyState, errorPanel, navLink, taskItem } from './ui.js';
import { forget, loadWorklist } from './worklist.js';
import { draftButton, loadThread, threadCard } from './messages.js';
import { coordinator } from './me.js';

const LOINC = 'http://loinc.org';
const SECTION_IDS = {
  '48765-2': 'allergies', '10160-0': 'medications', '11450-4': 'problems', '11348-0': 'past-problems',
  '11369-6': 'immunizations', '30954-2': 'results', '8716-3': 'vital-signs', '47519-4': 'procedures',
  '46240-8': 'encounters', '10157-6': 'family-history', '85847-2': 'care-team',
  '18776-5': 'careplans', '48768-6': 'coverage', '56446-8': 'appointments',
};

/** flash is a message for the next render of a summary (after a reload caused by a conflict). */
let flash = null;

/** readDocument indexes a document Bundle: its Composition, the subject and the resources by fullUrl. */
export function readDocument(bundle) {
  const byUrl = new Map();
  for (const e of bundle.entry || []) {
    if (e.resource && e.fullUrl) byUrl.set(e.fullUrl, e.resource);
  }
  const byTypeId = new Map();
  for (const r of byUrl.values()) {
    if (r.resourceType && r.id) byTypeId.set(`${r.resourceType}/${r.id}`, r);
  }
  const first = bundle.entry && bundle.entry[0] && bundle.entry[0].resource;
  const composition = first && first.resourceType === 'Composition' ? first : null;
  // A reference is the fullUrl of an entry, or a relative Type/id of one (CareTeam members).
  const resolve = (ref) => (ref && ref.reference ? byUrl.get(ref.reference) || byTypeId.get(ref.reference) || null : null);
  const subject = composition ? resolve(composition.subject) : null;
  const ofType = (type) => [...byUrl.values()].filter((r) => r.resourceType === type);
  return { composition, subject, resolve, ofType };
}

/** coverageInForce reports whether a Coverage is active and its period includes day. */
export function coverageInForce(cov, day) {
  if (cov.status !== 'active') return false;
  const start = dayOf(cov.period && cov.period.start);
  const end = dayOf(cov.period && cov.period.end);
  return (!start || start <= day) && (!end || end >= day);
}

/** payorNames resolves Coverage.payor: a contained Organization's name, else the reference's display. */
function payorNames(cov) {
  return (cov.payor || []).map((p) => {
    if (p.display) return p.display;
    if (p.reference && p.reference.startsWith('#')) {
      const c = (cov.contained || []).find((r) => `#${r.id}` === p.reference);
      if (c && c.name) return c.name;
    }
    return p.reference || '';
  }).filter(Boolean);
}

function identifierOfType(patient, code) {
  const id = (patient.identifier || []).find((i) => codingOf(i.type) && codingOf(i.type).code === code);
  return id ? id.value : '';
}

function card(id, title, ...children) {
  const hid = uid('card');
  return h('section', { class: 'card', id, 'aria-labelledby': hid }, h('h2', { id: hid }, title), ...children);
}

/** contactLinks renders contact points (phones first, by rank; not old ones) as tel:/mailto: links. */
function contactLinks(telecom) {
  const usable = (telecom || []).filter((t) => t.value && t.use !== 'old' && !(t.period && t.period.end && t.period.end < new Date().toISOString()));
  usable.sort((a, b) => (a.system === 'phone' ? 0 : 1) - (b.system === 'phone' ? 0 : 1) || (a.rank || 1e9) - (b.rank || 1e9));
  return usable.map((t, i) => {
    const label = `${t.value}${t.use ? ` (${t.use})` : ''}`;
    const scheme = t.system === 'phone' || t.system === 'sms' ? 'tel:' : t.system === 'email' ? 'mailto:' : '';
    const el = scheme ? h('a', { href: scheme + t.value.replace(/[^\w@.+-]/g, '') }, label) : h('span', {}, label);
    return [i ? ', ' : '', t.system && t.system !== 'phone' ? `${t.system} ` : '', el];
  });
}

/** relationText is a RelatedPerson's relationship ("spouse"). */
function relationText(r) {
  return (r.relationship || []).map(conceptText).filter(Boolean).join(', ');
}

/**
 * careTeamCard lists the members of the patient's active care teams the document cites — role, name and
 * contact points — and the patient's family caregivers (RelatedPersons).
 */
function careTeamCard(doc) {
  const teams = doc.ofType('CareTeam');
  const rows = [];
  const seen = new Set();
  for (const team of teams) {
    for (const p of team.participant || []) {
      if (!p.member) continue;
      const m = doc.resolve(p.member);
      const key = (m && `${m.resourceType}/${m.id}`) || p.member.reference || p.member.display;
      if (seen.has(key)) continue;
      seen.add(key);
      const isFamily = m && m.resourceType === 'RelatedPerson';
      let name = p.member.display || p.member.reference || '';
      if (m && m.name) name = typeof m.name === 'string' ? m.name : humanName(m) || name;
      const role = [...(p.role || []).map(conceptText), isFamily ? relationText(m) : ''].filter(Boolean).join(' — ');
      rows.push({ name, role, telecom: (m && m.telecom) || [], family: isFamily });
    }
  }
  for (const rp of doc.ofType('RelatedPerson')) {
    if (seen.has(`RelatedPerson/${rp.id}`)) continue;
    seen.add(`RelatedPerson/${rp.id}`);
    rows.push({ name: humanName(rp) || `RelatedPerson ${rp.id}`, role: relationText(rp) || 'Related person', telecom: rp.telecom || [], family: true });
  }
  return card('card-care-team', 'Care team and family',
    rows.length === 0 ? emptyState('No care team or family caregiver is recorded.') : h('ul', { class: 'team' }, rows.map((r) => h('li', { class: r.family ? 'member family' : 'member' },
      h('strong', { class: 'member-name' }, r.name),
      r.family ? h('span', { class: 'badge family' }, 'family') : null,
      r.role ? h('span', { class: 'muted' }, ` — ${r.role}`) : null,
      r.telecom.length ? h('div', { class: 'member-contact small' }, contactLinks(r.telecom)) : null))));
}

/** render draws the patient view into root. */
export async function render({ root, params, signal, announce, reload }) {
  const { date, patient } = params;
  const title = h('h1', { id: 'view-title', tabindex: '-1' }, 'Patient summary');
  root.append(
    h('p', { class: 'back' }, navLink({ date }, { id: 'back-to-worklist' }, `← Worklist for ${formatDay(date)}`)),
    h('div', { class: 'view-head' }, title));
  if (flash) {
    root.append(h('p', { class: 'notice warn', role: 'alert', id: 'summary-flash' }, flash));
    flash = null;
  }
  const body = h('div', { class: 'view-body', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading the patient summary…'));
  root.append(body);

  const [docRes, wlRes, threadRes] = await Promise.allSettled([
    fhirGet(`Patient/${encodeURIComponent(patient)}/$summary`, null, signal),
    loadWorklist(date, signal, { patient }),
    loadThread(patient, signal),
  ]);
  if (signal.aborted) return;
  body.removeAttribute('aria-busy');
  if (docRes.status === 'rejected') {
    body.replaceChildren(errorPanel(docRes.reason, 'The patient summary could not be loaded'));
    announce('The patient summary could not be loaded.');
    return;
  }
  const doc = readDocument(docRes.value);
  if (!doc.composition) {
    body.replaceChildren(errorPanel({ issues: [{ severity: 'error', code: 'structure', diagnostics: 'The summary Bundle does not start with a Composition.' }] }));
    return;
  }
  const p = doc.subject || {};
  const name = humanName(p) || (doc.composition.subject && doc.composition.subject.display) || `Patient ${patient}`;
  title.textContent = name;
  document.title = `${name} — careflow`;

  const age = ageOn(p.birthDate, date);
  const mrn = identifierOfType(p, 'MR');
  const pair = (term, ...desc) => h('div', {}, h('dt', {}, term), h('dd', {}, ...desc));
  const demographics = h('dl', { class: 'demographics' },
    p.gender ? pair('Gender', p.gender) : null,
    p.birthDate ? pair('Born', formatDay(p.birthDate), age !== null ? ` (${age} years)` : '') : null,
    mrn ? pair('MRN', mrn) : null,
    pair('Summary', `${doc.composition.title || 'Patient summary'}, ${formatDay(dayOf(doc.composition.date))}`));

  // Highlights.
  const tasks = wlRes.status === 'fulfilled' ? [...wlRes.value.tasks].sort((a, b) => (a.due || '').localeCompare(b.due || '') || priorityRank(a.priority) - priorityRank(b.priority)) : [];
  const wlError = wlRes.status === 'rejected' ? errorPanel(wlRes.reason, 'The patient\'s worklist could not be loaded') : null;
  const conflictTasks = tasks.filter((t) => CONFLICT_CODES.includes(t.code));
  const coverageTasks = tasks.filter((t) => COVERAGE_CODES.includes(t.code));
  const otherTasks = tasks.filter((t) => !CONFLICT_CODES.includes(t.code) && !COVERAGE_CODES.includes(t.code));

  const allergies = doc.ofType('AllergyIntolerance');
  const attention = allergies.filter((a) => {
    const clinical = codingOf(a.clinicalStatus);
    const verification = codingOf(a.verificationStatus);
    const active = !clinical || clinical.code === 'active';
    return active && verification?.code !== 'refuted' && verification?.code !== 'entered-in-error'
      && (a.criticality === 'high' || a.criticality === 'unable-to-assess' || verification?.code === 'unconfirmed');
  });
  const meds = doc.ofType('MedicationStatement');

  const conflictsCard = card('card-conflicts', 'Medication–allergy conflicts',
    wlError,
    conflictTasks.length
      ? h('ol', { class: 'tasks compact' }, conflictTasks.map((t) => taskItem(t, { date, showPatient: false })))
      : emptyState(`No active medication conflicts with a recorded allergy (${meds.length} active ${meds.length === 1 ? 'medication' : 'medications'}, ${allergies.length} ${allergies.length === 1 ? 'allergy' : 'allergies'} recorded).`),
    attention.length ? h('div', { class: 'attention' },
      h('h3', {}, 'Allergies needing attention'),
      h('ul', {}, attention.map((a) => h('li', {},
        h('strong', {}, conceptText(a.code) || 'Allergy'),
        ` — criticality ${a.criticality || 'not recorded'}, ${codingOf(a.verificationStatus)?.code || 'verification not recorded'}`)))) : null);

  const coverages = doc.ofType('Coverage');
  const inForce = coverages.filter((c) => coverageInForce(c, date));
  const covStatus = inForce.length
    ? h('p', { class: 'status ok', id: 'coverage-status' }, h('span', { class: 'badge ok' }, 'covered'), ` Coverage in force on ${formatDay(date)}.`)
    : h('p', { class: 'status warn', id: 'coverage-status' }, h('span', { class: 'badge warn' }, 'no coverage'),
      coverages.length ? ` No coverage in force on ${formatDay(date)}.` : ' No current coverage is recorded.');
  const coverageCard = card('card-coverage', 'Coverage',
    covStatus,
    coverages.length ? h('ul', { class: 'coverages' }, coverages.map((c) => h('li', {},
      h('strong', {}, conceptText(c.type) || 'Coverage'),
      payorNames(c).length ? ` — ${payorNames(c).join(', ')}` : '',
      h('br', {}),
      h('span', { class: 'muted small' }, `${c.status || 'status unknown'}, ${formatDay(dayOf(c.period && c.period.start))} to ${c.period && c.period.end ? formatDay(dayOf(c.period.end)) : 'no end'}`,
        coverageInForce(c, date) ? ' · in force' : ' · not in force')))) : null,
    coverageTasks.length ? h('ol', { class: 'tasks compact' }, coverageTasks.map((t) => taskItem(t, { date, showPatient: false }))) : null);

  // Messages: an item careflow can draft a message for gets "Draft message"; recording it completes it.
  const me = coordinator();
  const draftable = (t) => MESSAGE_CODES.includes(t.code) && (t.code !== 'coverage-gap' || t.focus === `Patient/${patient}`);
  const afterMessage = (message) => {
    forget();
    flash = message;
    reload();
  };
  const itemsCard = card('card-items', 'Other open items',
    otherTasks.length
      ? h('ol', { class: 'tasks compact' }, otherTasks.map((t) => taskItem(t, {
        date, showPatient: false,
        actions: draftable(t) ? draftButton(t, {
          patient, patientName: name, date, me,
          onRecorded: (to) => {
            announce(`Message to ${to} recorded; ${t.display} is done.`);
            afterMessage(null);
          },
          onConflict: () => afterMessage('This message was already recorded (by you in another tab, or by a colleague): the summary has been reloaded.'),
        }) : null,
      })))
      : emptyState(`No other worklist items due by ${formatDay(date)}.`));

  // The document's sections.
  const sectionsId = uid('sections');
  const sections = h('section', { class: 'document', 'aria-labelledby': sectionsId },
    h('h2', { id: sectionsId }, 'Summary'),
    (doc.composition.section || []).map((s) => {
      const code = (codingOf(s.code, LOINC) || {}).code || '';
      const sid = uid('section');
      return h('section', { class: `doc-section${s.emptyReason ? ' empty' : ''}`, id: `section-${SECTION_IDS[code] || code || sid}`, 'data-loinc': code, 'aria-labelledby': sid },
        h('h3', { id: sid }, s.title || conceptText(s.code) || 'Section'),
        h('div', { class: 'narrative' }, s.text && s.text.div ? sanitizeNarrative(s.text.div) : emptyState('No narrative.')));
    }));

  body.replaceChildren(
    demographics,
    h('div', { class: 'highlights' }, conflictsCard, coverageCard, itemsCard, careTeamCard(doc), threadCard(threadRes)),
    sections);
  announce(`Summary of ${name} loaded.`);
}
