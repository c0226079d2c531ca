// uPlot (served by opsfold from node_modules) with the dashboard's defaults: UTC time axis,
// labelled axes, a height that suits a phone, and a width that follows its container.

const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

export function colorOf(i) {
  return PALETTE[i % PALETTE.length];
}

const iso = (seconds) => new Date(seconds * 1000).toISOString();

/** Tick labels in UTC, 24-hour, as detailed as the visible span needs. */
function timeTicks(u, splits) {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return splits.map((s) => (span > 3 * 86400 ? iso(s).slice(5, 10) : span > 86400 ? iso(s).slice(5, 16).replace('T', ' ') : iso(s).slice(11, 16)));
}

/**
 * Date tick labels: `YYYY-MM` over spans beyond 400 days; else `MM-DD`, with the year under the
 * first tick and wherever it changes, short enough for a tick every few weeks at phone width.
 */
function dateTicks(u, splits) {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  if (span > 400 * 86400) return splits.map((s) => (s === null ? null : iso(s).slice(0, 7)));
  let year = '';
  return splits.map((s) => {
    if (s === null) return null;
    const d = iso(s);
    const label = d.slice(0, 4) === year ? d.slice(5, 10) : `${d.slice(5, 10)}\n${d.slice(0, 4)}`;
    year = d.slice(0, 4);
    return label;
  });
}

/** The least room between date ticks, in CSS pixels: `MM-DD` needs less than `YYYY-MM`. */
const dateSpace = (_u, _axis, min, max) => (max - min > 400 * 86400 ? 70 : 50);

const DAY = 86400;
/** Whole days only on a date axis. */
const DAY_INCRS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 182 * DAY, 364 * DAY, 728 * DAY];

/** uPlot's own y range (10% padding, from zero when all are positive) over the data and `extra`. */
function extendedRange(min, max, extra) {
  const values = [min, max, ...extra].filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (values.length === 0) return [null, null];
  return uPlot.rangeNum(Math.min(...values), Math.max(...values), 0.1, true);
}

function heightFor(el) {
  return el.clientWidth < 560 ? 220 : 300;
}

/**
 * A line chart in `el`. `series`: [{ label, color, dash?, width?, value? }] after the x series;
 * `yLabel`: the y axis title with its unit; `xValue` formats the x value in the legend;
 * `yExtent(u)`: values the y axis must also reach ([] by default), for marks drawn beside uPlot's.
 */
export function lineChart(el, { series, yLabel, xValue, dateOnly = false, hooks = {}, yExtent }) {
  const opts = {
    width: Math.max(280, el.clientWidth),
    height: heightFor(el),
    padding: [12, 28, null, null],
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: true, y: false, setScale: true } },
    scales: { x: { time: true }, ...(yExtent ? { y: { range: (u, min, max) => extendedRange(min, max, yExtent(u)) } } : {}) },
    legend: { live: true },
    axes: [
      { label: dateOnly ? 'Date' : 'Time (UTC)', labelSize: 20, space: 70, values: dateOnly ? dateTicks : timeTicks, ...(dateOnly ? { incrs: DAY_INCRS, space: dateSpace } : {}), stroke: '#334155', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
      { label: yLabel, labelSize: 20, size: 64, stroke: '#334155', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
    ],
    series: [
      { label: dateOnly ? 'Date' : 'Time (UTC)', value: (_u, v) => (v === null || v === undefined ? '–' : xValue(v)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.width ?? 2,
        dash: s.dash,
        spanGaps: false,
        points: { show: true, size: 5, fill: s.color },
        value: s.value ?? ((_u, v) => (v === null || v === undefined ? '–' : String(v))),
      })),
    ],
    hooks,
  };
  const empty = [[], ...series.map(() => [])];
  const chart = new uPlot(opts, empty, el);
  const observer = new ResizeObserver(() => {
    const width = Math.max(280, el.clientWidth);
    if (width !== chart.width) chart.setSize({ width, height: heightFor(el) });
  });
  observer.observe(el);
  return {
    chart,
    /** Replaces the data: x values and one array per series (null for a missing point). */
    setData(data, resetScales = true) {
      chart.setData(data, resetScales);
    },
    destroy() {
      observer.disconnect();
      chart.destroy();
    },
  };
}
