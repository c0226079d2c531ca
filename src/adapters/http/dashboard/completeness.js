// How complete a bucket is (DESIGN §8), and whether the dashboard may draw it as a plain point.
// A field the service does not send (an older service) is unknown: never a reason to call a
// point provisional, and never shown as if it were known.

/** Below this share of the expected VMs a bucket is provisional, final or not. */
export const COMPLETE_SHARE = 0.9;

const isCount = (v) => typeof v === 'number' && Number.isFinite(v);

/** Whether the bucket knows both `vms` and `expectedVms`. */
export function knowsVms(b) {
  return isCount(b?.vms) && isCount(b?.expectedVms);
}

/** A bucket that is not final, or that has fewer than 90% of its expected VMs: drawn hollow and dashed. */
export function isProvisional(b) {
  if (!b) return false;
  if (b.final === false) return true;
  return knowsVms(b) && b.vms < COMPLETE_SHARE * b.expectedVms;
}

/** The share of expected VMs that reported, 0..1 (1 when none were expected); undefined when unknown. */
export function reportedShare(b) {
  if (!knowsVms(b)) return undefined;
  return b.expectedVms <= 0 ? 1 : Math.min(1, b.vms / b.expectedVms);
}

/** `37 of 52 VMs, not final`; the parts the bucket knows, '' when it knows none. */
export function completenessText(b) {
  const parts = [];
  if (knowsVms(b)) parts.push(b.expectedVms > 0 ? `${b.vms} of ${b.expectedVms} VMs` : `${b.vms} VMs, none expected`);
  if (typeof b?.final === 'boolean') parts.push(b.final ? 'final' : 'not final');
  return parts.join(', ');
}

/** What the data table and the hover say: the completeness, `provisional: ` first when it is. */
export function statusText(b) {
  const text = completenessText(b);
  if (!isProvisional(b)) return text;
  return text ? `provisional: ${text}` : 'provisional';
}

/**
 * The completeness of a bucket of windows (DESIGN §8): `vms` and `expectedVms` the largest of the
 * windows', `final` when all are final; each only when every window knows it.
 */
export function combineCompleteness(windows) {
  const out = {};
  if (windows.length === 0) return out;
  if (windows.every((w) => isCount(w.vms))) out.vms = Math.max(...windows.map((w) => w.vms));
  if (windows.every((w) => isCount(w.expectedVms))) out.expectedVms = Math.max(...windows.map((w) => w.expectedVms));
  if (windows.every((w) => typeof w.final === 'boolean')) out.final = windows.every((w) => w.final);
  return out;
}

/**
 * One window's completeness from two sightings (a read and a stream event, in either order): both only
 * grow as data arrives (more VMs report, a window becomes final and stays so), so the larger wins.
 */
export function mergeCompleteness(held, seen) {
  const out = {};
  for (const field of ['vms', 'expectedVms']) {
    const values = [held?.[field], seen?.[field]].filter(isCount);
    if (values.length > 0) out[field] = Math.max(...values);
  }
  const finals = [held?.final, seen?.final].filter((v) => typeof v === 'boolean');
  if (finals.length > 0) out.final = finals.some(Boolean);
  return out;
}
