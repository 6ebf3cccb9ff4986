/**
 * Cold start: spawn → handshake → first `Version` reply.
 *
 *  (a) the payload-chain example VM under our runtime (ChainVm.launch, then version());
 *  (b) the Go plugin under our runtime;
 *  (c) the Go plugin under the grpc-go host (interop/go/bin/host): handshakeMs + healthMs +
 *      versionMs of its JSON line (it checks health, which dials, before its first Version);
 *  (d) the example VM under the grpc-go host (how much of (a) is the VM's own start-up);
 *  and the floors: `node -e 0`, spawn → exit; node loading node:http2 and listening on
 *  127.0.0.1, spawn → exit (what any node:http2 VM does before its own code); and the example
 *  VM started with no engine address, spawn → exit (its snapshot loaded, nothing served: it
 *  exits at its configuration check).
 *
 * The host process is warm (it has launched before): the first two launches of each kind
 * are not counted (the first one is reported on its own). Kinds are interleaved so that
 * drift in machine load hits all of them alike. For the first runs of (a) and (b) the
 * plugin's idle RSS is read 1.5 s after its first reply.
 */
import { Lifecycle } from "@vmre/runtime"
import { Duration, Effect, Stream } from "effect"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { performance } from "node:perf_hooks"
import { progress, quick, report, rounds } from "../lib/scenario.ts"
import { privateMiB, rssMiB } from "../lib/proc.ts"
import { sleep, stat } from "../lib/stats.ts"
import { Pack } from "@vmre/cli"
import { entryOf, goHost, goPlugin, hostRuntime, launch, node, payloadChainBin, root } from "../lib/vm.ts"

const started = performance.now()
const RUNS = rounds(20, 4)
const WARMUP = 2
const RSS_RUNS = rounds(4, 1)

const rt = hostRuntime({ quiet: true })

// When the runtime says a plugin was spawned and when it was ready, to split a launch into
// before-spawn (preflight, handshake server, fork/exec of the plugin, and of the orphan watchdog
// when the runtime starts one),
// handshake, and after it (closing the handshake server, making the client).
const seen = new Map<number, { spawned?: number; ready?: number }>()
rt.runFork(Effect.gen(function*() {
  const lifecycle = yield* Lifecycle
  yield* Stream.runForEach(lifecycle.events, (event) =>
    Effect.sync(() => {
      if (event._tag !== "Spawned" && event._tag !== "Ready") return
      const entry = seen.get(event.pid) ?? {}
      if (event._tag === "Spawned") entry.spawned = performance.now()
      else entry.ready = performance.now()
      seen.set(event.pid, entry)
    }))
}))
await sleep(50)

interface OursSample {
  readonly firstReplyMs: number
  readonly launchMs: number
  readonly handshakeMs: number
  /** launch() called → the runtime's Spawned event. */
  readonly preSpawnMs: number
  /** Spawned → Ready events (the plugin's start-up and its Initialize call). */
  readonly spawnToReadyMs: number
  /** Ready → launch() returned. */
  readonly afterReadyMs: number
  /** launch() returned → first Version reply (dial + first call). */
  readonly firstCallMs: number
  readonly stopMs: number
  readonly entry: string
  readonly idleRssMiB?: number | undefined
  readonly idlePrivateMiB?: number | undefined
}

const ours = async (path: string, measureRss: boolean): Promise<OursSample> => {
  const t0 = performance.now()
  const launched = await launch(rt, { path, name: path.split("/").pop() })
  const t1 = performance.now()
  await rt.runPromise(launched.client.version())
  const t2 = performance.now()
  const entry = entryOf(launched.vm.pid)
  const events = seen.get(launched.vm.pid) ?? {}
  seen.delete(launched.vm.pid)
  let idleRssMiB: number | undefined
  let idlePrivateMiB: number | undefined
  if (measureRss) {
    await sleep(1500)
    idleRssMiB = rssMiB(launched.vm.pid)
    idlePrivateMiB = privateMiB(launched.vm.pid)
  }
  const t3 = performance.now()
  await launched.close()
  const stopMs = performance.now() - t3
  return {
    firstReplyMs: t2 - t0,
    launchMs: t1 - t0,
    handshakeMs: Duration.toMillis(launched.vm.handshakeDuration),
    preSpawnMs: (events.spawned ?? Number.NaN) - t0,
    spawnToReadyMs: (events.ready ?? Number.NaN) - (events.spawned ?? Number.NaN),
    afterReadyMs: t1 - (events.ready ?? Number.NaN),
    firstCallMs: t2 - t1,
    stopMs,
    entry,
    idleRssMiB,
    idlePrivateMiB
  }
}

