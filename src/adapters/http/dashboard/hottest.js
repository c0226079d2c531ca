// The hottest VMs of the fleet panel's key and range, from GET /v1/top (DESIGN §8): the ten VMs
// with the highest average, maximum or p95; a click on one (or Enter on its button) draws it.

import { addressParam, setAddressParams } from './address.js';
import { getJson } from './api.js';
import { formatInteger, formatNumber, formatTime, unitOf } from './format.js';

const $ = (id) => document.getElementById(id);
/** The longest range GET /v1/top reads (TOP_MAX_MINUTES in topRoutes.ts). */
export const TOP_MAX_MINUTES = 1440;
const N = 10;
const BY_WORD = { avg: 'average', max: 'maximum', p95: 'p95' };

const state = { generation: 0, answer: null, drawn: { tenant: '', vm: '' } };

function cell(tag, text) {
  const c = document.createElement(tag);
  c.textContent = text;
  return c;
}

function markDrawn() {
  for (const tr of $('hottest-table').tBodies[0].rows) {
    const drawn = tr.dataset.tenant === state.drawn.tenant && tr.dataset.vm === state.drawn.vm;
    tr.classList.toggle('drawn', drawn);
    tr.querySelector('.drawn-mark')?.remove();
    if (drawn) {
      tr.setAttribute('aria-current', 'true');
      const mark = cell('span', ' (drawn)');
      mark.className = 'drawn-mark';
      tr.cells[2].append(mark);
    } else tr.removeAttribute('aria-current');
  }
}

function render(query, answer) {
  const unit = unitOf(query.key);
  const suffix = unit && unit !== 'state' ? ` ${unit}` : '';
  const rows = answer.data.map((r, i) => {
    const tr = document.createElement('tr');
    tr.dataset.tenant = r.tenant;
    tr.dataset.vm = r.vm;
    const rank = cell('th', String(i + 1));
    rank.scope = 'row';
    const vm = document.createElement('td');
    const button = cell('button', r.vm);
    button.type = 'button';
    button.className = 'row-button';
    button.setAttribute('aria-label', `Draw VM ${r.vm} of tenant ${r.tenant}`);
    vm.append(button);
    tr.append(rank, cell('td', r.tenant), vm, cell('td', `${formatNumber(r.value)}${suffix}`), cell('td', formatInteger(r.count)));
    return tr;
  });
  $('hottest-table').tBodies[0].replaceChildren(...rows);
  $('hottest-value-head').textContent = BY_WORD[query.by] ?? query.by;
  const capped = query.asked > TOP_MAX_MINUTES ? ` (the chart's ${query.asked}: the top reads at most ${TOP_MAX_MINUTES})` : '';
  $('hottest-caption').textContent = `${query.key}: the ${N} VMs with the highest ${BY_WORD[query.by]} over ${query.minutes} minutes${capped}, to ${formatTime(query.to)} UTC`;
  $('hottest-empty').hidden = rows.length > 0;
  markDrawn();
}

/** Which VM the chart draws, marked in the table. */
export function setHottestDrawn(tenant, vm) {
  state.drawn = { tenant, vm };
  markDrawn();
}

/** Reads the top for `key` over the `minutes` that end at `to` (the chart's newest bucket), and shows it. */
export async function loadHottest({ key, minutes, to }, onError) {
  const generation = ++state.generation;
  const section = $('hottest');
  if (!key || to === undefined) {
    $('hottest-table').tBodies[0].replaceChildren();
    $('hottest-empty').hidden = false;
    section.dataset.state = 'empty';
    return;
  }
  const query = { key, minutes: Math.min(minutes, TOP_MAX_MINUTES), asked: minutes, by: $('hottest-by').value, to };
  try {
    const answer = await getJson('/v1/top', { key, minutes: query.minutes, n: N, by: query.by, to });
    if (generation !== state.generation) return;
    state.answer = answer;
    render(query, answer);
    window.opsfold.hottest = { query, answer };
    section.dataset.state = 'ready';
  } catch (error) {
    if (generation === state.generation) onError(error);
  }
}

/** Wires the rank-by picker (kept in the address as `rank`) and the rows' clicks to `onPick(tenant, vm)`. */
export function startHottest({ onPick, onChange }) {
  const rank = addressParam('rank');
  if (rank && BY_WORD[rank]) $('hottest-by').value = rank;
  $('hottest-by').addEventListener('change', () => {
    setAddressParams({ rank: $('hottest-by').value === 'avg' ? '' : $('hottest-by').value });
    onChange();
  });
  $('hottest-table').tBodies[0].addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr) onPick(tr.dataset.tenant, tr.dataset.vm);
  });
}
