// The fleet panel: a counter key's cross-tenant average over the chosen minutes and
// aggregation, one VM drawn beside it, the p95 on demand, how complete each bucket is, the
// hottest VMs and the live list; kept current by the window stream.

import { setAddressParams } from './address.js';
import { ApiError, followWindows, getJson } from './api.js';
import { MinuteSeries, bucketize } from './buckets.js';
import { colorOf, lineChart } from './charts.js';
import { statusText } from './completeness.js';
import { drawCompletenessStrip } from './completenessStrip.js';
import { fleetTooltip } from './fleetTooltip.js';
import { FLEET_LINES, fleetView, stripSummary } from './fleetView.js';
import { formatClock, formatInteger, formatNumber, formatTime, unitOf } from './format.js';
import { loadHottest, setHottestDrawn, startHottest } from './hottest.js';
import { drawProvisionalMarks } from './provisionalMarks.js';
import { setLiveState } from './status.js';

const $ = (id) => document.getElementById(id);
const MAX_TABLE_ROWS = 1440;
const MAX_LIVE_ITEMS = 30;
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

function rebuildChart(sel) {
  state.chart?.destroy();
  const unit = unitOf(sel.key);
  const byWord = { avg: 'average', min: 'minimum', max: 'maximum' }[sel.by];
  const value = (_u, v) => (v === null || v === undefined ? '–' : `${formatNumber(v)}${unit && unit !== 'state' ? ` ${unit}` : ''}`);
  // The legend shows a provisional point's value (uPlot holds a gap there) and says it is provisional.
  const legend = (name) => (_u, _v, _s, idx) => {
    const v = idx === null || idx === undefined ? null : state.view?.values[name][idx];
    return `${value(_u, v)}${v !== null && v !== undefined && state.view.provisional[name][idx] ? ' (provisional)' : ''}`;
  };
  const series = [
    { label: `Cross-tenant ${byWord}`, color: colorOf(0), value: legend('cross') },
    { label: sel.vm ? `VM ${sel.vm}` : 'VM (none chosen)', color: colorOf(1), dash: [6, 4], value: legend('vm') },
    ...(sel.p95 ? [{ label: 'Cross-tenant p95', color: colorOf(2), width: 1.5, value: legend('p95') }] : []),
  ];
  const labels = { cross: series[0].label, vm: series[1].label, p95: 'Cross-tenant p95' };
  state.chart = lineChart($('fleet-chart'), {
    yLabel: unit && unit !== 'state' ? `Value (${unit})` : 'Value',
    xValue: formatTime,
    series,
    yExtent: () => state.view?.extent ?? [],
    hooks: {
      draw: [(u) => drawMarks(u, sel)],
      setCursor: [fleetTooltip(() => ({
        xs: state.view?.xs ?? [],
        lines: FLEET_LINES.map((name, i) => ({ label: labels[name], colorIndex: i, at: state.view?.at[name] ?? new Map(), format: (v) => value(null, v) })),
      }))],
    },
  });
  $('fleet-chart-title').textContent = sel.key ? `${sel.key}: ${byWord} per ${sel.interval === 1 ? 'minute' : `${sel.interval} minutes`}, last ${sel.minutes} minutes${unit ? ` (${unit})` : ''}` : '';
  $('fleet-chart').setAttribute('aria-label', `Line chart of ${sel.key}: cross-tenant ${byWord}${sel.p95 ? ' and p95' : ''} per ${sel.interval} minute(s) over ${sel.minutes} minutes${sel.vm ? `, with VM ${sel.vm} beside it` : ''}; provisional points are hollow; the values and their completeness are in the data table below`);
}

/** The marks uPlot does not draw: provisional points and segments, and the completeness strip. */
function drawMarks(u, sel) {
  const view = state.view;
  if (!view) return;
  const lines = FLEET_LINES.slice(0, sel.p95 ? 3 : 2).map((name, i) => ({
    series: name, color: colorOf(i), xs: view.xs, values: view.values[name], provisional: view.provisional[name], texts: view.texts[name],
  }));
  drawProvisionalMarks(u, lines);
  drawCompletenessStrip($('fleet-strip'), u, [...view.at.cross.values()], sel.interval);
}

