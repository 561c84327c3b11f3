// The worklist view: GET $worklist?date=…[&view=…][&owner=…] (Tasks due by the end of that day, overdue
// ones included; the view — due today, overdue, unassigned — and the owner, whose pools the server
// includes, are the operation's own parameters), patient names from one Patient search, grouped by due
// day and sorted by priority; side panels per kind of work (conflicts, coverage, discharges, referrals,
// outreach, approvals). The item type filter applies in the page. Every filter is kept in the app's URL.
// Each item can be claimed, released, reassigned, completed (claim.js) and — follow-ups and referrals —
// booked into a free slot (booking.js).

import { h, uid } from './dom.js';
import { fhirGet, humanName, searchAll } from './fhir.js';
import {
  APPROVAL_CODES, BOOKABLE_CODES, COVERAGE_CODES, CONFLICT_CODES, DISCHARGE_CODES, OUTREACH_CODES, REFERRAL_CODES,
  formatDay, isDay, priorityRank, relativeDay,
} from './format.js';
import { emptyState, errorPanel, navLink, taskInfo, taskItem } from './ui.js';
import { CONFLICT_MESSAGE, claim, complete, isConflict, reassign, release } from './claim.js';
import { coordinator, loadPractitioners, setCoordinator } from './me.js';
import { bookingPanel } from './booking.js';

/** VIEWS are $worklist's views (adapters/worklist/operation.go), with their labels. */
export const VIEWS = [['', 'Everything due by the day'], ['due-today', 'Due today'], ['overdue', 'Overdue'], ['unassigned', 'Unassigned']];

/** PANELS are the side panels: the item codes each lists. */
const PANELS = [
  { id: 'panel-conflicts', cls: 'conflicts', title: 'Medication–allergy conflicts', codes: CONFLICT_CODES, empty: 'No active medication conflicts with a recorded allergy.' },
  { id: 'panel-coverage', cls: 'coverage', title: 'Coverage gaps', codes: COVERAGE_CODES, empty: 'No coverage gaps, approvals or lapsing coverage due.' },
  { id: 'panel-discharges', cls: 'discharges', title: 'Discharges', codes: DISCHARGE_CODES, empty: 'No discharge needs a call, a visit or a medication reconciliation.' },
  { id: 'panel-referrals', cls: 'referrals', title: 'Referrals', codes: REFERRAL_CODES, empty: 'No referral waits to be scheduled or for its result.' },
  { id: 'panel-outreach', cls: 'outreach', title: 'Outreach', codes: OUTREACH_CODES, empty: 'No planned message or call is due.' },
  { id: 'panel-approvals', cls: 'approvals', title: 'Approvals', codes: APPROVAL_CODES, empty: 'No prior authorization is late or denied.' },
];

/** cache holds the worklists and patient names loaded in this page (by date, view, owner, patient). */
const cache = new Map();

/** flash is a message for the next render of the worklist (after a reload caused by a conflict). */
let flash = null;

