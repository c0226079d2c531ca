// The completeness strip under the fleet chart: one bar per bucket, under its point. The bar's
// height is the share of expected VMs that reported (a line marks 90%), a hatched bar is not
// final yet, a solid one final: readable without colour. A bucket whose completeness the service
// does not send gets no bar.

import { COMPLETE_SHARE, completenessText, isProvisional, knowsVms, reportedShare } from './completeness.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 28;

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function hatch() {
  const pattern = svgEl('pattern', { id: 'strip-hatch', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
  pattern.append(svgEl('rect', { width: 4, height: 4, fill: '#ffffff' }), svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 4, stroke: '#475569', 'stroke-width': 2 }));
  const defs = svgEl('defs', {});
  defs.append(pattern);
  return defs;
}

/**
 * Draws the strip `svg` under chart `u` for `buckets` of `interval` minutes: placed under the plot
 * area (its left edge and width), one bar per bucket that knows its completeness.
 */
export function drawCompletenessStrip(svg, u, buckets, interval) {
  const plot = u.over.getBoundingClientRect();
  const parent = svg.parentElement.getBoundingClientRect();
  const width = Math.max(0, Math.round(plot.width));
  svg.style.marginLeft = `${Math.max(0, Math.round(plot.left - parent.left))}px`;
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(HEIGHT));
  svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
  const shown = buckets.filter((b) => knowsVms(b) || typeof b.final === 'boolean');
  const step = shown.length > 0 ? Math.abs(u.valToPos(shown[0].timestamp + interval * 60, 'x') - u.valToPos(shown[0].timestamp, 'x')) : 0;
  const barWidth = Math.max(2, Math.min(24, step * 0.8));
  const inner = HEIGHT - 2;
  const marks = [hatch()];
  for (const b of shown) {
    const x = u.valToPos(b.timestamp, 'x') - barWidth / 2;
    if (x + barWidth < 0 || x > width) continue;
    const share = reportedShare(b) ?? 1;
    const h = Math.max(1, inner * share);
    const bar = svgEl('rect', {
      class: 'strip-bar', x, y: 1 + inner - h, width: barWidth, height: h,
      fill: b.final === false ? 'url(#strip-hatch)' : '#475569', stroke: '#475569', 'stroke-width': 1,
      'data-timestamp': b.timestamp, 'data-completeness': completenessText(b), 'data-provisional': String(isProvisional(b)),
    });
    if (knowsVms(b)) {
      bar.dataset.vms = String(b.vms);
      bar.dataset.expectedVms = String(b.expectedVms);
    }
    if (typeof b.final === 'boolean') bar.dataset.final = String(b.final);
    marks.push(bar);
  }
  // The 90% mark over the bars: a bar that ends below it is a provisional bucket.
  const y = 1 + inner * (1 - COMPLETE_SHARE);
  marks.push(svgEl('line', { class: 'strip-threshold', x1: 0, x2: width, y1: y, y2: y, stroke: '#0f172a', 'stroke-width': 1, 'stroke-dasharray': '2 2' }));
  svg.replaceChildren(...marks);
  return shown.length;
}
