/**
 * `npm run demo` (at the repository root): payload-chain run as a plugin under vmre's engine, as a
 * node runs it. The engine (@vmre/runtime) starts the executable bin/payload-chain, answers
 * its handshake, and gives a typed vm.VM client (`ChainVm.launch`); this file plays the
 * consensus engine of a single validator:
 *
 *   Version → Initialize(genesis) → SetState(bootstrapping) → SetState(normal-op) →
 *   n × (AppGossip payloads → WaitForEvent → BuildBlock → BlockVerify → SetPreference → BlockAccept)
 *   → Health → the engine's stop sequence (Shutdown, close, SIGTERM, grace, SIGKILL)
 *
 * The chain's database is a LevelDB directory served to the plugin over rpcdb (@vmre/rpcdb),
 * as a node serves its own database.
 *
 *   DEMO_BLOCKS=n    blocks to accept (default 5; 0: until Ctrl-C, one every DEMO_PAUSE_MS)
 *   DEMO_PAUSE_MS=ms pause between blocks (default 0, or 500 with DEMO_BLOCKS=0)
 *   DEMO_DB=dir      keep the database there (run again to resume the chain); default: a
 *                    temporary directory, removed at the end
 *   DEMO_VERBOSE=1   also show Debug lines (the engine's and the plugin's); the plugin's
 *                    Info lines, and every warning and error, are always shown
 *
 * Ctrl-C stops it cleanly (the summary is printed); a second Ctrl-C stops without Health.
 * Exit code 0 when everything worked and the VM exited with code 0.
 */
import { ChainVm, Id, NodeId, VmRuntime } from "@vmre/runtime"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, References } from "effect"
import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { LevelDatabase, RpcDbServer } from "@vmre/rpcdb"
import { bundlePath, ensureFresh } from "../build.ts"
import { Id as PluginId } from "@vmre/plugin"
import * as Codec from "./Codec.ts"

const executable = fileURLToPath(new URL("../bin/payload-chain", import.meta.url))
const exampleDir = fileURLToPath(new URL("..", import.meta.url))

const blocksWanted = Number(process.env.DEMO_BLOCKS ?? "5")
const pauseMillis = Number(process.env.DEMO_PAUSE_MS ?? (blocksWanted === 0 ? "500" : "0"))
const keptDb = process.env.DEMO_DB === undefined || process.env.DEMO_DB === "" ? undefined : resolve(process.env.DEMO_DB)
const verbose = process.env.DEMO_VERBOSE === "1"

const utf8 = (text: string) => new TextEncoder().encode(text)
const ms = (millis: number) => `${millis < 10 ? millis.toFixed(1) : millis.toFixed(0)} ms`
const line = (label: string, text: string) => console.log(`${label.padEnd(12)} ${text}`)

// ---------------------------------------------------------------------------------------
// Log lines of the engine and of the plugin (forwarded by the runtime, annotated with
// source/vm/pid/stream): one compact line each.
// ---------------------------------------------------------------------------------------