/** loadWorklist fetches a worklist and the names of its patients. */
export async function loadWorklist(date, signal, { patient, view, owner } = {}) {
  const key = `${date}|${patient || ''}|${view || ''}|${owner || ''}`;
  if (cache.has(key)) return cache.get(key);
  const bundle = await fhirGet('$worklist', { date, patient: patient ? `Patient/${patient}` : '', view, owner }, signal);
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

/** forget drops cached worklists (after a change, and the Reload button). */
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
  const view = VIEWS.some(([v]) => v === params.view) ? params.view : '';
  // The state of this view, for the links and filters that change one part of it.
  const state = { date, view, code: params.code, owner: params.owner };
  const go = (change) => navigate({ ...state, ...change }, { replace: true });
  root.append(h('div', { class: 'view-head' },
    h('h1', { id: 'view-title', tabindex: '-1' }, 'Worklist'),
    h('p', { class: 'subtitle' }, `Items due by ${formatDay(date)}, overdue ones included — most pressing first.`)));

  const dateInput = h('input', { type: 'date', id: 'wl-date', name: 'date', value: date, required: true });
  dateInput.addEventListener('change', () => {
    if (isDay(dateInput.value)) navigate({ ...state, date: dateInput.value });
  });
  const viewSelect = h('select', { id: 'wl-view', name: 'view' },
    VIEWS.map(([v, label]) => h('option', { value: v, selected: v === view }, label)));
  viewSelect.addEventListener('change', () => go({ view: viewSelect.value }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Worklist filters', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field' }, h('label', { for: 'wl-date' }, 'Date'), dateInput),
    h('div', { class: 'field' }, h('label', { for: 'wl-view' }, 'Show'), viewSelect));
  root.append(form);
  const notice = h('div', { class: 'notices' });
  if (flash) {
    notice.append(h('p', { class: 'notice warn', role: 'alert', id: 'wl-flash' }, flash));
    flash = null;
  }
  root.append(notice);

  const body = h('div', { class: 'view-body', 'aria-busy': 'true' }, h('p', { class: 'loading' }, `Loading the worklist for ${formatDay(date)}…`));
  root.append(body);

  const [wlRes, prRes] = await Promise.allSettled([
    loadWorklist(date, signal, { view, owner: params.owner }),
    loadPractitioners(signal),
  ]);
  if (signal.aborted) return;
  body.removeAttribute('aria-busy');
  if (wlRes.status === 'rejected') {
    body.replaceChildren(errorPanel(wlRes.reason, 'The worklist could not be loaded'));
    announce('The worklist could not be loaded.');
    return;
  }
  const practitioners = prRes.status === 'fulfilled' ? prRes.value : [];
  if (prRes.status === 'rejected') notice.append(errorPanel(prRes.reason, 'The list of practitioners could not be loaded'));
  const { tasks, names } = wlRes.value;
  const nameOf = (id) => names.get(id) || '';
  const me = coordinator();

  // Who the coordinator is (kept in this browser, see me.js).
  const meSelect = h('select', { id: 'wl-me', name: 'me' },
    h('option', { value: '' }, '— choose —'),
    practitioners.map((p) => h('option', { value: p.reference, selected: me && me.reference === p.reference }, p.name)));
  if (me && !practitioners.some((p) => p.reference === me.reference)) meSelect.append(h('option', { value: me.reference, selected: true }, me.name));
  meSelect.addEventListener('change', () => {
    const p = practitioners.find((x) => x.reference === meSelect.value);
    setCoordinator(p || null);
    announce(p ? `You are ${p.name}.` : 'Nobody chosen.');
    reload();
  });

  // Item type (in the page) and owner ($worklist?owner=, pools included).
  const codes = new Map();
  for (const t of tasks) codes.set(t.code, t.display);
  const codeSelect = h('select', { id: 'wl-code', name: 'code' },
    h('option', { value: '' }, `All item types (${tasks.length})`),
    [...codes].sort((a, b) => a[1].localeCompare(b[1])).map(([code, display]) => h('option', { value: code, selected: params.code === code },
      `${display} (${tasks.filter((t) => t.code === code).length})`)));
  if (params.code && !codes.has(params.code)) codeSelect.append(h('option', { value: params.code, selected: true }, `${params.code} (0)`));
  const owners = new Map(practitioners.map((p) => [p.reference, p.name]));
  for (const t of tasks) if (t.owner && !owners.has(t.owner)) owners.set(t.owner, t.ownerLabel);
  if (params.owner && !owners.has(params.owner)) owners.set(params.owner, params.owner);
  const ownerSelect = h('select', { id: 'wl-owner', name: 'owner' },
    h('option', { value: '' }, 'Anyone'),
    me ? h('option', { value: me.reference, selected: params.owner === me.reference }, `Me and my teams (${me.name})`) : null,
    [...owners].filter(([ref]) => !me || ref !== me.reference).map(([ref, label]) => h('option', { value: ref, selected: params.owner === ref }, label)));
  codeSelect.addEventListener('change', () => go({ code: codeSelect.value }));
  ownerSelect.addEventListener('change', () => go({ owner: ownerSelect.value }));
  form.append(
    h('div', { class: 'field' }, h('label', { for: 'wl-code' }, 'Item type'), codeSelect),
    h('div', { class: 'field' }, h('label', { for: 'wl-owner' }, 'Owner (with their teams)'), ownerSelect),
    h('div', { class: 'field' }, h('label', { for: 'wl-me' }, 'You are'), meSelect),
    h('div', { class: 'field actions' },
      params.code || params.owner || view ? h('button', { type: 'button', id: 'wl-clear', onclick: () => navigate({ date }, { replace: true }) }, 'Clear filters') : null,
      h('button', { type: 'button', id: 'wl-reload', class: 'secondary', onclick: () => { forget(); reload(); } }, 'Reload')));

  const shown = tasks.filter((t) => !params.code || t.code === params.code);
  shown.sort(compareTasks(names));

  const inPanel = (codesOf) => tasks.filter((t) => codesOf.includes(t.code)).sort(compareTasks(names));
  const conflicts = inPanel(CONFLICT_CODES);
  const coverage = inPanel(COVERAGE_CODES);
  const overdue = tasks.filter((t) => t.due && t.due < date);
  const urgent = tasks.filter((t) => priorityRank(t.priority) <= priorityRank('urgent'));
  const mine = me ? tasks.filter((t) => t.owner === me.reference) : [];

  const stat = (id, n, label, cls) => h('li', { class: `stat ${cls || ''}`, id },
    h('span', { class: 'stat-value' }, String(n)), h('span', { class: 'stat-label' }, label));
  const stats = h('ul', { class: 'stats', 'aria-label': 'Worklist at a glance' },
    stat('stat-total', tasks.length, tasks.length === 1 ? 'item' : 'items'),
    stat('stat-urgent', urgent.length, 'urgent', urgent.length ? 'warn' : ''),
    stat('stat-overdue', overdue.length, 'overdue', overdue.length ? 'warn' : ''),
    stat('stat-conflicts', conflicts.length, conflicts.length === 1 ? 'allergy conflict' : 'allergy conflicts', conflicts.length ? 'danger' : ''),
    stat('stat-coverage', coverage.length, coverage.length === 1 ? 'coverage issue' : 'coverage issues', coverage.length ? 'warn' : ''),
    me ? stat('stat-mine', mine.length, mine.length === 1 ? 'item is yours' : 'items are yours') : null);

  // A change: store it, then reload the worklist (a 412/409 says someone else was faster).
  const conflicted = () => {
    flash = CONFLICT_MESSAGE;
    forget();
    announce(CONFLICT_MESSAGE);
    reload();
  };
  const changed = (t, what) => {
    forget();
    announce(`${t.display} for ${nameOf(t.patientId) || `patient ${t.patientId}`}: ${what}.`);
    reload();
  };
  async function change(what, t, fn) {
    try {
      await fn();
    } catch (err) {
      if (!isConflict(err)) throw err;
      conflicted();
      return;
    }
    changed(t, what);
  }
  const button = (label, cls, aria, onClick, failure) => {
    const b = h('button', { type: 'button', class: `small-button ${cls}`, 'aria-label': aria }, label);
    b.addEventListener('click', () => {
      b.disabled = true;
      onClick().catch((err) => {
        b.disabled = false;
        b.closest('li').append(errorPanel(err, failure));
      });
    });
    return b;
  };
  const actionsOf = (t) => {
    const who = `${t.display} for ${nameOf(t.patientId) || `patient ${t.patientId}`}`;
    const out = [];
    if (me && t.owner === me.reference && t.claimed) {
      out.push(button('Release', 'task-release secondary', `Release: ${who}`, () => change('released', t, () => release(t)), 'The item could not be released'));
    } else {
      const b = button('Claim', 'task-claim', `Claim: ${who}`, () => change(`claimed by ${me.name}`, t, () => claim(t, me)), 'The item could not be claimed');
      if (!me) {
        b.disabled = true;
        b.title = 'Choose who you are first ("You are")';
      }
      out.push(b);
    }
    // Reassign: a disclosure with the colleagues.
    const rid = uid('reassign');
    const to = h('select', { id: rid, class: 'reassign-to' }, practitioners.filter((p) => p.reference !== t.owner).map((p) => h('option', { value: p.reference }, p.name)));
    const assign = button('Assign', 'task-assign', `Assign: ${who}`, () => {
      const p = practitioners.find((x) => x.reference === to.value);
      return change(`assigned to ${p.name}`, t, () => reassign(t, p));
    }, 'The item could not be reassigned');
    const reassignForm = h('div', { class: 'reassign', hidden: true }, h('label', { for: rid }, 'Assign to'), to, assign);
    const toggle = h('button', { type: 'button', class: 'small-button secondary task-reassign', 'aria-expanded': 'false', 'aria-label': `Reassign: ${who}` }, 'Reassign…');
    toggle.addEventListener('click', () => {
      const open = reassignForm.hidden;
      reassignForm.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      if (open) to.focus();
    });
    if (practitioners.length) out.push(toggle);
    if (BOOKABLE_CODES.includes(t.code)) {
      const panel = h('div', { class: 'booking', hidden: true });
      const book = h('button', { type: 'button', class: 'small-button secondary task-book', 'aria-expanded': 'false', 'aria-label': `Book a visit: ${who}` }, 'Book visit…');
      book.addEventListener('click', () => {
        const open = panel.hidden;
        panel.hidden = !open;
        book.setAttribute('aria-expanded', String(open));
        if (open && !panel.firstChild) {
          panel.append(bookingPanel(t, {
            date, patientName: nameOf(t.patientId), practitioners, me,
            onBooked: (when) => changed(t, `visit booked for ${when}`),
            onConflict: conflicted,
          }));
        }
        if (open) panel.querySelector('input, select, button')?.focus();
      });
      out.push(book);
      out.push(panel);
    }
    out.push(reassignForm);
    return out;
  };

  // Main list: one group per due day.
  const listId = uid('items');
  const list = h('section', { class: 'items', 'aria-labelledby': listId },
    h('h2', { id: listId }, 'Items', shown.length !== tasks.length ? h('span', { class: 'count' }, ` — showing ${shown.length} of ${tasks.length}`) : null));
  if (tasks.length === 0) {
    list.append(emptyState(view || params.owner ? 'No item in this view.' : `Nothing is due by ${formatDay(date)}.`));
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
      h('ol', { class: 'tasks' }, items.map((t) => taskItem(t, {
        date, patientName: nameOf(t.patientId), actions: actionsOf(t),
        onDone: (x) => change('marked done', x, () => complete(x)),
      })))));
  }

  const panel = ({ id, cls, title, codes: panelCodes, empty }) => {
    const items = inPanel(panelCodes);
    const hid = uid('panel');
    return h('section', { class: `panel ${cls}`, id, 'aria-labelledby': hid },
      h('h2', { id: hid }, title, h('span', { class: 'count' }, ` (${items.length})`)),
      items.length === 0 ? emptyState(empty) : h('ul', { class: 'panel-list' }, items.map((t) => h('li', { 'data-code': t.code, 'data-task-id': t.id },
        h('div', { class: 'panel-item-head' },
          navLink({ date, patient: t.patientId }, { class: 'patient-link' }, nameOf(t.patientId) || `Patient ${t.patientId}`),
          ' ', h('span', { class: `badge priority-${t.priority}` }, t.priority)),
        h('p', {}, t.description),
        h('p', { class: 'muted small' }, `${t.display} · due ${formatDay(t.due)}${t.ownerLabel ? ` · ${t.ownerLabel}` : ''}`)))));
  };
  const side = h('aside', { class: 'side', 'aria-label': 'Highlights' }, PANELS.map(panel));

  body.replaceChildren(stats, h('div', { class: 'layout' }, list, side));
  announce(`Worklist for ${formatDay(date)}: ${tasks.length} items${shown.length !== tasks.length ? `, ${shown.length} shown` : ''}.`);
}
