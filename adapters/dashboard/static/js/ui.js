// Pieces shared by the views: worklist Task items, error panels, links inside the app.

import { h } from './dom.js';
import { codingOf, refId } from './fhir.js';
import { codeChip, dayOf, formatDay, priorityBadge, relativeDay } from './format.js';

export const WORKLIST_SYSTEM = 'http://careflow.example/fhir/CodeSystem/worklist-item';
export const BUSINESS_STATUS_SYSTEM = 'http://careflow.example/fhir/CodeSystem/worklist-business-status';

/** appHref builds an in-app link from query parameters (empty values dropped). */
export function appHref(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `./?${s}` : './';
}

/** navLink is an in-app link that the router handles without reloading the page. */
export function navLink(params, attrs, ...children) {
  return h('a', { ...attrs, href: appHref(params), 'data-nav': true }, ...children);
}

/** shortRef shortens a reference for display: ".../Practitioner/123" → "Practitioner 123". */
export function shortRef(reference) {
  if (!reference) return '';
  const parts = reference.split('/').filter(Boolean);
  if (parts.length >= 2) return `${parts[parts.length - 2]} ${parts[parts.length - 1]}`;
  return reference;
}

/** taskInfo reads what the views need of a worklist Task. */
export function taskInfo(task) {
  const c = codingOf(task.code, WORKLIST_SYSTEM) || codingOf(task.code) || {};
  const ownerRef = (task.owner && task.owner.reference) || '';
  return {
    id: task.id || '',
    code: c.code || '',
    display: c.display || c.code || 'Task',
    description: task.description || '',
    priority: task.priority || 'routine',
    due: dayOf(task.restriction && task.restriction.period && task.restriction.period.end),
    patientId: refId(task.for, 'Patient'),
    owner: ownerRef,
    ownerLabel: (task.owner && task.owner.display) || shortRef(ownerRef),
    focus: (task.focus && task.focus.reference) || '',
    reason: ((task.reasonReference && task.reasonReference.reference) || ''),
    status: task.status || '',
    version: (task.meta && task.meta.versionId) || '',
    claimed: ((task.businessStatus && task.businessStatus.coding) || []).some((c) => c.system === BUSINESS_STATUS_SYSTEM && c.code === 'claimed') && Boolean(ownerRef),
    resource: task,
  };
}

/**
 * taskItem renders one Task as a list item: priority, kind, status when not just requested, description,
 * patient (a link to the summary unless showPatient is false), due date and owner; with onDone, a Done
 * button that calls it (an error is shown next to the button); actions (elements) go in a toolbar below.
 */
export function taskItem(t, { date, patientName, showPatient = true, onDone, actions }) {
  const rel = relativeDay(t.due, date);
  let done = null;
  if (onDone) {
    done = h('button', { type: 'button', class: 'task-done secondary', 'aria-label': `Mark done: ${t.display}${patientName ? ` for ${patientName}` : ''}` }, 'Done');
    done.addEventListener('click', () => {
      done.disabled = true;
      onDone(t).catch((err) => {
        done.disabled = false;
        done.after(errorPanel(err, 'The item could not be marked done'));
      });
    });
  }
  return h('li', { class: `task kind-${t.code}`, 'data-task-id': t.id, 'data-code': t.code, 'data-status': t.status },
    h('div', { class: 'task-head' }, priorityBadge(t.priority), codeChip(t.code, t.display),
      t.status && t.status !== 'requested' ? h('span', { class: 'badge status' }, t.status) : null, done),
    h('p', { class: 'task-description' }, t.description || t.display),
    h('dl', { class: 'task-meta' },
      showPatient && t.patientId ? h('div', {},
        h('dt', {}, 'Patient'),
        h('dd', {}, navLink({ date, patient: t.patientId }, { class: 'patient-link' }, patientName || `Patient ${t.patientId}`))) : null,
      h('div', {},
        h('dt', {}, 'Due'),
        h('dd', {}, h('time', { datetime: t.due }, formatDay(t.due)), rel ? h('span', { class: rel.includes('overdue') ? 'rel overdue' : 'rel' }, ` (${rel})`) : null)),
      h('div', {},
        h('dt', {}, 'Owner'),
        h('dd', { class: 'task-owner' }, t.ownerLabel || h('span', { class: 'muted' }, 'unassigned'),
          t.claimed ? h('span', { class: 'badge claimed' }, 'claimed') : null)),
    ),
    actions && actions.length ? h('div', { class: 'task-actions', role: 'group', 'aria-label': `Actions: ${t.display}${patientName ? ` for ${patientName}` : ''}` }, actions) : null);
}

/** errorPanel shows a failed request: the OperationOutcome issues' diagnostics, severity and code. */
export function errorPanel(err, title) {
  const issues = (err && err.issues) || [{ severity: 'error', code: 'exception', diagnostics: String((err && err.message) || err) }];
  let where = '';
  if (err && err.url) {
    try {
      const u = new URL(err.url);
      where = `${err.method || 'GET'} ${decodeURIComponent(u.pathname)}${u.search}`;
    } catch {
      where = err.url;
    }
  }
  return h('div', { class: 'error-panel', role: 'alert' },
    h('h3', {}, title || 'The server reported a problem'),
    h('ul', { class: 'issues' }, issues.map((i) => h('li', { class: 'issue' },
      h('span', { class: `badge severity-${i.severity || 'error'}` }, i.severity || 'error'),
      ' ',
      h('span', { class: 'issue-code' }, i.code || ''),
      ': ',
      h('span', { class: 'diagnostics' }, i.diagnostics || (i.details && i.details.text) || 'no details'),
      i.expression && i.expression.length ? h('span', { class: 'muted' }, ` (at ${i.expression.join(', ')})`) : null,
    ))),
    where ? h('p', { class: 'muted small' }, err.status ? `${where} → HTTP ${err.status}` : where) : null);
}

/** emptyState is a muted paragraph for an empty list. */
export function emptyState(text) {
  return h('p', { class: 'empty' }, text);
}
