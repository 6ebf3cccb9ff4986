/**
 * Small statistics and formatting helpers shared by the scenarios and the runner.
 *
 * Every figure is a `Stat`: a median and a p90 over n samples. For durations and sizes the
 * p90 is the 90th percentile (the slow or large tail). For rates (calls/s, lines/s) it is
 * the rate of the slow tail too, i.e. the 10th percentile of the rates: 90 % of the
 * windows were at least this fast.
 */

export interface Stat {
  readonly median: number
  readonly p90: number
  readonly min: number
  readonly max: number
  readonly n: number
}

/** The q-quantile (0..1) of sorted values, by linear interpolation. */
export const quantileSorted = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/** Median and p90 (the high tail) of durations, sizes, … */
export const stat = (values: ReadonlyArray<number>): Stat => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    median: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    n: sorted.length
  }
}

/** Median and "p90" (the slow tail: the 10th percentile) of rates. */
export const rateStat = (values: ReadonlyArray<number>): Stat => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    median: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.1),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    n: sorted.length
  }
}

export const MiB = 1024 * 1024

/** A number with a sensible number of digits for a table. */
export const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return "-"
  const a = Math.abs(x)
  if (a >= 10_000) return Math.round(x).toLocaleString("en-US")
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toFixed(3)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
