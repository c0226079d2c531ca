// The live list beside the fleet chart: each window and revision of the chosen key as emitted.

import { COMPLETE_SHARE, knowsVms } from './completeness.js';
import { formatClock, formatNumber } from './format.js';

const $ = (id) => document.getElementById(id);
const MAX_LIVE_ITEMS = 30;

/** Lists window event `w` first (with its VMs of the expected when it says), keeping the newest thirty. */
export function addLiveItem(w) {
  const li = document.createElement('li');
  li.dataset.id = String(w.id);
  const where = w.tenant === undefined ? 'cross-tenant' : `VM ${w.vm}`;
  li.innerHTML = '<time></time> <span class="where"></span> <span class="key"></span> <span class="val"></span>';
  li.querySelector('time').textContent = formatClock(w.windowStart);
  li.querySelector('time').dateTime = new Date(w.windowStart * 1000).toISOString();
  li.querySelector('.where').textContent = where;
  li.querySelector('.key').textContent = w.key;
  li.querySelector('.val').textContent = `avg ${formatNumber(w.avg)} (n=${w.count})`;
  // A cross-tenant window of a few of the expected VMs is no fleet average yet: say how few.
  if (knowsVms(w)) {
    const vms = document.createElement('span');
    vms.className = w.vms < COMPLETE_SHARE * w.expectedVms ? 'vms partial' : 'vms';
    vms.textContent = `${w.vms} of ${w.expectedVms} VMs`;
    li.append(' ', vms);
  }
  if (w.revision > 1) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = `revision ${w.revision}`;
    li.append(' ', badge);
  }
  const list = $('live-list');
  list.prepend(li);
  while (list.children.length > MAX_LIVE_ITEMS) list.lastElementChild.remove();
  $('live-empty').hidden = true;
}
