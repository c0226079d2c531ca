// The fleet panel: a counter key's cross-tenant average over the chosen minutes and
// aggregation, one VM drawn beside it, the p95 on demand, how complete each bucket is, the
// hottest VMs and the live list; kept current by the window stream.

import { setAddressParams } from './address.js';
import { followWindows, getJson } from './api.js';
import { MinuteSeries, bucketize } from './buckets.js';
import { fleetChart } from './fleetChart.js';
import { renderFleetTable, renderStripSummary } from './fleetTable.js';
import { FLEET_LINES, fleetView } from './fleetView.js';
import { readFleet } from './fleetReads.js';
import { loadHottest, setHottestDrawn, startHottest } from './hottest.js';
import { addLiveItem } from './liveList.js';
import { setLiveState } from './status.js';

const $ = (id) => document.getElementById(id);
/** After a cross-tenant window event, the reads (completeness, p95, hottest VMs) follow this much later. */
const REFRESH_AFTER_EVENT_MS = 1500;
/** While a bucket in view is not final, the reads are repeated this often (finality comes without an event). */
const REFRESH_WHILE_PROVISIONAL_MS = 15000;

const state = {
  keys: [],
  tenants: [],
  cross: new MinuteSeries(),
  vm: null,
  /** The p95 buckets of the selection (GET /v1/get-data with aggregationBy=p95), null when not drawn. */
  p95: null,
  view: null,
  /** The selection of the last reload, and the end of its range (the key's newest window). */
  sel: null,
  end: undefined,
  refreshTimer: 0,
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
    p95: $('p95-toggle').checked,
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
  // The p95 buckets were read up to the end of then: keep those of the range as it is now.
  const width = sel.interval * 60;
  const first = end === undefined ? Infinity : Math.floor((end - (sel.minutes - 1) * 60) / width) * width;
  const p95 = sel.p95 && state.p95 ? state.p95.filter((b) => b.timestamp >= first && b.timestamp <= end) : null;
  const view = (state.view = fleetView({ cross, vm, p95 }));
  renderStripSummary(cross); // before the data: drawing the strip needs it laid out
  state.chart.setData(sel.p95 ? view.drawn : view.drawn.slice(0, 3));
  $('fleet-empty').hidden = view.xs.length > 0;
  renderFleetTable(sel, view);
  // `data`: each line's values, provisional points included; `drawn`: what uPlot holds (gaps there).
  window.opsfold.fleet = {
    selection: sel, cross, vm, p95, data: [view.xs, ...FLEET_LINES.map((name) => view.values[name])], provisional: view.provisional, drawn: state.chart.chart.data, uplot: state.chart.chart,
  };
  $('fleet').dataset.state = 'ready';
}

function onWindow(w, generation, onError) {
  if (generation !== state.generation) return;
  const sel = selection();
  if (w.key !== sel.key) return;
  state.recent.push(w);
  if (state.recent.length > 2000) state.recent.splice(0, state.recent.length - 2000);
  apply(w, sel);
  addLiveItem(w);
  scheduleRender();
  if (w.tenant === undefined) scheduleRefresh(onError, REFRESH_AFTER_EVENT_MS);
}

function apply(w, sel) {
  if (w.tenant === undefined) state.cross.merge(w);
  else if (state.vm && w.tenant === sel.tenant && w.vm === sel.vm) state.vm.merge(w);
}

/** Takes a read's answers (then the stream's events over them: a read may predate them) and draws. */
function take(sel, answers) {
  state.end = answers.end;
  state.cross = MinuteSeries.fromBuckets(answers.cross.data);
  state.vm = answers.vm ? MinuteSeries.fromBuckets(answers.vm.data) : null;
  state.p95 = answers.p95?.data ?? null;
  $('p95-note').hidden = !answers.p95?.refused;
  $('p95-note').textContent = answers.p95?.refused ? `No p95 line: this service does not compute percentiles (${answers.p95.refused}).` : '';
  for (const w of state.recent) apply(w, sel);
  render();
}

