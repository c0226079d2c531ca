// The declared-projections panel: pick a projection and one of its aggregates; its newest
// windows are drawn one line per group (the ten largest by default, any other on demand), with
// the values in an accessible table. Re-read every few seconds, so it follows the fold.

import { ApiError, getJson } from './api.js';
import { colorOf, lineChart } from './charts.js';
import { formatNumber, formatTime } from './format.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_LINES = 10;
const REFRESH_MS = 5000;
const MAX_TABLE_ROWS = 2000;

const state = {
  projections: [],
  answer: null,
  /** Labels of the groups drawn; undefined: the largest ten. */
  drawn: undefined,
  chart: null,
  chartKey: '',
  reading: 0,
};

/** A group's label: its values in groupBy order, `(none)` for a metric without the field. */
export function groupLabel(groupBy, group) {
  if (groupBy.length === 0) return 'all';
  return groupBy.map((field) => (group[field] === null || group[field] === undefined ? '(none)' : String(group[field]))).join(' · ');
}

/** Groups by the mean of `aggregate` over the windows they have, largest first (ties by label). */
export function rankGroups(rows, groupBy, aggregate) {
  const sums = new Map();
  for (const row of rows) {
    const v = row[aggregate];
    if (typeof v !== 'number') continue;
    const label = groupLabel(groupBy, row.group);
    const s = sums.get(label) ?? { sum: 0, n: 0 };
    s.sum += v;
    s.n += 1;
    sums.set(label, s);
  }
  const labels = new Set(rows.map((row) => groupLabel(groupBy, row.group)));
  const mean = (label) => (sums.has(label) ? sums.get(label).sum / sums.get(label).n : -Infinity);
  return [...labels].sort((a, b) => mean(b) - mean(a) || a.localeCompare(b));
}

function chosen() {
  const name = $('projection-select').value;
  return { projection: state.projections.find((p) => p.name === name), aggregate: $('projection-aggregate').value };
}

function fillAggregates(projection) {
  const aggregates = projection?.definition.aggregates ?? [];
  const previous = $('projection-aggregate').value;
  const pick = aggregates.includes(previous) ? previous : aggregates.includes('avg') ? 'avg' : aggregates[0];
  $('projection-aggregate').replaceChildren(...aggregates.map((a) => new Option(a, a, false, a === pick)));
}

function render() {
  const { projection, aggregate } = chosen();
  const answer = state.answer;
  if (!projection || !answer) return;
  const groupBy = answer.groupBy;
  const ranked = rankGroups(answer.data, groupBy, aggregate);
  const drawn = state.drawn ?? ranked.slice(0, DEFAULT_LINES);
  const shown = ranked.filter((label) => drawn.includes(label));
  const times = [...new Set(answer.data.map((row) => row.windowStart))].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const columns = shown.map(() => times.map(() => null));
  const index = new Map(shown.map((label, i) => [label, i]));
  for (const row of answer.data) {
    const i = index.get(groupLabel(groupBy, row.group));
    if (i !== undefined && typeof row[aggregate] === 'number') columns[i][at.get(row.windowStart)] = row[aggregate];
  }
  const key = `${projection.name}|${aggregate}|${shown.join('\u0000')}`;
  if (key !== state.chartKey) {
    state.chart?.destroy();
    state.chart = lineChart($('projections-chart'), {
      yLabel: aggregate,
      xValue: formatTime,
      series: shown.map((label, i) => ({ label, color: colorOf(i), value: (_u, v) => (v === null || v === undefined ? '–' : formatNumber(v)) })),
    });
    state.chartKey = key;
  }
  state.chart.setData([times, ...columns]);
  // For tests and the curious: what is drawn, as drawn.
  window.opsfold.projections = { name: projection.name, aggregate, drawn: shown, groups: ranked, data: [times, ...columns], uplot: state.chart.chart };
  $('projections').dataset.state = 'ready';
  $('projections-chart-title').textContent = `${projection.name}: ${aggregate} per ${answer.window} window, by ${groupBy.length ? groupBy.join(', ') : 'nothing (one group)'}` +
    ` (${shown.length} of ${ranked.length} groups drawn)`;
  renderGroups(ranked, drawn);
  renderTable(answer, aggregate);
}

