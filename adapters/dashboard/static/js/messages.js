// The patient's message thread and the message a coordinator sends for an item:
//
//   thread   GET Communication?subject=Patient/{id}&_sort=-sent&_count=50 — newest first; a message from
//            the patient or a family member (sender Patient/RelatedPerson) is "received", any other "sent".
//   draft    POST Patient/{id}/$draft-message (Parameters: task, date[, recipient]) — a Communication
//            with status preparation that careflow does not store (adapters/message): recipient, medium,
//            contact point and a plain-language text, shown editable. The recipient is careflow's choice
//            (the planned one, else the patient when reachable, else a family member) until the
//            coordinator picks another among the patient and their RelatedPersons
//            (GET RelatedPerson?patient=Patient/{id}&_elements=name,relationship): that drafts again.
//   record   PUT Communication/{draft id} with status completed, sent = now, sender = the coordinator and
//            the edited text, If-None-Match: * — the draft's id is derived from the item and the
//            recipient, so recording twice (a double click, a second tab, a colleague) is refused with
//            412 instead of storing the message twice. A completed Communication basedOn the Task
//            completes the item (adapters/worklist/state.go): it leaves the worklist.

import { h, uid } from './dom.js';
import { conceptText, fhirGet, fhirOperation, fhirPut, humanName } from './fhir.js';
import { dateTimeText } from './format.js';
import { isConflict } from './claim.js';
import { emptyState, errorPanel } from './ui.js';

/** loadThread returns the patient's Communications, newest first. */
export async function loadThread(patient, signal) {
  const bundle = await fhirGet('Communication', { subject: `Patient/${patient}`, _sort: '-sent', _count: 50 }, signal);
  return (bundle.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === 'Communication');
}

function refType(ref) {
  const parts = String((ref && ref.reference) || '').split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

const personName = (ref) => (ref && (ref.display || ref.reference)) || '';

/** payloadText is a Communication's text: its contentString payloads, joined. */
function payloadText(c) {
  return (c.payload || []).map((p) => p.contentString || (p.contentAttachment && p.contentAttachment.title) || '').filter(Boolean).join('\n');
}

/** threadCard renders the message thread (or the error that prevented loading it). */
export function threadCard(result) {
  const hid = uid('card');
  const card = h('section', { class: 'card', id: 'card-messages', 'aria-labelledby': hid }, h('h2', { id: hid }, 'Messages'));
  if (result.status === 'rejected') {
    card.append(errorPanel(result.reason, 'The messages could not be loaded'));
    return card;
  }
  const list = result.value;
  if (list.length === 0) {
    card.append(emptyState('No message to or from the patient or the family is recorded.'));
    return card;
  }
  card.append(h('ol', { class: 'thread' }, list.map((c) => {
    const received = ['Patient', 'RelatedPerson'].includes(refType(c.sender));
    const when = c.sent || c.received || '';
    const to = (c.recipient || []).map(personName).filter(Boolean).join(', ');
    const medium = (c.medium || []).map(conceptText).filter(Boolean).join(', ');
    return h('li', { class: `message ${received ? 'received' : 'sent'}`, 'data-id': c.id, 'data-status': c.status },
      h('div', { class: 'message-head' },
        h('span', { class: `badge ${received ? 'received' : 'sent'}` }, received ? 'received' : 'sent'),
        ' ', h('time', { datetime: when }, when ? dateTimeText(when) : 'no date'),
        c.status && c.status !== 'completed' ? h('span', { class: 'badge status' }, c.status) : null),
      h('p', { class: 'message-meta muted small' },
        received ? `From ${personName(c.sender) || 'the patient'}` : `To ${to || 'the patient'}${c.sender ? ` · from ${personName(c.sender)}` : ''}`,
        medium ? ` · ${medium}` : ''),
      h('p', { class: 'message-text' }, payloadText(c) || h('span', { class: 'muted' }, 'no text')));
  })));
  return card;
}

/**
 * draftButton is the "Draft message" action of an item t (taskInfo) of patient (named patientName): it
 * asks careflow for the draft, shows it editable with the recipient to choose, and records it as sent
 * (onRecorded runs after, onConflict on a 412).
 */
export function draftButton(t, { patient, patientName, date, me, onRecorded, onConflict }) {
  const panel = h('div', { class: 'draft', hidden: true });
  const button = h('button', { type: 'button', class: 'small-button secondary task-draft', 'aria-expanded': 'false', 'aria-label': `Draft a message: ${t.display}` }, 'Draft message…');
  let people = null;
  async function show(recipient) {
    panel.setAttribute('aria-busy', 'true');
    panel.replaceChildren(h('p', { class: 'loading' }, 'Drafting…'));
    let draft;
    try {
      const [d, related] = await Promise.all([
        fhirOperation(`Patient/${encodeURIComponent(patient)}/$draft-message`, { task: t.id, date, recipient }),
        people ? null : fhirGet('RelatedPerson', { patient: `Patient/${patient}`, _elements: 'name,relationship', _count: 50 }),
      ]);
      draft = d;
      if (related) {
        people = [{ reference: `Patient/${patient}`, name: `${patientName || 'The patient'} (the patient)` },
          ...(related.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === 'RelatedPerson').map((r) => {
            const rel = (r.relationship || []).map(conceptText).filter(Boolean).join(', ');
            return { reference: `RelatedPerson/${r.id}`, name: `${humanName(r) || `RelatedPerson ${r.id}`}${rel ? ` (${rel})` : ''}` };
          })];
      }
    } catch (err) {
      panel.replaceChildren(errorPanel(err, 'The message could not be drafted'));
      return;
    } finally {
      panel.removeAttribute('aria-busy');
    }
    panel.replaceChildren(draftForm(draft, { people, me, onRecorded, onConflict, redraft: show }));
    panel.querySelector(recipient ? '.draft-recipient' : 'textarea').focus();
  }
  button.addEventListener('click', () => {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open && !panel.firstChild) show('');
  });
  return [button, panel];
}

