/**
 * Closed-loop load: `concurrency` callers, each making its next call as soon as the last one
 * answered. A warm-up window calibrates the rate; then `windows` windows of a fixed number of
 * calls each, sized to last about `windowSeconds`. Every call's latency is kept; each window
 * gives one rate (calls / wall time of the window).
 *
 * Two drivers with the same shape: one for Promise APIs (grpc-js, a bare Connect client),
 * one for Effect APIs (the typed ChainVm client), so that the typed client is driven the way
 * an Effect host drives it: from fibers, without a runPromise per call.
 */
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import { processCpuSeconds } from "./proc.ts"
import type { HostRuntime } from "./vm.ts"

export interface LoadResult {
  readonly latenciesMs: Array<number>
  readonly ratesPerSecond: Array<number>
  readonly callsPerWindow: number
  /** CPU time of this process per call over the measured windows (user + system), µs. */
  readonly hostCpuUsPerCall: number
  /** The same for the server process, if its pid was given (10 ms resolution per window total). */
  readonly serverCpuUsPerCall: number
}

export interface LoadOptions {
  readonly concurrency: number
  readonly windows: number
  readonly windowSeconds: number
  /** Bounds on the calls of one window (default: 4 × concurrency, at least 20; 100,000). */
  readonly minCalls?: number | undefined
  readonly maxCalls?: number | undefined
  /** Untimed, before each window: get inputs ready for `calls` calls (numbered 0..calls-1). */
  readonly prepare?: ((calls: number) => void | Promise<void>) | undefined
  /** Untimed, after each window (e.g. reject the blocks it verified). */
  readonly after?: (() => Promise<void>) | undefined
  /** The server's pid, to report its CPU time per call. */
  readonly serverPid?: number | undefined
}

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 400)

type Window = (calls: number, latencies: Array<number> | undefined) => Promise<number>

/** One cell's load: how to run a window of it, and how it is sized and measured. */
export interface Load {
  readonly window: Window
  readonly options: LoadOptions
}

// Warm up (JIT, connection, server caches) for at least WARMUP_MS, doubling the calls of
// each warm-up window; the last one calibrates the size of the measured windows.
const calibrate = async ({ options, window }: Load): Promise<number> => {
  const minCalls = options.minCalls ?? Math.max(20, 4 * options.concurrency)
  const maxCalls = options.maxCalls ?? 100_000
  let warmup = Math.min(maxCalls, Math.max(minCalls, 50))
  let warmupMs = 0
  for (let spent = 0; spent < WARMUP_MS;) {
    await options.prepare?.(warmup)
    warmupMs = await window(warmup, undefined)
    await options.after?.()
    spent += warmupMs
    if (spent < WARMUP_MS) warmup = Math.min(maxCalls, warmup * 2)
  }
  return Math.round(Math.min(maxCalls, Math.max(minCalls, (warmup / warmupMs) * 1000 * options.windowSeconds)))
}

class Measured {
  readonly latenciesMs: Array<number> = []
  readonly ratesPerSecond: Array<number> = []
  hostCpuUs = 0
  serverCpuS = 0
  readonly load: Load
  readonly calls: number
  constructor(load: Load, calls: number) {
    this.load = load
    this.calls = calls
  }
  async window(): Promise<void> {
    const { options, window } = this.load
    await options.prepare?.(this.calls)
    const cpu0 = process.cpuUsage()
    const server0 = options.serverPid === undefined ? Number.NaN : processCpuSeconds(options.serverPid)
    const ms = await window(this.calls, this.latenciesMs)
    const cpu = process.cpuUsage(cpu0)
    this.hostCpuUs += cpu.user + cpu.system
    this.serverCpuS += options.serverPid === undefined ? Number.NaN : processCpuSeconds(options.serverPid) - server0
    this.ratesPerSecond.push(this.calls / (ms / 1000))
    await options.after?.()
  }
  result(): LoadResult {
    const total = this.calls * this.ratesPerSecond.length
    return {
      latenciesMs: this.latenciesMs,
      ratesPerSecond: this.ratesPerSecond,
      callsPerWindow: this.calls,
      hostCpuUsPerCall: this.hostCpuUs / total,
      serverCpuUsPerCall: (this.serverCpuS * 1e6) / total
    }
  }
}

/** Calibrates `load`, then runs its measured windows. */
export const run = async (load: Load): Promise<LoadResult> => {
  const measured = new Measured(load, await calibrate(load))
  for (let w = 0; w < load.options.windows; w++) await measured.window()
  return measured.result()
}

/**
 * Loads whose figures are compared with each other (a target and its baseline), measured
 * window by window in turn (A B, B A, A B, ...), so that a change in the machine's speed
 * during the run falls on both alike rather than on whichever ran later. Each keeps its own
 * calibration, window count and hooks.
 */
export const runInterleaved = async (loads: ReadonlyArray<Load>): Promise<Array<LoadResult>> => {
  const measured: Array<Measured> = []
  for (const load of loads) measured.push(new Measured(load, await calibrate(load)))
  const rounds = Math.max(...loads.map((load) => load.options.windows))
  for (let w = 0; w < rounds; w++) {
    const order = w % 2 === 0 ? measured : [...measured].reverse()
    for (const m of order) if (m.ratesPerSecond.length < m.load.options.windows) await m.window()
  }
  return measured.map((m) => m.result())
}

/** `call(i)` gets the call's number in its window, so callers can use different inputs per call. */
export const promiseLoad = (call: (i: number) => Promise<unknown>, options: LoadOptions): Load => ({
  options,
  window: async (calls, latencies) => {
    let next = 0
    const worker = async () => {
      while (next < calls) {
        const i = next++
        const t = performance.now()
        await call(i)
        latencies?.push(performance.now() - t)
      }
    }
    const t0 = performance.now()
    await Promise.all(Array.from({ length: Math.min(options.concurrency, calls) }, worker))
    return performance.now() - t0
  }
})

export const runPromiseLoad = (call: (i: number) => Promise<unknown>, options: LoadOptions): Promise<LoadResult> =>
  run(promiseLoad(call, options))

export const effectLoad = (
  rt: HostRuntime,
  call: (i: number) => Effect.Effect<unknown, unknown>,
  options: LoadOptions
): Load => ({
  options,
  window: (calls, latencies) => {
    let next = 0
    const worker = Effect.whileLoop({
      while: () => next < calls,
      body: () =>
        Effect.suspend(() => {
          const i = next++
          const t = performance.now()
          return Effect.map(call(i), () => {
            latencies?.push(performance.now() - t)
          })
        }),
      step: () => {}
    })
    return rt.runPromise(Effect.suspend(() => {
      const t0 = performance.now()
      return Effect.forEach(Array.from({ length: Math.min(options.concurrency, calls) }), () => worker, {
        concurrency: "unbounded",
        discard: true
      }).pipe(Effect.map(() => performance.now() - t0))
    }))
  }
})

export const runEffectLoad = (
  rt: HostRuntime,
  call: (i: number) => Effect.Effect<unknown, unknown>,
  options: LoadOptions
): Promise<LoadResult> => run(effectLoad(rt, call, options))
