/**
 * Start-up of the payload-chain plugin under the engine (`ChainVm.launch`), one launch after
 * the other:
 *
 * - spawn → handshake: the runtime's own figure (`VmInstance.handshakeDuration`, from just
 *   before the spawn to the plugin's `Initialize` on the runtime server);
 * - spawn → first reply: from the launch call (the runtime server is up in ~1 ms, then the
 *   spawn) to the answer of the first `vm.VM/Version`, the connection dialed after the handshake;
 * - CPU to first reply: the CPU time the plugin had used by then (its main thread, and all
 *   its threads: V8 compiles and collects garbage on helper threads), from /proc schedstat;
 *   on a busy machine the wall-clock figures include waiting for a core, this does not;
 * - idle RSS: VmRSS of the plugin process 1 s after that reply (not initialized, no database).
 *
 *   node examples/payload-chain/bench/startup.ts [variant ...]   (BENCH_RUNS=20)
 *
 * Variants: `bin` (bin/payload-chain as a node starts it: the bundle if built, else the
 * sources), `source` and `bundle` (the pinned node on src/main.ts or dist/payload-chain.mjs,
 * no launcher, no compile cache), `bundle-cache` (the bundle with a compile cache in a temp
 * dir, warmed by the first run), `bundle-semi` (the bundle with --max-semi-space-size=16).
 */
import { ChainVm, VmRuntime } from "@vmre/runtime"
import { Duration, Effect, Layer, Logger } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const runs = Number(process.env.BENCH_RUNS ?? "20")
const cacheDir = mkdtempSync(join(tmpdir(), "payload-chain-bench-cache-"))

const variants: Record<string, { readonly path: string; readonly args?: Array<string>; readonly env?: Record<string, string> }> = {
  bin: { path: here("../bin/payload-chain") },
  source: { path: process.execPath, args: [here("../src/main.ts")] },
  bundle: { path: process.execPath, args: [here("../dist/payload-chain.mjs")] },
  "bundle-cache": {
    path: process.execPath,
    args: [here("../dist/payload-chain.mjs")],
    env: { NODE_COMPILE_CACHE: cacheDir }
  },
  "bundle-semi": { path: process.execPath, args: ["--max-semi-space-size=16", here("../dist/payload-chain.mjs")] }
}

const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match === null ? Number.NaN : Number(match[1]) / 1024
}

/** CPU time (ms) the plugin's main thread, and all its threads, have run (/proc schedstat, ns). */
const cpuMillis = (pid: number) => {
  const ran = (path: string) => Number(readFileSync(path, "utf8").split(" ")[0]) / 1e6
  const all = readdirSync(`/proc/${pid}/task`).reduce((sum, tid) => sum + ran(`/proc/${pid}/task/${tid}/schedstat`), 0)
  return { main: ran(`/proc/${pid}/task/${pid}/schedstat`), all }
}

const stats = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const median = sorted.length % 2 === 1 ?
    sorted[(sorted.length - 1) / 2]! :
    (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
  return { median, p10: at(0.1), p90: at(0.9), min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

const fmt = (s: ReturnType<typeof stats>, digits = 1) =>
  `median ${s.median.toFixed(digits)}  p10 ${s.p10.toFixed(digits)}  p90 ${s.p90.toFixed(digits)}  ` +
  `min ${s.min.toFixed(digits)}  max ${s.max.toFixed(digits)}`

const once = (variant: { readonly path: string; readonly args?: Array<string>; readonly env?: Record<string, string> }) =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const { client, vm } = yield* ChainVm.launch({ ...variant, name: "payload-chain" })
    yield* client.version()
    const firstReply = performance.now() - started
    const cpu = cpuMillis(vm.pid)
    yield* Effect.sleep("1 second")
    return {
      handshake: Duration.toMillis(vm.handshakeDuration),
      firstReply,
      cpuMain: cpu.main,
      cpuAll: cpu.all,
      rss: rssMiB(vm.pid)
    }
  }))

/** `name=file.mjs` (or `.ts`): the pinned node on that file, with a compile cache. */
const variantOf = (arg: string) => {
  const known = variants[arg]
  if (known !== undefined) return known
  const [, file] = arg.split("=")
  if (file === undefined) throw new Error(`unknown variant ${arg}`)
  // Each with its own compile cache (warmed by its first run).
  return { path: process.execPath, args: [file], env: { NODE_COMPILE_CACHE: join(cacheDir, String(Object.keys(variants).length + process.argv.indexOf(arg))) } }
}

const program = Effect.gen(function*() {
  const chosen = process.argv.slice(2)
  const names = chosen.length === 0 ? ["bin"] : chosen
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  console.log(`${runs} runs per variant, interleaved; load average ${load()}`)
  const results = new Map(names.map((name) => [name, [] as Array<{ handshake: number; firstReply: number; cpuMain: number; cpuAll: number; rss: number }>]))
  // Interleaved, so that a change of the machine's load hits every variant alike.
  for (let i = 0; i < runs; i++) {
    for (const name of names) results.get(name)!.push(yield* once(variantOf(name)))
  }
  for (const name of names) {
    const variant = variantOf(name)
    const rs = results.get(name)!
    console.log(`\n${name}: ${variant.path} ${(variant.args ?? []).join(" ")}`)
    console.log(`  spawn → handshake    ${fmt(stats(rs.map((r) => r.handshake)))} ms`)
    console.log(`  spawn → first reply  ${fmt(stats(rs.map((r) => r.firstReply)))} ms`)
    console.log(`  CPU to first reply   ${fmt(stats(rs.map((r) => r.cpuMain)))} ms (main thread)`)
    console.log(`                       ${fmt(stats(rs.map((r) => r.cpuAll)))} ms (all threads)`)
    console.log(`  idle RSS             ${fmt(stats(rs.map((r) => r.rss)))} MiB`)
  }
  console.log(`\nload average at the end ${load()}`)
})

program.pipe(
  Effect.provide(Layer.merge(VmRuntime.layer, Logger.layer([]))),
  Effect.ensuring(Effect.sync(() => rmSync(cacheDir, { recursive: true, force: true }))),
  Effect.runPromise
).catch((error) => {
  console.error(error instanceof Error ? error.message : String(error))
  process.exitCode = 1
})
