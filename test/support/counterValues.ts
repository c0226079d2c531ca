import fc from 'fast-check';

/**
 * Values as counters send them, within the range where a sketch's quantiles are within 1%: zero,
 * or a magnitude from 1e-6 to 1e6 (12 decades; a sketch keeps 17.8 below a window's largest, see
 * SKETCH_BINS). What a sketch does with magnitudes further apart is tested on its own.
 */
export const counterValue = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }).map((x) => (Math.abs(x) < 1e-6 ? 0 : x));
