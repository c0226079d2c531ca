// The fleet panel: a counter key's cross-tenant average over the chosen minutes and
// aggregation, one VM drawn beside it, and the live list; kept current by the window stream.

import { setAddressParams } from './address.js';
import { followWindows, getJson } from './api.js';
import { MinuteSeries, bucketize } from './buckets.js';
import { colorOf, lineChart } from './charts.js';
import { formatClock, formatInteger, formatNumber, formatTime, unitOf } from './format.js';
import { setLiveState } from './status.js';

const $ = (id) => document.getElementById(id);
const MAX_TABLE_ROWS = 1440;
const MAX_LIVE_ITEMS = 30;

const state = {
  keys: [],
  tenants: [],
  cross: new MinuteSeries(),
  vm: null,
  /** Live events of the current selection, re-applied over every read (a read may predate them). */
  recent: [],
  streams: null,
  chart: null,
  generation: 0,
  frame: 0,
};

function selection() {
  return {
    key: $('key-select').value,
    minutes: Number($('minutes-input').value),
    interval: Number($('interval-input').value),
    by: $('agg-select').value,
    tenant: $('tenant-select').value,
    vm: $('vm-select').value,
  };
}

function valid(input) {
  const ok = input.checkValidity() && input.value !== '';
  input.setAttribute('aria-invalid', String(!ok));
  return ok;
}

function fillSelect(select, values, chosen, none) {
  select.replaceChildren(...[...(none ? [['', none]] : []), ...values.map((v) => [v, v])].map(([value, label]) => new Option(label, value, false, value === chosen)));
}

async function loadCatalog(onError) {
  try {
    const [{ keys }, { tenants }] = await Promise.all([getJson('/v1/keys'), getJson('/v1/tenants')]);
    state.keys = keys;
    state.tenants = tenants;
  } catch (error) {
    onError(error);
  }
}

function renderPickers(wanted) {
  fillSelect($('key-select'), state.keys.map((k) => k.key).sort(), wanted.key || state.keys[0]?.key);
  fillSelect($('tenant-select'), state.tenants.map((t) => t.tenant), wanted.tenant, 'none');
  renderVms(wanted.vm);
}

function renderVms(wantedVm) {
  const tenant = state.tenants.find((t) => t.tenant === $('tenant-select').value);
  fillSelect($('vm-select'), tenant ? tenant.vms : [], wantedVm, tenant ? 'choose a VM' : 'none');
  $('vm-select').disabled = !tenant;
}

function rebuildChart(sel) {
  state.chart?.destroy();
  const unit = unitOf(sel.key);
  const byWord = { avg: 'average', min: 'minimum', max: 'maximum' }[sel.by];
  const value = (_u, v) => (v === null || v === undefined ? '–' : `${formatNumber(v)}${unit && unit !== 'state' ? ` ${unit}` : ''}`);
  state.chart = lineChart($('fleet-chart'), {
    yLabel: unit && unit !== 'state' ? `Value (${unit})` : 'Value',
    xValue: formatTime,
    series: [
      { label: `Cross-tenant ${byWord}`, color: colorOf(0), value },
      { label: sel.vm ? `VM ${sel.vm}` : 'VM (none chosen)', color: colorOf(1), dash: [6, 4], value },
    ],
  });
  $('fleet-chart-title').textContent = sel.key ? `${sel.key}: ${byWord} per ${sel.interval === 1 ? 'minute' : `${sel.interval} minutes`}, last ${sel.minutes} minutes${unit ? ` (${unit})` : ''}` : '';
  $('fleet-chart').setAttribute('aria-label', `Line chart of ${sel.key}: cross-tenant ${byWord} per ${sel.interval} minute(s) over ${sel.minutes} minutes${sel.vm ? `, with VM ${sel.vm} beside it` : ''}; the values are in the data table below`);
}

function scheduleRender() {
  if (state.frame) return;
  state.frame = requestAnimationFrame(() => {
    state.frame = 0;
    render();
  });
}

function render() {
  const sel = selection();
  const end = state.cross.newest() ?? state.vm?.newest();
  const cross = end === undefined ? [] : bucketize(state.cross.range(end, sel.minutes), sel.interval, sel.by);
  const vm = end === undefined || !state.vm ? [] : bucketize(state.vm.range(end, sel.minutes), sel.interval, sel.by);
  const xs = [...new Set([...cross.map((b) => b.timestamp), ...vm.map((b) => b.timestamp)])].sort((a, b) => a - b);
  const crossAt = new Map(cross.map((b) => [b.timestamp, b]));
  const vmAt = new Map(vm.map((b) => [b.timestamp, b]));
  state.chart.setData([xs, xs.map((x) => crossAt.get(x)?.value ?? null), xs.map((x) => vmAt.get(x)?.value ?? null)]);
  $('fleet-empty').hidden = xs.length > 0;
  $('fleet-vm-head').textContent = sel.vm ? `VM ${sel.vm}` : 'VM';
  $('fleet-caption').textContent = `${sel.key || 'No key'}: ${sel.by} per ${sel.interval} min over ${sel.minutes} min` +
    (xs.length > MAX_TABLE_ROWS ? ` (newest ${MAX_TABLE_ROWS} of ${xs.length} rows)` : '');
  const rows = xs.slice(-MAX_TABLE_ROWS).reverse().map((x) => {
    const c = crossAt.get(x);
    const v = vmAt.get(x);
    const tr = document.createElement('tr');
    tr.dataset.timestamp = String(x);
    const cells = [formatTime(x), formatNumber(c?.value), formatInteger(c?.windows), formatInteger(c?.count), formatNumber(c?.low), formatNumber(c?.high), formatNumber(v?.value)];
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.scope = 'row';
      cell.textContent = text;
      tr.append(cell);
    });
    return tr;
  });
  $('fleet-table').tBodies[0].replaceChildren(...rows);
  window.opsfold.fleet = { selection: sel, cross, vm, data: state.chart.chart.data, uplot: state.chart.chart };
  $('fleet').dataset.state = 'ready';
}

