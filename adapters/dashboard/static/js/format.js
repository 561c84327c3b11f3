// Dates, priorities and item kinds. Days are calendar days in UTC, as the worklist operation uses them.

import { h } from './dom.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const dayFormat = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** isDay reports whether s is a valid YYYY-MM-DD day. */
export function isDay(s) {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** today is the browser's local calendar day as YYYY-MM-DD. */
export function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** dayOf returns the YYYY-MM-DD (UTC) of a FHIR date or dateTime, or "". */
export function dayOf(value) {
  if (typeof value !== 'string' || value.length < 4) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  if (/^\d{4}(-\d{2})?$/.test(value)) return value;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 10);
}

/** formatDay renders YYYY-MM-DD as "Wed, 25 Nov 2026" (partial dates as they are). */
export function formatDay(day) {
  if (!isDay(day)) return day || '—';
  return dayFormat.format(new Date(`${day}T00:00:00Z`));
}

/** daysBetween is the number of calendar days from a to b (both YYYY-MM-DD). */
export function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
}

/** relativeDay describes day relative to ref: "today", "3 days overdue", "in 2 days". */
export function relativeDay(day, ref) {
  if (!isDay(day) || !isDay(ref)) return '';
  const n = daysBetween(ref, day);
  if (n === 0) return 'today';
  if (n === -1) return '1 day overdue';
  if (n < 0) return `${-n} days overdue`;
  return n === 1 ? 'tomorrow' : `in ${n} days`;
}

/** ageOn is the age in whole years on day of someone born on birthDate (YYYY-MM-DD), or null. */
export function ageOn(birthDate, day) {
  if (!isDay(birthDate) || !isDay(day)) return null;
  const [by, bm, bd] = birthDate.split('-').map(Number);
  const [y, m, d] = day.split('-').map(Number);
  let age = y - by;
  if (m < bm || (m === bm && d < bd)) age -= 1;
  return age;
}

/** Task priorities, most pressing first (http://hl7.org/fhir/R4/valueset-request-priority.html). */
export const PRIORITIES = ['stat', 'asap', 'urgent', 'routine'];

export function priorityRank(p) {
  const i = PRIORITIES.indexOf(p);
  return i < 0 ? PRIORITIES.length : i;
}

/** priorityBadge renders a Task priority as a labelled badge (the word is shown, not only a colour). */
export function priorityBadge(priority) {
  const p = priority || 'routine';
  return h('span', { class: `badge priority-${PRIORITIES.includes(p) ? p : 'routine'}` }, p);
}

/**
 * Worklist item codes (http://careflow.example/fhir/CodeSystem/worklist-item, adapters/worklist:
 * worklist.go and second.go) grouped by the panel that lists them.
 */
export const COVERAGE_CODES = ['coverage-gap', 'approval-required', 'coverage-ends-before-follow-up'];
export const CONFLICT_CODES = ['allergy-conflict'];
export const DISCHARGE_CODES = ['post-discharge-follow-up', 'discharge-medication-reconciliation'];
export const REFERRAL_CODES = ['referral-not-scheduled', 'referral-result-missing'];
export const OUTREACH_CODES = ['outreach-due'];
export const APPROVAL_CODES = ['prior-authorization-pending', 'prior-authorization-denied'];
export const FOLLOW_UP_CODES = ['follow-up-due', 'follow-up-overdue', 'rebook-appointment'];

/** BOOKABLE_CODES are the items an appointment closes ($book with task=: a visit to book). */
export const BOOKABLE_CODES = [...FOLLOW_UP_CODES, 'post-discharge-follow-up', 'referral-not-scheduled'];

/**
 * MESSAGE_CODES are the items $draft-message drafts a message for (adapters/message: the patient or the
 * family can act on them; a coverage gap only when it is about the patient's own coverage).
 */
export const MESSAGE_CODES = [...FOLLOW_UP_CODES, 'post-discharge-follow-up', 'outreach-due', 'referral-not-scheduled', 'coverage-gap'];

/** kindOf maps an item code to a visual kind. */
export function kindOf(code) {
  if (CONFLICT_CODES.includes(code)) return 'conflict';
  if (COVERAGE_CODES.includes(code)) return 'coverage';
  if (DISCHARGE_CODES.includes(code)) return 'discharge';
  if (REFERRAL_CODES.includes(code)) return 'referral';
  if (OUTREACH_CODES.includes(code)) return 'outreach';
  if (APPROVAL_CODES.includes(code)) return 'approval';
  if (code && code.startsWith('careplan-')) return 'careplan';
  return 'scheduling';
}

/** codeChip renders a worklist item's code with its display. */
export function codeChip(code, display) {
  return h('span', { class: `chip kind-${kindOf(code)}`, 'data-code': code }, display || code);
}

/** dateTimeText renders an instant as "25 Nov 2026, 09:30 UTC" (the days are UTC everywhere in the app). */
export function dateTimeText(value) {
  const d = new Date(value);
  if (typeof value !== 'string' || Number.isNaN(d.getTime())) return value || '—';
  return `${dayFormat.format(d)}, ${d.toISOString().slice(11, 16)} UTC`;
}
