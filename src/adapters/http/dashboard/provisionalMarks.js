// The marks of provisional points, drawn as SVG over a uPlot chart: a hollow point and a dashed
// segment into (and out of) it. uPlot draws the rest of the line, with a gap where these go; as
// SVG they are elements with attributes, which a screen reader's table repeats and a test can read.

const SVG = 'http://www.w3.org/2000/svg';
/** The dash of a provisional segment: shorter than the VM line's (6 4), so the two differ without colour. */
export const PROVISIONAL_DASH = '3 3';
const POINT_RADIUS = 4;
/** The overlay reaches this far past the plot area, so a point on its edge (the newest) is drawn whole. */
const PAD = 6;

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** The overlay of chart `u` (made on first use; uPlot keeps `u.over` for the chart's life). */
function overlayOf(u) {
  let svg = u.over.querySelector('svg.provisional-marks');
  if (!svg) {
    svg = svgEl('svg', { class: 'provisional-marks', 'aria-hidden': 'true' });
    u.over.prepend(svg);
  }
  const [width, height] = [u.over.clientWidth + 2 * PAD, u.over.clientHeight + 2 * PAD];
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `${-PAD} ${-PAD} ${width} ${height}`);
  return svg;
}

/**
 * Draws the provisional marks of `lines` on chart `u`: each line is
 * `{ series, color, xs, values, provisional, texts }` (one entry per x: the value, whether it is
 * provisional, its completeness text). A segment between two drawn points is dashed when either
 * end is provisional; a provisional point is a hollow circle carrying its timestamp and text.
 */
export function drawProvisionalMarks(u, lines) {
  const svg = overlayOf(u);
  const marks = [];
  for (const line of lines) {
    const { xs, values, provisional } = line;
    const at = (i) => [u.valToPos(xs[i], 'x'), u.valToPos(values[i], 'y')];
    const known = (i) => values[i] !== null && values[i] !== undefined;
    for (let i = 0; i < xs.length; i++) {
      if (!known(i)) continue;
      if (i > 0 && known(i - 1) && (provisional[i] || provisional[i - 1])) {
        const [x1, y1] = at(i - 1);
        const [x2, y2] = at(i);
        marks.push(svgEl('line', {
          class: 'provisional-segment', 'data-series': line.series, 'data-from': xs[i - 1], 'data-to': xs[i],
          x1, y1, x2, y2, stroke: line.color, 'stroke-width': 2, 'stroke-dasharray': PROVISIONAL_DASH,
        }));
      }
    }
    for (let i = 0; i < xs.length; i++) {
      if (!known(i) || !provisional[i]) continue;
      const [cx, cy] = at(i);
      marks.push(svgEl('circle', {
        class: 'provisional-point', 'data-series': line.series, 'data-timestamp': xs[i], 'data-value': values[i],
        'data-completeness': line.texts[i] ?? '', cx, cy, r: POINT_RADIUS, fill: '#ffffff', stroke: line.color, 'stroke-width': 2,
      }));
    }
  }
  // Points over segments, whatever the order of the lines.
  marks.sort((a, b) => (a.tagName === b.tagName ? 0 : a.tagName === 'line' ? -1 : 1));
  svg.replaceChildren(...marks);
}
