/**
 * Unary latency and throughput.
 *
 * Servers: the payload-chain example VM (a subprocess launched with ChainVm.launch and
 * initialized with a genesis that admits 1 MiB payloads, its database an rpcdb server in
 * this process) and the Go plugin (a subprocess too; a fast server, so that calls to it
 * mostly cost what the client costs).
 *
 * Clients, all in this process over their own HTTP/2 connection:
 * - `typed`: our ChainVm client (Effect), driven from fibers;
 * - `connect`: a bare Connect client of vm.VM (what the typed client wraps);
 * - `grpc-js`: @grpc/grpc-js, requests encoded with @bufbuild/protobuf;
 * - the grpc-go host (`-rounds N`, one caller) as the anchor.
 *
 * Calls: Version (no work on the server), ParseBlock and BlockVerify of valid payload-chain
 * blocks of 1 KiB and 1 MiB. ParseBlock repeats one block (it is stateless). BlockVerify
 * sends a different block every call (siblings on the genesis block), so every call really
 * verifies, including the VM's `has` lookup in the node's database over rpcdb; between
 * windows the verified blocks are rejected (untimed) to keep the VM's memory flat.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { type Client, createClient } from "@connectrpc/connect"
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node"
import * as grpc from "@grpc/grpc-js"
import * as pb from "@vmre/proto/vm/vm_pb"
import { ChainVm, Id } from "@vmre/runtime"
import { DateTime, Effect, Exit, Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { effectLoad, type Load, type LoadOptions, type LoadResult, promiseLoad, runEffectLoad, runInterleaved, runPromiseLoad } from "../lib/load.ts"
import { type Figure, progress, quick, report, rounds } from "../lib/scenario.ts"
import { rateStat, stat } from "../lib/stats.ts"
import { entryOf, goHost, goPlugin, hostRuntime, initializeWithMemoryDb, launch, makeBlock, payloadChainBin } from "../lib/vm.ts"

const started = performance.now()
const only = process.env.BENCH_UNARY_ONLY // a substring of cell ids, to profile one cell
const WINDOWS = Number(process.env.BENCH_UNARY_WINDOWS ?? rounds(6, 2))
const rt = hostRuntime({ quiet: true })
const figures: Array<Figure> = []
const notes: Array<string> = []
const extra: Record<string, unknown> = {}
const failures: Array<{ readonly id: string; readonly label: string; readonly error: string }> = []

// --- servers ------------------------------------------------------------------------------
const tsVm = await launch(rt, { path: payloadChainBin, name: "payload-chain" })
const scope = await rt.runPromise(Scope.make())
const genesisBlock = await rt.runPromise(Scope.provide(initializeWithMemoryDb(tsVm.client), scope))
extra.entry = entryOf(tsVm.vm.pid)
notes.push(`plugin entry (TS example VM): ${String(extra.entry)}`)
const goVm = await launch(rt, { path: goPlugin, name: "go-plugin" })
// The same TS VM served by vmre's own gRPC engine (H2Handler) instead of Connect's adapter.
const tsVmH2 = await launch(rt, { path: payloadChainBin, name: "payload-chain-h2", env: { VMRE_GRPC_ENGINE: "h2" } })
// The reference: the VM served by Connect's engine (as every VM was before vmre's engine became the default).
const tsVmConnect = await launch(rt, { path: payloadChainBin, name: "payload-chain-connect", env: { VMRE_GRPC_ENGINE: "connect" } })

// Bare Node servers of Version (no SDK), to see the floor of a Node gRPC server.
const bareServer = (kind: "connect" | "grpcjs") =>
  new Promise<{ address: string; pid: number; stop: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("../fixtures/bare-server.ts", import.meta.url))], {
      env: { ...process.env, BARE_SERVER: kind },
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.on("error", reject)
    child.stdout.once("data", (chunk: Buffer) => {
      const address = /listening (\S+)/.exec(chunk.toString())?.[1]
      if (address === undefined) reject(new Error(`bare ${kind} server: ${chunk.toString()}`))
      else resolve({ address, pid: child.pid!, stop: () => child.kill("SIGTERM") })
    })
  })
const bareConnect = await bareServer("connect")
const bareGrpcJs = await bareServer("grpcjs")

// --- clients ------------------------------------------------------------------------------
// `maxSessionMemory` (MB, node's default 10): with the default, node's http2 client refuses
// new streams (NGHTTP2_ENHANCE_YOUR_CALM) while ~10 MB of requests are in flight, i.e. at 16
// concurrent 1 MiB blocks. Only the `typedMem` cells raise it, to get figures beyond that.
const connectTransport = (address: string, maxSessionMemory?: number) => {
  const baseUrl = `http://${address}`
  const sessionManager = new Http2SessionManager(
    baseUrl,
    { pingIntervalMs: 30_000, pingTimeoutMs: 10_000 },
    maxSessionMemory === undefined ? undefined : { maxSessionMemory }
  )
  const transport = createGrpcTransport({ baseUrl, sessionManager, readMaxBytes: 0xffffffff, writeMaxBytes: 0xffffffff })
  return { transport, close: () => sessionManager.abort() }
}
const connectClient = (address: string): { client: Client<typeof pb.VM>; close: () => void } => {
  const { close, transport } = connectTransport(address)
  return { client: createClient(pb.VM, transport), close }
}

const grpcJsClient = (address: string) => {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1
  })
  const unary = (method: string, request: Uint8Array): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        `/vm.VM/${method}`,
        (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        (buffer) => buffer,
        request,
        (error, value) => (error !== null ? reject(error) : resolve(value!))
      )
    })
  const empty = new Uint8Array(0)
  return {
    version: () => unary("Version", empty).then((b) => fromBinary(pb.VersionResponseSchema, b).version),
    parseBlock: (bytes: Uint8Array) =>
      unary("ParseBlock", toBinary(pb.ParseBlockRequestSchema, create(pb.ParseBlockRequestSchema, { bytes })))
        .then((b) => fromBinary(pb.ParseBlockResponseSchema, b)),
    blockVerify: (bytes: Uint8Array) =>
      unary("BlockVerify", toBinary(pb.BlockVerifyRequestSchema, create(pb.BlockVerifyRequestSchema, { bytes })))
        .then((b) => fromBinary(pb.BlockVerifyResponseSchema, b)),
    close: () => client.close()
  }
}

const tsConnect = connectClient(tsVm.vm.vmAddr)
const goConnect = connectClient(goVm.vm.vmAddr)
const tsGrpcJs = grpcJsClient(tsVm.vm.vmAddr)
const tsH2GrpcJs = grpcJsClient(tsVmH2.vm.vmAddr)
const tsMemTransport = connectTransport(tsVm.vm.vmAddr, 1024)
const tsTypedMem = ChainVm.fromTransport(tsMemTransport.transport)
// A second default typed client, for the cells that are expected to fail (so that a burst of
// refused streams on its session cannot disturb the other cells).
const probeScope = await rt.runPromise(Scope.make())
const tsProbe = await rt.runPromise(Scope.provide(ChainVm.make({ address: tsVm.vm.vmAddr, process: tsVm.vm }), probeScope))
// Ablations of the typed client against the Go plugin (a fast server, so the client's cost
// shows): without the per-call race against the process's exit (ChainVm.make without a
// process); also without the readiness wait (ChainVm.fromTransport); and the least an Effect
// wrapper can do (Effect.tryPromise around the bare Connect call).
const goNoProcess = await rt.runPromise(Scope.provide(ChainVm.make({ address: goVm.vm.vmAddr }), probeScope))
const goTransport = connectTransport(goVm.vm.vmAddr)
const goNoReady = ChainVm.fromTransport(goTransport.transport)
// The same typed client over vmre's gRPC engine on bare node:http2 (engine: "h2").
const tsH2 = await rt.runPromise(Scope.provide(ChainVm.make({ address: tsVm.vm.vmAddr, process: tsVm.vm, engine: "h2" }), probeScope))
const tsH2Both = await rt.runPromise(Scope.provide(ChainVm.make({ address: tsVmH2.vm.vmAddr, process: tsVmH2.vm, engine: "h2" }), probeScope))
const goH2 = await rt.runPromise(Scope.provide(ChainVm.make({ address: goVm.vm.vmAddr, process: goVm.vm, engine: "h2" }), probeScope))
// ... and over Connect's transport, the reference and fallback (engine: "connect").
const tsConnectBoth = await rt.runPromise(Scope.provide(ChainVm.make({ address: tsVmConnect.vm.vmAddr, process: tsVmConnect.vm, engine: "connect" }), probeScope))
const goConnectTyped = await rt.runPromise(Scope.provide(ChainVm.make({ address: goVm.vm.vmAddr, process: goVm.vm, engine: "connect" }), probeScope))
const goRaw = createClient(pb.VM, goTransport.transport)
const goEffectMin = () =>
  Effect.tryPromise({ try: (signal) => goRaw.version({}, { signal, timeoutMs: 30_000 }), catch: (error) => error })
const goGrpcJs = grpcJsClient(goVm.vm.vmAddr)
const bareConnectGrpcJs = grpcJsClient(bareConnect.address)
const bareGrpcJsGrpcJs = grpcJsClient(bareGrpcJs.address)

// --- cells ----------------------------------------------------------------------------------
const sizes = { "1KiB": 1024, "1MiB": 1024 * 1024 } as const
type Size = keyof typeof sizes

const WINDOW_SECONDS = quick ? 0.15 : 0.3
let serverPid = 0
const load = (concurrency: number, more: Partial<LoadOptions> = {}): LoadOptions => ({
  concurrency,
  get serverPid() {
    return serverPid
  },
  windows: WINDOWS,
  windowSeconds: WINDOW_SECONDS,
  ...more
})

const addCell = (id: string, label: string, result: LoadResult, concurrency: number) => {
  const note = `c=${concurrency}, ${WINDOWS}×${result.callsPerWindow} calls, CPU/call: host ${Math.round(result.hostCpuUsPerCall)} µs` +
    (Number.isFinite(result.serverCpuUsPerCall) ? `, server ${Math.round(result.serverCpuUsPerCall)} µs` : "")
  figures.push({ id: `${id}.latency`, label: `${label}: latency`, unit: "ms", stat: stat(result.latenciesMs), note })
  figures.push({ id: `${id}.rate`, label: `${label}: throughput`, unit: "calls/s", stat: rateStat(result.ratesPerSecond), note })
  cpu[id] = { host: result.hostCpuUsPerCall, server: result.serverCpuUsPerCall }
}
const cpu: Record<string, { host: number; server: number }> = {}

const serverPidOf = (id: string): number =>
  id.startsWith("unary.go.") ?
    goVm.vm.pid :
    id.startsWith("unary.bareConnect.") ?
    bareConnect.pid :
    id.startsWith("unary.bareGrpcJs.") ?
    bareGrpcJs.pid :
    id.startsWith("unary.tsH2.") ?
    tsVmH2.vm.pid :
    id.startsWith("unary.tsConnect.") ?
    tsVmConnect.vm.pid :
    tsVm.vm.pid

const reportCell = (id: string, label: string, concurrency: number, result: LoadResult, seconds: number) => {
  addCell(id, label, result, concurrency)
  const lat = stat(result.latenciesMs)
  const rate = rateStat(result.ratesPerSecond)
  progress(
    `${id}: ${lat.median.toFixed(3)} ms median, ${Math.round(rate.median)} calls/s, CPU/call host ${Math.round(result.hostCpuUsPerCall)} µs` +
      ` server ${Math.round(result.serverCpuUsPerCall)} µs (${seconds.toFixed(1)} s)`
  )
}

const recordFailure = (id: string, label: string, error: unknown) => {
  const message = error instanceof Error ? error.message : String(error)
  failures.push({ id, label, error: message })
  progress(`${id}: FAILED: ${message}`)
}

const cell = async (
  id: string,
  label: string,
  concurrency: number,
  run: () => Promise<LoadResult>
) => {
  if (only !== undefined && !id.includes(only)) return
  serverPid = serverPidOf(id)
  const t0 = performance.now()
  let result: LoadResult
  try {
    result = await run()
  } catch (error) {
    return recordFailure(id, label, error)
  }
  reportCell(id, label, concurrency, result, (performance.now() - t0) / 1000)
}

interface PairedCell {
  readonly id: string
  readonly label: string
  readonly concurrency: number
  readonly load: (options: LoadOptions) => Load
  readonly options?: Partial<LoadOptions> | undefined
}

/**
 * Cells that a target compares (ours and its baseline), measured window by window in turn:
 * the target's ratio is then not the machine's drift between two moments of the run.
 */
