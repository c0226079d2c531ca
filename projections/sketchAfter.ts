import type { DDSketch } from '@datadog/sketches-js';
import { newSketch } from './sketchCodec';

/**
 * The sketch of a window's values once `value` joins its `count` values, or undefined while the
 * window holds two values or fewer: those are its min and max, exact, and need no sketch (a VM's
 * window nearly always holds one). From the third value on, the window keeps a DDSketch, begun
 * with its min and max; `sketch` is changed in place. A window of three values or more without a
 * sketch (folded before sketches were kept) stays without one: its values are not known.
 *
 * @example
 * let s = sketchAfter(1, 4, 4, undefined, 7); // undefined: the values are 4 and 7
 * s = sketchAfter(2, 4, 7, s, 5);             // a sketch of 4, 7 and 5
 */
export function sketchAfter(count: number, min: number, max: number, sketch: DDSketch | undefined, value: number): DDSketch | undefined {
  if (count < 2) return undefined;
  if (sketch === undefined) {
    if (count !== 2) return undefined;
    sketch = newSketch();
    sketch.accept(min);
    sketch.accept(max);
  }
  sketch.accept(value);
  return sketch;
}
