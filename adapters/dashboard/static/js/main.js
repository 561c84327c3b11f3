// The app shell: reads the state from the URL (?date=YYYY-MM-DD&view=due-today|overdue|unassigned&code=
// &owner= for the worklist, &patient=ID for a summary, ?view=patients&q= for the search), renders the view, and handles in-app
// links with the History API so that every state has a URL (reload, back, forward and bookmarks work).

import { clear } from './dom.js';
import { signIn } from './auth.js';
import { BASE } from './fhir.js';
import { isDay, today } from './format.js';
import { appHref, errorPanel } from './ui.js';
import * as worklist from './worklist.js';
import * as summary from './summary.js';
import * as patients from './patients.js';

const main = document.getElementById('main');
const status = document.getElementById('status');
let controller = null;
let firstRender = true;

function readParams() {
  const q = new URLSearchParams(location.search);
  const date = q.get('date');
  return {
    date: isDay(date) ? date : date || today(),
    code: q.get('code') || '',
    owner: q.get('owner') || '',
    patient: q.get('patient') || '',
    view: q.get('view') || '',
    q: q.get('q') || '',
  };
}

function navigate(params, { replace = false } = {}) {
  const href = appHref(params);
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  render();
}

function announce(text) {
  status.textContent = text;
}

function updateNav(params) {
  const wl = document.getElementById('nav-worklist');
  const pt = document.getElementById('nav-patients');
  wl.setAttribute('href', appHref({ date: params.date }));
  pt.setAttribute('href', appHref({ view: 'patients', date: params.date }));
  const onPatients = params.view === 'patients';
  const onWorklist = !onPatients && !params.patient;
  for (const [a, current] of [[wl, onWorklist], [pt, onPatients]]) {
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  const params = readParams();
  main.dataset.ready = 'false';
  updateNav(params);
  // Keep keyboard focus on the control that caused a re-render (filters), else move it to the new
  // view's heading so that screen readers announce the change.
  const focusedId = !firstRender && document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : '';
  const root = document.createElement('div');
  root.className = 'view';
  clear(main).appendChild(root);
  let view = worklist;
  if (params.patient) view = summary;
  else if (params.view === 'patients') view = patients;
  document.title = view === summary ? 'Patient summary — careflow' : view === patients ? 'Find a patient — careflow' : `Worklist ${params.date} — careflow`;
  const ctx = { root, params, signal, navigate, announce, reload: render };
  const refocus = () => {
    if (firstRender) return;
    const el = (focusedId && document.getElementById(focusedId)) || document.getElementById('view-title');
    if (el) el.focus({ preventScroll: Boolean(focusedId) });
  };
  refocus();
  try {
    await view.render(ctx);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    // A failed request the view did not handle, or a bug: say so on the page rather than go blank.
    root.append(errorPanel(err, 'The dashboard could not show this page'));
  }
  if (signal.aborted) return;
  refocus();
  firstRender = false;
  main.dataset.ready = 'true';
  main.dataset.view = view === summary ? 'summary' : view === patients ? 'patients' : 'worklist';
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[data-nav]');
  if (!a) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  window.scrollTo(0, 0);
  render();
});
window.addEventListener('popstate', render);
// Sign in first when the server needs a token (SMART standalone launch), then show the page.
signIn(BASE).then(render, (err) => {
  clear(main).append(errorPanel(err, 'Sign-in failed'));
  main.dataset.ready = 'true';
});