function addLiveItem(w) {
  const li = document.createElement('li');
  li.dataset.id = String(w.id);
  const where = w.tenant === undefined ? 'cross-tenant' : `VM ${w.vm}`;
  li.innerHTML = '<time></time> <span class="where"></span> <span class="key"></span> <span class="val"></span>';
  li.querySelector('time').textContent = formatClock(w.windowStart);
  li.querySelector('time').dateTime = new Date(w.windowStart * 1000).toISOString();
  li.querySelector('.where').textContent = where;
  li.querySelector('.key').textContent = w.key;
  li.querySelector('.val').textContent = `avg ${formatNumber(w.avg)} (n=${w.count})`;
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

function onWindow(w, generation) {
  if (generation !== state.generation) return;
  const sel = selection();
  if (w.key !== sel.key) return;
  state.recent.push(w);
  if (state.recent.length > 2000) state.recent.splice(0, state.recent.length - 2000);
  apply(w, sel);
  addLiveItem(w);
  scheduleRender();
}

function apply(w, sel) {
  if (w.tenant === undefined) state.cross.merge(w);
  else if (state.vm && w.tenant === sel.tenant && w.vm === sel.vm) state.vm.merge(w);
}

/** Reads the selection's minute windows, then follows the stream for it. */
async function reload(onError) {
  const sel = selection();
  if (!valid($('minutes-input')) || !valid($('interval-input'))) return;
  const generation = ++state.generation;
  state.streams?.abort();
  state.streams = new AbortController();
  setAddressParams({ key: sel.key, minutes: sel.minutes, interval: sel.interval, by: sel.by, tenant: sel.tenant, vm: sel.vm });
  rebuildChart(sel);
  $('live-list').replaceChildren();
  $('live-empty').hidden = false;
  state.recent = state.recent.filter((w) => w.key === sel.key);
  if (!sel.key) {
    state.cross = new MinuteSeries();
    state.vm = null;
    render();
    return;
  }
  const signal = state.streams.signal;
  const follow = (filter) => followWindows(filter, { onWindow: (w) => onWindow(w, generation), onState: setLiveState, signal });
  // Follow first: a window emitted while the read is under way is then not missed.
  void follow({ key: sel.key, grouping: 'cross' });
  if (sel.tenant && sel.vm) void follow({ key: sel.key, tenant: sel.tenant, vm: sel.vm });
  try {
    // The key's newest window ends the range (as in the API); the VM is read over the same range.
    const range = { key: sel.key, minutes: sel.minutes, aggregationInterval: 1, aggregationBy: 'avg' };
    const cross = await getJson('/v1/get-data', range);
    const end = cross.data.at(-1)?.timestamp;
    const vm = sel.tenant && sel.vm ? await getJson('/v1/get-tenant-data', { ...range, tenant: sel.tenant, vm: sel.vm, to: end }) : null;
    if (generation !== state.generation) return;
    state.cross = MinuteSeries.fromBuckets(cross.data);
    state.vm = vm ? MinuteSeries.fromBuckets(vm.data) : null;
    for (const w of state.recent) apply(w, sel);
    render();
  } catch (error) {
    if (generation === state.generation) onError(error);
  }
}

export async function startFleet({ onError }) {
  window.opsfold = window.opsfold ?? {};
  const query = new URLSearchParams(location.search);
  if (query.get('minutes')) $('minutes-input').value = query.get('minutes');
  if (query.get('interval')) $('interval-input').value = query.get('interval');
  if (['avg', 'min', 'max'].includes(query.get('by'))) $('agg-select').value = query.get('by');
  await loadCatalog(onError);
  renderPickers({ key: query.get('key') ?? '', tenant: query.get('tenant') ?? '', vm: query.get('vm') ?? '' });
  $('tenant-select').addEventListener('change', () => {
    renderVms('');
    void reload(onError);
  });
  for (const id of ['key-select', 'vm-select', 'agg-select', 'minutes-input', 'interval-input']) {
    $(id).addEventListener('change', () => void reload(onError));
  }
  $('fleet-controls').addEventListener('submit', (e) => e.preventDefault());
  await reload(onError);
  // New keys and VMs show up in the pickers without a reload.
  setInterval(async () => {
    const before = JSON.stringify([state.keys.map((k) => k.key), state.tenants]);
    await loadCatalog(() => undefined);
    if (JSON.stringify([state.keys.map((k) => k.key), state.tenants]) === before) return;
    const sel = selection();
    renderPickers(sel);
    if (!sel.key && state.keys.length > 0) void reload(onError);
  }, 15000);
}