/** Reads the selection's minute windows, then follows the stream for it. */
async function reload(onError) {
  const sel = selection();
  if (!valid($('minutes-input')) || !valid($('interval-input'))) return;
  const generation = ++state.generation;
  state.sel = sel;
  state.end = undefined;
  state.streams?.abort();
  state.streams = new AbortController();
  setAddressParams({ key: sel.key, minutes: sel.minutes, interval: sel.interval, by: sel.by, tenant: sel.tenant, vm: sel.vm, p95: sel.p95 ? 'on' : '' });
  setHottestDrawn(sel.tenant, sel.vm);
  state.chart?.destroy();
  state.chart = fleetChart(sel, () => state.view);
  $('live-list').replaceChildren();
  $('live-empty').hidden = false;
  state.recent = state.recent.filter((w) => w.key === sel.key);
  if (!sel.key) {
    state.cross = new MinuteSeries();
    state.vm = null;
    state.p95 = null;
    render();
    await loadHottest({}, onError);
    return;
  }
  const signal = state.streams.signal;
  const follow = (filter) => followWindows(filter, { onWindow: (w) => onWindow(w, generation, onError), onState: setLiveState, signal });
  // Follow first: a window emitted while the read is under way is then not missed.
  void follow({ key: sel.key, grouping: 'cross' });
  if (sel.tenant && sel.vm) void follow({ key: sel.key, tenant: sel.tenant, vm: sel.vm });
  await readSelection(sel, generation, onError);
}

/**
 * Reads the same selection again, without touching the streams: completeness grows and windows
 * become final without a window event of their own, the p95 cannot be merged in the page, and the
 * hottest VMs move.
 */
async function refresh(onError) {
  const { sel, generation } = state;
  if (!sel?.key) return;
  await readSelection(sel, generation, onError);
}

/** Reads the selection's buckets and hottest VMs and takes them, unless another selection was made meanwhile. */
async function readSelection(sel, generation, onError) {
  try {
    const answers = await readFleet(sel);
    if (generation !== state.generation) return;
    take(sel, answers);
    await loadHottest({ key: sel.key, minutes: sel.minutes, to: answers.end }, onError);
  } catch (error) {
    if (generation === state.generation) onError(error);
  }
}

function hottestOfSelection(onError) {
  return loadHottest({ key: state.sel?.key, minutes: state.sel?.minutes, to: state.end }, onError);
}

function scheduleRefresh(onError, delayMs) {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = 0;
    void refresh(onError);
  }, delayMs);
}

/** Draws the VM a hottest-VMs row names (the tenant and VM pickers follow). */
async function drawVm(tenant, vm, onError) {
  if (!state.tenants.some((t) => t.tenant === tenant && t.vms.includes(vm))) await loadCatalog(onError);
  const known = state.tenants.find((t) => t.tenant === tenant);
  if (!known) state.tenants.push({ tenant, vms: [vm] });
  else if (!known.vms.includes(vm)) known.vms.push(vm);
  fillSelect($('tenant-select'), state.tenants.map((t) => t.tenant), tenant, 'none');
  renderVms(vm);
  await reload(onError);
}

export async function startFleet({ onError }) {
  window.opsfold = window.opsfold ?? {};
  const query = new URLSearchParams(location.search);
  if (query.get('minutes')) $('minutes-input').value = query.get('minutes');
  if (query.get('interval')) $('interval-input').value = query.get('interval');
  if (['avg', 'min', 'max'].includes(query.get('by'))) $('agg-select').value = query.get('by');
  $('p95-toggle').checked = query.get('p95') === 'on';
  startHottest({ onPick: (tenant, vm) => void drawVm(tenant, vm, onError), onChange: () => void hottestOfSelection(onError) });
  await loadCatalog(onError);
  renderPickers({ key: query.get('key') ?? '', tenant: query.get('tenant') ?? '', vm: query.get('vm') ?? '' });
  $('tenant-select').addEventListener('change', () => {
    renderVms('');
    void reload(onError);
  });
  for (const id of ['key-select', 'vm-select', 'agg-select', 'minutes-input', 'interval-input', 'p95-toggle']) {
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
  setInterval(() => {
    if (state.view && [...state.view.at.cross.values()].some((b) => b.final === false)) scheduleRefresh(onError, 0);
  }, REFRESH_WHILE_PROVISIONAL_MS);
}
