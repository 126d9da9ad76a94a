// Whether a resource stays flat: a least-squares line through its readings at comparable moments, and
// how much that line grows over the span measured.

export interface Trend {
  readonly n: number;
  readonly first: number;
  readonly last: number;
  readonly min: number;
  readonly max: number;
  /** Per minute, from the fitted line. */
  readonly slopePerMin: number;
  /** The fitted line's rise from the first reading to the last. */
  readonly growth: number;
}

/** `points` are [seconds, value]. */
export function trend(points: ReadonlyArray<readonly [number, number]>): Trend {
  const n = points.length;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(xs);
  const my = mean(ys);
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const slope = n >= 2 && sxx > 0 ? sxy / sxx : 0;
  return {
    n,
    first: ys[0] ?? NaN,
    last: ys[n - 1] ?? NaN,
    min: Math.min(...ys),
    max: Math.max(...ys),
    slopePerMin: slope * 60,
    growth: slope * ((xs[n - 1] ?? 0) - (xs[0] ?? 0)),
  };
}