function draftForm(draft, { people, me, onRecorded, onConflict, redraft }) {
  const tid = uid('draft-text');
  const rid = uid('draft-to');
  const current = ((draft.recipient || [])[0] || {}).reference || '';
  const to = (draft.recipient || []).map(personName).join(', ');
  const medium = (draft.medium || []).map(conceptText).filter(Boolean).join(', ');
  const choices = [...people];
  if (current && !choices.some((p) => p.reference === current)) choices.push({ reference: current, name: to || current });
  const recipient = h('select', { id: rid, class: 'draft-recipient' },
    choices.map((p) => h('option', { value: p.reference, selected: p.reference === current }, p.name)));
  recipient.addEventListener('change', () => redraft(recipient.value));
  const text = h('textarea', { id: tid, rows: '5', class: 'draft-text' });
  text.value = payloadText(draft);
  const record = h('button', { type: 'submit', class: 'small-button draft-record' }, 'Record as sent');
  const form = h('form', { class: 'draft-form', 'aria-label': `Message to ${to || 'the patient'}` },
    h('div', { class: 'field' }, h('label', { for: rid }, 'To'), recipient),
    h('p', { class: 'draft-to' }, h('strong', {}, to || 'the patient'), medium ? ` · by ${medium}` : ''),
    (draft.note || []).map((n) => h('p', { class: 'muted small draft-note' }, n.text)),
    h('label', { for: tid }, 'Message'), text,
    h('div', { class: 'field actions' }, record));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    record.disabled = true;
    const sent = { ...draft, status: 'completed', sent: new Date().toISOString(), payload: [{ contentString: text.value.trim() }] };
    if (me) sent.sender = { reference: me.reference, display: me.name };
    try {
      await fhirPut(sent, { ifNoneMatch: true });
    } catch (err) {
      record.disabled = false;
      if (isConflict(err)) {
        onConflict();
        return;
      }
      form.append(errorPanel(err, 'The message could not be recorded'));
      return;
    }
    onRecorded(to || 'the patient');
  });
  return form;
}