interface GoHostLine {
  readonly ok: boolean
  readonly handshakeMs: number
  readonly healthMs: number
  readonly versionMs: number
  readonly shutdownMs: number
  readonly stopMs?: number
  readonly totalMs: number
}

const goHostRun = (plugin: string): Promise<GoHostLine> =>
  new Promise((resolve, reject) => {
    execFile(goHost, ["-rounds", "1", plugin], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`go host failed: ${error.message}\n${stderr}`))
      const line = stdout.trim().split("\n").pop() ?? ""
      resolve(JSON.parse(line) as GoHostLine)
    })
  })

/** Spawn → exit of a command, with an empty environment unless one is given. */
const spawnToExit = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(command, args, { stdio: "ignore", env })
    child.on("error", reject)
    child.on("exit", () => resolve(performance.now() - t0))
  })
const bareNode = (): Promise<number> => spawnToExit(node, ["-e", "0"], process.env as Record<string, string>)
// A node:http2 server on 127.0.0.1 the cheapest way this Node allows (bound directly where
// net.BoundSocket exists, as vmre's servers are): the floor of any node:http2 VM's start.
const http2Server = `const n = require("node:net"), s = require("node:http2").createServer();
const on = n.BoundSocket ? [new n.BoundSocket({ host: "127.0.0.1", port: 0 })] : [0, "127.0.0.1"];`
const http2ListenScript = `${http2Server} s.listen(...on, () => process.exit(0))`
const http2IdleScript = `${http2Server} s.listen(...on); setTimeout(() => process.exit(0), 3000)`
const http2Listen = (): Promise<number> => spawnToExit(node, ["-e", http2ListenScript])
// The launcher with no engine address in its environment: node starts from the VM's
// snapshot and the VM exits at its configuration check, before it loads node:http2.
const snapshotLoad = (): Promise<number> => spawnToExit(payloadChainBin, [])
// The same for the packed executable (its snapshot mapped from its own file).
const packedSnapshotFloor: Array<number> = []

// The example VM packed as one plugin file (`vmre pack`: a Node single executable), as it is
// by default (start-up snapshot) and with V8's code cache instead (`--code-cache`).
const packDir = mkdtempSync(path.join(tmpdir(), "vmre-bench-packed-"))
const packExample = async (name: string, snapshot: boolean) => {
  const result = await Effect.runPromise(
    Pack.pack({ entry: path.join(root, "examples/payload-chain/src/main.ts"), out: path.join(packDir, name), snapshot })
  )
  progress(
    `packed the example VM: ${result.kind} (${result.startup}${result.snapshotFailure === undefined ? "" : `: ${result.snapshotFailure}`}), ` +
      `${(result.bytes / 1024 / 1024).toFixed(1)} MiB in ${(result.duration / 1000).toFixed(1)} s`
  )
  return result
}
const packed = await packExample("payloadchain", true)
const packedCodeCache = await packExample("payloadchain-code-cache", false)
const packedRuns: Array<OursSample> = []
const packedCodeCacheRuns: Array<OursSample> = []

const ts: Array<OursSample> = []
const go: Array<OursSample> = []
const goHostGo: Array<GoHostLine> = []
const goHostTs: Array<GoHostLine> = []
const bare: Array<number> = []
const http2Floor: Array<number> = []
const snapshotFloor: Array<number> = []
let tsFirst: OursSample | undefined
let goFirst: OursSample | undefined

