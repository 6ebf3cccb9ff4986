/**
 * What a scenario reports, and how it hands it to the runner: one JSON document written to
 * the file named by BENCH_OUT (or printed on stdout when run by hand).
 */
import { writeFileSync } from "node:fs"
import type { Stat } from "./stats.ts"

export interface Figure {
  /** Stable id, used by the runner's targets and by anyone diffing results. */
  readonly id: string
  readonly label: string
  /** "ms", "calls/s", "lines/s", "MiB", … */
  readonly unit: string
  readonly stat: Stat
  /** A short note shown after the figure. */
  readonly note?: string
}

export interface ScenarioResult {
  readonly scenario: string
  readonly figures: ReadonlyArray<Figure>
  readonly notes: ReadonlyArray<string>
  /** Anything else worth keeping in latest.json (raw samples, entry used, …). */
  readonly extra: Record<string, unknown>
  readonly wallSeconds: number
}

/** Whether to run fewer rounds (BENCH_QUICK=1): for trying the harness, not for figures. */
export const quick = process.env.BENCH_QUICK === "1"

/** `quick ? small : full`. */
export const rounds = (full: number, small: number): number => (quick ? small : full)

export const report = (result: ScenarioResult): void => {
  const text = JSON.stringify(result, (_key, value) => (typeof value === "bigint" ? value.toString() : value), 2)
  const out = process.env.BENCH_OUT
  if (out === undefined || out === "") process.stdout.write(`${text}\n`)
  else writeFileSync(out, text)
}

/** Logs progress on stderr (the runner shows it with --verbose and keeps it in the log). */
export const progress = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`)
}
