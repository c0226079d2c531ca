// The fleet chart's hover: the bucket's time, each line's value and how complete the bucket is
// ("provisional: 37 of 52 VMs, not final"), so that a drop in the newest minute says what it is.

import { colorOf } from './charts.js';
import { statusText } from './completeness.js';
import { formatTime } from './format.js';

const $ = (id) => document.getElementById(id);
let held;

function line(color, label, value, status) {
  const div = document.createElement('div');
  const swatch = document.createElement('span');
  swatch.className = 'swatch';
  // Set from script: the Content-Security-Policy allows no inline style attributes.
  swatch.style.background = color;
  const b = document.createElement('b');
  b.textContent = label;
  div.append(swatch, b, ` ${value}`);
  if (status) {
    const s = document.createElement('span');
    s.className = 'status';
    s.textContent = ` (${status})`;
    div.append(s);
  }
  return div;
}

/**
 * A uPlot setCursor hook; `view()` gives `{ xs, lines: [{ label, colorIndex, at: Map(x → bucket), format }] }`
 * of what the chart draws.
 */
export function fleetTooltip(view) {
  return (u) => {
    // Kept by reference: it lives in the chart, so a rebuilt chart takes it out of the document.
    const tip = (held ??= $('fleet-tooltip'));
    if (tip.parentElement !== u.over) u.over.append(tip);
    const idx = u.cursor.idx;
    const { xs, lines } = view();
    if (idx === null || idx === undefined || u.cursor.left < 0 || xs[idx] === undefined) {
      tip.hidden = true;
      return;
    }
    const x = xs[idx];
    const rows = lines.flatMap((l) => {
      const b = l.at.get(x);
      return b ? [line(colorOf(l.colorIndex), l.label, l.format(b.value), statusText(b))] : [];
    });
    if (rows.length === 0) {
      tip.hidden = true;
      return;
    }
    const date = document.createElement('div');
    date.className = 'tip-date';
    date.textContent = `${formatTime(x)} UTC`;
    tip.replaceChildren(date, ...rows);
    tip.hidden = false;
    const left = Math.min(u.cursor.left + 12, u.over.clientWidth - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 12)}px`;
  };
}