for (let i = 0; i < WARMUP + RUNS; i++) {
  const counted = i >= WARMUP
  const rss = counted && i - WARMUP < RSS_RUNS
  const a = await ours(payloadChainBin, rss)
  const b = await ours(goPlugin, rss)
  const c = await goHostRun(goPlugin)
  if (i === 0) {
    tsFirst = a
    goFirst = b
  }
  if (counted) {
    ts.push(a)
    go.push(b)
    goHostGo.push(c)
    bare.push(await bareNode())
    http2Floor.push(await http2Listen())
    snapshotFloor.push(await snapshotLoad())
    if (i - WARMUP < rounds(6, 1)) goHostTs.push(await goHostRun(payloadChainBin))
    if (i - WARMUP < rounds(8, 1)) {
      packedRuns.push(await ours(packed.out, i - WARMUP < RSS_RUNS))
      packedSnapshotFloor.push(await spawnToExit(packed.out, []))
    }
    if (i - WARMUP < rounds(8, 1)) packedCodeCacheRuns.push(await ours(packedCodeCache.out, i - WARMUP < RSS_RUNS))
  }
  progress(`cold-start ${i + 1}/${WARMUP + RUNS}: ts ${a.firstReplyMs.toFixed(1)} ms, go ${b.firstReplyMs.toFixed(1)} ms, go host ${(c.handshakeMs + c.healthMs + c.versionMs).toFixed(1)} ms`)
}
// Start-up phases of the TS VM, from a preloaded probe (NODE_OPTIONS=--import) that marks
// when node finished bootstrapping, when the VM's server listened and when it dialed the
// node for Initialize; aligned with the host's clock through performance.timeOrigin. A
// preload makes the launcher run the bundle rather than the start-up snapshot (a process
// started from a snapshot runs no preloads): these are the bundle's phases.
const probeDir = mkdtempSync(path.join(tmpdir(), "vmre-bench-probe-"))
const probe = fileURLToPath(new URL("../fixtures/startup-probe.mjs", import.meta.url))
interface Phases {
  readonly toNodeStart: number
  readonly bootstrap: number
  readonly toListening: number
  readonly toDial: number
  readonly dialToReady: number
  readonly readyToReply: number
}
const phases: Array<Phases> = []
const memory: Array<Record<string, number>> = []
for (let i = 0; i < rounds(8, 2); i++) {
  const t0 = performance.now()
  const nodeOptions = [process.env.BENCH_PLUGIN_NODE_OPTIONS, `--import=${probe}`].filter((o) => o !== undefined).join(" ")
  const launched = await launch(rt, { path: payloadChainBin, env: { NODE_OPTIONS: nodeOptions, BENCH_PROBE_DIR: probeDir } })
  const tLaunched = performance.now()
  await rt.runPromise(launched.client.version())
  const tReply = performance.now()
  const events = seen.get(launched.vm.pid) ?? {}
  seen.delete(launched.vm.pid)
  // Two of the probe runs stay up for the memory picture.
  if (i === 1 || i === 2) {
    await sleep(1700)
    try {
      memory.push({
        rss: rssMiB(launched.vm.pid) ?? Number.NaN,
        ...JSON.parse(readFileSync(path.join(probeDir, `${launched.vm.pid}.mem.json`), "utf8"))
      })
    } catch (error) {
      progress(`probe: no memory for pid ${launched.vm.pid}: ${String(error)}`)
    }
  }
  await launched.close()
  if (i === 0) continue // warm-up
  try {
    const marks = JSON.parse(readFileSync(path.join(probeDir, `${launched.vm.pid}.json`), "utf8")) as {
      timeOrigin: number
      bootstrapComplete: number
      listening: number
      dialing: number
    }
    // Host times → the plugin's clock (ms since its process started).
    const shift = performance.timeOrigin - marks.timeOrigin
    phases.push({
      toNodeStart: -(t0 + shift),
      bootstrap: marks.bootstrapComplete,
      toListening: marks.listening - marks.bootstrapComplete,
      toDial: marks.dialing - marks.listening,
      dialToReady: (events.ready ?? Number.NaN) + shift - marks.dialing,
      readyToReply: tReply - (events.ready ?? Number.NaN)
    })
    void tLaunched
  } catch (error) {
    progress(`probe: no marks for pid ${launched.vm.pid}: ${String(error)}`)
  }
}
rmSync(probeDir, { recursive: true, force: true })
rmSync(packDir, { recursive: true, force: true })

