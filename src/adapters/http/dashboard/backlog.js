// The backlog panel: each team's daily snapshots (GET /v1/backlog/teams, GET /v1/backlog),
// one line per team, hover for the count, change and missing days, drag or pick a range to zoom,
// and, as the first seed's chart did, Monday to Friday only when weekends are hidden.

import { addressParam, setAddressParams } from './address.js';
import { ApiError, getJson } from './api.js';
import { colorOf, lineChart } from './charts.js';
import { dateToSeconds, formatInteger, formatSigned, secondsToDate } from './format.js';

const $ = (id) => document.getElementById(id);
const state = { chart: null, answers: [], history: null, range: {}, xs: [], generation: 0, hideWeekends: false };
const DAY = 86400;

/** Saturday or Sunday: a snapshot date is a local date, so its weekday is the calendar's, whatever the zone. */
function isWeekend(date) {
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  return day === 0 || day === 6;
}

/**
 * The points a team's line shows: every snapshot, or only weekdays when weekends are hidden.
 * `gap` is how many shown dates are missing since the previous shown point (from `gapDays`,
 * without weekend days when they are hidden, and with the weekdays missing before a hidden
 * weekend snapshot), and `gapStart` the first of them, where the line breaks.
 */
function shownPoints(data, hideWeekends) {
  const points = [];
  let carried = [];
  for (const d of data) {
    const x = dateToSeconds(d.date);
    const missing = [...carried];
    for (let k = d.gapDays ?? 0; k >= 1; k--) {
      if (!hideWeekends || !isWeekend(secondsToDate(x - k * DAY))) missing.push(x - k * DAY);
    }
    if (hideWeekends && isWeekend(d.date)) {
      carried = missing;
      continue;
    }
    carried = [];
    points.push({ ...d, x, gap: missing.length, gapStart: missing[0] });
  }
  return points;
}

/** The team names of a /v1/backlog/teams answer: `{teams:[…]}` or a bare list, of names or `{team}` objects. */
export function teamNames(body) {
  const list = Array.isArray(body) ? body : Array.isArray(body?.teams) ? body.teams : [];
  return list.map((t) => (typeof t === 'string' ? t : t?.team ?? t?.name)).filter((t) => typeof t === 'string' && t !== '');
}

/** The dates the teams' history covers, from the `from`/`to` of each /v1/backlog/teams entry (null when it gives none). */
function historySpan(body) {
  const list = Array.isArray(body?.teams) ? body.teams : [];
  const froms = list.map((t) => t?.from).filter((d) => typeof d === 'string').sort();
  const tos = list.map((t) => t?.to).filter((d) => typeof d === 'string').sort();
  return froms.length > 0 && tos.length > 0 ? { from: froms[0], to: tos[tos.length - 1] } : null;
}

function rangeText({ from, to }) {
  return from && to ? `between ${from} and ${to}` : from ? `since ${from}` : to ? `up to ${to}` : 'yet';
}

function gapText(days) {
  const unit = state.hideWeekends ? 'weekday' : 'day';
  return days > 0 ? `${days} ${unit}${days === 1 ? '' : 's'} missing before` : '';
}

