/**
 * Two nodes on one host (two node stacks sharing an AppHub, each with its own node id), each
 * running the same chain on the example VM: gossip and request/response cross between the VMs.
 */
import { describe, expect, it } from "@effect/vitest"
import { VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Logger } from "effect"
import * as Chain from "../src/Chain.ts"
import { NodeConfig } from "../src/NodeConfig.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import { AppHub, AppNetwork } from "../src/services/AppNetwork.ts"
import * as NodeServices from "../src/services/Defaults.ts"
import { VmFactory } from "../src/VmFactory.ts"
import { VmRegistry } from "../src/VmRegistry.ts"
import { chainIdOf, payloadChainBin, tempDir, vmIdOf } from "./support.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)
const nodeIdOf = (byte: number) => Ids.NodeId.make(new Uint8Array(20).fill(byte))

/** A node of the host: its own id, store and data dir; the hub shared. */
const hostNode = (hub: Layer.Layer<AppHub>, dir: string, byte: number) =>
  VmFactory.layer().pipe(
    Layer.provideMerge(VmRegistry.layer({ plugins: [{ vmId: vmIdOf(1), path: payloadChainBin }] })),
    Layer.provideMerge(NodeServices.layerHostNode),
    Layer.provideMerge(hub),
    Layer.provideMerge(VmRuntime.layer),
    Layer.provideMerge(NodeDatabase.layerMemory),
    Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: `${dir}/node${byte}`, nodeId: nodeIdOf(byte) })),
    Layer.provideMerge(Logger.layer([]))
  )

describe("a host-local app network", () => {
  it.live("carries gossip and a request/response between two nodes' VMs of one chain", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-appnet-")
      const hub = Layer.succeed(AppHub, { endpoints: new Map() })
      const chainId = chainIdOf(40)
      // Node 1 makes no payloads of its own; node 2 generates them (and gossips each).
      const quiet = yield* Layer.build(hostNode(hub, dir, 1))
      const busy = yield* Layer.build(hostNode(hub, dir, 2))
      const run = (config: object) =>
        Chain.run({ chainId, vm: vmIdOf(1), config: utf8(JSON.stringify(config)) })
      const quietChain = yield* run({ autoPayload: null }).pipe(Effect.provideContext(quiet))
      yield* run({ autoPayload: { intervalMillis: 100, bytes: 32 } }).pipe(Effect.provideContext(busy))
      // Node 1's chain grows on node 2's gossiped payloads alone.
      while ((yield* quietChain.status).height < 2n) yield* Effect.sleep("20 millis")

      // Node 2's "VM" asks node 1's VM for its status; node 1's VM answers through its node.
      const network2 = Context.get(busy, AppNetwork)
      const network1 = Context.get(quiet, AppNetwork)
      yield* network2.send({ _tag: "AppRequest", chainId, nodeIds: [nodeIdOf(1)], requestId: 77, request: utf8("status") })
      let answer = undefined as undefined | { readonly _tag: string }
      for (let i = 0; i < 100 && answer === undefined; i++) {
        answer = (yield* network1.sent).find((m) => m._tag === "AppResponse" && m.requestId === 77)
        if (answer === undefined) yield* Effect.sleep("20 millis")
      }
      expect(answer).toMatchObject({ _tag: "AppResponse", nodeId: nodeIdOf(2), requestId: 77 })
      // Node 1 never gossiped (its payloads all came from a peer); node 2 gossiped each of its own.
      expect((yield* network1.sent).some((m) => m._tag === "AppGossip")).toBe(false)
      expect((yield* network2.sent).filter((m) => m._tag === "AppGossip").length).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped), 60_000)
})