const interleaved = async (...cells: ReadonlyArray<PairedCell>) => {
  const picked = cells.filter((c) => only === undefined || c.id.includes(only))
  if (picked.length === 0) return
  const t0 = performance.now()
  let results: Array<LoadResult>
  try {
    results = await runInterleaved(picked.map((c) => c.load({ ...load(c.concurrency, c.options), serverPid: serverPidOf(c.id) })))
  } catch (error) {
    for (const c of picked) recordFailure(c.id, c.label, error)
    return
  }
  const seconds = (performance.now() - t0) / 1000
  picked.forEach((c, i) => reportCell(c.id, c.label, c.concurrency, results[i]!, seconds))
}

const typedLoad = (call: (i: number) => Effect.Effect<unknown, unknown>, options: LoadOptions) =>
  runEffectLoad(rt, call, options)
const typed = (call: (i: number) => Effect.Effect<unknown, unknown>) => (options: LoadOptions) => effectLoad(rt, call, options)
const promised = (call: (i: number) => Promise<unknown>) => (options: LoadOptions) => promiseLoad(call, options)

// Blocks: ParseBlock repeats one; BlockVerify uses a fresh sibling of the others every call.
const parent = {
  id: genesisBlock.id,
  height: genesisBlock.height,
  timestampMillis: DateTime.toEpochMillis(genesisBlock.timestamp)
}
const oneBlock: Record<Size, Uint8Array> = { "1KiB": makeBlock(parent, sizes["1KiB"], -1), "1MiB": makeBlock(parent, sizes["1MiB"], -1) }
let seed = 0
let fresh: Array<Uint8Array> = []
const verified: Array<Uint8Array> = []
const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest())
const rejectVerified = async () => {
  const ids = verified.splice(0)
  await rt.runPromise(Effect.forEach(ids, (id) => tsTypedMem.blockReject(Id.make(id)), { concurrency: 16, discard: true }))
}
/** BlockVerify with a new block every call; the blocks are rejected after each window. */
const verifyLoad = (verify: (bytes: Uint8Array) => Effect.Effect<unknown, unknown>, size: Size, options: LoadOptions): Load =>
  effectLoad(rt, (i) => {
    const bytes = fresh[i]!
    return Effect.tap(verify(bytes), () => Effect.sync(() => verified.push(sha256(bytes))))
  }, {
    ...options,
    prepare: (calls) => {
      fresh = Array.from({ length: calls }, () => makeBlock(parent, sizes[size], seed++))
    },
    after: rejectVerified
  })