function tooltipHook(u) {
  // Kept by reference: it lives in the chart, so a redrawn chart takes it out of the document.
  const tip = (state.tip ??= $('backlog-tooltip'));
  if (tip.parentElement !== u.over) u.over.append(tip);
  const idx = u.cursor.idx;
  if (idx === null || idx === undefined || u.cursor.left < 0) {
    tip.hidden = true;
    return;
  }
  const date = secondsToDate(state.xs[idx]);
  const lines = state.answers.map((a, i) => {
    const point = a.byDate.get(date);
    if (!point) return null;
    const gap = gapText(point.gap);
    return `<div><span class="swatch" data-series="${i}"></span><b></b> ${formatInteger(point.count)} <span class="change">(${formatSigned(point.change)})</span>${gap ? ` <span class="gap">${gap}</span>` : ''}</div>`;
  });
  if (lines.every((l) => l === null)) {
    tip.hidden = true;
    return;
  }
  tip.innerHTML = `<div class="tip-date">${date}</div>${lines.filter(Boolean).join('')}`;
  // Team names go in as text, never as markup.
  const names = state.answers.filter((a) => a.byDate.has(date)).map((a) => a.team);
  tip.querySelectorAll('b').forEach((b, i) => (b.textContent = names[i]));
  // Colours set from script: the Content-Security-Policy allows no inline style attributes.
  tip.querySelectorAll('.swatch').forEach((s) => (s.style.background = colorOf(Number(s.dataset.series))));
  tip.hidden = false;
  const left = Math.min(u.cursor.left + 12, u.over.clientWidth - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 12)}px`;
}

function render() {
  for (const a of state.answers) {
    a.points = shownPoints(a.data, state.hideWeekends);
    a.byDate = new Map(a.points.map((p) => [p.date, p]));
  }
  // The first missing date after a snapshot gets a null, so the line breaks there; with weekends
  // hidden they have no place on the axis, so Friday → Monday is one step, not a gap.
  const gapStarts = state.answers.flatMap((a) => a.points.filter((p, i) => i > 0 && p.gap > 0).map((p) => p.gapStart));
  const xs = [...new Set([...state.answers.flatMap((a) => a.points.map((p) => p.x)), ...gapStarts])].sort((a, b) => a - b);
  state.xs = xs;
  state.chart?.destroy();
  state.chart = lineChart($('backlog-chart'), {
    yLabel: 'Active incidents',
    xValue: secondsToDate,
    dateOnly: true,
    series: state.answers.map((a, i) => ({ label: a.team, color: colorOf(i), value: (_u, v) => (v === null || v === undefined ? '–' : formatInteger(v)) })),
    hooks: { setCursor: [tooltipHook] },
  });
  state.chart.setData([xs, ...state.answers.map((a) => xs.map((x) => a.byDate.get(secondsToDate(x))?.count ?? null))]);
  const rows = [];
  for (const a of state.answers) {
    for (const d of [...a.points].reverse()) {
      const tr = document.createElement('tr');
      tr.dataset.team = a.team;
      tr.dataset.date = d.date;
      [a.team, d.date, formatInteger(d.count), formatSigned(d.change), String(d.gap), formatInteger(d.samples), d.sampledAt ? d.sampledAt.slice(0, 16).replace('T', ' ') : '–'].forEach((text, i) => {
        const cell = document.createElement(i < 2 ? 'th' : 'td');
        if (i < 2) cell.scope = 'row';
        cell.textContent = text;
        tr.append(cell);
      });
      rows.push(tr);
    }
  }
  $('backlog-table').tBodies[0].replaceChildren(...rows);
  $('backlog-gap-head').textContent = state.hideWeekends ? 'Missing weekdays before' : 'Missing days before';
  const zones = [...new Set(state.answers.map((a) => a.timezone).filter(Boolean))];
  $('backlog-timezone').textContent = zones.length ? `(dates in ${zones.join(', ')})` : '';
  // Teams without a snapshot in the chosen dates are not a service without backlog data: say which.
  const teamsKnown = state.answers.length > 0;
  $('backlog-empty').hidden = rows.length > 0 || teamsKnown;
  const outside = $('backlog-out-of-range');
  outside.hidden = rows.length > 0 || !teamsKnown;
  outside.textContent = `No ${state.hideWeekends ? 'weekday ' : ''}snapshots ${rangeText(state.range)}.${state.history ? ` The history covers ${state.history.from} to ${state.history.to}.` : ''}`;
  $('backlog-chart').hidden = rows.length === 0;
  window.opsfold.backlog = { teams: state.answers.map((a) => a.team), data: state.chart.chart.data, uplot: state.chart.chart, hideWeekends: state.hideWeekends };
  $('backlog').dataset.state = rows.length > 0 ? 'ready' : teamsKnown ? 'out-of-range' : 'empty';
}

async function load(onError) {
  const generation = ++state.generation; // a newer range wins over a slower, older answer
  let teams = [];
  let history = null;
  try {
    const body = await getJson('/v1/backlog/teams');
    teams = teamNames(body);
    history = historySpan(body);
  } catch (error) {
    // A service without the backlog routes (404) simply has no backlog data.
    if (!(error instanceof ApiError) || error.status !== 404) onError(error);
  }
  const range = { from: $('backlog-from').value, to: $('backlog-to').value };
  const answers = await Promise.all(teams.map((team) => getJson('/v1/backlog', { team, ...range }).catch((error) => {
    onError(error);
    return null;
  })));
  if (generation !== state.generation) return;
  state.range = range;
  state.history = history;
  state.answers = answers.filter(Boolean).map((a) => ({ team: a.team, timezone: a.timezone, data: a.data ?? [] }));
  render();
}

export async function startBacklog({ onError }) {
  window.opsfold = window.opsfold ?? {};
  state.hideWeekends = addressParam('weekends') === 'hide';
  $('backlog-hide-weekends').checked = state.hideWeekends;
  $('backlog-hide-weekends').addEventListener('change', () => {
    state.hideWeekends = $('backlog-hide-weekends').checked;
    setAddressParams({ weekends: state.hideWeekends ? 'hide' : '' });
    if (state.chart) render();
  });
  $('backlog-from').addEventListener('change', () => void load(onError));
  $('backlog-to').addEventListener('change', () => void load(onError));
  for (const button of document.querySelectorAll('#backlog-controls [data-days]')) {
    button.addEventListener('click', () => {
      const days = button.dataset.days;
      $('backlog-from').value = days ? secondsToDate(Date.now() / 1000 - Number(days) * 86400) : '';
      $('backlog-to').value = '';
      void load(onError);
    });
  }
  $('backlog-reset-zoom').addEventListener('click', () => {
    if (state.xs.length > 0) state.chart?.chart.setScale('x', { min: state.xs[0], max: state.xs[state.xs.length - 1] });
  });
  $('backlog-controls').addEventListener('submit', (e) => e.preventDefault());
  await load(onError);
}