// The floors of a Node plugin's idle memory: node doing nothing, and node with a node:http2
// server listening (no VM code).
const bareIdleRss: Array<number> = []
const bareIdlePrivate: Array<number> = []
const http2IdleRss: Array<number> = []
const http2IdlePrivate: Array<number> = []
for (let i = 0; i < rounds(3, 1); i++) {
  // The http2 floor with a plugin's empty environment (no NODE_EXTRA_CA_CERTS for node:tls to load).
  for (const [script, env, rss, own] of [
    ["setTimeout(() => {}, 3000)", process.env, bareIdleRss, bareIdlePrivate],
    [http2IdleScript, {}, http2IdleRss, http2IdlePrivate]
  ] as const) {
    const child = spawn(node, ["-e", script], { stdio: "ignore", env })
    await sleep(1500)
    rss.push(rssMiB(child.pid!) ?? Number.NaN)
    own.push(privateMiB(child.pid!) ?? Number.NaN)
    child.kill()
  }
}
await rt.dispose()

const goFirstReply = (l: GoHostLine) => l.handshakeMs + l.healthMs + l.versionMs
const rssOf = (samples: ReadonlyArray<OursSample>) =>
  samples.map((s) => s.idleRssMiB).filter((x): x is number => x !== undefined)
const privateOf = (samples: ReadonlyArray<OursSample>) =>
  samples.map((s) => s.idlePrivateMiB).filter((x): x is number => x !== undefined)

const breakdown = (kind: string, samples: ReadonlyArray<OursSample>) => [
  { id: `cold.${kind}.preSpawn`, label: "    launch() → Spawned (preflight, runtime server, fork/exec)", unit: "ms", stat: stat(samples.map((s) => s.preSpawnMs)) },
  { id: `cold.${kind}.spawnToReady`, label: "    Spawned → Ready (plugin start-up and Initialize)", unit: "ms", stat: stat(samples.map((s) => s.spawnToReadyMs)) },
  { id: `cold.${kind}.afterReady`, label: "    Ready → launch() returned (close runtime server, make client)", unit: "ms", stat: stat(samples.map((s) => s.afterReadyMs)) },
  { id: `cold.${kind}.firstCall`, label: "    launch() returned → first Version reply (dial + call)", unit: "ms", stat: stat(samples.map((s) => s.firstCallMs)) }
]

function memoryFigures() {
  const mib = (key: string) => stat(memory.map((m) => (m[key] ?? Number.NaN) / (1024 * 1024)))
  return [
    { id: "cold.ts.mem.heapUsed", label: "    of which JS heap used (probe runs, from the bundle, process.memoryUsage)", unit: "MiB", stat: mib("heapUsed") },
    { id: "cold.ts.mem.heapTotal", label: "    JS heap reserved (heapTotal)", unit: "MiB", stat: mib("heapTotal") },
    { id: "cold.ts.mem.external", label: "    external (buffers, native)", unit: "MiB", stat: mib("external") },
    { id: "cold.ts.mem.code", label: "    compiled code and metadata (v8 code statistics)", unit: "MiB", stat: stat(memory.map((m) => ((m.code_and_metadata_size ?? 0) + (m.bytecode_and_metadata_size ?? 0)) / (1024 * 1024))) }
  ]
}

// How much of the start target (2.5 × `node -e 0`) the floors already take.
function floorsNote() {
  const budget = 2.5 * stat(bare).median
  const share = (xs: ReadonlyArray<number>) => `${stat(xs).median.toFixed(1)} ms (${((100 * stat(xs).median) / budget).toFixed(0)} %)`
  return `of the start budget 2.5 × node -e 0 = ${budget.toFixed(1)} ms: a node:http2 server listening takes ${share(http2Floor)}, ` +
    `the example VM's snapshot loaded and nothing served ${share(snapshotFloor)} from the launcher, ${share(packedSnapshotFloor)} packed`
}