const ts = tsVm.client
const go = goVm.client

// Warm the whole process up first (JIT of Effect's runtime, Connect and grpc-js paths), so
// that the first cell measured does not pay for it: each client, each server, 300 ms.
for (const warm of [
  () => typedLoad(() => ts.version(), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => typedLoad(() => go.version(), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => typedLoad(() => goH2.version(), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => typedLoad(() => tsH2.version(), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => runPromiseLoad(() => tsConnect.client.version({}), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => runPromiseLoad(() => tsGrpcJs.version(), load(4, { windows: 1, windowSeconds: 0.1 })),
  () => typedLoad(() => ts.parseBlock(oneBlock["1KiB"]), load(4, { windows: 1, windowSeconds: 0.1 }))
]) {
  await warm()
}

for (const c of [1, 16, 64]) {
  const typedTs = { id: `unary.ts.typed.Version.c${c}`, label: `typed client → TS VM, Version`, concurrency: c, load: typed(() => ts.version()) }
  if (c < 64) {
    // The targets' pair: measured in turn with the bare grpc-js pair.
    await interleaved(typedTs, {
      id: `unary.bareGrpcJs.grpcjs.Version.c${c}`,
      label: `grpc-js → bare grpc-js server, Version`,
      concurrency: c,
      load: promised(() => bareGrpcJsGrpcJs.version())
    })
  } else await interleaved(typedTs)
  await cell(`unary.ts.typedH2.Version.c${c}`, `  typed client over the h2 engine → TS VM, Version`, c, () => typedLoad(() => tsH2.version(), load(c)))
  await cell(`unary.tsH2.typedH2.Version.c${c}`, `  typed client over the h2 engine → TS VM served by the h2 engine, Version`, c, () => typedLoad(() => tsH2Both.version(), load(c)))
  await cell(`unary.tsH2.grpcjs.Version.c${c}`, `  grpc-js → TS VM served by the h2 engine, Version`, c, () => runPromiseLoad(() => tsH2GrpcJs.version(), load(c)))
  if (c < 64) await cell(`unary.ts.connect.Version.c${c}`, `bare Connect → TS VM, Version`, c, () => runPromiseLoad(() => tsConnect.client.version({}), load(c)))
  await cell(`unary.ts.grpcjs.Version.c${c}`, `grpc-js → TS VM, Version`, c, () => runPromiseLoad(() => tsGrpcJs.version(), load(c)))
  if (c < 64) {
    await cell(`unary.tsConnect.typedConnect.Version.c${c}`, `  typed client → TS VM, Connect's engine at both ends (the reference)`, c, () => typedLoad(() => tsConnectBoth.version(), load(c)))
  }
}
for (const c of [1, 16, 64]) {
  // The target's pair (16 callers): measured in turn with grpc-js → Go plugin.
  await interleaved({ id: `unary.go.typed.Version.c${c}`, label: `typed client → Go plugin, Version`, concurrency: c, load: typed(() => go.version()) }, {
    id: `unary.go.grpcjs.Version.c${c}`,
    label: `grpc-js → Go plugin, Version`,
    concurrency: c,
    load: promised(() => goGrpcJs.version())
  })
  if (c < 64) {
    await cell(`unary.go.typedConnect.Version.c${c}`, `  typed client over Connect's transport (the reference) → Go plugin, Version`, c, () => typedLoad(() => goConnectTyped.version(), load(c)))
  }
  await cell(`unary.go.typedH2.Version.c${c}`, `  typed client over the h2 engine → Go plugin, Version`, c, () => typedLoad(() => goH2.version(), load(c)))
  if (c < 64) {
    await cell(`unary.go.typedNoProcess.Version.c${c}`, `  ablation: typed, no process race (ChainVm.make without process)`, c, () => typedLoad(() => goNoProcess.version(), load(c)))
    await cell(`unary.go.typedNoReady.Version.c${c}`, `  ablation: typed, no process race, no readiness wait (fromTransport)`, c, () => typedLoad(() => goNoReady.version(), load(c)))
    await cell(`unary.go.effectMin.Version.c${c}`, `  ablation: Effect.tryPromise around the bare Connect call`, c, () => typedLoad(goEffectMin, load(c)))
  }
  if (c < 64) await cell(`unary.go.connect.Version.c${c}`, `bare Connect → Go plugin, Version`, c, () => runPromiseLoad(() => goConnect.client.version({}), load(c)))
}
for (const c of [1, 16]) {
  await cell(`unary.bareConnect.grpcjs.Version.c${c}`, `grpc-js → bare Connect server (no SDK), Version`, c, () => runPromiseLoad(() => bareConnectGrpcJs.version(), load(c)))
}
for (const size of ["1KiB", "1MiB"] as const) {
  const big = size === "1MiB"
  const block = oneBlock[size]
  // The default typed client cannot have 16 × 1 MiB in flight (see the note): for 1 MiB at
  // c > 1 the figures come from a typed client over a transport with maxSessionMemory raised,
  // and the default client is tried at the end.
  for (const c of [1, 16, 64]) {
    const o = load(c, big ? { minCalls: Math.max(8, 2 * c), maxCalls: 160 } : {})
    const [client, id, label] = big && c > 1 ?
      [tsTypedMem, "typedMem", "typed client (maxSessionMemory 1 GiB)"] as const :
      [ts, "typed", "typed client"] as const
    const ours = { id: `unary.ts.${id}.ParseBlock.${size}.c${c}`, label: `${label} → TS VM, ParseBlock ${size}`, concurrency: c, options: o, load: typed(() => client.parseBlock(block)) }
    if (c === 1) {
      await interleaved(ours, {
        id: `unary.ts.grpcjs.ParseBlock.${size}.c${c}`,
        label: `grpc-js → TS VM, ParseBlock ${size}`,
        concurrency: c,
        options: o,
        load: promised(() => tsGrpcJs.parseBlock(block))
      })
    } else await interleaved(ours)
  }
  for (const c of [1, 16, 64]) {
    const o = load(c, big ? { minCalls: Math.max(8, 2 * c), maxCalls: 160 } : {})
    const [client, id, label] = big && c > 1 ?
      [tsTypedMem, "typedMem", "typed client (maxSessionMemory 1 GiB)"] as const :
      [ts, "typed", "typed client"] as const
    const ours = {
      id: `unary.ts.${id}.BlockVerify.${size}.c${c}`,
      label: `${label} → TS VM, BlockVerify ${size} (fresh block)`,
      concurrency: c,
      options: o,
      load: (options: LoadOptions) => verifyLoad((bytes) => client.blockVerify(bytes), size, options)
    }
    if (c === 1) {
      // grpc-js's call wrapped in the least an Effect does (Effect.promise): the same load driver.
      await interleaved({
        id: `unary.ts.grpcjs.BlockVerify.${size}.c${c}`,
        label: `grpc-js → TS VM, BlockVerify ${size} (fresh block)`,
        concurrency: c,
        options: o,
        load: (options) => verifyLoad((bytes) => Effect.promise(() => tsGrpcJs.blockVerify(bytes)), size, options)
      }, ours)
    } else await interleaved(ours)
    await rejectVerified()
  }
}
// Expected to fail with the default client: 16 concurrent 1 MiB requests.
for (const c of [16, 64]) {
  await cell(`unary.ts.typed.ParseBlock.1MiB.c${c}`, `typed client (default) → TS VM, ParseBlock 1MiB`, c, () =>
    typedLoad(() => tsProbe.parseBlock(oneBlock["1MiB"]), load(c, { minCalls: 2 * c, maxCalls: 160, windows: 1 })))
}

// The grpc-go anchor: one caller, N Version calls after a cold launch.
const goHostRounds = (plugin: string, n: number): Promise<{ versionMedianMs: number }> =>
  new Promise((resolve, reject) => {
    execFile(goHost, ["-rounds", String(n), plugin], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`go host failed: ${error.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "{}"))
    })
  })
if (only === undefined || "unary.goHost".includes(only)) {
  const go2go: Array<number> = []
  const go2ts: Array<number> = []
  for (let r = 0; r < rounds(5, 1); r++) {
    go2go.push((await goHostRounds(goPlugin, rounds(1000, 200))).versionMedianMs)
    if (r < rounds(3, 1)) go2ts.push((await goHostRounds(payloadChainBin, rounds(1000, 200))).versionMedianMs)
  }
  figures.push({ id: "unary.goHost.go.Version.c1.latency", label: "grpc-go host → Go plugin, Version: latency (median of each run's median)", unit: "ms", stat: stat(go2go), note: "c=1" })
  figures.push({ id: "unary.goHost.ts.Version.c1.latency", label: "grpc-go host → TS VM, Version: latency (median of each run's median)", unit: "ms", stat: stat(go2ts), note: "c=1" })
  progress(`go host: go ${stat(go2go).median} ms, ts ${stat(go2ts).median} ms`)
}

tsConnect.close()
goConnect.close()
tsGrpcJs.close()
tsH2GrpcJs.close()
tsMemTransport.close()
goTransport.close()
bareConnectGrpcJs.close()
bareGrpcJsGrpcJs.close()
bareConnect.stop()
bareGrpcJs.stop()
goGrpcJs.close()
await rt.runPromise(Scope.close(probeScope, Exit.void))
await goVm.close()
await tsVm.close()
await tsVmH2.close()
await tsVmConnect.close()
await rt.runPromise(Scope.close(scope, Exit.void))
await rt.dispose()

report({
  scenario: "unary",
  figures,
  notes: [
    ...notes,
    ...failures.map((f) => `FAILED ${f.id} (${f.label}): ${f.error}`),
    "latency: every call of every window; throughput: one rate per window (p90 = the slow tail)",
    "typedMem: ChainVm.fromTransport over a transport whose http2 session has maxSessionMemory 1024 MB (node's default 10 MB refuses new streams while ~10 MB of requests are in flight: NGHTTP2_ENHANCE_YOUR_CALM)",
    ...(quick ? ["QUICK run: too few samples for figures"] : [])
  ],
  extra: { ...extra, failures, cpuUsPerCall: cpu },
  wallSeconds: (performance.now() - started) / 1000
})
