/**
 * luxd's cross-chain app messages: a chain's VM sends to another chain of the same node
 * through `appsender.AppSender/SendCrossChainApp*` (the SDK's clients over gRPC to the node's
 * server), and the host-local network delivers to the other chain's endpoint; avalanchego v1.14
 * has no such RPCs.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeClients } from "@vmre/plugin"
import { Effect, Layer } from "effect"
import { NodeConfig } from "../src/NodeConfig.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import { AppHub, type AppEndpoint, AppNetwork } from "../src/services/AppNetwork.ts"
import { ChainAliases } from "../src/services/ChainAliases.ts"
import { ChainSignals } from "../src/services/ChainSignals.ts"
import * as NodeServicesServer from "../src/services/NodeServicesServer.ts"
import { SharedMemory } from "../src/services/SharedMemory.ts"
import { ValidatorSet } from "../src/services/ValidatorSet.ts"
import { WarpSigner } from "../src/services/WarpSigner.ts"
import { chainIdOf } from "./support.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const services = (flavour: "avalanchego" | "luxd") =>
  Layer.mergeAll(ChainAliases.layer(), WarpSigner.layerEphemeral(), ValidatorSet.layerTest({ validators: [] }), ChainSignals.layer, SharedMemory.layer).pipe(
    Layer.provideMerge(AppNetwork.layerLocal()),
    Layer.provideMerge(AppHub.layer),
    Layer.provideMerge(NodeDatabase.layerMemory),
    Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: "/nonexistent", flavour }))
  )

/** An endpoint that keeps what reaches it, as "<kind> <chain byte> <id> <body>" lines. */
const recording = () => {
  const got: Array<string> = []
  const ignore = () => Effect.void
  const endpoint: AppEndpoint = {
    appRequest: ignore,
    appResponse: ignore,
    appRequestFailed: ignore,
    appGossip: ignore,
    crossChainAppRequest: (m) => Effect.sync(() => got.push(`request ${m.chainId[0]} ${m.requestId} ${text(m.request)}`)),
    crossChainAppResponse: (m) => Effect.sync(() => got.push(`response ${m.chainId[0]} ${m.requestId} ${text(m.response)}`)),
    crossChainAppRequestFailed: (m) => Effect.sync(() => got.push(`failed ${m.chainId[0]} ${m.requestId} ${m.errorCode} ${m.errorMessage}`))
  }
  return { got, endpoint }
}

const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && !check(); i++) yield* Effect.sleep("10 millis")
  })

describe("cross-chain app messages (luxd)", () => {
  it.live("a request reaches the other chain's VM, its answer comes back; a chain that is not running fails it at once", () =>
    Effect.gen(function*() {
      const [a, b, absent] = [chainIdOf(81), chainIdOf(82), chainIdOf(83)]
      const network = yield* AppNetwork
      const atA = recording()
      const atB = recording()
      yield* network.join(a, atA.endpoint)
      yield* network.join(b, atB.endpoint)
      const serverA = yield* NodeServicesServer.serve({ chainId: a, networkId: 1, flavour: "luxd" })
      const serverB = yield* NodeServicesServer.serve({ chainId: b, networkId: 1, flavour: "luxd" })
      const vmA = yield* NodeClients.make(serverA.address, { chainId: a, networkId: 1 })
      const vmB = yield* NodeClients.make(serverB.address, { chainId: b, networkId: 1 })

      yield* vmA.appSender.sendCrossChainAppRequest(b, 5, utf8("ping"))
      yield* until(() => atB.got.length > 0)
      expect(atB.got).toEqual(["request 81 5 ping"])
      yield* vmB.appSender.sendCrossChainAppResponse(a, 5, utf8("pong"))
      yield* vmB.appSender.sendCrossChainAppError(a, 6, 3, "no such thing")
      yield* vmA.appSender.sendCrossChainAppRequest(absent, 7, utf8("anyone?"))
      yield* until(() => atA.got.length >= 3)
      expect(atA.got.sort()).toEqual(["failed 82 6 3 no such thing", "failed 83 7 -1 timed out", "response 82 5 pong"])
      // Every message is also in the network's record, with both chains.
      const sent = (yield* network.sent).filter((m) => m._tag.startsWith("CrossChain"))
      expect(sent.map((m) => m._tag)).toEqual(["CrossChainAppRequest", "CrossChainAppResponse", "CrossChainAppError", "CrossChainAppRequest"])
      // A chain id that is not 32 bytes is refused with the field named.
      const bad = yield* Effect.flip(vmA.appSender.sendCrossChainAppRequest(new Uint8Array(3), 8, utf8("x")))
      expect(bad.message).toMatch(/InvalidArgument|invalid_argument/i)
      expect(bad.message).toContain("chain_id")
    }).pipe(Effect.scoped, Effect.provide(services("luxd"))))

  it.live("avalanchego v1.14 serves none: UNIMPLEMENTED, as there", () =>
    Effect.gen(function*() {
      const a = chainIdOf(84)
      const server = yield* NodeServicesServer.serve({ chainId: a, networkId: 1, flavour: "avalanchego" })
      const vm = yield* NodeClients.make(server.address, { chainId: a, networkId: 1 })
      const refused = yield* Effect.flip(vm.appSender.sendCrossChainAppRequest(chainIdOf(85), 1, utf8("x")))
      expect(refused).toMatchObject({ _tag: "NodeServiceError", method: "SendCrossChainAppRequest" })
      expect(refused.code.toLowerCase()).toContain("unimplemented")
    }).pipe(Effect.scoped, Effect.provide(services("avalanchego"))))
})
