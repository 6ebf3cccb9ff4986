/**
 * luxd's build signal: a Go VM that pushes messenger Notify (and answers no WaitForEvent) grows
 * a chain under the luxd flavour; a second signal while one is pending is refused as luxd does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { Message, Messenger } from "@vmre/proto/messenger/messenger_pb"
import { GrpcClient } from "@vmre/transport"
import { Effect } from "effect"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import * as Chain from "../src/Chain.ts"
import { ChainSignals } from "../src/services/ChainSignals.ts"
import * as NodeServicesServer from "../src/services/NodeServicesServer.ts"
import { chainIdOf, payloadChainBin, tempDir, testNode, testServices, vmIdOf } from "./support.ts"

describe("luxd's messenger", () => {
  it.live.skipIf(skipGo)("a Go VM that pushes Notify grows a chain under the luxd flavour", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-messenger-")
      const node = testNode(dir, {
        plugins: [{ vmId: vmIdOf(2), path: goPluginPath }],
        launch: { launch: { env: { GO_PLUGIN_NOTIFY_MS: "50" } } },
        flavour: "luxd"
      })
      const status = yield* Effect.gen(function*() {
        const chain = yield* Chain.run({ chainId: chainIdOf(60), vm: vmIdOf(2), untilHeight: 3n })
        return yield* chain.done
      }).pipe(Effect.scoped, Effect.provide(node))
      expect(status).toMatchObject({ height: 3n, blocksAccepted: 3, restarts: 0 })
    }).pipe(Effect.scoped), 30_000)

  it.live("a VM written with @vmre/plugin pushes Notify too, so its chain grows under the luxd flavour", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-messenger-ts-")
      const node = testNode(dir, { plugins: [{ vmId: vmIdOf(1), path: payloadChainBin }], flavour: "luxd" })
      const status = yield* Effect.gen(function*() {
        const chain = yield* Chain.run({
          chainId: chainIdOf(62),
          vm: vmIdOf(1),
          config: new TextEncoder().encode(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } })),
          untilHeight: 2n
        })
        return yield* chain.done
      }).pipe(Effect.scoped, Effect.provide(node))
      expect(status).toMatchObject({ height: 2n, blocksAccepted: 2 })
    }).pipe(Effect.scoped), 30_000)

  it.live("one signal may be pending; the next is refused with luxd's text; avalanchego serves no messenger", () =>
    Effect.gen(function*() {
      const chainId = chainIdOf(61)
      const luxd = yield* NodeServicesServer.serve({ chainId, networkId: 1, flavour: "luxd" })
      const messenger = createClient(Messenger, (yield* GrpcClient.transport(luxd.address)).transport)
      yield* Effect.promise(() => messenger.notify({ message: Message.BUILD_BLOCK }))
      const full = yield* Effect.promise(() => messenger.notify({ message: Message.BUILD_BLOCK }).then(() => undefined, ConnectError.from))
      expect({ code: full?.code, message: full?.rawMessage }).toEqual({ code: Code.Unknown, message: "full message queue" })
      // The engine takes the pending one; there is room again.
      expect(yield* Effect.flatMap(ChainSignals, (s) => s.next(chainId))).toBe("BuildBlock")
      yield* Effect.promise(() => messenger.notify({ message: Message.STATE_SYNC_FINISHED }))
      const avalanche = yield* NodeServicesServer.serve({ chainId, networkId: 1 })
      const none = createClient(Messenger, (yield* GrpcClient.transport(avalanche.address)).transport)
      const missing = yield* Effect.promise(() => none.notify({ message: Message.BUILD_BLOCK }).then(() => undefined, ConnectError.from))
      expect(missing?.code).toBe(Code.Unimplemented)
    }).pipe(
      Effect.scoped,
      Effect.provide(testServices)
    ))
})
