// Claiming, releasing and reassigning a worklist item: ordinary updates of its Task, exactly as the
// server documents them (docs/ARCHITECTURE.md, "Coordination workflows, second generation"; adapters/
// worklist/team.go):
//
//   claim     PUT Task/{id}: owner = the coordinator, status accepted, businessStatus claimed — with
//             If-None-Match: * when the Task is not stored yet (a derived item), If-Match: W/"v" when it is;
//             of two coordinators claiming one item exactly one succeeds, the other gets 412.
//   release   PUT with If-Match: no owner, status requested, businessStatus released.
//   reassign  PUT with If-Match: owner = the colleague, status requested (they have not accepted it yet),
//             no businessStatus.
//   done      PUT with If-Match (or If-None-Match: *): status completed.

import { FhirError, fhirPut, withoutVersion } from './fhir.js';
import { BUSINESS_STATUS_SYSTEM } from './ui.js';

export const BUSINESS_STATUS = BUSINESS_STATUS_SYSTEM;

/** CONFLICT_MESSAGE is what the page says when a precondition failed (412). */
export const CONFLICT_MESSAGE = 'Someone else claimed this item (or changed it) before you: the worklist has been reloaded.';

/** isClaimed reports whether a Task is claimed (businessStatus claimed and an owner). */
export function isClaimed(task) {
  const bs = (task.businessStatus && task.businessStatus.coding) || [];
  return Boolean(task.owner && task.owner.reference) && bs.some((c) => c.system === BUSINESS_STATUS && c.code === 'claimed');
}

function put(t, task, signal) {
  // A Task $worklist derived and nobody stored yet has no version: create it, only if still absent.
  return fhirPut(task, t.version ? { ifMatch: t.version, signal } : { ifNoneMatch: true, signal });
}

/** claim stores the item's Task owned by who ({reference, name}), accepted and claimed. */
export function claim(t, who, signal) {
  const task = withoutVersion(t.resource);
  task.owner = { reference: who.reference, display: who.name };
  task.status = 'accepted';
  task.businessStatus = { coding: [{ system: BUSINESS_STATUS, code: 'claimed', display: 'Claimed' }], text: `Claimed by ${who.name}` };
  return put(t, task, signal);
}

/** release stores the item's Task back in the pool: no owner, requested, released. */
export function release(t, signal) {
  const task = withoutVersion(t.resource);
  delete task.owner;
  task.status = 'requested';
  task.businessStatus = { coding: [{ system: BUSINESS_STATUS, code: 'released', display: 'Released' }] };
  return put(t, task, signal);
}

/** reassign stores the item's Task with another owner ({reference, name}), requested. */
export function reassign(t, to, signal) {
  const task = withoutVersion(t.resource);
  task.owner = { reference: to.reference, display: to.name };
  task.status = 'requested';
  delete task.businessStatus;
  return put(t, task, signal);
}

/** complete stores the item's Task as completed. */
export function complete(t, signal) {
  const task = withoutVersion(t.resource);
  task.status = 'completed';
  return put(t, task, signal);
}

/** isConflict reports whether an error is a failed precondition (412) or a conflict (409). */
export function isConflict(err) {
  return err instanceof FhirError && (err.status === 412 || err.status === 409);
}