function renderGroups(ranked, drawn) {
  $('projection-groups').hidden = ranked.length <= 1;
  $('projection-groups-count').textContent = `(${drawn.filter((l) => ranked.includes(l)).length} of ${ranked.length})`;
  let drawnIndex = 0;
  $('projection-groups-list').replaceChildren(...ranked.map((label) => {
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', checked: drawn.includes(label), value: label });
    const swatch = Object.assign(document.createElement('span'), { className: 'swatch' });
    swatch.style.background = box.checked ? colorOf(drawnIndex++) : 'transparent';
    box.addEventListener('change', () => {
      const current = new Set(state.drawn ?? ranked.slice(0, DEFAULT_LINES));
      if (box.checked) current.add(label);
      else current.delete(label);
      state.drawn = [...current];
      render();
    });
    const wrap = document.createElement('label');
    wrap.append(box, swatch, document.createTextNode(label));
    return wrap;
  }));
}

function renderTable(answer, aggregate) {
  $('projection-value-head').textContent = aggregate;
  $('projection-caption').textContent = `${answer.name}: ${aggregate} per window and group`;
  const rows = answer.data.slice(-MAX_TABLE_ROWS).map((row) => {
    const tr = document.createElement('tr');
    for (const text of [formatTime(row.windowStart), groupLabel(answer.groupBy, row.group), formatNumber(row[aggregate]), String(row.revision)]) {
      tr.append(Object.assign(document.createElement('td'), { textContent: text }));
    }
    return tr;
  });
  $('projection-table').tBodies[0].replaceChildren(...rows);
}

async function read(onError) {
  const { projection } = chosen();
  if (!projection) return;
  const reading = ++state.reading;
  try {
    const answer = await getJson(`/v1/projections/${encodeURIComponent(projection.name)}`);
    if (reading !== state.reading) return;
    state.answer = answer;
    render();
  } catch (error) {
    onError(error);
  }
}

async function list(onError) {
  try {
    const { projections } = await getJson('/v1/projections');
    state.projections = projections;
  } catch (error) {
    // A service without declared projections (an older one) answers 404: the panel says there are none.
    if (!(error instanceof ApiError && error.status === 404)) onError(error);
    state.projections = [];
  }
  const previous = $('projection-select').value;
  $('projection-select').replaceChildren(...state.projections.map((p) => new Option(p.status === 'live' ? p.name : `${p.name} (${p.status})`, p.name, false, p.name === previous)));
  const none = state.projections.length === 0;
  $('projections-empty').hidden = !none;
  $('projections-controls').hidden = none;
  $('projections-chart').hidden = none;
  if (none) {
    $('projection-groups').hidden = true;
    $('projections').dataset.state = 'empty';
  }
}

export async function startProjections({ onError }) {
  await list(onError);
  fillAggregates(chosen().projection);
  $('projection-select').addEventListener('change', () => {
    state.drawn = undefined;
    state.answer = null;
    fillAggregates(chosen().projection);
    void read(onError);
  });
  $('projection-aggregate').addEventListener('change', () => {
    state.drawn = undefined;
    render();
  });
  $('projection-groups-all').addEventListener('click', () => {
    state.drawn = rankGroups(state.answer?.data ?? [], state.answer?.groupBy ?? [], $('projection-aggregate').value);
    render();
  });
  $('projection-groups-top').addEventListener('click', () => {
    state.drawn = undefined;
    render();
  });
  await read(onError);
  setInterval(() => {
    if (document.visibilityState !== 'visible') return;
    void list(onError).then(() => {
      if (!chosen().projection) return;
      if ($('projection-aggregate').options.length === 0) fillAggregates(chosen().projection);
      return read(onError);
    });
  }, REFRESH_MS);
}
