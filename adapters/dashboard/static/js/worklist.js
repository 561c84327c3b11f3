// The worklist view: GET $worklist?date=… (Tasks due by the end of that day, overdue ones included),
// patient names from one Patient search, grouped by due day and sorted by priority; side panels for
// medication–allergy conflicts and coverage gaps. Filters (item type, owner) apply in the page and are
// kept in the app's URL. Done stores the Task as completed (PUT), so the item is not listed again.

import { h, uid } from './dom.js';
import { fhirGet, fhirPut, humanName, searchAll } from './fhir.js';
import { COVERAGE_CODES, CONFLICT_CODES, formatDay, isDay, priorityRank, relativeDay } from './format.js';
import { emptyState, errorPanel, navLink, taskInfo, taskItem } from './ui.js';

const UNASSIGNED = '-';

/** cache holds the worklist and patient names of each date loaded in this page. */
const cache = new Map();

/** loadWorklist fetches the worklist of a date and the names of its patients. */
export async function loadWorklist(date, signal, { patient } = {}) {
  const key = `${date}|${patient || ''}`;
  if (cache.has(key)) return cache.get(key);
  const bundle = await fhirGet('$worklist', { date, patient: patient ? `Patient/${patient}` : '' }, signal);
  const tasks = (bundle.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === 'Task').map(taskInfo);
  const names = new Map();
  const ids = [...new Set(tasks.map((t) => t.patientId).filter(Boolean))];
  // One search per 100 patients (one search for any realistic day).
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const { resources } = await searchAll('Patient', { _id: chunk.join(','), _elements: 'name', _count: chunk.length }, signal);
    for (const p of resources) names.set(p.id, humanName(p));
  }
  const result = { date, tasks, names, total: typeof bundle.total === 'number' ? bundle.total : tasks.length };
  cache.set(key, result);
  return result;
}

/** forget drops cached worklists (the Reload button). */
export function forget() {
  cache.clear();
}

function compareTasks(names) {
  return (a, b) => (a.due || '9999').localeCompare(b.due || '9999')
    || priorityRank(a.priority) - priorityRank(b.priority)
    || (names.get(a.patientId) || '').localeCompare(names.get(b.patientId) || '')
    || a.description.localeCompare(b.description)
    || a.id.localeCompare(b.id);
}