function renderStripLabel(cross) {
  const { known, provisional, newest } = stripSummary(cross);
  $('fleet-completeness').hidden = known === 0;
  const text = provisional === 0
    ? `None of the ${known} buckets is provisional.`
    : `${provisional} of ${known} buckets are provisional; the newest, ${formatTime(newest.timestamp)}: ${statusText(newest).replace(/^provisional: /, '')}.`;
  $('fleet-strip-summary').textContent = text;
  $('fleet-strip').setAttribute('aria-label', `Completeness per bucket: ${text}`);
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
  const width = sel.interval * 60;
  const first = end === undefined ? Infinity : Math.floor((end - (sel.minutes - 1) * 60) / width) * width;
  const p95 = sel.p95 && state.p95 ? state.p95.filter((b) => b.timestamp >= first && b.timestamp <= end) : null;
  const view = (state.view = fleetView({ cross, vm, p95 }));
  const xs = view.xs;
  renderStripLabel(cross); // before the data: drawing the strip needs it in the layout
  state.chart.setData(sel.p95 ? view.drawn : view.drawn.slice(0, 3));
  $('fleet-empty').hidden = xs.length > 0;
  $('fleet-vm-head').textContent = sel.vm ? `VM ${sel.vm}` : 'VM';
  $('fleet-caption').textContent = `${sel.key || 'No key'}: ${sel.by} per ${sel.interval} min over ${sel.minutes} min` +
    (xs.length > MAX_TABLE_ROWS ? ` (newest ${MAX_TABLE_ROWS} of ${xs.length} rows)` : '');
  const newest = xs.map((x, i) => [x, i]).slice(-MAX_TABLE_ROWS).reverse();
  const rows = newest.map(([x, i]) => {
    const c = view.at.cross.get(x);
    const v = view.at.vm.get(x);
    const p = view.at.p95.get(x);
    const tr = document.createElement('tr');
    tr.dataset.timestamp = String(x);
    if (view.provisional.cross[i]) tr.dataset.provisional = 'true';
    const cells = [formatTime(x), formatNumber(c?.value), formatInteger(c?.windows), formatInteger(c?.count), formatNumber(c?.low), formatNumber(c?.high),
      formatNumber(v?.value), formatNumber(p?.value), (c && statusText(c)) || '–', (v && statusText(v)) || '–'];
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.scope = 'row';
      cell.textContent = text;
      tr.append(cell);
    });
    return tr;
  });
  $('fleet-table').tBodies[0].replaceChildren(...rows);
  // `data`: the values of each line, provisional points included; `drawn`: what uPlot holds.
  window.opsfold.fleet = { selection: sel, cross, vm, p95, data: [xs, ...FLEET_LINES.map((name) => view.values[name])], provisional: view.provisional, drawn: state.chart.chart.data, uplot: state.chart.chart };
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

/**
 * The selection's reads: the key's minute windows (its newest ends the range, as in the API), the
 * VM's over the same range, and the p95 buckets when drawn. A service that refuses p95 (one without
 * percentiles) is not an error: the note under the chart says so.
 */
async function read(sel) {
  const range = { key: sel.key, minutes: sel.minutes, aggregationInterval: 1, aggregationBy: 'avg' };
  const cross = await getJson('/v1/get-data', range);
  const end = cross.data.at(-1)?.timestamp;
  const vm = sel.tenant && sel.vm ? getJson('/v1/get-tenant-data', { ...range, tenant: sel.tenant, vm: sel.vm, to: end }) : null;
  const p95 = sel.p95 && end !== undefined
    ? getJson('/v1/get-data', { ...range, aggregationInterval: sel.interval, aggregationBy: 'p95', to: end }).catch((error) => {
      if (error instanceof ApiError && error.status === 400 && error.body?.error?.parameter === 'aggregationBy') return { refused: error.message };
      throw error;
    })
    : null;
  return { cross, end, vm: await vm, p95: await p95 };
}

/** Takes a read's answers (then the stream's events over them: a read may predate them) and draws. */
function take(sel, answers) {
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
  state.streams?.abort();
  state.streams = new AbortController();
  setAddressParams({ key: sel.key, minutes: sel.minutes, interval: sel.interval, by: sel.by, tenant: sel.tenant, vm: sel.vm, p95: sel.p95 ? 'on' : '' });
  setHottestDrawn(sel.tenant, sel.vm);
  rebuildChart(sel);
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
  try {
    const answers = await read(sel);
    if (generation !== state.generation) return;
    take(sel, answers);
    await loadHottest({ key: sel.key, minutes: sel.minutes, to: answers.end }, onError);
  } catch (error) {
    if (generation === state.generation) onError(error);
  }
}

/**
 * Reads the same selection again, without touching the streams: completeness grows and windows
 * become final without a window event of their own, the p95 cannot be merged in the page, and the
 * hottest VMs move.
 */
async function refresh(onError) {
  const sel = selection();
  const generation = state.generation;
  if (!sel.key) return;
  try {
    const answers = await read(sel);
    if (generation !== state.generation) return;
    take(sel, answers);
    await loadHottest({ key: sel.key, minutes: sel.minutes, to: answers.end }, onError);
  } catch (error) {
    if (generation === state.generation) onError(error);
  }
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
  startHottest({ onPick: (tenant, vm) => void drawVm(tenant, vm, onError), onChange: () => void refresh(onError) });
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