function hostOverheadNote() {
  const b = stat(go.map((s) => s.firstReplyMs)).median
  const c = stat(goHostGo.map(goFirstReply)).median
  const a = stat(ts.map((s) => s.firstReplyMs)).median
  const d = stat(goHostTs.map(goFirstReply)).median
  const pre = stat(go.map((s) => s.preSpawnMs)).median
  const first = stat(go.map((s) => s.firstCallMs)).median
  return `host overhead ≈ (b) − (c) = ${(b - c).toFixed(1)} ms (same Go plugin binary, our host vs grpc-go's; ` +
    `launch() → Spawned alone is ${pre.toFixed(1)} ms and the first call ${first.toFixed(1)} ms); ` +
    `(a) − (d) = ${(a - d).toFixed(1)} ms for the TS VM (noisier: its own start-up dominates both)`
}

// Which bundle was measured (another engineer may rebuild it between runs).
function bundleInfo() {
  try {
    const file = path.join(root, "examples/payload-chain/dist/payload-chain.mjs")
    const info = statSync(file)
    return { file: path.relative(root, file), bytes: info.size, mtime: info.mtime.toISOString() }
  } catch {
    return undefined
  }
}

report({
  scenario: "cold-start",
  figures: [
    { id: "cold.ts.firstReply", label: "(a) TS example VM, our host: spawn → first Version reply", unit: "ms", stat: stat(ts.map((s) => s.firstReplyMs)) },
    { id: "cold.ts.handshake", label: "    of which spawn → Initialize (runtime's handshakeDuration)", unit: "ms", stat: stat(ts.map((s) => s.handshakeMs)) },
    ...breakdown("ts", ts),
    { id: "cold.go.firstReply", label: "(b) Go plugin, our host: spawn → first Version reply", unit: "ms", stat: stat(go.map((s) => s.firstReplyMs)) },
    { id: "cold.go.handshake", label: "    of which spawn → Initialize (runtime's handshakeDuration)", unit: "ms", stat: stat(go.map((s) => s.handshakeMs)) },
    ...breakdown("go", go),
    { id: "cold.goHost.go.firstReply", label: "(c) Go plugin, grpc-go host: spawn → first Version reply", unit: "ms", stat: stat(goHostGo.map(goFirstReply)), note: "handshakeMs+healthMs+versionMs" },
    { id: "cold.goHost.go.handshake", label: "    of which spawn → Initialize", unit: "ms", stat: stat(goHostGo.map((l) => l.handshakeMs)) },
    { id: "cold.goHost.ts.firstReply", label: "(d) TS example VM, grpc-go host: spawn → first Version reply", unit: "ms", stat: stat(goHostTs.map(goFirstReply)) },
    { id: "cold.goHost.ts.handshake", label: "    of which spawn → Initialize", unit: "ms", stat: stat(goHostTs.map((l) => l.handshakeMs)) },
    { id: "cold.ts.phase.toNodeStart", label: "TS VM start-up phases (probe runs, from the bundle): launch() → node process starts (preflight, fork/exec setpriv → sh → node)", unit: "ms", stat: stat(phases.map((p) => p.toNodeStart)) },
    { id: "cold.ts.phase.bootstrap", label: "    node bootstrap", unit: "ms", stat: stat(phases.map((p) => p.bootstrap)) },
    { id: "cold.ts.phase.toListening", label: "    load the bundle, make the VM, its gRPC server listening", unit: "ms", stat: stat(phases.map((p) => p.toListening)) },
    { id: "cold.ts.phase.toDial", label: "    listening → dialing the node for Initialize", unit: "ms", stat: stat(phases.map((p) => p.toDial)) },
    { id: "cold.ts.phase.dialToReady", label: "    dial → the runtime's Ready (Initialize round trip)", unit: "ms", stat: stat(phases.map((p) => p.dialToReady)) },
    { id: "cold.ts.phase.readyToReply", label: "    Ready → first Version reply", unit: "ms", stat: stat(phases.map((p) => p.readyToReply)) },
    { id: "cold.node.bare", label: "floor: `node -e 0` spawn → exit", unit: "ms", stat: stat(bare) },
    { id: "cold.node.http2Listen", label: "floor: node loads node:http2, listens on 127.0.0.1, exits (spawn → exit)", unit: "ms", stat: stat(http2Floor) },
    { id: "cold.ts.snapshotLoad", label: "floor: TS example VM without an engine address (snapshot loaded, exits at its config check; spawn → exit)", unit: "ms", stat: stat(snapshotFloor) },
    { id: "cold.ts.idleRss", label: "TS example VM idle RSS (1.5 s after first reply)", unit: "MiB", stat: stat(rssOf(ts)) },
    ...memoryFigures(),
    { id: "cold.node.idleRss", label: "floor: idle `node` (setTimeout) RSS", unit: "MiB", stat: stat(bareIdleRss) },
    { id: "cold.node.http2IdleRss", label: "floor: idle node with a node:http2 server listening, RSS", unit: "MiB", stat: stat(http2IdleRss) },
    { id: "cold.ts.idlePrivate", label: "TS example VM idle private memory (USS: smaps_rollup Private_*; no shared node binary pages)", unit: "MiB", stat: stat(privateOf(ts)) },
    { id: "cold.node.idlePrivate", label: "    idle `node`, the same", unit: "MiB", stat: stat(bareIdlePrivate) },
    { id: "cold.node.http2IdlePrivate", label: "    idle node with a node:http2 server listening, the same", unit: "MiB", stat: stat(http2IdlePrivate) },
    { id: "cold.go.idleRss", label: "Go plugin idle RSS", unit: "MiB", stat: stat(rssOf(go)) },
    { id: "cold.ts.stop", label: "TS example VM stop sequence (scope close)", unit: "ms", stat: stat(ts.map((s) => s.stopMs)) },
    { id: "cold.go.stop", label: "Go plugin stop sequence (scope close)", unit: "ms", stat: stat(go.map((s) => s.stopMs)) },
    { id: "cold.packed.firstReply", label: `(e) TS example VM packed as one file (vmre pack, Node SEA, ${packed.startup}), our host: spawn → first Version reply`, unit: "ms", stat: stat(packedRuns.map((s) => s.firstReplyMs)) },
    { id: "cold.packed.handshake", label: "    of which spawn → Initialize", unit: "ms", stat: stat(packedRuns.map((s) => s.handshakeMs)) },
    { id: "cold.packed.snapshotLoad", label: "    floor: the packed file without an engine address (snapshot loaded, exits at its config check; spawn → exit)", unit: "ms", stat: stat(packedSnapshotFloor) },
    { id: "cold.packed.idleRss", label: "packed TS example VM idle RSS (1.5 s after first reply)", unit: "MiB", stat: stat(rssOf(packedRuns)) },
    { id: "cold.packedCodeCache.firstReply", label: `(f) the same packed with --code-cache (${packedCodeCache.startup}): spawn → first Version reply`, unit: "ms", stat: stat(packedCodeCacheRuns.map((s) => s.firstReplyMs)) },
    { id: "cold.packedCodeCache.handshake", label: "    of which spawn → Initialize", unit: "ms", stat: stat(packedCodeCacheRuns.map((s) => s.handshakeMs)) },
    { id: "cold.packedCodeCache.idleRss", label: "    idle RSS (1.5 s after first reply)", unit: "MiB", stat: stat(rssOf(packedCodeCacheRuns)) }
  ],
  notes: [
    `plugin entry (TS example VM): ${ts[0]?.entry ?? "?"}`,
    `first launch in a fresh host process: TS ${tsFirst?.firstReplyMs.toFixed(1)} ms, Go ${goFirst?.firstReplyMs.toFixed(1)} ms (not counted)`,
    hostOverheadNote(),
    floorsNote(),
    ...(quick ? ["QUICK run: too few samples for figures"] : [])
  ],
  extra: { entry: ts[0]?.entry, bundle: bundleInfo(), root, ts, go, goHostGo, goHostTs, bare, http2Floor, snapshotFloor, packedSnapshotFloor, bareIdleRss, bareIdlePrivate, http2IdleRss, http2IdlePrivate, tsFirst, goFirst, phases, memory },
  wallSeconds: (performance.now() - started) / 1000
})