/** render draws the worklist view into root. */
export async function render({ root, params, signal, navigate, announce, reload }) {
  const { date } = params;
  root.append(h('div', { class: 'view-head' },
    h('h1', { id: 'view-title', tabindex: '-1' }, 'Worklist'),
    h('p', { class: 'subtitle' }, `Items due by ${formatDay(date)}, overdue ones included — most pressing first.`)));

  const dateInput = h('input', { type: 'date', id: 'wl-date', name: 'date', value: date, required: true });
  dateInput.addEventListener('change', () => {
    if (isDay(dateInput.value)) navigate({ date: dateInput.value, code: params.code, owner: params.owner });
  });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Worklist filters', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field' }, h('label', { for: 'wl-date' }, 'Date'), dateInput));
  root.append(form);

  const body = h('div', { class: 'view-body', 'aria-busy': 'true' }, h('p', { class: 'loading' }, `Loading the worklist for ${formatDay(date)}…`));
  root.append(body);

  let data;
  try {
    data = await loadWorklist(date, signal);
  } catch (err) {
    if (err.name === 'AbortError') return;
    body.replaceChildren(errorPanel(err, 'The worklist could not be loaded'));
    body.removeAttribute('aria-busy');
    announce('The worklist could not be loaded.');
    return;
  }
  body.removeAttribute('aria-busy');
  const { tasks, names } = data;
  const nameOf = (id) => names.get(id) || '';

  // Filters: item type and owner, with the values present in this day's worklist.
  const codes = new Map();
  const owners = new Map();
  for (const t of tasks) {
    codes.set(t.code, t.display);
    owners.set(t.owner || UNASSIGNED, t.owner ? t.ownerLabel : 'Unassigned');
  }
  const codeSelect = h('select', { id: 'wl-code', name: 'code' },
    h('option', { value: '' }, `All item types (${tasks.length})`),
    [...codes].sort((a, b) => a[1].localeCompare(b[1])).map(([code, display]) => h('option', { value: code, selected: params.code === code },
      `${display} (${tasks.filter((t) => t.code === code).length})`)));
  if (params.code && !codes.has(params.code)) codeSelect.append(h('option', { value: params.code, selected: true }, `${params.code} (0)`));
  const ownerSelect = h('select', { id: 'wl-owner', name: 'owner' },
    h('option', { value: '' }, 'Anyone'),
    [...owners].sort((a, b) => a[1].localeCompare(b[1])).map(([ref, label]) => h('option', { value: ref, selected: params.owner === ref }, label)));
  if (params.owner && !owners.has(params.owner)) ownerSelect.append(h('option', { value: params.owner, selected: true }, params.owner));
  codeSelect.addEventListener('change', () => navigate({ date, code: codeSelect.value, owner: params.owner }, { replace: true }));
  ownerSelect.addEventListener('change', () => navigate({ date, code: params.code, owner: ownerSelect.value }, { replace: true }));
  form.append(
    h('div', { class: 'field' }, h('label', { for: 'wl-code' }, 'Item type'), codeSelect),
    h('div', { class: 'field' }, h('label', { for: 'wl-owner' }, 'Owner'), ownerSelect),
    h('div', { class: 'field actions' },
      params.code || params.owner ? h('button', { type: 'button', id: 'wl-clear', onclick: () => navigate({ date }, { replace: true }) }, 'Clear filters') : null,
      h('button', { type: 'button', id: 'wl-reload', class: 'secondary', onclick: () => { forget(); reload(); } }, 'Reload')));

  const shown = tasks.filter((t) => (!params.code || t.code === params.code)
    && (!params.owner || (params.owner === UNASSIGNED ? !t.owner : t.owner === params.owner)));
  shown.sort(compareTasks(names));

  const conflicts = tasks.filter((t) => CONFLICT_CODES.includes(t.code)).sort(compareTasks(names));
  const coverage = tasks.filter((t) => COVERAGE_CODES.includes(t.code)).sort(compareTasks(names));
  const overdue = tasks.filter((t) => t.due && t.due < date);
  const urgent = tasks.filter((t) => priorityRank(t.priority) <= priorityRank('urgent'));

  const stat = (id, n, label, cls) => h('li', { class: `stat ${cls || ''}`, id },
    h('span', { class: 'stat-value' }, String(n)), h('span', { class: 'stat-label' }, label));
  const stats = h('ul', { class: 'stats', 'aria-label': 'Worklist at a glance' },
    stat('stat-total', tasks.length, tasks.length === 1 ? 'item' : 'items'),
    stat('stat-urgent', urgent.length, 'urgent', urgent.length ? 'warn' : ''),
    stat('stat-overdue', overdue.length, 'overdue', overdue.length ? 'warn' : ''),
    stat('stat-conflicts', conflicts.length, conflicts.length === 1 ? 'allergy conflict' : 'allergy conflicts', conflicts.length ? 'danger' : ''),
    stat('stat-coverage', coverage.length, coverage.length === 1 ? 'coverage issue' : 'coverage issues', coverage.length ? 'warn' : ''));

  // Main list: one group per due day.
  const listId = uid('items');
  const list = h('section', { class: 'items', 'aria-labelledby': listId },
    h('h2', { id: listId }, 'Items', shown.length !== tasks.length ? h('span', { class: 'count' }, ` — showing ${shown.length} of ${tasks.length}`) : null));
  if (tasks.length === 0) {
    list.append(emptyState(`Nothing is due by ${formatDay(date)}.`));
  } else if (shown.length === 0) {
    list.append(emptyState('No item matches the filters.'));
  }
  const groups = new Map();
  for (const t of shown) {
    const key = t.due || '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(t);
  }
  for (const [due, items] of groups) {
    const gid = uid('due');
    const rel = relativeDay(due, date);
    const title = due === date ? `Today — ${formatDay(due)}` : due ? `${formatDay(due)}${rel ? ` — ${rel}` : ''}` : 'No due date';
    list.append(h('section', { class: `due-group${due && due < date ? ' overdue' : ''}`, 'aria-labelledby': gid, 'data-due': due },
      h('h3', { id: gid }, title, h('span', { class: 'count' }, ` (${items.length})`)),
      h('ol', { class: 'tasks' }, items.map((t) => taskItem(t, { date, patientName: nameOf(t.patientId), onDone: markDone })))));
  }

  // Done: store the Task as completed (PUT with the id $worklist gave it; If-Match when it is already
  // stored, so a concurrent change by a colleague is not overwritten), then reload the worklist, which
  // no longer lists it.
  async function markDone(t) {
    const task = { ...t.resource, status: 'completed' };
    if (task.meta) {
      const { versionId, lastUpdated, ...meta } = task.meta;
      task.meta = meta;
      if (Object.keys(meta).length === 0) delete task.meta;
    }
    await fhirPut(task, { ifMatch: t.version });
    forget();
    announce(`${t.display} for ${nameOf(t.patientId) || `patient ${t.patientId}`} marked done.`);
    reload();
  }

  const panel = (id, title, items, empty, cls) => {
    const hid = uid('panel');
    return h('section', { class: `panel ${cls}`, id, 'aria-labelledby': hid },
      h('h2', { id: hid }, title, h('span', { class: 'count' }, ` (${items.length})`)),
      items.length === 0 ? emptyState(empty) : h('ul', { class: 'panel-list' }, items.map((t) => h('li', { 'data-code': t.code },
        h('div', { class: 'panel-item-head' },
          navLink({ date, patient: t.patientId }, { class: 'patient-link' }, nameOf(t.patientId) || `Patient ${t.patientId}`),
          ' ', h('span', { class: `badge priority-${t.priority}` }, t.priority)),
        h('p', {}, t.description),
        h('p', { class: 'muted small' }, `${t.display} · due ${formatDay(t.due)}`)))));
  };
  const side = h('aside', { class: 'side', 'aria-label': 'Highlights' },
    panel('panel-conflicts', 'Medication–allergy conflicts', conflicts, 'No active medication conflicts with a recorded allergy.', 'conflicts'),
    panel('panel-coverage', 'Coverage gaps', coverage, 'No coverage gaps, approvals or lapsing coverage due.', 'coverage'));

  body.replaceChildren(stats, h('div', { class: 'layout' }, list, side));
  announce(`Worklist for ${formatDay(date)}: ${tasks.length} items${shown.length !== tasks.length ? `, ${shown.length} shown` : ''}.`);
}
