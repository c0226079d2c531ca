// The fleet chart: uPlot's lines (the cross-tenant value, one VM, the p95 on demand) with the
// marks it does not draw itself: provisional points and segments, the completeness strip and
// the hover that says how complete a bucket is.

import { colorOf, lineChart } from './charts.js';
import { drawCompletenessStrip } from './completenessStrip.js';
import { fleetTooltip } from './fleetTooltip.js';
import { FLEET_LINES } from './fleetView.js';
import { formatNumber, formatTime, unitOf } from './format.js';
import { drawProvisionalMarks } from './provisionalMarks.js';

const $ = (id) => document.getElementById(id);
const BY_WORD = { avg: 'average', min: 'minimum', max: 'maximum' };

/** The marks uPlot does not draw: provisional points and segments, and the completeness strip. */
function drawMarks(u, sel, view) {
  if (!view) return;
  const lines = FLEET_LINES.slice(0, sel.p95 ? 3 : 2).map((name, i) => ({
    series: name, color: colorOf(i), xs: view.xs, values: view.values[name], provisional: view.provisional[name], texts: view.texts[name],
  }));
  drawProvisionalMarks(u, lines);
  drawCompletenessStrip($('fleet-strip'), u, [...view.at.cross.values()], sel.interval);
}

/**
 * A chart in #fleet-chart for selection `sel`; `currentView()` gives the fleetView it draws
 * (read at each redraw and hover). Sets the chart's title and accessible name.
 */
export function fleetChart(sel, currentView) {
  const unit = unitOf(sel.key);
  const byWord = BY_WORD[sel.by];
  const value = (v) => (v === null || v === undefined ? '–' : `${formatNumber(v)}${unit && unit !== 'state' ? ` ${unit}` : ''}`);
  // The legend shows a provisional point's value (uPlot holds a gap there) and says it is provisional.
  const legend = (name) => (_u, _v, _s, idx) => {
    const view = currentView();
    const v = idx === null || idx === undefined || !view ? null : view.values[name][idx];
    return `${value(v)}${v !== null && v !== undefined && view.provisional[name][idx] ? ' (provisional)' : ''}`;
  };
  const labels = { cross: `Cross-tenant ${byWord}`, vm: sel.vm ? `VM ${sel.vm}` : 'VM (none chosen)', p95: 'Cross-tenant p95' };
  const series = [
    { label: labels.cross, color: colorOf(0), value: legend('cross') },
    { label: labels.vm, color: colorOf(1), dash: [6, 4], value: legend('vm') },
    ...(sel.p95 ? [{ label: labels.p95, color: colorOf(2), width: 1.5, value: legend('p95') }] : []),
  ];
  const chart = lineChart($('fleet-chart'), {
    yLabel: unit && unit !== 'state' ? `Value (${unit})` : 'Value',
    xValue: formatTime,
    series,
    yExtent: () => currentView()?.extent ?? [],
    hooks: {
      draw: [(u) => drawMarks(u, sel, currentView())],
      setCursor: [fleetTooltip(() => ({
        xs: currentView()?.xs ?? [],
        lines: FLEET_LINES.map((name, i) => ({ label: labels[name], colorIndex: i, at: currentView()?.at[name] ?? new Map(), format: value })),
      }))],
    },
  });
  $('fleet-chart-title').textContent = sel.key ? `${sel.key}: ${byWord} per ${sel.interval === 1 ? 'minute' : `${sel.interval} minutes`}, last ${sel.minutes} minutes${unit ? ` (${unit})` : ''}` : '';
  $('fleet-chart').setAttribute('aria-label', `Line chart of ${sel.key}: cross-tenant ${byWord}${sel.p95 ? ' and p95' : ''} per ${sel.interval} minute(s) over ${sel.minutes} minutes${sel.vm ? `, with VM ${sel.vm} beside it` : ''}; provisional points are hollow; the values and their completeness are in the data table below`);
  return chart;
}
