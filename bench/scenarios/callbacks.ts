/**
 * The node services a VM calls back at `server_addr`: one round trip of each kind, sequential
 * calls to the host's server (@vmre/node, single-node defaults), from a TypeScript VM's clients
 * (`InitializeContext.node`, @vmre/plugin; client and server in one process) and from the Go
 * plugin (grpc-go, its own process, launched and initialized by the node's factory; it times
 * its calls itself during Initialize, GO_PLUGIN_CALLBACK_ROUNDS).
 */
import { NodeClients } from "@vmre/plugin"
import {
  AppNetwork,
  ChainAliases,
  ChainSignals,
  NodeConfig,
  NodeDatabase,
  NodeServicesServer,
  SharedMemory,
  ValidatorSet,
  WarpSigner
} from "@vmre/node"
import { VmFactory, VmRegistry, NodeServices } from "@vmre/node"
import { VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Duration, Effect, Layer, Logger } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { goPlugin } from "../lib/vm.ts"
import { performance } from "node:perf_hooks"
import { type Figure, progress, report, rounds } from "../lib/scenario.ts"
import { stat } from "../lib/stats.ts"

const started = performance.now()
const CALLS = rounds(2_000, 100)
const chainA = new Uint8Array(32).fill(1)
const chainB = new Uint8Array(32).fill(2)

const services = Layer.mergeAll(
  ChainAliases.layer([[chainA as never, ["A"]]]),
  AppNetwork.layerRecording(100),
  WarpSigner.layerEphemeral(),
  ValidatorSet.layerTest({ validators: [{ nodeId: new Uint8Array(20).fill(1) as never, weight: 100n, publicKey: new Uint8Array(96) }] }),
  ChainSignals.layer,
  SharedMemory.layer
).pipe(Layer.provideMerge(NodeDatabase.layerMemory), Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: "/nonexistent" })))

const program = Effect.gen(function*() {
  const serverA = yield* NodeServicesServer.serve({ chainId: chainA as never, networkId: 1 })
  const serverB = yield* NodeServicesServer.serve({ chainId: chainB as never, networkId: 1 })
  const vmA = yield* NodeClients.make(serverA.address, { chainId: chainA, networkId: 1 })
  const vmB = yield* NodeClients.make(serverB.address, { chainId: chainB, networkId: 1 })
  // Something for B to read: A's put for it.
  yield* vmA.sharedMemory.apply([{ peerChainId: chainB, puts: [{ key: new Uint8Array([1]), value: new Uint8Array(32) }] }])
  const payload = new Uint8Array(256)
  const kinds: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["ValidatorState.GetCurrentHeight", vmA.validators.currentHeight],
    ["ValidatorState.GetValidatorSet", vmA.validators.validatorSet(0n, new Uint8Array(32))],
    ["AliasReader.Aliases", vmA.aliases.aliases(chainA)],
    ["AppSender.SendAppGossip", vmA.appSender.sendAppGossip(payload, { validators: 8 })],
    ["SharedMemory.Get", vmB.sharedMemory.get(chainA, [new Uint8Array([1])])],
    ["Warp.Sign", vmA.warpSigner.sign(payload)]
  ]
  const figures: Array<Figure> = []
  for (const [kind, call] of kinds) {
    const calls = kind === "Warp.Sign" ? Math.max(20, Math.floor(CALLS / 20)) : CALLS
    yield* call // warm-up: connection, JIT
    const latencies: Array<number> = []
    const t0 = performance.now()
    for (let i = 0; i < calls; i++) {
      const t = performance.now()
      yield* call
      latencies.push(performance.now() - t)
    }
    const rate = calls / ((performance.now() - t0) / 1000)
    progress(`callbacks ${kind}: ${stat(latencies).median.toFixed(3)} ms median, ${rate.toFixed(0)} calls/s`)
    figures.push({
      id: `callbacks.ts.${kind}.c1.latency`,
      label: `${kind} from a TypeScript VM, one caller: round trip`,
      unit: "ms",
      stat: stat(latencies),
      note: `${rate.toFixed(0)} calls/s`
    })
  }
  return figures
}).pipe(Effect.scoped, Effect.provide(services), Effect.orDie)

/** The Go plugin's own timings of the same calls, made during its Initialize under our node. */
const goRounds = Effect.gen(function*() {
  const dir = mkdtempSync(path.join(tmpdir(), "vmre-bench-callbacks-"))
  const out = path.join(dir, "callbacks.json")
  const vmId = Ids.toString(new Uint8Array(32).fill(5))
  yield* Effect.gen(function*() {
    const factory = yield* VmFactory
    yield* factory.create({ chainId: Ids.Id.make(new Uint8Array(32).fill(6)), vm: vmId })
  }).pipe(
    Effect.scoped,
    Effect.provide(VmFactory.layer({
      launch: { callTimeout: Duration.minutes(5), env: { GO_PLUGIN_CALLBACKS: out, GO_PLUGIN_CALLBACK_ROUNDS: String(CALLS) } }
    }).pipe(
      Layer.provideMerge(VmRegistry.layer({ plugins: [{ vmId, path: goPlugin }] })),
      Layer.provideMerge(NodeServices.layerSingleNode),
      Layer.provideMerge(VmRuntime.layer),
      Layer.provideMerge(NodeDatabase.layerMemory),
      Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: dir })),
      Layer.provideMerge(Logger.layer([]))
    ))
  )
  const report = JSON.parse(readFileSync(out, "utf8")) as {
    rounds: Record<string, { calls: number; medianMs: number; p90Ms: number; callsPerSecond: number }>
  }
  rmSync(dir, { recursive: true, force: true })
  return Object.entries(report.rounds).map(([kind, r]): Figure => {
    progress(`callbacks go ${kind}: ${r.medianMs.toFixed(3)} ms median, ${r.callsPerSecond.toFixed(0)} calls/s`)
    return {
      id: `callbacks.go.${kind}.c1.latency`,
      label: `${kind} from the Go plugin (grpc-go), one caller: round trip`,
      unit: "ms",
      stat: { median: r.medianMs, p90: r.p90Ms, min: Number.NaN, max: Number.NaN, n: r.calls },
      note: `${r.callsPerSecond.toFixed(0)} calls/s`
    }
  })
}).pipe(Effect.orDie)

const figures = [...(await Effect.runPromise(program)), ...(await Effect.runPromise(goRounds))]
report({
  scenario: "callbacks",
  figures,
  notes: [
    `${CALLS} sequential calls per kind (Warp.Sign: a twentieth, BLS signing dominates) after a warm-up call; TS: client and server in one process; Go: the plugin's own process, timed by it`
  ],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