// The plugin's own Effect logger prefix: "[12:00:00.000] INFO (#12): ".
const pluginPrefix = /^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+ \(#\d+\): /

const compactLogger = Logger.make<unknown, void>(({ cause, fiber, logLevel, message }) => {
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  const parts = Array.isArray(message) ? message : [message]
  let text = parts.map((part) => (typeof part === "string" ? part : String(part))).join(" ")
  if (cause.reasons.length > 0 && !Cause.hasInterruptsOnly(cause)) text += ` (${Cause.squash(cause)})`
  const level = logLevel === "Info" ? "" : ` ${logLevel.toUpperCase()}`
  const out = logLevel === "Error" || logLevel === "Fatal" || logLevel === "Warn" ? process.stderr : process.stdout
  if (annotations.source === "plugin") {
    out.write(`  │ ${annotations.vm}[${annotations.pid}] ${annotations.stream}${level}: ${text.replace(pluginPrefix, "")}\n`)
  } else {
    out.write(`  │ engine${level}: ${text}\n`)
  }
})

const logging = Layer.mergeAll(
  Logger.layer([compactLogger]),
  Layer.succeed(References.MinimumLogLevel, verbose ? "Debug" : "Info")
)

// ---------------------------------------------------------------------------------------
// Ctrl-C: the first asks the loop to stop after the current step, the second interrupts.
// ---------------------------------------------------------------------------------------

const stopRequested = Deferred.makeUnsafe<void>()

const program = Effect.gen(function*() {
  console.log("payload-chain demo: the example VM as an rpcchainvm plugin of the vmre engine\n")

  // The launcher runs dist/payload-chain.mjs if it exists, else the TypeScript sources.
  const entry = yield* Effect.tryPromise(() => ensureFresh()).pipe(
    Effect.map((rebuilt) => `${relative(exampleDir, bundlePath)}${rebuilt ? " (rebuilt: its sources changed)" : ""}`),
    Effect.catch((error) =>
      Effect.succeed(`src/main.ts (the bundle could not be built: ${error.cause instanceof Error ? error.cause.message : String(error.cause)})`)
    )
  )
  const dataDir = yield* Effect.acquireRelease(
    Effect.sync(() => {
      if (keptDb !== undefined) {
        mkdirSync(keptDb, { recursive: true })
        return keptDb
      }
      return mkdtempSync(join(tmpdir(), "payload-chain-demo-"))
    }),
    (dir) => (keptDb === undefined ? Effect.sync(() => rmSync(dir, { recursive: true, force: true })) : Effect.void)
  )
  line("executable", `${executable}`)
  line("plugin code", entry)
  line("data dir", `${dataDir}${keptDb === undefined ? " (temporary; DEMO_DB=dir keeps it)" : ""}`)

  // The node's database, served over rpcdb; it outlives the VM (closed after the stop).
  const database = yield* LevelDatabase.open(join(dataDir, "db"))
  const db = yield* RpcDbServer.serve(database)

  const session = Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const { client, vm } = yield* ChainVm.launch({ path: executable, name: "payload-chain" })
    const handshakeMillis = Duration.toMillis(vm.handshakeDuration)
    line("launched", `pid ${vm.pid}, serving vm.VM at ${vm.vmAddr}`)
    line("handshake", `${ms(handshakeMillis)} (spawn → Initialize on the runtime server), protocol version ${vm.protocolVersion}`)
    const version = yield* client.version()
    const firstReplyMillis = performance.now() - started
    line("Version", `${version} (first reply ${ms(firstReplyMillis)} after the launch began)`)

    let t = performance.now()
    const init = yield* client.initialize({
      networkId: 12345,
      subnetId: Id.make(new Uint8Array(32)),
      chainId: Id.make(new Uint8Array(32).fill(7)),
      nodeId: NodeId.make(new Uint8Array(20).fill(1)),
      publicKey: new Uint8Array(0),
      xChainId: Id.make(new Uint8Array(32).fill(1)),
      cChainId: Id.make(new Uint8Array(32).fill(2)),
      avaxAssetId: Id.make(new Uint8Array(32).fill(3)),
      chainDataDir: dataDir,
      genesisBytes: utf8(JSON.stringify({
        timestamp: "2025-01-01T00:00:00.000Z",
        message: "hello from the vmre demo",
        maxPayloadsPerBlock: 4
      })),
      upgradeBytes: new Uint8Array(0),
      // No payload generator: the payloads come from this "node", by AppGossip.
      configBytes: utf8(JSON.stringify({ autoPayload: null })),
      dbServerAddr: db.address,
      serverAddr: ""
    })
    line(
      "Initialize",
      `last accepted ${PluginId.toString(init.id)} at height ${init.height} (${init.height === 0n ? "a new chain" : "resumed"}, ${
        ms(performance.now() - t)
      })`
    )
    t = performance.now()
    yield* client.setState("Bootstrapping")
    const normal = yield* client.setState("NormalOp")
    line("SetState", `bootstrapping → normal-op at height ${normal.height} (${ms(performance.now() - t)})`)

    // The engine loop of a single validator.
    const peer = NodeId.make(new Uint8Array(20).fill(2))
    const blockMillis: Array<number> = []
    let lastHeight = normal.height
    const round = (n: number) =>
      Effect.gen(function*() {
        const began = performance.now()
        const count = 1 + (n % 3)
        for (let i = 1; i <= count; i++) {
          yield* client.appGossip({ nodeId: peer, msg: utf8(`payload ${n}.${i} ${randomBytes(6).toString("hex")}`) })
        }
        while ((yield* client.waitForEvent()) !== "BuildBlock") {
          // state-sync-finished does not concern a chain without state sync.
        }
        const built = yield* client.buildBlock()
        yield* client.blockVerify(built.bytes)
        yield* client.setPreference(built.id)
        yield* client.blockAccept(built.id)
        const took = performance.now() - began
        blockMillis.push(took)
        lastHeight = built.height
        const data = Codec.decode(built.bytes)
        const payloads = data instanceof Codec.MalformedBlock ? "?" : String(data.payloads.length)
        console.log(
          `block ${String(built.height).padStart(4)}  ${PluginId.toString(built.id)}  ${payloads} payload(s)  ${ms(took)}`
        )
      })
    const loopStarted = performance.now()
    let n = 0
    while (blocksWanted === 0 || n < blocksWanted) {
      n++
      const outcome = yield* Effect.raceFirst(
        Effect.as(round(n), "done" as const),
        Effect.as(Deferred.await(stopRequested), "stop" as const)
      )
      if (outcome === "stop") break
      if (pauseMillis > 0) {
        if ((yield* Effect.raceFirst(
          Effect.as(Effect.sleep(Duration.millis(pauseMillis)), "done" as const),
          Effect.as(Deferred.await(stopRequested), "stop" as const)
        )) === "stop") break
      }
    }
    const loopMillis = performance.now() - loopStarted

    const health = yield* client.health()
    line("Health", JSON.stringify(health))
    line("stopping", "Shutdown, close the connection, SIGTERM (the engine's stop sequence)")
    return { vm, version, handshakeMillis, firstReplyMillis, blockMillis, loopMillis, lastHeight, stopAt: performance.now() }
  }))

  const run = yield* session
  // The scope of the launch is closed: the stop sequence has run; the exit is known.
  const exit = yield* run.vm.exit
  const stopMillis = performance.now() - run.stopAt
  const accepted = run.blockMillis.length
  const blockTime = run.blockMillis.reduce((a, b) => a + b, 0)
  console.log("\nsummary")
  const row = (label: string, text: string) => console.log(`  ${label.padEnd(16)} ${text}`)
  row("handshake", `${ms(run.handshakeMillis)} (first reply ${ms(run.firstReplyMillis)})`)
  row("versions", `rpcchainvm protocol ${run.vm.protocolVersion}, ${run.version}`)
  row(
    "blocks accepted",
    accepted === 0 ? "0" :
      `${accepted} (to height ${run.lastHeight}), ${(accepted / (blockTime / 1000)).toFixed(0)} blocks/s ` +
        `(${ms(blockTime / accepted)} per block${pauseMillis > 0 ? `, ${(run.loopMillis / 1000).toFixed(1)} s with pauses` : ""})`
  )
  row(
    "vm exit",
    `${exit.signal === null ? `exit code ${exit.code}` : `killed by ${exit.signal}`} (stopped in ${ms(stopMillis)})`
  )
  row("data dir", keptDb ?? `${dataDir} (removed)`)
  if (exit.code !== 0) {
    return yield* Effect.fail(new Error(`the VM did not exit cleanly (${exit.signal ?? `exit code ${exit.code}`})`))
  }
}).pipe(Effect.scoped, Effect.provide(Layer.merge(VmRuntime.layer, logging)))

const fiber = Effect.runFork(program)
let signals = 0
const onSignal = (signal: NodeJS.Signals) => {
  signals++
  if (signals === 1) {
    process.stderr.write(`\n${signal}: stopping (again to skip Health and stop at once)\n`)
    Deferred.doneUnsafe(stopRequested, Effect.void)
  } else {
    // Interrupting closes the scopes: the engine's stop sequence still runs.
    Effect.runFork(Fiber.interrupt(fiber))
  }
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
fiber.addObserver((exit) => {
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  if (Exit.isSuccess(exit)) {
    process.exitCode = 0
  } else if (Cause.hasInterruptsOnly(exit.cause)) {
    process.stderr.write("demo: interrupted; the VM was stopped\n")
    process.exitCode = 130
  } else {
    const error = Cause.squash(exit.cause)
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  }
})
