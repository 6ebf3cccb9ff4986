/**
 * Our typed client driving a VM written in Go with grpc-go (interop/go/plugin), launched by
 * our runtime: the node's side of the whole block lifecycle against an independent stack.
 */
import { describe, expect, it } from "@effect/vitest"
import { MemoryDatabase, RpcDbServer } from "@vmre/rpcdb"
import { DateTime, Effect, Layer, Logger } from "effect"
import { ChainVm } from "../src/index.ts"
import { Id } from "../src/index.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { goInitializeParams, goPluginPath, skipGo } from "../../../test-support/goInterop.ts"

const live = Layer.merge(VmRuntime.layer, Logger.layer([]))

describe.skipIf(skipGo)("ChainVm client driving a Go VM (grpc-go)", () => {
  it.live("initialize, build, verify, accept, read back, not-found, state sync; then Shutdown and exit 0", () =>
    Effect.gen(function*() {
      const db = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
      const { client, vm } = yield* ChainVm.launch({ path: goPluginPath, name: "go-vm" })
      expect(yield* client.version()).toBe("goplugin/0.1.0")

      const genesis = yield* client.initialize(goInitializeParams(db.address))
      expect(genesis.height).toBe(0n)
      expect(genesis.parentId).toEqual(new Uint8Array(32))
      yield* client.setState("NormalOp")

      const block = yield* client.buildBlock()
      expect(block.height).toBe(1n)
      expect(block.parentId).toEqual(genesis.id)
      const verifiedAt = yield* client.blockVerify(block.bytes)
      expect(DateTime.toEpochMillis(verifiedAt)).toBe(DateTime.toEpochMillis(block.timestamp))
      yield* client.setPreference(block.id)
      yield* client.blockAccept(block.id)

      const stored = yield* client.getBlock(block.id)
      expect(stored.bytes).toEqual(block.bytes)
      expect(stored.height).toBe(1n)
      expect(yield* client.getBlockIdAtHeight(1n)).toEqual(block.id)
      const parsed = yield* client.parseBlock(block.bytes)
      expect(parsed.id).toEqual(block.id)

      const missing = yield* Effect.flip(client.getBlock(Id.make(new Uint8Array(32).fill(9))))
      expect(missing._tag).toBe("NotFound")
      expect(yield* client.stateSyncEnabled()).toBe(false)
      expect((yield* Effect.flip(client.getLastStateSummary()))._tag).toBe("StateSyncNotImplemented")
      expect(yield* client.health()).toMatchObject({ healthy: true, initialized: true, lastAcceptedHeight: 1 })
      return vm
    }).pipe(
      Effect.scoped,
      // After the scope: the stop sequence ran (Shutdown first), so the Go VM exited 0 on SIGTERM.
      Effect.flatMap((vm) => vm.exit),
      Effect.map((exit) => expect(exit).toEqual({ code: 0, signal: null })),
      Effect.provide(live)
    ))
})
