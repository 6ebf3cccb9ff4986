/**
 * Log forwarding: a plugin writes 1 M lines (~85 bytes) to stdout; the host runs
 * `VmRuntime.launch` with a logger that only counts what reaches it. Measured:
 * - lines/s from `flood start` to `flood done` as the host's logger saw them;
 * - the host's peak RSS above its RSS before the launch (sampled every 10 ms);
 * - whether the plugin was stalled: the time its write(2) calls spent waiting for the pipe
 *   (the fixture's own report), i.e. backpressure from a host that did not keep up.
 * To tell a bound on memory from a slow leak, the same is run with a quarter of the lines:
 * bounded memory does not grow with the number of lines.
 *
 * Baselines: the same fixture read by a bare `child_process` reader that only counts
 * newlines (the pipe's floor for a Node host), and the in-process pipeline without a pipe
 * (PluginLog.records over chunks in memory: the old bench/log-lines.bench.ts).
 */
import { PluginLog, VmRuntime } from "@vmre/runtime"
import { Effect, Exit, Layer, Logger, ManagedRuntime, References, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { linesBuffer } from "../lib/loglines.ts"
import { type Figure, progress, quick, report, rounds } from "../lib/scenario.ts"
import { peakRssMiB, rssMiB } from "../lib/proc.ts"
import { rateStat, sleep, stat } from "../lib/stats.ts"
import { node } from "../lib/vm.ts"

const started = performance.now()
const fixture = fileURLToPath(new URL("../fixtures/log-flood-plugin.ts", import.meta.url))
const LINES = Number(process.env.BENCH_FLOOD_LINES ?? (quick ? 200_000 : 1_000_000))

interface WriterReport {
  readonly lines: number
  readonly bytes: number
  readonly wallMs: number
  readonly inWriteMs: number
  readonly maxWriteMs: number
  readonly slowWrites: number
  readonly writes: number
}

// --- the counting logger ------------------------------------------------------------------
let count = 0
let startAt = 0
let doneAt = 0
let onDone: () => void = () => {}
const counting = Logger.make<unknown, void>((options) => {
  const message = options.message
  const text = Array.isArray(message) ? message[0] : message
  if (typeof text === "string" && text.length <= 11 && text.startsWith("flood ")) {
    if (text === "flood start") {
      startAt = performance.now()
      count = 0
      return
    }
    if (text === "flood done") {
      doneAt = performance.now()
      onDone()
      return
    }
  }
  count++
})
// Every level reaches the logger (the mix has DEBUG lines, which a default host drops).
const rt = ManagedRuntime.make(
  Layer.mergeAll(VmRuntime.layer, Logger.layer([counting]), Layer.succeed(References.MinimumLogLevel, "All"))
)

const floodOnce = async (lines: number, rate = 0) => {
  const reportFile = path.join(tmpdir(), `vmre-bench-flood-${process.pid}.json`)
  rmSync(reportFile, { force: true })
  const done = new Promise<void>((resolve) => (onDone = resolve))
  const before = rssMiB("self")!
  let peak = before
  const sampler = setInterval(() => {
    const rss = rssMiB("self")
    if (rss !== undefined && rss > peak) peak = rss
  }, 10)
  const scope = await rt.runPromise(Scope.make())
  await rt.runPromise(Scope.provide(
    Effect.flatMap(VmRuntime, (runtime) =>
      runtime.launch({
        path: node,
        args: [fixture],
        name: "flood",
        env: { FLOOD_LINES: String(lines), FLOOD_REPORT: reportFile, FLOOD_RATE: String(rate) }
      })),
    scope
  ))
  await done
  clearInterval(sampler)
  const seen = count
  await rt.runPromise(Scope.close(scope, Exit.void))
  const writer = JSON.parse(readFileSync(reportFile, "utf8")) as WriterReport
  rmSync(reportFile, { force: true })
  // The runtime's own messages (e.g. "handshake with … done", logged while the flood has
  // already begun) reach the same logger: allow a few.
  if (seen < lines || seen > lines + 3) throw new Error(`the host logger saw ${seen} lines, expected ${lines}`)
  return { rate: lines / ((doneAt - startAt) / 1000), peakDeltaMiB: peak - before, writer }
}

/** The floor: the same fixture, its stdout read by plain node streams, counting newlines. */
const bareOnce = (lines: number) =>
  new Promise<number>((resolve, reject) => {
    const child = spawn(node, [fixture], { env: { FLOOD_STANDALONE: "1", FLOOD_LINES: String(lines) }, stdio: ["ignore", "pipe", "inherit"] })
    let newlines = 0
    let t0 = 0
    child.stdout.on("data", (chunk: Buffer) => {
      if (t0 === 0) t0 = performance.now()
      let i = -1
      while ((i = chunk.indexOf(10, i + 1)) !== -1) newlines++
    })
    child.on("error", reject)
    child.stdout.on("end", () => resolve((newlines - 2) / ((performance.now() - t0) / 1000)))
  })

// The pipeline without a pipe or a logger (what bench/log-lines.bench.ts measured): the same
// lines in 64 KiB chunks through PluginLog.records, and its synchronous core alone.
const CHUNK = 64 * 1024
// Built only after the host figures: building 85 MB of lines would raise this process's
// high-water mark and leave free heap behind that hides the pipeline's own growth.
let memoryChunks: Array<Uint8Array> = []
const buildMemoryChunks = () => {
  const data = linesBuffer(LINES)
  const chunks: Array<Uint8Array> = []
  for (let o = 0; o < data.length; o += CHUNK) chunks.push(data.subarray(o, Math.min(o + CHUNK, data.length)))
  memoryChunks = chunks
}
const inProcess = async (): Promise<number> => {
  const t0 = performance.now()
  let seen = 0
  await Effect.runPromise(Stream.fromIterable(memoryChunks, { chunkSize: 1 }).pipe(
    PluginLog.records("stdout"),
    Stream.runForEachArray((recs) => Effect.sync(() => (seen += recs.length)))
  ))
  if (seen !== LINES) throw new Error(`in-process pipeline: ${seen} lines, expected ${LINES}`)
  return seen / ((performance.now() - t0) / 1000)
}
const coreOnly = (): number => {
  const t0 = performance.now()
  const splitter = new PluginLog.LineSplitter()
  let seen = 0
  for (const chunk of memoryChunks) {
    for (const line of splitter.push(chunk)) {
      PluginLog.detectLevel(line, "stdout")
      seen++
    }
  }
  seen += splitter.end().length
  if (seen !== LINES) throw new Error(`core: ${seen} lines, expected ${LINES}`)
  return seen / ((performance.now() - t0) / 1000)
}

const ROUNDS = rounds(3, 1)
const runs: Array<Awaited<ReturnType<typeof floodOnce>>> = []
const quarter: Array<Awaited<ReturnType<typeof floodOnce>>> = []
const rssAtStart = rssMiB("self")!
// One short warm-up launch, so that JIT warm-up is not counted as memory or time.
await floodOnce(Math.min(LINES, 100_000))
for (let r = 0; r < ROUNDS; r++) {
  runs.push(await floodOnce(LINES))
  quarter.push(await floodOnce(Math.floor(LINES / 4)))
  progress(`log-flood round ${r + 1}/${ROUNDS}: ${Math.round(runs[r]!.rate)} lines/s, host peak +${runs[r]!.peakDeltaMiB.toFixed(1)} MiB (quarter: +${quarter[r]!.peakDeltaMiB.toFixed(1)}), writer in write(2) ${runs[r]!.writer.inWriteMs.toFixed(0)} of ${runs[r]!.writer.wallMs.toFixed(0)} ms`)
  await sleep(200)
}
// Paced at half the target rate: does a plugin that logs a lot, but not absurdly, ever wait?
const PACED_RATE = 250_000
const paced: Array<Awaited<ReturnType<typeof floodOnce>>> = []
for (let r = 0; r < ROUNDS; r++) paced.push(await floodOnce(Math.floor(LINES / 4), PACED_RATE))
const hwm = peakRssMiB("self")
await rt.dispose()
const bare: Array<number> = []
for (let r = 0; r < ROUNDS; r++) bare.push(await bareOnce(LINES))
const pipeline: Array<number> = []
const core: Array<number> = []
buildMemoryChunks()
for (let r = 0; r < ROUNDS + 2; r++) {
  pipeline.push(await inProcess())
  core.push(coreOnly())
}

const figures: Array<Figure> = [
  { id: "log.host.rate", label: `plugin stdout → VmRuntime pipeline → logger, ${LINES.toLocaleString("en-US")} lines`, unit: "lines/s", stat: rateStat(runs.map((r) => r.rate)) },
  { id: "log.host.peakDelta", label: "host peak RSS above its RSS before the launch", unit: "MiB", stat: stat(runs.map((r) => r.peakDeltaMiB)) },
  { id: "log.host.peakDeltaQuarter", label: "same with a quarter of the lines (bounded: no growth with lines)", unit: "MiB", stat: stat(quarter.map((r) => r.peakDeltaMiB)) },
  { id: "log.writer.inWrite", label: "plugin time inside write(2) (copy + waiting for the host)", unit: "ms", stat: stat(runs.map((r) => r.writer.inWriteMs)) },
  { id: "log.writer.wall", label: "plugin time to write all lines", unit: "ms", stat: stat(runs.map((r) => r.writer.wallMs)) },
  { id: "log.writer.maxWrite", label: "plugin's longest single write (64 KiB)", unit: "ms", stat: stat(runs.map((r) => r.writer.maxWriteMs)) },
  { id: "log.paced.maxWrite", label: `paced at ${PACED_RATE.toLocaleString("en-US")} lines/s: plugin's longest single write`, unit: "ms", stat: stat(paced.map((r) => r.writer.maxWriteMs)) },
  { id: "log.paced.slowWrites", label: "paced: writes that took > 1 ms (waited for the host)", unit: "writes", stat: stat(paced.map((r) => r.writer.slowWrites)) },
  { id: "log.bare.rate", label: "floor: bare node reader counting newlines", unit: "lines/s", stat: rateStat(bare) },
  { id: "log.inprocess.rate", label: "PluginLog.records in memory (no pipe, no logger)", unit: "lines/s", stat: rateStat(pipeline) },
  { id: "log.core.rate", label: "LineSplitter + detectLevel in memory (no Effect)", unit: "lines/s", stat: rateStat(core) }
]
const stalledMs = stat(runs.map((r) => r.writer.inWriteMs)).median
report({
  scenario: "log-flood",
  figures,
  notes: [
    `flooding as fast as it can, the plugin was stalled: its writes waited ${stalledMs.toFixed(0)} ms (median) of ` +
    `${stat(runs.map((r) => r.writer.wallMs)).median.toFixed(0)} ms writing, ${stat(runs.map((r) => r.writer.slowWrites)).median} writes took > 1 ms: ` +
    "a pipe holds 64 KiB, so a writer faster than the host is throttled to the host's pace (backpressure, which is what keeps host memory flat)",
    `paced at ${PACED_RATE.toLocaleString("en-US")} lines/s: at most ${stat(paced.map((r) => r.writer.slowWrites)).max} of ` +
    `${paced[0]?.writer.writes ?? "?"} writes waited over 1 ms (longest ${stat(paced.map((r) => r.writer.maxWriteMs)).max.toFixed(2)} ms)`,
    `host RSS before any launch ${rssAtStart.toFixed(1)} MiB; its peak (VmHWM) over all the floods, warm-up included: ${hwm?.toFixed(1)} MiB`,
    ...(quick ? ["QUICK run: too few samples for figures"] : [])
  ],
  extra: { lines: LINES, runs, quarter, paced, bare, pipeline, core, hwmMiB: hwm },
  wallSeconds: (performance.now() - started) / 1000
})
