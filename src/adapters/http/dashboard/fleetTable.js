// The fleet chart's words: its data table (each bucket's values and how complete it is) and the
// completeness strip's summary, for screen readers and for anyone who would rather read.

import { statusText } from './completeness.js';
import { stripSummary } from './fleetView.js';
import { formatInteger, formatNumber, formatTime } from './format.js';

const $ = (id) => document.getElementById(id);
const MAX_TABLE_ROWS = 1440;

/** The data table of `view` (a fleetView) for selection `sel`, newest row first. */
export function renderFleetTable(sel, view) {
  const { xs, at } = view;
  $('fleet-vm-head').textContent = sel.vm ? `VM ${sel.vm}` : 'VM';
  $('fleet-caption').textContent = `${sel.key || 'No key'}: ${sel.by} per ${sel.interval} min over ${sel.minutes} min` +
    (xs.length > MAX_TABLE_ROWS ? ` (newest ${MAX_TABLE_ROWS} of ${xs.length} rows)` : '');
  const rows = [];
  for (let i = xs.length - 1; i >= Math.max(0, xs.length - MAX_TABLE_ROWS); i--) {
    const [x, c, v, p] = [xs[i], at.cross.get(xs[i]), at.vm.get(xs[i]), at.p95.get(xs[i])];
    const tr = document.createElement('tr');
    tr.dataset.timestamp = String(x);
    if (view.provisional.cross[i]) tr.dataset.provisional = 'true';
    const cells = [formatTime(x), formatNumber(c?.value), formatInteger(c?.windows), formatInteger(c?.count), formatNumber(c?.low), formatNumber(c?.high),
      formatNumber(v?.value), formatNumber(p?.value), (c && statusText(c)) || '–', (v && statusText(v)) || '–'];
    cells.forEach((text, k) => {
      const cell = document.createElement(k === 0 ? 'th' : 'td');
      if (k === 0) cell.scope = 'row';
      cell.textContent = text;
      tr.append(cell);
    });
    rows.push(tr);
  }
  $('fleet-table').tBodies[0].replaceChildren(...rows);
}

/** The strip's summary under it (and its accessible name); the strip is hidden while no bucket knows its completeness. */
export function renderStripSummary(cross) {
  const { known, provisional, newest } = stripSummary(cross);
  $('fleet-completeness').hidden = known === 0;
  const text = provisional === 0
    ? `None of the ${known} buckets is provisional.`
    : `${provisional} of ${known} buckets are provisional; the newest, ${formatTime(newest.timestamp)}: ${statusText(newest).replace(/^provisional: /, '')}.`;
  $('fleet-strip-summary').textContent = text;
  $('fleet-strip').setAttribute('aria-label', `Completeness per bucket: ${text}`);
}
