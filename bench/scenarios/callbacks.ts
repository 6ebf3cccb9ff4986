/**
 * The node services a VM calls back at `server_addr`: one round trip of each kind, from a
 * TypeScript VM's clients (`InitializeContext.node`, @vmre/plugin) to the host's server
 * (@vmre/node, single-node defaults), sequential calls. Client and server in one process.
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
import { Effect, Layer } from "effect"
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

const figures = await Effect.runPromise(program)
report({
  scenario: "callbacks",
  figures,
  notes: [`${CALLS} sequential calls per kind (Warp.Sign: a twentieth, BLS signing dominates) after a warm-up call; client and server in one process`],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
